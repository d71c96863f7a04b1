#!/usr/bin/env bash
# Launches a real Apache Kafka (KRaft, combined broker+controller) for tests and benchmarks,
# without Docker: the broker jars come from Maven Central via scripts/kafka/pom.xml.
#
#   scripts/kafka.sh resolve                               fetch the jars into .cache/kafka/libs (idempotent)
#   scripts/kafka.sh start [--dir DIR] [--port PORT] [--owner-pid PID]
#                                                          start a broker; prints "127.0.0.1:PORT" on stdout
#   scripts/kafka.sh stop [--dir DIR | --port PORT] [--keep-data]
#                                                          stop it and delete its data (no DIR/PORT: every .cache/kafka/run-*)
#
# stdout carries only the broker address so callers can capture it; everything else goes to stderr.
# Environment: JAVA_HOME, KAFKA_HEAP_OPTS (default "-Xms512m -Xmx1g"), KAFKA_START_TIMEOUT (seconds, default 90),
# KAFKA_LOG_LEVEL (slf4j-simple level of the broker log, default info).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SCRIPT="$ROOT/scripts/kafka.sh"
POM="$ROOT/scripts/kafka/pom.xml"
CACHE="$ROOT/.cache/kafka"
LIBS="$CACHE/libs"
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
STARTED_MARKER='Kafka Server started'

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

kafka_version() { sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM" | head -n 1; }

# The stamp ties the jar folder to the pom contents, so editing the pom (e.g. a version bump)
# re-resolves instead of mixing two Kafka versions on one classpath.
pom_stamp() { cksum <"$POM" | tr -s ' ' '-'; }

libs_ok() {
  local version
  version="$(kafka_version)"
  [[ -f "$LIBS/kafka_2.13-$version.jar" && -f "$LIBS/.stamp" && "$(cat "$LIBS/.stamp")" == "$(pom_stamp)" ]]
}

cmd_resolve() {
  libs_ok && return 0
  command -v mvn >/dev/null || die "mvn (Apache Maven) is required to resolve the Kafka jars"
  mkdir -p "$CACHE"
  # Serialise concurrent test runs resolving into the same folder.
  exec 9>"$CACHE/.resolve.lock"
  command -v flock >/dev/null && flock 9
  if ! libs_ok; then
    log "resolving Kafka $(kafka_version) jars with Maven into $LIBS"
    local tmp="$CACHE/libs.tmp.$$"
    rm -rf "$tmp"
    # Maven prints colour codes on stdout even with -q; stdout is reserved for the broker address.
    mvn -q -B -f "$POM" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" >&2 \
      || { rm -rf "$tmp"; die "Maven failed to resolve the Kafka jars"; }
    pom_stamp >"$tmp/.stamp"
    rm -rf "$LIBS"
    mv "$tmp" "$LIBS"
  fi
  exec 9>&-
}

check_java() {
  command -v "$JAVA" >/dev/null || die "java not found (Kafka $(kafka_version) needs Java 17+; set JAVA_HOME)"
  local major
  major="$("$JAVA" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)"
  [[ -n "$major" && "$major" -ge 17 ]] || die "Kafka $(kafka_version) needs Java 17+, found: $("$JAVA" -version 2>&1 | head -n 1)"
}

# Prints N free TCP ports on 127.0.0.1, all held open together so they are distinct.
free_ports() {
  local n="$1"
  if command -v node >/dev/null; then
    node -e '
      const net = require("node:net");
      const n = Number(process.argv[1]);
      const servers = Array.from({ length: n }, () => net.createServer());
      Promise.all(servers.map((s) => new Promise((ok, ko) => { s.once("error", ko); s.listen(0, "127.0.0.1", ok); })))
        .then(() => { console.log(servers.map((s) => s.address().port).join(" ")); servers.forEach((s) => s.close()); });
    ' "$n"
  elif command -v python3 >/dev/null; then
    python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
' "$n"
  else
    die "node or python3 is needed to pick a free port; pass --port"
  fi
}

# A Kafka cluster id: 16 random bytes, unpadded base64url (what `kafka-storage random-uuid` prints),
# generated here to save a JVM start.
random_cluster_id() {
  local id
  while :; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    [[ "$id" != -* ]] && { printf '%s\n' "$id"; return; }
  done
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# kill -0 alone is fooled by zombies, which linger when the broker's adoptive parent does not reap.
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  if [[ -r "/proc/$1/stat" ]]; then
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    [[ "${stat%% *}" != Z ]]
  fi
}

# Guards against pid reuse: only signal a process that is a Kafka broker using this DIR's config.
is_our_broker() {
  local pid="$1" dir="$2" cmdline
  if [[ -r "/proc/$pid/cmdline" ]]; then
    cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  elif command -v ps >/dev/null; then
    cmdline="$(ps -o command= -p "$pid" 2>/dev/null)" || return 1
  else
    return 0
  fi
  [[ "$cmdline" == *kafka.Kafka* && "$cmdline" == *"$dir/server.properties"* ]]
}

# One KRaft node. Parameterised by node id, ports and voter list so a multi-broker mode can reuse it.
write_server_properties() {
  local dir="$1" node_id="$2" port="$3" controller_port="$4" voters="$5" replication="$6"
  cat >"$dir/server.properties" <<EOF
# Generated by scripts/kafka.sh; rewritten on every start.
process.roles=broker,controller
node.id=$node_id
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data

# Topics are created explicitly by the code under test.
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=$replication
min.insync.replicas=1

# Internal topics: single replica, few partitions, so the first consumer group / transaction is fast.
offsets.topic.replication.factor=$replication
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=$replication
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=3
share.coordinator.state.topic.replication.factor=$replication
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=3

# Tests should not wait 3 s for the first group rebalance.
group.initial.rebalance.delay.ms=0
EOF
}

parse_dir_port() {
  DIR="" PORT="" OWNER_PID="" KEEP_DATA=""
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --dir) DIR="${2:?--dir needs a value}"; shift 2 ;;
      --dir=*) DIR="${1#*=}"; shift ;;
      --port) PORT="${2:?--port needs a value}"; shift 2 ;;
      --port=*) PORT="${1#*=}"; shift ;;
      --owner-pid) OWNER_PID="${2:?--owner-pid needs a value}"; shift 2 ;;
      --owner-pid=*) OWNER_PID="${1#*=}"; shift ;;
      --keep-data) KEEP_DATA=1; shift ;;
      *) die "unknown argument: $1" ;;
    esac
  done
  [[ -z "$PORT" || "$PORT" =~ ^[0-9]+$ ]] || die "--port must be a number: $PORT"
  [[ -z "$OWNER_PID" || "$OWNER_PID" =~ ^[0-9]+$ ]] || die "--owner-pid must be a number: $OWNER_PID"
  return 0
}

