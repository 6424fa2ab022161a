# shellcheck shell=bash
# server.properties for each node, and KRaft storage formatting.
# Java .properties files take no inline comments, so every comment below sits on its own line.

write_node_config() {
  local name=$1 id=$2 dir port controller
  dir=$(node_dir "$name" "$id")
  port=$(broker_port "$name" "$id")
  controller=$(controller_port "$name" "$id")
  mkdir -p "$dir/data"
  {
    common_node_settings "$name" "$id" "$port" "$controller" "$dir"
    if instance_is_tls "$name"; then
      tls_listener_settings "$name" "$port" "$controller"
    elif instance_is_sasl "$name"; then
      sasl_listener_settings "$port" "$controller"
    else
      plaintext_listener_settings "$port" "$controller"
    fi
    if is_cluster "$name"; then
      cluster_settings
    else
      single_node_settings
    fi
  } >"$dir/server.properties"
}

common_node_settings() {
  local name=$1 id=$2 port=$3 controller=$4 dir=$5
  cat <<PROPS
process.roles=broker,controller
node.id=$id
# Static quorum: formatted without --standalone/--initial-controllers, restarts need nothing else.
controller.quorum.voters=$(quorum_voters "$name")
controller.listener.names=CONTROLLER
log.dirs=$dir/data
# The machine has 2 cores shared by up to three nodes and the tests.
num.network.threads=2
num.io.threads=4
background.threads=4
auto.create.topics.enable=true
# Tests must not wait the default 3 s for a consumer group's first rebalance.
group.initial.rebalance.delay.ms=0
# Default 10 s; timed-out transactions get aborted (and tests that rely on it finish) sooner.
transaction.abort.timed.out.transaction.cleanup.interval.ms=1000
PROPS
}

plaintext_listener_settings() {
  local port=$1 controller=$2
  cat <<PROPS
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller
advertised.listeners=PLAINTEXT://127.0.0.1:$port
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
PROPS
}

# --sasl: the client listener speaks SASL_PLAINTEXT with PLAIN and SCRAM-SHA-256/512; the controller
# listener stays PLAINTEXT. The broker reaches itself (transaction markers, for one) over the same
# listener with PLAIN as the admin user: SCRAM would need the credentials from the metadata log
# before the broker has loaded it. Kafka looks up a JAAS entry per enabled mechanism and listener; the
# SCRAM ones take no options, their users come from the metadata log (kafka-storage format --add-scram).
sasl_listener_settings() {
  local port=$1 controller=$2 scram=org.apache.kafka.common.security.scram.ScramLoginModule
  cat <<PROPS
listeners=SASL_PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller
advertised.listeners=SASL_PLAINTEXT://127.0.0.1:$port
inter.broker.listener.name=SASL_PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="$SASL_ADMIN_USER" password="$SASL_ADMIN_PASSWORD" user_$SASL_ADMIN_USER="$SASL_ADMIN_PASSWORD" user_$SASL_USER="$SASL_PASSWORD";
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=$scram required;
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=$scram required;
# Sessions end after this long (KIP-368): a client must reconnect or re-authenticate.
connections.max.reauth.ms=$SASL_SESSION_MS
PROPS
}

# The SCRAM users of a --sasl instance, as kafka-storage format arguments (none otherwise).
scram_format_arguments() {
  instance_is_sasl "$1" || return 0
  local mechanism
  for mechanism in SCRAM-SHA-256 SCRAM-SHA-512; do
    printf '%s\n' --add-scram "$mechanism=[name=$SASL_USER,password=$SASL_PASSWORD]"
  done
}

# Internal topics default to RF 3 / min ISR 2, with which InitProducerId and group coordination never
# succeed on one broker.
single_node_settings() {
  cat <<'PROPS'
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
PROPS
}

# As Kafka's own transaction system tests: RF 3, min ISR 2, no unclean election, and leaders that stay
# where they are after a node comes back (no automatic rebalancing in the middle of a test).
cluster_settings() {
  cat <<'PROPS'
num.partitions=1
default.replication.factor=3
min.insync.replicas=2
unclean.leader.election.enable=false
auto.leader.rebalance.enable=false
offsets.topic.replication.factor=3
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
transaction.state.log.num.partitions=3
# 8 MiB instead of 100: a node restarted after SIGKILL re-reads the active segment of each
# __transaction_state partition it holds, and the coordinator that takes one over loads it whole.
# Small segments roll and get compacted, so a long fault campaign's restarts do not slow down as
# the log grows (at 100 MiB, ~25 MB per partition after 36 minutes took 0.7-1.8 s each to load).
transaction.state.log.segment.bytes=8388608
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
PROPS
}

quorum_voters() {
  local name=$1 id voters=()
  for id in $(instance_node_ids "$name"); do
    voters+=("$id@127.0.0.1:$(controller_port "$name" "$id")")
  done
  local IFS=,
  printf '%s\n' "${voters[*]}"
}

# Kafka cluster ids are 16 random bytes in URL-safe base64 without padding. Generated here rather than
# with `StorageTool random-uuid` to save a JVM start; like Kafka, reject ids starting with '-' (they
# would read as a command-line flag).
new_cluster_id() {
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    [[ $id == -* ]] || break
  done
  printf '%s\n' "$id"
}

# --tv 1 selects the classic transaction protocol (transaction.version=0), --tv 2 KIP-890's (=2).
transaction_version_feature() {
  case $1 in
  1) printf '0\n' ;;
  2) printf '2\n' ;;
  *) die "--tv must be 1 or 2, got '$1'" ;;
  esac
}

# Formats every node of the instance in parallel (one JVM each); all nodes share one cluster id.
format_instance() {
  local name=$1 tv=$2 cluster_id feature id dir failed=0
  local -A format_pids=()
  local -a scram_users
  cluster_id=$(new_cluster_id)
  feature=$(transaction_version_feature "$tv")
  mapfile -t scram_users < <(scram_format_arguments "$name")
  for id in $(instance_node_ids "$name"); do
    dir=$(node_dir "$name" "$id")
    run_quick_java_tool kafka.tools.StorageTool format --cluster-id "$cluster_id" \
      --config "$dir/server.properties" --feature "transaction.version=$feature" \
      "${scram_users[@]}" >"$dir/format.log" 2>&1 9>&- &
    format_pids[$id]=$!
  done
  for id in "${!format_pids[@]}"; do
    if ! wait "${format_pids[$id]}"; then
      say "formatting node $id failed:"
      cat "$(node_dir "$name" "$id")/format.log" >&2
      failed=1
    fi
  done
  ((failed == 0)) || die "could not format the KRaft storage of $name"
}
