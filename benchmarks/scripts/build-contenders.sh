#!/usr/bin/env bash
# Builds the benchmark matrix's contenders that do not come ready from the npm registry. Idempotent;
# each part is skipped (with a message) when its toolchain is missing, and the matrix then leaves that
# contender out and says why.
#
#   @confluentinc/kafka-javascript: its native addon (pnpm runs no install scripts but node-rdkafka's),
#     with node-gyp and CKJS_LINKING=dynamic: its bundled librdkafka (2.15.1) built as a shared library
#     next to the addon. Needs gcc/g++, make, python3 and node's headers (/usr/include/node);
#     Debian's librdkafka-dev (2.0.2) is too old to link against, the bundled one is used.
#   Go worker pool: go build → benchmarks/.bin/go-workerpool (modules from the Go module proxy).
#   Kafka Streams: mvn package → benchmarks/streams/target (jars from Maven Central).
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$HERE"

ckjs="$(node -e "console.log(require('path').dirname(require.resolve('@confluentinc/kafka-javascript/package.json')))" 2>/dev/null)"
if [[ -n "$ckjs" && ! -f "$ckjs/build/Release/confluent-kafka-javascript.node" ]]; then
  gyp="$(dirname "$(command -v node)")/../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js"
  nodedir=()
  [[ -f /usr/include/node/node.h ]] && nodedir=(--nodedir=/usr)
  echo "building @confluentinc/kafka-javascript in $ckjs (several minutes)…"
  (cd "$ckjs" && CKJS_LINKING=dynamic node "$gyp" rebuild "${nodedir[@]}" -j 2 >/tmp/ckjs-build.log 2>&1) \
    && echo "  ok" || echo "  failed: see /tmp/ckjs-build.log (the matrix leaves it out)"
else
  if [[ -n "$ckjs" ]]; then echo "@confluentinc/kafka-javascript: already built ($ckjs)"; else echo "@confluentinc/kafka-javascript: not installed"; fi
fi

if command -v go >/dev/null; then
  echo "building the Go worker pool…"
  (cd go && go build -o ../.bin/go-workerpool .) && echo "  ok: .bin/go-workerpool"
else
  echo "go not found: the matrix leaves the Go contender out"
fi

if command -v mvn >/dev/null && command -v java >/dev/null; then
  echo "building the Kafka Streams contender…"
  (cd streams && mvn -q -B package) && echo "  ok: streams/target"
else
  echo "mvn/java not found: the matrix leaves Kafka Streams out"
fi
