#!/usr/bin/env bash
# Measures a restart: how long the engine takes to stop (SIGTERM to exit: drain, requests in
# flight, store sync and close) and to start again (exec to "listening": store and catalog
# opened), on a data directory that wrk has filled for a while with 100-bericht batches of
# 400 afnemers. Beside it, in the same run, the peer: the time to exec the binary and have it
# print its version (what any restart costs at least).
#
# Usage: scripts/bench-restart.sh [seconds of load, default 30] [restarts, default 5]
# Needs: wrk, curl (Debian packages).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
restarts=${2:-5}
port=18281
token=bench-beheer-token-of-at-least-32-bytes
work=$(mktemp -d)
trap 'kill $engine 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
cargo build --release --quiet
source scripts/bench-register.sh
base=http://127.0.0.1:$port
bin=./target/release/berichtenbox
now() { date +%s.%N; }

# Both set $took (seconds) and run in this shell, so that $engine stays known.
start_engine() { # from exec to the "listening" line
  rm -f "$work/engine.out"
  local began; began=$(now)
  BERICHTENBOX_BEHEER_TOKEN=$token BERICHTENBOX_LOG=${BERICHTENBOX_LOG:-warn} \
    $bin serve --listen 127.0.0.1:$port --ops-listen 127.0.0.1:$((port + 100)) --data-dir "$work/data" >"$work/engine.out" 2>"$work/engine.err" &
  engine=$!
  until grep -q "^listening on" "$work/engine.out" 2>/dev/null; do
    kill -0 $engine 2>/dev/null || { cat "$work/engine.err" >&2; exit 1; }
    sleep 0.005
  done
  took=$(awk -v a="$began" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }')
}

stop_engine() { # from SIGTERM to exit
  local began; began=$(now)
  kill -TERM $engine; wait $engine || true
  took=$(awk -v a="$began" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }')
}

start_engine
register 400
wrk -t2 -c64 -d"${seconds}s" -s scripts/wrk-batches.lua "$base" -- "$work/keys" 100 | grep -E "Requests/sec|status 202"
# Let processing catch up, so the restart opens a store at rest.
until curl -fs "http://127.0.0.1:$((port + 100))/metrics" |
  awk '/^berichtenbox_geparkeerd_berichten[{ ]/ { s += $NF } END { exit !(s == 0) }'; do sleep 1; done
echo "data directory: $(du -sh "$work/data" | cut -f1)"

peer=$( { began=$(now); $bin --version >/dev/null; awk -v a="$began" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; } )
echo "peer: exec and exit of the binary ($bin --version): ${peer}s"
for r in $(seq 1 "$restarts"); do
  stop_engine
  stop=$took
  start_engine
  start=$took
  grep -h "shard opened\|catalog" "$work/engine.err" | sed 's/^[^ ]* *//' || true
  echo "restart $r: stop ${stop}s (with the drain of shutdown_drain_ms), start ${start}s (store and catalog opened)"
done
stop_engine
