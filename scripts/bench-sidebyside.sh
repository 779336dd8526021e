#!/usr/bin/env bash
# Side by side, in one run on one disk: the engine's durable text-only ingest against NATS
# JetStream (file storage, the same batch bodies, acks awaited, the same concurrency), and the
# engine's SLA mix (request bodies in MB/s) against the disk's own limit (fio, sequential
# writes with an fdatasync after each). Each pair is reported as a ratio: the machines are
# shared and noisy, the ratio is what to compare between runs.
#
#  (a) engine, text-only: a fresh engine (default configuration), AFNEMERS afnemers registered
#      with a rate that does not limit, and `wrk -t2 -cCONNECTIONS` with
#      scripts/wrk-batches.lua, as scripts/bench-ingest.sh does (closed loop: the engine's best
#      durable rate; every 202 was sent after the fsync of its group commit).
#  (b) JetStream: Debian's nats-server with -js on 127.0.0.1, the stream in file storage on
#      the same disk, and target/release/jetstream-publish with CONNECTIONS publishers, each
#      awaiting the ack of its message before the next: one message per batch, the same JSON
#      bodies as (a), berichten counted as the engine counts them.
#  (c) engine, SLA mix: the load-test harness with loadtest/scenarios/sla-mix.toml rewritten to
#      a temporary file: SLA_RATE berichten/s offered (open loop, above what the engine takes,
#      so the accepted MB/s is its ceiling), SECONDS long, SLA_CITIZENS boxes.
#  (d) fio: sequential writes with fdatasync after each, at each block size of FIO_BS; the first
#      (1m) is comparable to one SLA-mix request (batches of 10 berichten, about 1.2 MB), and
#      is the one the ratio is taken against (the engine syncs groups of several requests).
#
# Usage: scripts/bench-sidebyside.sh [seconds per run, default 20]
# Environment: BATCH_SIZES (default "1 100"), CONNECTIONS (64), AFNEMERS (400), SLA_RATE
#   (5000), SLA_CITIZENS (2000), FIO_BS ("1m 256k 4k"), OUT (also write the Markdown table to this
#   file).
# Needs: nats-server, fio, wrk, curl, python3 (Debian packages); installs nothing itself.
# Its data lives in a temporary directory under target/ (the repository's filesystem), removed
# at the end; the SLA mix writes several GB there while it runs.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
batch_sizes=${BATCH_SIZES:-"1 100"}
connections=${CONNECTIONS:-64}
afnemers=${AFNEMERS:-400}
sla_rate=${SLA_RATE:-5000}
sla_citizens=${SLA_CITIZENS:-2000}
fio_sizes=${FIO_BS:-"1m 256k 4k"}
engine_port=18191
nats_port=18192
nats_monitor=18193
token=bench-beheer-token-of-at-least-32-bytes
secret=bench-burger-secret-of-at-least-32-bytes
base=http://127.0.0.1:$engine_port
ops=http://127.0.0.1:$((engine_port + 100)) # the operations listener: /metrics

missing=()
for tool in nats-server fio wrk curl python3; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "missing: ${missing[*]}; install them with:" >&2
  echo "  apt-get install -y ${missing[*]}" >&2
  exit 1
fi