abs_dir() { mkdir -p "$1" && (cd "$1" && pwd); }

cmd_start() {
  parse_dir_port "$@"
  cmd_resolve
  check_java

  local port="${PORT:-0}" controller_port
  if [[ "$port" == 0 ]]; then
    read -r port controller_port <<<"$(free_ports 2)"
  else
    controller_port="$(free_ports 1)"
    [[ "$controller_port" != "$port" ]] || controller_port="$(free_ports 1)"
    ! port_open "$port" || die "port $port is already in use"
  fi
  [[ -n "$port" && -n "$controller_port" ]] || die "could not pick free ports"

  local dir
  dir="$(abs_dir "${DIR:-$CACHE/run-$port}")"
  if [[ -f "$dir/broker.pid" ]] && alive "$(cat "$dir/broker.pid")" && is_our_broker "$(cat "$dir/broker.pid")" "$dir"; then
    die "a broker is already running from $dir (pid $(cat "$dir/broker.pid")); run: $SCRIPT stop --dir $dir"
  fi

  # Every start is a fresh, empty cluster: tests must not see topics from an earlier run.
  rm -rf "$dir/data" "$dir/broker.pid" "$dir/broker.log" "$dir/watchdog.pid"
  mkdir -p "$dir/data"
  write_server_properties "$dir" 1 "$port" "$controller_port" "1@127.0.0.1:$controller_port" 1

  # Kafka logs through slf4j; slf4j-simple (from the pom) writes to stderr, which goes to broker.log.
  # The log4j2 jars on the classpath only back Kafka's runtime log-level MBean.
  local level="${KAFKA_LOG_LEVEL:-info}"
  local -a log_opts=(
    "-Dorg.slf4j.simpleLogger.defaultLogLevel=$level"
    -Dorg.slf4j.simpleLogger.showDateTime=true
    "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSS"
    -Dorg.slf4j.simpleLogger.showShortLogName=true
    # Chatty at INFO and useless for debugging tests: full config dumps and per-partition log loading.
    -Dorg.slf4j.simpleLogger.log.org.apache.kafka.common.config.AbstractConfig=warn
    -Dorg.slf4j.simpleLogger.log.org.apache.kafka.clients.admin.AdminClientConfig=warn
    -Dorg.slf4j.simpleLogger.log.kafka.server.KafkaConfig=warn
    -Dorg.slf4j.simpleLogger.log.org.apache.kafka.storage.internals.log=warn
    -Dorg.slf4j.simpleLogger.log.kafka.log.UnifiedLog=warn
    -Dorg.slf4j.simpleLogger.log.kafka.log.LogManager=warn
    # ...but keep the line the start-up wait looks for.
    "-Dorg.slf4j.simpleLogger.log.kafka.server.KafkaRaftServer=info"
  )

  log "formatting storage in $dir/data"
  "$JAVA" -cp "$LIBS/*" "${log_opts[@]}" kafka.tools.StorageTool format \
    -t "$(random_cluster_id)" -c "$dir/server.properties" >>"$dir/broker.log" 2>&1 \
    || { tail -n 20 "$dir/broker.log" >&2; die "kafka-storage format failed (log: $dir/broker.log)"; }

  local -a heap
  read -r -a heap <<<"${KAFKA_HEAP_OPTS:--Xms512m -Xmx1g}"
  local -a detach=()
  # Own session: a Ctrl-C in the caller's terminal must not hit the broker; stop/watchdog end it.
  command -v setsid >/dev/null && detach=(setsid)

  log "starting Kafka $(kafka_version) on 127.0.0.1:$port (controller :$controller_port, dir $dir)"
  (
    cd "$dir"
    exec ${detach[@]+"${detach[@]}"} "$JAVA" "${heap[@]}" -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
      "-XX:ErrorFile=$dir/hs_err_pid%p.log" "${log_opts[@]}" \
      -cp "$LIBS/*" kafka.Kafka "$dir/server.properties"
  ) </dev/null >>"$dir/broker.log" 2>&1 &
  local pid=$!
  echo "$pid" >"$dir/broker.pid"

  local timeout="${KAFKA_START_TIMEOUT:-90}" start=$SECONDS
  until grep -q "$STARTED_MARKER" "$dir/broker.log" 2>/dev/null && port_open "$port"; do
    if ! alive "$pid"; then
      tail -n 30 "$dir/broker.log" >&2
      rm -f "$dir/broker.pid"
      die "the broker exited during start-up (log: $dir/broker.log)"
    fi
    if ((SECONDS - start >= timeout)); then
      tail -n 30 "$dir/broker.log" >&2
      cmd_stop --dir "$dir"
      die "the broker did not start within ${timeout}s (log: $dir/broker.log)"
    fi
    sleep 0.2
  done

  if [[ -n "$OWNER_PID" ]]; then
    # Stops the broker if the owning process dies without calling stop (crash, SIGKILL, Ctrl-C).
    ${detach[@]+"${detach[@]}"} bash "$SCRIPT" __watch --dir "$dir" --owner-pid "$OWNER_PID" </dev/null >/dev/null 2>&1 &
    echo $! >"$dir/watchdog.pid"
  fi

  log "broker ready in $((SECONDS - start))s (pid $pid, log $dir/broker.log)"
  printf '127.0.0.1:%s\n' "$port"
}

