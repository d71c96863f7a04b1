#!/usr/bin/env bash
# Launches a real Apache Kafka (KRaft, combined broker+controller) for tests and benchmarks,
# without Docker: the broker jars come from Maven Central via the pom.xml beside this script.
#
#   kafka.sh resolve                               fetch the jars into $CACHE/libs (idempotent)
#   kafka.sh start [--dir DIR] [--port PORT] [--owner-pid PID] [--nodes N]
#                                                          start a fresh broker (or an N-node cluster, each node a
#                                                          combined broker+controller); prints "127.0.0.1:PORT[,...]"
#   kafka.sh start --resume (--dir DIR | --port PORT) [--node I] [--owner-pid PID]
#                                                          start a killed broker (or node I of a cluster) again on
#                                                          the same ports with the same data (no reformat)
#   kafka.sh kill (--dir DIR | --port PORT) [--node I] [--signal TERM|KILL]
#                                                          stop a broker (or node I) but keep its data for --resume
#                                                          (TERM: controlled shutdown, the default; KILL: kill -9)
#   kafka.sh stop [--dir DIR | --port PORT] [--keep-data]
#                                                          stop it (every node) and delete its data
#                                                          (no DIR/PORT: every $CACHE/run-*)
#
# A cluster lives in DIR/node-1 .. DIR/node-N, each laid out like a single broker's DIR. It gets
# replication factor N for internal topics and min.insync.replicas 2 (N >= 3).
# stdout carries only the broker address so callers can capture it; everything else goes to stderr.
# Environment: JAVA_HOME, KAFKA_HEAP_OPTS (default "-Xms512m -Xmx1g"; "-Xms256m -Xmx512m" per node of a cluster), KAFKA_START_TIMEOUT (seconds, default 90),
# KAFKA_LOG_LEVEL (slf4j-simple level of the broker log, default info).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SCRIPT="$HERE/kafka.sh"
POM="$HERE/pom.xml"
# Jars and broker folders: RXKAFKA_KAFKA_CACHE if set; inside the rxkafka workspace its .cache/kafka;
# installed from the registry, the user's cache.
WORKSPACE="$(cd "$HERE/../../.." && pwd)"
if [[ -n "${RXKAFKA_KAFKA_CACHE:-}" ]]; then
  CACHE="$RXKAFKA_KAFKA_CACHE"
elif [[ -f "$WORKSPACE/pnpm-workspace.yaml" && -d "$WORKSPACE/packages/testing/kafka" ]]; then
  CACHE="$WORKSPACE/.cache/kafka"
else
  CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/rxkafka/kafka"
fi
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
  local min_isr=1
  ((replication >= 3)) && min_isr=2
  cat >"$dir/server.properties" <<EOF
# Generated by kafka.sh (@rxkafka/testing); rewritten on every start.
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
min.insync.replicas=$min_isr

# Internal topics: one replica per node, few partitions, so the first consumer group / transaction is fast.
offsets.topic.replication.factor=$replication
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=$replication
transaction.state.log.min.isr=$min_isr
transaction.state.log.num.partitions=3
# Transactions past transaction.timeout.ms are aborted within 1 s, not at the default 10 s sweep.
transaction.abort.timed.out.transaction.cleanup.interval.ms=1000
share.coordinator.state.topic.replication.factor=$replication
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=3

# Tests should not wait 3 s for the first group rebalance.
group.initial.rebalance.delay.ms=0
EOF
}

parse_dir_port() {
  DIR="" PORT="" OWNER_PID="" KEEP_DATA="" NODES=1 NODE="" RESUME="" SIGNAL=TERM
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --nodes) NODES="${2:?--nodes needs a value}"; shift 2 ;;
      --nodes=*) NODES="${1#*=}"; shift ;;
      --node) NODE="${2:?--node needs a value}"; shift 2 ;;
      --node=*) NODE="${1#*=}"; shift ;;
      --signal) SIGNAL="${2:?--signal needs a value}"; shift 2 ;;
      --signal=*) SIGNAL="${1#*=}"; shift ;;
      --resume) RESUME=1; shift ;;
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
  [[ "$NODES" =~ ^[1-9][0-9]*$ ]] || die "--nodes must be a positive number: $NODES"
  [[ -z "$NODE" || "$NODE" =~ ^[1-9][0-9]*$ ]] || die "--node must be a positive number: $NODE"
  SIGNAL="${SIGNAL#SIG}"
  [[ "$SIGNAL" == TERM || "$SIGNAL" == KILL ]] || die "--signal must be TERM or KILL: $SIGNAL"
  return 0
}