cargo build --release --quiet -p berichtenbox -p berichtenbox-loadtest
mkdir -p target
work=$(mktemp -d "$PWD/target/bench-sidebyside.XXXXXX")
engine=
nats=
cleanup() {
  [ -n "$engine" ] && kill "$engine" 2>/dev/null || true
  [ -n "$nats" ] && kill "$nats" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
tick=$(getconf CLK_TCK)

cpu_ticks() { # utime + stime of a process, in clock ticks
  awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0
}

start_engine() {
  rm -rf "$work/data"
  BERICHTENBOX_BEHEER_TOKEN=$token BERICHTENBOX_BURGER_JWT_SECRET=$secret BERICHTENBOX_LOG=warn \
    ./target/release/berichtenbox serve --listen 127.0.0.1:$engine_port --ops-listen 127.0.0.1:$((engine_port + 100)) --data-dir "$work/data" \
    >"$work/engine.out" 2>&1 &
  engine=$!
  for _ in $(seq 100); do curl -fs $base/health/ready >/dev/null && return; sleep 0.1; done
  echo "engine did not start" >&2; cat "$work/engine.out" >&2; exit 1
}

stop_engine() {
  kill -TERM "$engine"; wait "$engine" || true
  engine=
  rm -rf "$work/data"
}

register() { # n afnemers with a rate that does not limit: this measures the store, not the throttle
  python3 - "$base" "$token" "$1" >"$work/keys" <<'PY'
import json, sys, urllib.request
base, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method, headers={
        "Authorization": "Bearer " + token, "Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return response.read()
for i in range(1, n + 1):
    oin = "%020d" % i
    call("PUT", f"/v1/beheer/afnemers/{oin}",
         {"naam": "bench", "berichtenPerSeconde": 1000000, "burst": 1000000})
    print(json.loads(call("POST", f"/v1/beheer/afnemers/{oin}/api-sleutels"))["sleutel"])
PY
}

group_sizes() { # mean berichten per group commit, from the engine's histograms
  curl -fs $ops/metrics | awk '
    /^berichtenbox_park_group_messages_sum/ {ms=$2} /^berichtenbox_park_group_messages_count/ {mc=$2}
    END { if (mc > 0) printf "%.0f", ms/mc; else printf "?" }'
}

declare -A eng_rate eng_lat eng_cpu eng_group js_rate js_lat js_cpu
fmt() { python3 -c 'import sys; print(f"{float(sys.argv[1]):,.0f}")' "$1"; }
ratio() { python3 -c 'import sys; a,b=map(float,sys.argv[1:]); print(f"{a/b:.2f}×" if b > 0 else "n/a")' "$1" "$2"; }

# (a) the engine, text-only
engine_text() { # berichten per batch
  local k=$1 before after rate p50 p99
  start_engine
  register "$afnemers"
  echo "== (a) engine: $afnemers afnemers, batches of $k, wrk -t2 -c$connections, ${seconds}s"
  before=$(cpu_ticks "$engine")
  { TIMEFORMAT='%U %S'; time wrk -t2 -c"$connections" -d"${seconds}s" --latency \
      -s scripts/wrk-batches.lua "$base" -- "$work/keys" "$k" >"$work/wrk.out"; } 2>"$work/wrk.time"
  after=$(cpu_ticks "$engine")
  grep -E "Requests/sec|status|latency_ms" "$work/wrk.out"
  eng_group[$k]=$(group_sizes)
  read -r rate p50 p99 < <(awk -v n="$k" '
    /Requests\/sec/ {rps=$2} /^status/ {total+=$3; if ($2=="202:") ok=$3}
    /^latency_ms/ {p50=$3; p99=$5}
    END { printf "%.0f %s %s\n", (total > 0 ? rps*ok/total : 0)*n, p50, p99 }' "$work/wrk.out")
  eng_rate[$k]=$rate
  eng_lat[$k]="p50 $p50 ms, p99 $p99 ms"
  eng_cpu[$k]=$(awk -v a="$before" -v b="$after" -v t="$tick" -v s="$seconds" \
    '{u=$1; y=$2} END {printf "%.0f%% / %.0f%%", 100*(b-a)/t/s, 100*(u+y)/s}' "$work/wrk.time")
  echo "durable berichten/s ${eng_rate[$k]}, berichten per group commit ${eng_group[$k]}, CPU engine / wrk ${eng_cpu[$k]}"
  stop_engine
}

# (b) JetStream, the same bodies and concurrency
jetstream_text() { # berichten per batch
  local k=$1 before after result
  rm -rf "$work/nats"
  nats-server -js -sd "$work/nats" -a 127.0.0.1 -p $nats_port -m $nats_monitor >"$work/nats.out" 2>&1 &
  nats=$!
  for _ in $(seq 100); do curl -fs http://127.0.0.1:$nats_monitor/healthz >/dev/null && break; sleep 0.1; done
  echo "== (b) JetStream: batches of $k, $connections publishers awaiting acks, ${seconds}s"
  before=$(cpu_ticks "$nats")
  { TIMEFORMAT='%U %S'; time ./target/release/jetstream-publish --server nats://127.0.0.1:$nats_port \
      --publishers "$connections" --batch-size "$k" --duration "$seconds" >"$work/js.out"; } 2>"$work/js.time"
  after=$(cpu_ticks "$nats")
  grep -v '^RESULT' "$work/js.out"
  result=$(grep '^RESULT' "$work/js.out")
  js_rate[$k]=$(sed -E 's/.* berichten_per_s=([0-9.]+).*/\1/' <<<"$result")
  js_lat[$k]=$(sed -E 's/.* ack_p50_ms=([0-9.]+) ack_p99_ms=([0-9.]+).*/p50 \1 ms, p99 \2 ms/' <<<"$result")
  js_cpu[$k]=$(awk -v a="$before" -v b="$after" -v t="$tick" -v s="$seconds" \
    '{u=$1; y=$2} END {printf "%.0f%% / %.0f%%", 100*(b-a)/t/s, 100*(u+y)/s}' "$work/js.time")
  echo "CPU nats-server / publisher ${js_cpu[$k]}"
  kill -TERM "$nats"; wait "$nats" || true
  nats=
  rm -rf "$work/nats"
}

# (c) the engine, SLA mix
engine_sla() {
  python3 - loadtest/scenarios/sla-mix.toml "$work/sla-fast.toml" "$seconds" "$sla_rate" "$sla_citizens" <<'PY'
import re, sys
source, target, seconds, rate, citizens = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
text = open(source).read()
count = int(re.search(r"^count\s*=\s*(\d+)", text, re.M).group(1))
text = re.sub(r'^name\s*=.*$', 'name = "sla-mix-sidebyside"', text, count=1, flags=re.M)
text = re.sub(r'^duration_seconds\s*=.*$', f"duration_seconds = {seconds}", text, count=1, flags=re.M)
text = re.sub(r'^offered_per_second\s*=.*$', f"offered_per_second = {rate / count}", text, count=1, flags=re.M)
text = re.sub(r'^messages\s*=.*\n', "", text, count=1, flags=re.M)
text = re.sub(r'^accounts\s*=.*$', f"accounts = {citizens}", text, count=1, flags=re.M)
# Bounds the generator's memory (bodies of ~0.8 MB) while keeping the engine saturated.
text += "\n[limits]\nmax_in_flight = 512\nverify_deadline_seconds = 600\n"
open(target, "w").write(text)
PY
  start_engine
  echo "== (c) engine: SLA mix, $sla_rate berichten/s offered, ${seconds}s (load-test harness)"
  local code=0
  BERICHTENBOX_BEHEER_TOKEN=$token BERICHTENBOX_BURGER_JWT_SECRET=$secret \
    ./target/release/berichtenbox-loadtest --target "$base" --scenario "$work/sla-fast.toml" \
    --out "$work/sla-report" --engine-pid "$engine" --quiet >"$work/sla.out" 2>&1 || code=$?
  if [ "$code" -ge 2 ]; then
    echo "the load test could not run:" >&2; cat "$work/sla.out" >&2; exit 1
  fi
  read -r sla_mb sla_line < <(python3 - "$work/sla-report/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
b, s = r["bandwidth"], r["status_counts"]
batches = r["loss_check"]["batches_accepted"]
mean_kb = b["accepted_request_bytes"] / batches / 1e3 if batches else 0
print(f'{b["accepted_mb_per_s"]:.1f}',
      f'offered {b["offered_mb_per_s"]:.0f} MB/s; {r["achieved_msgs_per_s"]:.0f} berichten/s accepted of '
      f'{r["offered_msgs_per_s"]:.0f} offered; mean request {mean_kb:.0f} KB; accept p50 '
      f'{r["accept_latency_ms"]["p50"]:.0f} ms, p99 {r["accept_latency_ms"]["p99"]:.0f} ms; '
      f'not sent {s["not_sent"]}, 429 {s["429"]}, 503 {s["503"]}; engine CPU '
      f'{(r.get("engine_cpu_percent") or 0):.0f}%, generator CPU {(r["generator"].get("cpu_percent") or 0):.0f}%; '
      f'loss check {"passed" if r["loss_check"]["passed"] else "FAILED"}')
PY
  )
  echo "accepted $sla_mb MB/s of request bodies; $sla_line"
  stop_engine
}

# (d) fio, sequential writes, fdatasync after each
fio_seq() { # block size; prints "MB/s syncs/s"
  fio --name=seq-fdatasync --directory="$work" --rw=write --bs="$1" --size=1g --fdatasync=1 \
    --runtime="$seconds" --time_based --output-format=json 2>/dev/null |
    python3 -c 'import json,sys; w=json.load(sys.stdin)["jobs"][0]["write"]; print("%.1f %.0f" % (w["bw_bytes"]/1e6, w["iops"]))'
  rm -f "$work"/seq-fdatasync*
}

nats_version=$(nats-server --version | sed -E 's/^nats-server: v?//')
# Does this nats-server know the `sync_interval` setting (2.10 and later)?
printf 'jetstream { store_dir: "%s", sync_interval: "2m" }\n' "$work/probe" >"$work/probe.conf"
if nats-server -t -c "$work/probe.conf" >/dev/null 2>&1; then has_sync_interval=yes; else has_sync_interval=no; fi
rm -rf "$work/probe" "$work/probe.conf"

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for k in $batch_sizes; do
  engine_text "$k"
  jetstream_text "$k"
done
engine_sla
declare -A fio_mb fio_iops
for bs in $fio_sizes; do
  echo "== (d) fio: sequential writes, bs=$bs, fdatasync after each, ${seconds}s"
  read -r "fio_mb[$bs]" "fio_iops[$bs]" < <(fio_seq "$bs")
  echo "bs=$bs: ${fio_mb[$bs]} MB/s (${fio_iops[$bs]} syncs/s)"
done

{
  echo
  echo "## Side by side, $(date -u +%Y-%m-%d), $(nproc) cores, ${seconds} s per run"
  echo
  echo "Load average (1, 5, 15 min) before the run: $load_before; after: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo "CPU columns: the server's and the load generator's CPU over the run, 100% = one core."
  echo
  echo "| what | engine | peer | peer's figure | engine / peer |"
  echo "| --- | --- | --- | --- | --- |"
  for k in $batch_sizes; do
    echo "| durable text-only ingest, batches of $k, $connections connections | $(fmt "${eng_rate[$k]}") berichten/s (${eng_lat[$k]}; ${eng_group[$k]} berichten per group commit; CPU engine / wrk ${eng_cpu[$k]}) | NATS JetStream $nats_version, file storage, $connections publishers awaiting acks, same bodies (*) | $(fmt "${js_rate[$k]}") berichten/s (${js_lat[$k]}; CPU server / publisher ${js_cpu[$k]}) | **$(ratio "${eng_rate[$k]}" "${js_rate[$k]}")** |"
  done
  first=yes
  for bs in $fio_sizes; do
    if [ $first = yes ]; then
      echo "| SLA mix, request bodies accepted ($sla_rate berichten/s offered) | $sla_mb MB/s | fio, sequential writes, bs=$bs, fdatasync after each | ${fio_mb[$bs]} MB/s (${fio_iops[$bs]} syncs/s) | **$(ratio "$sla_mb" "${fio_mb[$bs]}")** |"
      first=no
    else
      echo "| | | fio, sequential writes, bs=$bs, fdatasync after each | ${fio_mb[$bs]} MB/s (${fio_iops[$bs]} syncs/s) | $(ratio "$sla_mb" "${fio_mb[$bs]}") |"
    fi
  done
  echo
  echo "SLA mix: $sla_line."
  echo
  if [ "$has_sync_interval" = no ]; then
    echo "(*) nats-server $nats_version has no \`sync_interval\` setting (it refuses the field as unknown; the setting came"
    echo "in 2.10, with a default of 2 minutes). Its file store acknowledges a message once it is written to the OS"
    echo "page cache, without an fsync, and syncs on a background timer of 2 minutes: under strace, 2.9.10 made its"
    echo "first fsync (of the open block and its index) 120 s after the stream was created and none before, and the"
    echo "full 16 MB blocks it had rolled over were never fsynced (left to the kernel's writeback). Its ack means"
    echo "\"in the page cache\", the engine's 202 means \"fsynced\": the comparison favours JetStream, and a run of"
    echo "${seconds} s never reaches its first sync."
  else
    echo "(*) nats-server $nats_version has a \`sync_interval\` setting, left at its default (2 minutes): it acknowledges"
    echo "before the fsync, the engine's 202 comes after it; the comparison favours JetStream."
  fi
} | tee "${OUT:-/dev/null}"