cmd_watch() {
  parse_dir_port "$@"
  local pid
  pid="$(cat "$DIR/broker.pid" 2>/dev/null)" || exit 0
  while alive "$OWNER_PID" && alive "$pid"; do sleep 1; done
  if alive "$pid"; then cmd_stop --dir "$DIR"; fi
}

stop_dir() {
  local dir="$1" pid
  [[ -f "$dir/broker.pid" ]] || return 0
  pid="$(cat "$dir/broker.pid")"
  if [[ -n "$pid" ]] && alive "$pid" && is_our_broker "$pid" "$dir"; then
    log "stopping broker pid $pid ($dir)"
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 100; i++)); do
      alive "$pid" || break
      sleep 0.2
    done
    if alive "$pid"; then
      log "broker pid $pid ignored SIGTERM for 20s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 25; i++)); do
        alive "$pid" || break
        sleep 0.2
      done
    fi
  fi
  # The watchdog notices the broker is gone and exits by itself within a second.
  rm -f "$dir/broker.pid" "$dir/watchdog.pid"
  # A stopped broker's data is never reused (start always formats afresh) and benchmarks can leave
  # gigabytes behind; broker.log and server.properties stay for post-mortems.
  [[ -n "$KEEP_DATA" ]] || rm -rf "$dir/data"
}

cmd_stop() {
  parse_dir_port "$@"
  if [[ -n "$DIR" ]]; then
    [[ -d "$DIR" ]] || return 0
    stop_dir "$(cd "$DIR" && pwd)"
  elif [[ -n "$PORT" ]]; then
    [[ -d "$CACHE/run-$PORT" ]] || return 0
    stop_dir "$CACHE/run-$PORT"
  else
    local d
    for d in "$CACHE"/run-*/; do
      [[ -d "$d" ]] && stop_dir "${d%/}"
    done
  fi
  return 0
}

usage() {
  sed -n '2,13p' "$SCRIPT" | sed 's/^# \{0,1\}//' >&2
}

main() {
  local cmd="${1:-}"
  [[ $# -gt 0 ]] && shift
  case "$cmd" in
    resolve) cmd_resolve ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    __watch) cmd_watch "$@" ;;
    -h | --help | help) usage ;;
    *) usage; exit 2 ;;
  esac
}

main "$@"
