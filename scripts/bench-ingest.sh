#!/usr/bin/env bash
# Measures durable ingest: batches and berichten parked per second (each 202 after its sync),
# with 1 and with 400 afnemers, and the group-commit sizes seen; beside it, in the same run,
# the disk's own ceiling for one acknowledgement per sync (fio, 4 KiB writes, fdatasync each),
# so the figures come as a ratio that survives a noisy machine.
#
# Then, in the same run, plain HTTP beside TLS (rustls; a server certificate made here with
# openssl; API keys, since wrk presents no client certificate), case by case back to back, so
# their ratio is what TLS costs.
#
# Usage: scripts/bench-ingest.sh [seconds per run, default 20] [all|tls, default all]
# (`tls`: only the TLS-beside-plain cases.)
# Needs: wrk, fio, curl, openssl (Debian packages). Writes its data under a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
section=${2:-all}
connections=${CONNECTIONS:-64}
port=18181
token=bench-beheer-token-of-at-least-32-bytes
work=$(mktemp -d)
trap 'kill $engine 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

cargo build --release --quiet
# register: n afnemers with keys in $work/keys (needs $base, $token, $work).
source scripts/bench-register.sh
base=http://127.0.0.1:$port
ops=http://127.0.0.1:$((port + 100)) # the operations listener: /metrics

# The TLS configuration: a self-signed P-256 certificate for 127.0.0.1.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
  -keyout "$work/server.key" -out "$work/server.crt" 2>/dev/null
printf '[tls]\ncert_file = "%s"\nkey_file = "%s"\n' "$work/server.crt" "$work/server.key" >"$work/tls.toml"
: >"$work/plain.toml"

start_engine() { # [config file, default plain]
  rm -rf "$work/data"
  local config=${1:-$work/plain.toml}
  BERICHTENBOX_BEHEER_TOKEN=$token BERICHTENBOX_LOG=warn \
    ./target/release/berichtenbox serve --config "$config" --listen 127.0.0.1:$port --ops-listen 127.0.0.1:$((port + 100)) --data-dir "$work/data" >"$work/engine.out" 2>&1 &
  engine=$!
  for _ in $(seq 100); do curl -kfs $base/health/ready >/dev/null && return; sleep 0.1; done
  echo "engine did not start" >&2; cat "$work/engine.out" >&2; exit 1
}


group_sizes() { # mean batches and berichten per group commit, from the engine's histograms
  curl -fs $ops/metrics | awk '
    /^berichtenbox_park_group_batches_sum/ {bs=$2} /^berichtenbox_park_group_batches_count/ {bc=$2}
    /^berichtenbox_park_group_messages_sum/ {ms=$2} /^berichtenbox_park_group_messages_count/ {mc=$2}
    /^berichtenbox_park_sync_seconds_sum/ {ss=$2}
    END { if (bc > 0) printf "group commits %d, mean batches/group %.1f, mean berichten/group %.0f, mean commit %.2f ms\n", bc, bs/bc, ms/mc, 1000*ss/bc }'
}

run() { # afnemers, berichten per batch[, config file]
  start_engine "${3:-}"
  register "$1"
  echo "== $1 afnemer(s), $2 berichten per batch, $connections connections, ${seconds}s, $base"
  wrk -t2 -c"$connections" -d"${seconds}s" --latency -s scripts/wrk-batches.lua "$base" -- "$work/keys" "$2" \
    | tee "$work/wrk.out" | grep -E "Requests/sec|status|latency_ms"
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.out")
  awk -v r="$rps" -v n="$2" 'BEGIN { printf "durable batches/s %.0f, berichten/s %.0f\n", r, r*n }'
  group_sizes
  kill -TERM $engine; wait $engine || true
}

if [ "$section" = all ]; then
  echo "== peer: fio, 4 KiB writes, fdatasync after each (one acknowledgement per sync)"
  fio --name=sync --directory="$work" --rw=write --bs=4k --size=256m --fdatasync=1 \
    --runtime="$seconds" --time_based --output-format=json |
    python3 -c 'import json,sys; print("fio syncs/s %.0f" % json.load(sys.stdin)["jobs"][0]["write"]["iops"])'

  run 1 1
  run 1 100
  run 400 1
  run 400 10
  run 400 100
fi

# TLS beside plain HTTP: each case plain, then TLS, on fresh engines; wrk opens its
# $connections connections once and keeps them (one handshake each), as an afnemer's client
# with keep-alive does.
echo "== TLS beside plain HTTP"
for case in "1 1" "400 10" "400 100"; do
  set -- $case
  base=http://127.0.0.1:$port
  run "$1" "$2" "$work/plain.toml"
  plain=$rps
  base=https://127.0.0.1:$port
  run "$1" "$2" "$work/tls.toml"
  awk -v p="$plain" -v t="$rps" -v a="$1" -v n="$2" \
    'BEGIN { printf "TLS / plain, %s afnemer(s), %s per batch: %.0f / %.0f batches/s = %.2f\n", a, n, t, p, t/p }'
done
