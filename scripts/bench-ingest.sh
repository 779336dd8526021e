#!/usr/bin/env bash
# Measures durable ingest: batches and berichten parked per second (each 202 after its sync),
# with 1 and with 400 afnemers, and the group-commit sizes seen; beside it, in the same run,
# the disk's own ceiling for one acknowledgement per sync (fio, 4 KiB writes, fdatasync each),
# so the figures come as a ratio that survives a noisy machine.
#
# Usage: scripts/bench-ingest.sh [seconds per run, default 20]
# Needs: wrk, fio, curl (Debian packages). Writes its data under a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
connections=${CONNECTIONS:-64}
port=18181
token=bench-beheer-token-of-at-least-32-bytes
work=$(mktemp -d)
trap 'kill $engine 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

cargo build --release --quiet
base=http://127.0.0.1:$port
ops=http://127.0.0.1:$((port + 100)) # the operations listener: /metrics

start_engine() {
  rm -rf "$work/data"
  BERICHTENBOX_BEHEER_TOKEN=$token BERICHTENBOX_LOG=warn \
    ./target/release/berichtenbox serve --listen 127.0.0.1:$port --ops-listen 127.0.0.1:$((port + 100)) --data-dir "$work/data" >"$work/engine.out" 2>&1 &
  engine=$!
  for _ in $(seq 100); do curl -fs $base/health/ready >/dev/null && return; sleep 0.1; done
  echo "engine did not start" >&2; cat "$work/engine.out" >&2; exit 1
}

register() { # n afnemers with a rate that does not limit: this measures the store, not the throttle
  : >"$work/keys"
  for i in $(seq 1 "$1"); do
    oin=$(printf '%020d' "$i")
    curl -fs -X PUT "$base/v1/beheer/afnemers/$oin" -H "Authorization: Bearer $token" \
      -H 'Content-Type: application/json' \
      -d '{"naam":"bench","berichtenPerSeconde":1000000,"burst":1000000}' >/dev/null
    curl -fs -X POST "$base/v1/beheer/afnemers/$oin/api-sleutels" -H "Authorization: Bearer $token" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["sleutel"])' >>"$work/keys"
  done
}

group_sizes() { # mean batches and berichten per group commit, from the engine's histograms
  curl -fs $ops/metrics | awk '
    /^berichtenbox_park_group_batches_sum/ {bs=$2} /^berichtenbox_park_group_batches_count/ {bc=$2}
    /^berichtenbox_park_group_messages_sum/ {ms=$2} /^berichtenbox_park_group_messages_count/ {mc=$2}
    /^berichtenbox_park_sync_seconds_sum/ {ss=$2}
    END { if (bc > 0) printf "group commits %d, mean batches/group %.1f, mean berichten/group %.0f, mean commit %.2f ms\n", bc, bs/bc, ms/mc, 1000*ss/bc }'
}

run() { # afnemers, berichten per batch
  start_engine
  register "$1"
  echo "== $1 afnemer(s), $2 berichten per batch, $connections connections, ${seconds}s"
  wrk -t2 -c"$connections" -d"${seconds}s" --latency -s scripts/wrk-batches.lua "$base" -- "$work/keys" "$2" \
    | tee "$work/wrk.out" | grep -E "Requests/sec|status|latency_ms"
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.out")
  awk -v r="$rps" -v n="$2" 'BEGIN { printf "durable batches/s %.0f, berichten/s %.0f\n", r, r*n }'
  group_sizes
  kill -TERM $engine; wait $engine || true
}

echo "== peer: fio, 4 KiB writes, fdatasync after each (one acknowledgement per sync)"
fio --name=sync --directory="$work" --rw=write --bs=4k --size=256m --fdatasync=1 \
  --runtime="$seconds" --time_based --output-format=json |
  python3 -c 'import json,sys; print("fio syncs/s %.0f" % json.load(sys.stdin)["jobs"][0]["write"]["iops"])'

run 1 1
run 1 100
run 400 1
run 400 10
run 400 100
