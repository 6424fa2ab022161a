# shellcheck shell=bash
# One committed transaction and one consumer-group read right after start-up. They make the broker
# create and load __transaction_state and __consumer_offsets now, so that the first InitProducerId or
# FindCoordinator of a test does not spend seconds on COORDINATOR_NOT_AVAILABLE retries. Reading the
# record back read_committed also proves the transaction coordinator works end to end.

readonly WARMUP_TOPIC=kafkatx-warmup
readonly WARMUP_TIMEOUT_SECONDS=90

warm_up_instance() {
  local bootstrap=$1
  if command -v kcat >/dev/null 2>&1; then
    warm_up_with_kcat "$bootstrap"
  else
    say "kcat not found: warming up with Kafka's Java tools (slower)"
    warm_up_with_java_tools "$bootstrap"
  fi
}

warm_up_with_kcat() {
  local bootstrap=$1 value attempt
  # kcat commits the transaction when stdin closes. A cluster whose coordinators are still
  # loading can make librdkafka's init_transactions give up ("Coordinator load in progress",
  # seen in CI while another cluster was stopping): a few more tries, as any client would.
  for attempt in 1 2 3 4 5; do
    if printf 'warm-up\n' |
      timeout "$WARMUP_TIMEOUT_SECONDS" kcat -P -q -b "$bootstrap" -t "$WARMUP_TOPIC" \
        -X transactional.id=kafkatx-warmup >&2; then
      break
    fi
    ((attempt < 5)) || die "warm-up: the transactional produce with kcat failed 5 times"
    say "warm-up: the transactional produce failed (attempt $attempt); trying again"
    sleep 2
  done
  # librdkafka reads read_committed by default; the group read creates __consumer_offsets.
  value=$(timeout "$WARMUP_TIMEOUT_SECONDS" kcat -C -q -b "$bootstrap" -G kafkatx-warmup \
    -X auto.offset.reset=earliest -c 1 -f '%s\n' "$WARMUP_TOPIC" 2>/dev/null) ||
    die "warm-up: reading the committed record back with kcat failed"
  [[ $value == warm-up ]] || die "warm-up: read '$value' instead of the committed record"
}

warm_up_with_java_tools() {
  local bootstrap=$1 value
  timeout "$WARMUP_TIMEOUT_SECONDS" env KAFKATX_JAVA_OPTS="-Xmx256m -XX:TieredStopAtLevel=1" \
    "$KAFKA_SCRIPT" java org.apache.kafka.tools.ProducerPerformance --topic "$WARMUP_TOPIC" \
    --num-records 1 --record-size 16 --throughput -1 --transactional-id kafkatx-warmup \
    --producer-props "bootstrap.servers=$bootstrap" >/dev/null ||
    die "warm-up: the transactional produce with ProducerPerformance failed"
  value=$(timeout "$WARMUP_TIMEOUT_SECONDS" env KAFKATX_JAVA_OPTS="-Xmx256m -XX:TieredStopAtLevel=1" \
    "$KAFKA_SCRIPT" java org.apache.kafka.tools.consumer.ConsoleConsumer \
    --bootstrap-server "$bootstrap" --topic "$WARMUP_TOPIC" --group kafkatx-warmup --from-beginning \
    --isolation-level read_committed --max-messages 1 --timeout-ms 60000 2>/dev/null) ||
    die "warm-up: reading the committed record back with ConsoleConsumer failed"
  [[ -n $value ]] || die "warm-up: the committed record was not readable"
}
