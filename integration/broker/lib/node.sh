# shellcheck shell=bash
# One broker JVM: launch, liveness, readiness, signals and stop.

readonly BROKER_JVM_OPTS=(
  -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
  -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -Djava.awt.headless=true
)

# Prints the pid of the node's JVM if it is alive. The pid file alone is not trusted: the pid must
# still belong to a process started with this node's server.properties (pids get recycled, and a
# zombie has an empty command line).
node_pid() {
  local dir pid cmdline
  dir=$(node_dir "$1" "$2")
  [[ -r $dir/pid ]] || return 1
  read -r pid <"$dir/pid" || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
  [[ $cmdline == *"$dir/server.properties"* ]] || return 1
  printf '%s\n' "$pid"
}

# running | paused | stopped
node_state() {
  local pid state
  if ! pid=$(node_pid "$1" "$2"); then
    printf 'stopped\n'
    return 0
  fi
  read -r _ _ state _ 2>/dev/null <"/proc/$pid/stat" || state=X
  case $state in
  T | t) printf 'paused\n' ;;
  X | Z) printf 'stopped\n' ;;
  *) printf 'running\n' ;;
  esac
}

node_log() { printf '%s/server.log\n' "$(node_dir "$1" "$2")"; }

# Waits a little for the ports to be released (a node killed from outside, e.g. by a test's own
# `kill -9`, may still be closing them), then fails if something else is listening.
require_node_ports_free() {
  local name=$1 id=$2 port deadline=$((SECONDS + 10))
  for port in "$(broker_port "$name" "$id")" "$(controller_port "$name" "$id")"; do
    while port_is_open "$port"; do
      ((SECONDS < deadline)) || die "port $port is already in use (needed by $name node $id)"
      sleep 0.2
    done
  done
}

# Extra ports of an instance (the --tls listeners), given the same 10 s to close as the others.
require_ports_free() {
  local name=$1 port deadline=$((SECONDS + 10))
  shift
  for port in "$@"; do
    while port_is_open "$port"; do
      ((SECONDS < deadline)) || die "port $port is already in use (needed by $name)"
      sleep 0.2
    done
  done
}

# Starts the JVM detached (own session, no inherited stdin/stdout or lock descriptors) so that it
# outlives this script and never holds a caller's pipe open. The previous log is kept as server.log.prev.
node_launch() {
  local name=$1 id=$2 heap=$3 dir
  dir=$(node_dir "$name" "$id")
  rm -f "$dir/pid"
  [[ ! -f $dir/server.log ]] || mv -f "$dir/server.log" "$dir/server.log.prev"
  # The inner shell writes its own pid, then execs java: the pid file names the JVM whether or not
  # setsid had to fork.
  # shellcheck disable=SC2016
  setsid bash -c 'printf "%s\n" "$$" >"$0" && exec "$@"' "$dir/pid" \
    java "-Xms$heap" "-Xmx$heap" "${BROKER_JVM_OPTS[@]}" \
    "-Dlog4j2.configurationFile=$BROKER_DIR/log4j2.properties" "-Dkafka.logs.dir=$dir" \
    -cp "$LIBS_DIR/*" kafka.Kafka "$dir/server.properties" \
    </dev/null >"$dir/server.log" 2>&1 8>&- 9>&- &
  local waited=0
  until node_pid "$name" "$id" >/dev/null; do
    ((waited++ < 100)) || die "$name node $id did not start (see $dir/server.log)"
    sleep 0.05
  done
}

# Ready = the broker logged "Kafka Server started" (after it caught up with the metadata log and was
# unfenced) AND its client port accepts connections (Kafka 4 opens it only at the end of start-up).
node_is_ready() {
  local name=$1 id=$2
  grep -qF "$READY_LOG_LINE" "$(node_log "$name" "$id")" 2>/dev/null &&
    port_is_open "$(broker_port "$name" "$id")"
}