abs_dir() { mkdir -p "$1" && (cd "$1" && pwd); }

log_opts() {
  # Kafka logs through slf4j; slf4j-simple (from the pom) writes to stderr, which goes to broker.log.
  # The log4j2 jars on the classpath only back Kafka's runtime log-level MBean.
  local level="${KAFKA_LOG_LEVEL:-info}"
  LOG_OPTS=(
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
}

format_node() {
  local dir="$1" cluster_id="$2"
  log "formatting storage in $dir/data"
  "$JAVA" -cp "$LIBS/*" "${LOG_OPTS[@]}" kafka.tools.StorageTool format \
    -t "$cluster_id" -c "$dir/server.properties" >>"$dir/broker.log" 2>&1 \
    || { tail -n 20 "$dir/broker.log" >&2; die "kafka-storage format failed (log: $dir/broker.log)"; }
}

# Reads a node's PLAINTEXT port back from the server.properties of an earlier start.
node_port() { sed -n 's|^listeners=PLAINTEXT://[^:]*:\([0-9]*\),.*|\1|p' "$1/server.properties" | head -n 1; }

refuse_running() {
  local dir="$1"
  if [[ -f "$dir/broker.pid" ]] && alive "$(cat "$dir/broker.pid")" && is_our_broker "$(cat "$dir/broker.pid")" "$dir"; then
    die "a broker is already running from $dir (pid $(cat "$dir/broker.pid")); run: $SCRIPT stop --dir $dir"
  fi
}

# Starts the JVM of one node in the background and records its pid; does not wait.
launch_node() {
  local dir="$1" port="$2" heap_default="$3"
  local -a heap
  read -r -a heap <<<"${KAFKA_HEAP_OPTS:-$heap_default}"
  local -a detach=()
  # Own session: a Ctrl-C in the caller's terminal must not hit the broker; stop/watchdog end it.
  command -v setsid >/dev/null && detach=(setsid)
  # The start-up wait looks for the marker only in what this start appends to broker.log.
  touch "$dir/broker.log"
  wc -c <"$dir/broker.log" | tr -d ' ' >"$dir/broker.log.offset"
  log "starting Kafka $(kafka_version) on 127.0.0.1:$port (dir $dir)"
  (
    cd "$dir"
    exec ${detach[@]+"${detach[@]}"} "$JAVA" "${heap[@]}" -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
      "-XX:ErrorFile=$dir/hs_err_pid%p.log" "${LOG_OPTS[@]}" \
      -cp "$LIBS/*" kafka.Kafka "$dir/server.properties"
  ) </dev/null >>"$dir/broker.log" 2>&1 &
  echo "$!" >"$dir/broker.pid"
}

# Waits until one node logged its start-up marker and accepts connections.
wait_node() {
  local dir="$1" port="$2" start="$3" timeout="${KAFKA_START_TIMEOUT:-90}" pid offset
  pid="$(cat "$dir/broker.pid")"
  offset="$(cat "$dir/broker.log.offset" 2>/dev/null || echo 0)"
  until tail -c "+$((offset + 1))" "$dir/broker.log" 2>/dev/null | grep -q "$STARTED_MARKER" && port_open "$port"; do
    if ! alive "$pid"; then
      tail -n 30 "$dir/broker.log" >&2
      rm -f "$dir/broker.pid"
      die "the broker exited during start-up (log: $dir/broker.log)"
    fi
    if ((SECONDS - start >= timeout)); then
      tail -n 30 "$dir/broker.log" >&2
      stop_node "$dir" TERM
      die "the broker did not start within ${timeout}s (log: $dir/broker.log)"
    fi
    sleep 0.2
  done
  log "broker ready on :$port in $((SECONDS - start))s (pid $pid, log $dir/broker.log)"
}

start_watchdog() {
  local dir="$1"
  [[ -n "$OWNER_PID" ]] || return 0
  local -a detach=()
  command -v setsid >/dev/null && detach=(setsid)
  # Stops the broker if the owning process dies without calling stop (crash, SIGKILL, Ctrl-C).
  ${detach[@]+"${detach[@]}"} bash "$SCRIPT" __watch --dir "$dir" --owner-pid "$OWNER_PID" </dev/null >/dev/null 2>&1 &
  echo $! >"$dir/watchdog.pid"
}

# The node folders of DIR: DIR itself for a single broker, DIR/node-* for a cluster.
node_dirs() {
  local dir="$1" d found=""
  for d in "$dir"/node-*/; do
    [[ -d "$d" ]] && { printf '%s\n' "${d%/}"; found=1; }
  done
  [[ -n "$found" ]] || printf '%s\n' "$dir"
}

target_dir() {
  if [[ -n "$DIR" ]]; then
    [[ -d "$DIR" ]] || die "no broker folder $DIR"
    (cd "$DIR" && pwd)
  elif [[ -n "$PORT" ]]; then
    [[ -d "$CACHE/run-$PORT" ]] || die "no broker folder $CACHE/run-$PORT"
    printf '%s\n' "$CACHE/run-$PORT"
  else
    die "--dir or --port is required"
  fi
}

# Selects the nodes a kill/resume acts on: --node I, or every node.
selected_nodes() {
  local dir="$1"
  if [[ -n "$NODE" ]]; then
    [[ -d "$dir/node-$NODE" ]] || { [[ "$NODE" == 1 && ! -d "$dir/node-1" ]] && printf '%s\n' "$dir" && return; die "no node $NODE in $dir"; }
    printf '%s\n' "$dir/node-$NODE"
  else
    node_dirs "$dir"
  fi
}

cmd_start() {
  parse_dir_port "$@"
  cmd_resolve
  check_java
  log_opts
  [[ -n "$RESUME" ]] && { resume_nodes; return; }

  local n="$NODES" heap_default="-Xms512m -Xmx1g"
  ((n > 1)) && heap_default="-Xms256m -Xmx512m"
  local -a ports controller_ports all
  read -r -a all <<<"$(free_ports $((2 * n)))"
  ((${#all[@]} == 2 * n)) || die "could not pick free ports"
  local i
  for ((i = 0; i < n; i++)); do
    ports[i]="${all[i]}"
    controller_ports[i]="${all[n + i]}"
  done
  if [[ -n "$PORT" && "$PORT" != 0 ]]; then
    ! port_open "$PORT" || die "port $PORT is already in use"
    for ((i = 0; i < 2 * n; i++)); do
      [[ "${all[i]}" != "$PORT" ]] || die "port $PORT collides with a picked port; try again"
    done
    ports[0]="$PORT"
  fi

  local dir
  dir="$(abs_dir "${DIR:-$CACHE/run-${ports[0]}}")"
  local d
  while read -r d; do refuse_running "$d"; done < <(node_dirs "$dir")

  # Every start is a fresh, empty cluster: tests must not see topics from an earlier run.
  rm -rf "$dir/data" "$dir/broker.pid" "$dir/broker.log" "$dir/broker.log.offset" "$dir/watchdog.pid" "$dir"/node-*
  local -a dirs=()
  if ((n == 1)); then
    dirs=("$dir")
  else
    for ((i = 1; i <= n; i++)); do dirs+=("$dir/node-$i"); done
  fi
  local voters=""
  for ((i = 0; i < n; i++)); do voters+="${voters:+,}$((i + 1))@127.0.0.1:${controller_ports[i]}"; done

  local cluster_id
  cluster_id="$(random_cluster_id)"
  for ((i = 0; i < n; i++)); do
    mkdir -p "${dirs[i]}/data"
    write_server_properties "${dirs[i]}" $((i + 1)) "${ports[i]}" "${controller_ports[i]}" "$voters" "$n"
    format_node "${dirs[i]}" "$cluster_id"
  done

  # All nodes start together: a controller quorum needs a majority before any node finishes starting.
  local start=$SECONDS
  for ((i = 0; i < n; i++)); do launch_node "${dirs[i]}" "${ports[i]}" "$heap_default"; done
  for ((i = 0; i < n; i++)); do
    if ! (wait_node "${dirs[i]}" "${ports[i]}" "$start"); then
      for d in "${dirs[@]}"; do stop_node "$d" TERM; done
      die "the cluster did not start (dir $dir)"
    fi
  done
  for d in "${dirs[@]}"; do start_watchdog "$d"; done

  local address=""
  for ((i = 0; i < n; i++)); do address+="${address:+,}127.0.0.1:${ports[i]}"; done
  printf '%s\n' "$address"
}

# start --resume: the same ports, config and data as the last start; no format.
resume_nodes() {
  local dir d heap_default="-Xms512m -Xmx1g"
  dir="$(target_dir)"
  [[ -d "$dir/node-1" ]] && heap_default="-Xms256m -Xmx512m"
  local -a dirs=() ports=()
  while read -r d; do dirs+=("$d"); done < <(selected_nodes "$dir")
  for d in "${dirs[@]}"; do
    [[ -f "$d/server.properties" && -d "$d/data" ]] || die "$d has no server.properties or data to resume from"
    refuse_running "$d"
    local port
    port="$(node_port "$d")"
    [[ -n "$port" ]] || die "cannot read the port from $d/server.properties"
    ! port_open "$port" || die "port $port is already in use"
    ports+=("$port")
  done
  local start=$SECONDS i
  for ((i = 0; i < ${#dirs[@]}; i++)); do launch_node "${dirs[i]}" "${ports[i]}" "$heap_default"; done
  for ((i = 0; i < ${#dirs[@]}; i++)); do wait_node "${dirs[i]}" "${ports[i]}" "$start"; done
  for d in "${dirs[@]}"; do start_watchdog "$d"; done
}

# kill: stop a node's JVM (TERM = controlled shutdown, KILL = kill -9) and keep its data for --resume.
cmd_kill() {
  parse_dir_port "$@"
  local dir d
  dir="$(target_dir)"
  while read -r d; do stop_node "$d" "$SIGNAL"; done < <(selected_nodes "$dir")
}

cmd_watch() {
  parse_dir_port "$@"
  local pid
  pid="$(cat "$DIR/broker.pid" 2>/dev/null)" || exit 0
  while alive "$OWNER_PID" && alive "$pid"; do sleep 1; done
  if alive "$pid"; then cmd_stop --dir "$DIR"; fi
}

# Ends one node's JVM with SIGNAL (TERM: wait up to 20 s, then KILL); keeps its data.
stop_node() {
  local dir="$1" signal="${2:-TERM}" pid
  [[ -f "$dir/broker.pid" ]] || return 0
  pid="$(cat "$dir/broker.pid")"
  if [[ -n "$pid" ]] && alive "$pid" && is_our_broker "$pid" "$dir"; then
    log "stopping broker pid $pid with SIG$signal ($dir)"
    kill "-$signal" "$pid" 2>/dev/null || true
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
}

stop_dir() {
  local dir="$1" d pid
  # A cluster's nodes are signalled together: the last node alone cannot finish a controlled
  # shutdown without a controller quorum, and would sit out the 20 s grace period.
  while read -r d; do
    pid="$(cat "$d/broker.pid" 2>/dev/null)" || continue
    if [[ -n "$pid" ]] && alive "$pid" && is_our_broker "$pid" "$d"; then kill -TERM "$pid" 2>/dev/null || true; fi
  done < <(node_dirs "$dir")
  while read -r d; do
    stop_node "$d" TERM
    # A stopped broker's data is never reused by start (it formats afresh) and benchmarks can leave
    # gigabytes behind; broker.log and server.properties stay for post-mortems.
    [[ -n "$KEEP_DATA" ]] || rm -rf "$d/data"
  done < <(node_dirs "$dir")
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
  # The header comment, up to the first line that is not a comment.
  awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$SCRIPT" >&2
}

main() {
  local cmd="${1:-}"
  [[ $# -gt 0 ]] && shift
  case "$cmd" in
    resolve) cmd_resolve ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    kill) cmd_kill "$@" ;;
    __watch) cmd_watch "$@" ;;
    -h | --help | help) usage ;;
    *) usage; exit 2 ;;
  esac
}

main "$@"
