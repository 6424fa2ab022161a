# shellcheck shell=bash
# The Kafka jars: fetched once from Maven Central with mvn into a cache outside the repo, then reused.

# Refetches when pom.xml changes: the cache records the hash of the pom it was built from.
ensure_jars() {
  local pom="$BROKER_DIR/pom.xml" want
  want=$(sha256sum "$pom" | cut -d' ' -f1)
  jars_are_current "$want" && return 0

  local cache_dir
  cache_dir=$(dirname "$LIBS_DIR")
  mkdir -p "$cache_dir"
  exec 8>"$cache_dir/.fetch.lock"
  flock -w 900 8 || die "timed out waiting for another jar download"
  if ! jars_are_current "$want"; then
    fetch_jars "$pom" "$want" "$cache_dir/libs.tmp.$$"
  fi
  flock -u 8
  exec 8>&-
}

jars_are_current() {
  [[ -f $LIBS_DIR/.pom-sha256 && $(<"$LIBS_DIR/.pom-sha256") == "$1" ]]
}

fetch_jars() {
  local pom=$1 pom_hash=$2 staging=$3
  say "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central into $LIBS_DIR"
  rm -rf "$staging"
  local mvn_log="$staging.log"
  if ! mvn -B --no-transfer-progress -f "$pom" dependency:copy-dependencies \
    -Dkafka.libs.dir="$staging" >"$mvn_log" 2>&1; then
    tail -n 40 "$mvn_log" >&2
    rm -rf "$staging"
    die "mvn could not fetch the Kafka jars (is Maven Central reachable?); log: $mvn_log"
  fi
  rm -f "$mvn_log"
  check_jar_set "$staging"
  printf '%s\n' "$pom_hash" >"$staging/.pom-sha256"
  # The staging directory is renamed into place so a reader never sees a half-filled libs/.
  rm -rf "$LIBS_DIR"
  mv "$staging" "$LIBS_DIR"
}

# Fails fast on the classpath mistakes that otherwise show up as a broker that never reports readiness.
check_jar_set() {
  local dir=$1 jar
  for jar in "kafka_2.13-$KAFKA_VERSION.jar" "kafka-tools-$KAFKA_VERSION.jar" slf4j-api-1.7.36.jar; do
    [[ -f $dir/$jar ]] || die "the fetched jars lack $jar"
  done
  compgen -G "$dir/log4j-slf4j-impl-*.jar" >/dev/null ||
    die "the fetched jars lack the SLF4J 1.x binding log4j-slf4j-impl (the broker would log nothing)"
  if compgen -G "$dir/slf4j-api-2.*.jar" >/dev/null; then
    die "an slf4j-api 2.x jar slipped into the classpath; pin slf4j-api 1.7.36 in pom.xml"
  fi
}

# Runs a Kafka class from the cached jars with WARN-level logging to stderr.
# Extra JVM flags come from KAFKATX_JAVA_OPTS (default: the 256 MB heap of kafka-run-class.sh).
run_java_tool() {
  local jvm_opts=()
  read -r -a jvm_opts <<<"${KAFKATX_JAVA_OPTS:--Xmx256m}"
  java "${jvm_opts[@]}" -Djava.awt.headless=true \
    "-Dlog4j2.configurationFile=$BROKER_DIR/tools-log4j2.properties" \
    -cp "$LIBS_DIR/*" "$@"
}

# The same for our own short tool calls (format, topic creation), tuned for start-up time:
# the C1 compiler alone starts faster, and these runs are over before C2 would pay off.
run_quick_java_tool() {
  KAFKATX_JAVA_OPTS="-Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC" run_java_tool "$@"
}
