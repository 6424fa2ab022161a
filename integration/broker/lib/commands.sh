# shellcheck shell=bash
# The integration/kafka sub-commands. Each takes the instance name first (see common.sh).

cmd_start() {
  local name=$1 tv=$2 sasl=${3:-0} tls=${4:-0} mtls=${5:-0} dir started_at=$SECONDS
  local -a ids
  mapfile -t ids < <(instance_node_ids "$name")
  dir=$(instance_dir "$name")
  transaction_version_feature "$tv" >/dev/null
  if ((sasl)); then
    is_cluster "$name" && die "--sasl is for single nodes (--port P), not the cluster"
    # The warm-up must authenticate, and only kcat is given the credentials (see below).
    command -v kcat >/dev/null 2>&1 || die "--sasl needs kcat for its warm-up"
  fi
  if ((mtls)); then tls=1; fi
  if ((tls)); then
    is_cluster "$name" && die "--tls is for single nodes (--port P), not the cluster"
    require_openssl
    command -v kcat >/dev/null 2>&1 || die "--tls needs kcat for its warm-up"
  fi
  lock_instance "$name"

  if instance_has_live_node "$name"; then
    report_running_instance "$name" "$tv" "$sasl" "$tls" "$mtls"
    return 0
  fi

  ensure_jars
  local id
  for id in "${ids[@]}"; do require_node_ports_free "$name" "$id"; done
  if ((tls)); then
    require_ports_free "$name" "$(expired_port "$name")" "$(wronghost_port "$name")" "$(internal_port "$name")"
  fi
  # Always a fresh cluster: tests never see topics or transactions left over from a previous run.
  [[ -n $dir && $dir != "$WORK_ROOT" && $dir != / ]] || die "internal error: refusing to wipe '$dir'"
  rm -rf "$dir"
  mkdir -p "$dir"
  printf '%s\n' "$tv" >"$dir/tv"
  if ((sasl)); then touch "$dir/sasl"; fi
  if ((tls)); then touch "$dir/tls"; fi
  if ((mtls)); then touch "$dir/mtls"; fi
  if ((tls)); then
    say "making a throwaway CA and certificates in $dir/certs"
    generate_tls_material "$name"
    write_tls_client_files "$name"
  elif ((sasl)); then
    sasl_client_properties >"$dir/client.properties"
    sasl_kcat_config >"$dir/kcat.conf"
  fi
  for id in "${ids[@]}"; do write_node_config "$name" "$id"; done
  say "formatting $name (transaction.version=$(transaction_version_feature "$tv"))"
  format_instance "$name" "$tv"

  # Cluster nodes start together: each blocks in start-up until a controller majority exists.
  for id in "${ids[@]}"; do node_launch "$name" "$id" "$(instance_heap "$name")"; done
  say "waiting for $name to be ready"
  if ! wait_nodes_ready "$name" "$(instance_ready_timeout "$name")" "${ids[@]}"; then
    stop_nodes "$name" "${ids[@]}"
    die "$name did not become ready; logs are kept in $dir"
  fi
  local bootstrap
  bootstrap=$(instance_bootstrap "$name")
  if ! (authenticate_kcat "$name" && warm_up_instance "$bootstrap"); then
    stop_nodes "$name" "${ids[@]}"
    die "$name started but its transaction coordinator did not work; logs are kept in $dir"
  fi
  say "$name ready in $((SECONDS - started_at))s (transaction.version=$(transaction_version_feature "$tv")$(sasl_note "$name"))"
  printf '%s\n' "$bootstrap"
}

# kcat reads $KCAT_CONFIG when given no -F: that is how the warm-up authenticates on a --sasl or
# --tls instance.
authenticate_kcat() {
  if instance_is_sasl "$1" || instance_is_tls "$1"; then
    export KCAT_CONFIG
    KCAT_CONFIG=$(instance_dir "$1")/kcat.conf
  fi
}

sasl_note() {
  if instance_is_tls "$1"; then
    tls_note "$1"
  elif instance_is_sasl "$1"; then
    printf ', SASL_PLAINTEXT'
  fi
}

instance_heap() { if is_cluster "$1"; then echo "$CLUSTER_HEAP"; else echo "$SINGLE_HEAP"; fi; }

instance_ready_timeout() {
  if is_cluster "$1"; then
    echo "$CLUSTER_READY_TIMEOUT_SECONDS"
  else
    echo "$SINGLE_READY_TIMEOUT_SECONDS"
  fi
}

instance_has_live_node() {
  local id
  for id in $(instance_node_ids "$1"); do
    node_pid "$1" "$id" >/dev/null && return 0
  done
  return 1
}

