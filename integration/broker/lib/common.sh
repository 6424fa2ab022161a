# shellcheck shell=bash disable=SC2034 # the constants are used by the other lib files
# Constants, messages and instance addressing shared by every integration/kafka command.
#
# An "instance" is one independent Kafka cluster with its own work directory:
#   single-<P>  one combined broker+controller, broker on 127.0.0.1:P, controller on P+1
#   cluster     three combined nodes, node N: broker 127.0.0.1:9N92, controller 127.0.0.1:9N93

readonly KAFKA_VERSION=4.1.1
readonly READY_LOG_LINE='Kafka Server started'
readonly DEFAULT_SINGLE_PORT=9092
readonly CLUSTER_NODE_IDS=(1 2 3)
readonly SINGLE_HEAP=768m
readonly CLUSTER_HEAP=512m
readonly SINGLE_READY_TIMEOUT_SECONDS=120
readonly CLUSTER_READY_TIMEOUT_SECONDS=180
readonly STOP_GRACE_SECONDS=30

# --sasl instances (test-only credentials, documented in docs/broker.md). The client user exists for
# PLAIN (JAAS) and for SCRAM-SHA-256/512 (added at format time); the admin user is the broker's own
# identity on its inter-broker PLAIN connections. Sessions last SASL_SESSION_MS (KIP-368), so that
# tests see connections re-authenticate.
readonly SASL_USER=alice
readonly SASL_PASSWORD=alice-secret
readonly SASL_ADMIN_USER=admin
readonly SASL_ADMIN_PASSWORD=admin-secret
readonly SASL_SESSION_MS=10000

WORK_ROOT=${KAFKATX_KAFKA_WORK:-/tmp/kafkatx-kafka}
LIBS_DIR=${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/kafkatx/kafka-$KAFKA_VERSION/libs
readonly WORK_ROOT LIBS_DIR

# Everything but a command's result goes to stderr: callers capture stdout (e.g. the bootstrap list).
say() { printf 'kafka: %s\n' "$*" >&2; }
die() {
  say "error: $*"
  exit 1
}

is_cluster() { [[ $1 == cluster ]]; }

# An instance started with --sasl carries a marker file; every later command reads it from there.
instance_is_sasl() { [[ -f $(instance_dir "$1")/sasl ]]; }

# Client settings (Java names) for an instance's SASL listener, as tools take them in a file.
sasl_client_properties() {
  cat <<PROPS
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$SASL_USER" password="$SASL_PASSWORD";
PROPS
}

# The same for kcat (librdkafka names), with PLAIN: Debian's kcat 1.7.1 (librdkafka 2.0.2) fails SCRAM
# against Kafka 4.1.1 ("invalid credentials") while the Java client and kafkatx succeed.
sasl_kcat_config() {
  cat <<PROPS
security.protocol=SASL_PLAINTEXT
sasl.mechanisms=PLAIN
sasl.username=$SASL_USER
sasl.password=$SASL_PASSWORD
PROPS
}

instance_dir() {
  # Guards every rm -rf of an instance directory against an empty or odd name.
  [[ $1 =~ ^(single-[0-9]+|cluster)$ ]] || die "internal error: bad instance name '$1'"
  printf '%s/%s\n' "$WORK_ROOT" "$1"
}

instance_node_ids() {
  if is_cluster "$1"; then
    printf '%s\n' "${CLUSTER_NODE_IDS[@]}"
  else
    printf '1\n'
  fi
}

# The single node keeps its files directly in the instance directory (data, server.properties, pid, server.log).
node_dir() {
  if is_cluster "$1"; then
    printf '%s/node%s\n' "$(instance_dir "$1")" "$2"
  else
    instance_dir "$1"
  fi
}

broker_port() {
  if is_cluster "$1"; then
    printf '%s\n' $((9000 + $2 * 100 + 92))
  else
    printf '%s\n' "${1#single-}"
  fi
}

controller_port() { printf '%s\n' $(($(broker_port "$1" "$2") + 1)); }

instance_bootstrap() {
  local id list=()
  for id in $(instance_node_ids "$1"); do
    list+=("127.0.0.1:$(broker_port "$1" "$id")")
  done
  local IFS=,
  printf '%s\n' "${list[*]}"
}

# Instances that have been started at least once under WORK_ROOT, whether running or not.
known_instances() {
  local dir
  for dir in "$WORK_ROOT"/single-* "$WORK_ROOT"/cluster; do
    [[ -f $dir/tv ]] && basename "$dir"
  done
  return 0
}

require_known_node() {
  local name=$1 id=$2 known
  # No `| grep -q` here: grep exits at the first match, the writer can then die of SIGPIPE and,
  # under pipefail, a node that exists is reported missing (seen in a CI fault campaign).
  for known in $(instance_node_ids "$name"); do
    [[ $known == "$id" ]] && return 0
  done
  die "$name has no node '$id' (nodes: $(instance_node_ids "$name" | tr '\n' ' '))"
}

# Holds an exclusive lock on one instance for the rest of the command, so that concurrent
# start/stop/restart calls on the same instance (e.g. from parallel tests) run one after the other.
lock_instance() {
  mkdir -p "$WORK_ROOT"
  exec 9>"$WORK_ROOT/$1.lock"
  flock -w 600 9 || die "timed out waiting for the lock on $1"
}

unlock_instance() {
  flock -u 9
  exec 9>&-
}

port_is_open() {
  # shellcheck disable=SC2016 # $0 is expanded by the inner shell
  timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"' "$1" 2>/dev/null
}