# Waits until every listed node is ready; fails early if one of them dies.
wait_nodes_ready() {
  local name=$1 timeout_seconds=$2 id
  local -a pending
  shift 2
  local deadline=$((SECONDS + timeout_seconds))
  while :; do
    pending=()
    for id in "$@"; do
      node_pid "$name" "$id" >/dev/null || {
        say "$name node $id exited during start-up"
        show_log_tail "$name" "$id"
        return 1
      }
      node_is_ready "$name" "$id" || pending+=("$id")
    done
    ((${#pending[@]} == 0)) && return 0
    if ((SECONDS >= deadline)); then
      say "$name node(s) ${pending[*]} not ready after ${timeout_seconds}s"
      for id in "${pending[@]}"; do show_log_tail "$name" "$id"; done
      return 1
    fi
    sleep 0.5
  done
}

show_log_tail() {
  local log
  log=$(node_log "$1" "$2")
  say "last lines of $log:"
  tail -n 30 "$log" >&2 2>/dev/null || true
}

# SIGTERM (a clean, controlled shutdown through Kafka's shutdown hook), SIGKILL after the grace period.
# All listed nodes are signalled at once and share one grace period.
stop_nodes() {
  local name=$1 id pid
  shift
  local -a stopping=() signalled_pids=()
  for id in "$@"; do
    pid=$(node_pid "$name" "$id") || continue
    # A paused JVM would not act on SIGTERM until continued.
    kill -CONT "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
    stopping+=("$id")
    signalled_pids+=("$pid")
  done
  ((${#stopping[@]} > 0)) || return 0
  say "stopping $name node(s) ${stopping[*]}"
  local deadline=$((SECONDS + STOP_GRACE_SECONDS)) reason
  while :; do
    mapfile -t stopping < <(live_nodes_among "$name" "${stopping[@]}")
    if ((${#stopping[@]} == 0)); then
      wait_pids_exited 10 "${signalled_pids[@]}" || die "could not stop $name"
      return 0
    fi
    if ((SECONDS >= deadline)); then
      reason="did not stop within ${STOP_GRACE_SECONDS}s"
      break
    fi
    if controller_majority_lost "$name" "${stopping[@]}"; then
      # A broker's controlled shutdown waits for the controller quorum to commit its state change;
      # with the majority gone that never happens (the last node of a cluster stop would hang).
      reason="cannot finish a controlled shutdown without a controller majority"
      break
    fi
    sleep 0.2
  done
  for id in "${stopping[@]}"; do
    pid=$(node_pid "$name" "$id") || continue
    say "$name node $id $reason; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  done
  wait_pids_exited 10 "${signalled_pids[@]}" || die "could not stop $name"
}

live_nodes_among() {
  local name=$1 id
  shift
  for id in "$@"; do
    if node_pid "$name" "$id" >/dev/null; then printf '%s\n' "$id"; fi
  done
}

# True when every node still alive in a cluster is being stopped and they are fewer than a majority.
controller_majority_lost() {
  local name=$1
  shift
  is_cluster "$name" || return 1
  local -a all_ids all_live
  mapfile -t all_ids < <(instance_node_ids "$name")
  mapfile -t all_live < <(live_nodes_among "$name" "${all_ids[@]}")
  ((${#all_live[@]} == $# && ${#all_live[@]} * 2 <= ${#all_ids[@]}))
}

kill_node() {
  local name=$1 id=$2 pid
  pid=$(node_pid "$name" "$id") || {
    say "$name node $id is not running"
    return 0
  }
  kill -KILL "$pid"
  wait_pids_exited 10 "$pid" || die "$name node $id survived SIGKILL"
  say "killed $name node $id (pid $pid)"
}

# A dying JVM loses its command line (so node_pid stops naming it) before it closes its sockets;
# only an exited process (gone, or a zombie) has released its ports for a restart.
wait_pids_exited() {
  local timeout_seconds=$1 pid state
  shift
  local deadline=$((SECONDS + timeout_seconds))
  for pid in "$@"; do
    while [[ -e /proc/$pid ]]; do
      state=X
      read -r _ _ state _ 2>/dev/null <"/proc/$pid/stat" || break
      # The main thread of a JVM turns zombie while other threads still hold the process's sockets.
      if [[ $state == Z ]] && (($(find "/proc/$pid/task" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l) <= 1)); then
        break
      fi
      ((SECONDS < deadline)) || return 1
      sleep 0.1
    done
  done
}

signal_node() {
  local name=$1 id=$2 signal=$3 pid
  pid=$(node_pid "$name" "$id") || die "$name node $id is not running"
  kill "-$signal" "$pid"
}