# A second `start` of a running instance only prints its bootstrap, provided it is whole and runs the
# requested transaction protocol: silently handing a TV2 broker to a TV1 test would hide bugs.
report_running_instance() {
  local name=$1 tv=$2 sasl=$3 tls=${4:-0} mtls=${5:-0} running_tv running_sasl=0 running_tls=0 running_mtls=0 id state
  running_tv=$(<"$(instance_dir "$name")/tv")
  [[ $running_tv == "$tv" ]] ||
    die "$name is already running with --tv $running_tv, not --tv $tv; stop it first"
  if instance_is_sasl "$name"; then running_sasl=1; fi
  ((running_sasl == sasl)) ||
    die "$name is already running $( ((running_sasl)) && echo 'with' || echo 'without') --sasl; stop it first"
  if instance_is_tls "$name"; then running_tls=1; fi
  if instance_is_mtls "$name"; then running_mtls=1; fi
  ((running_tls == tls && running_mtls == mtls)) ||
    die "$name is already running with other --tls/--mtls options; stop it first"
  for id in $(instance_node_ids "$name"); do
    state=$(node_state "$name" "$id")
    [[ $state == running ]] ||
      die "$name is partly up (node $id is $state); use restart/resume $id, or stop it first"
  done
  say "$name is already running"
  instance_bootstrap "$name"
}

cmd_stop_instance() {
  local name=$1
  local -a ids
  mapfile -t ids < <(instance_node_ids "$name")
  lock_instance "$name"
  stop_nodes "$name" "${ids[@]}"
  unlock_instance
}

cmd_stop_node() {
  local name=$1 id=$2
  lock_instance "$name"
  stop_nodes "$name" "$id"
  unlock_instance
}

cmd_stop_all() {
  local name
  for name in $(known_instances); do
    cmd_stop_instance "$name"
  done
}

cmd_kill() {
  lock_instance "$1"
  kill_node "$1" "$2"
  unlock_instance
}

# Starts a stopped or killed node on its existing data (no format), then waits until it is ready.
cmd_restart() {
  local name=$1 id=$2 dir state started_at=$SECONDS
  dir=$(node_dir "$name" "$id")
  lock_instance "$name"
  [[ -f $dir/server.properties && -d $dir/data ]] || die "$name has never been started; use start"
  state=$(node_state "$name" "$id")
  case $state in
  running) say "$name node $id is already running" ;;
  paused) die "$name node $id is paused; use resume" ;;
  stopped)
    require_node_ports_free "$name" "$id"
    ensure_jars
    node_launch "$name" "$id" "$(instance_heap "$name")"
    wait_nodes_ready "$name" "$(instance_ready_timeout "$name")" "$id" ||
      die "$name node $id did not become ready after restart"
    say "$name node $id ready in $((SECONDS - started_at))s"
    ;;
  esac
  instance_bootstrap "$name"
}

cmd_pause() {
  signal_node "$1" "$2" STOP
  say "paused $1 node $2"
}

cmd_resume() {
  signal_node "$1" "$2" CONT
  say "resumed $1 node $2"
}

cmd_topic() {
  local name=$1 topic=$2 partitions=$3 replication=${4:-}
  [[ $partitions =~ ^[1-9][0-9]*$ ]] || die "PARTITIONS must be a positive integer, got '$partitions'"
  if [[ -z $replication ]]; then
    replication=$(instance_node_ids "$name" | wc -l)
  fi
  [[ $replication =~ ^[1-9][0-9]*$ ]] || die "REPLICATION must be a positive integer, got '$replication'"
  local -a auth=()
  if instance_is_sasl "$name" || instance_is_tls "$name"; then
    auth=(--command-config "$(instance_dir "$name")/client.properties")
  fi
  ensure_jars
  run_quick_java_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$(instance_bootstrap "$name")" \
    "${auth[@]}" --create --if-not-exists --topic "$topic" --partitions "$partitions" \
    --replication-factor "$replication"
}

cmd_logs() {
  local name=$1 id=$2 lines=${3:-} log
  log=$(node_log "$name" "$id")
  [[ -f $log ]] || die "no log for $name node $id yet"
  if [[ -n $lines ]]; then
    [[ $lines =~ ^[0-9]+$ ]] || die "--tail needs a line count, got '$lines'"
    tail -n "$lines" "$log"
  else
    printf '%s\n' "$log"
  fi
}

# One line per node: instance, node, state, pid, broker address, transaction protocol.
# Exits 3 when a selected instance is not fully running, 0 otherwise.
cmd_status() {
  local all_running=0 name id state pid tv
  for name in "$@"; do
    tv=$(cat "$(instance_dir "$name")/tv" 2>/dev/null || echo '?')
    for id in $(instance_node_ids "$name"); do
      state=$(node_state "$name" "$id")
      pid=$(node_pid "$name" "$id" || echo -)
      [[ $state == running ]] || all_running=3
      printf '%-12s node=%s state=%-7s pid=%-7s broker=127.0.0.1:%s tv=%s%s\n' \
        "$name" "$id" "$state" "$pid" "$(broker_port "$name" "$id")" "$tv" "$(sasl_note "$name" | tr -d ,)"
    done
  done
  return "$all_running"
}
