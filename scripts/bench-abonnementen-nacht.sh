#!/usr/bin/env bash
# Issue 12 (d): the accept latency of the load harness's `saturation` scenario while the
# Abonnementservice makes a night's extract in the same engine, beside the same run without one.
#
# Each run copies a data directory preloaded with accounts (made by
# `target/release/examples/abonnementen load`), starts the release engine on it as a process on
# the system clock with `[abonnementen] venster_begin` set to a minute boundary 1.5 to 2.5
# minutes ahead (Europe/Amsterdam, venster_eind 5 hours later, the runner looking every second),
# and waits for the window to open. In a run "met" (with) it first registers VOLLEDIG afnemers
# (OIN 00000008000000000000 and up) and makes, through the API, one `volledig` verzoek for each
# and one `bsn-lijst` of 1,000,000 BSNs (the benchmark's list), so they run when the window
# opens; the load starts once they are `bezig`. A run "zonder" (without) makes none and starts
# the load at the same moment after the opening. Then `berichtenbox-loadtest` plays
# saturation.toml (set-up, 60 s of load, loss check) with --engine-pid. After it, the
# verzoeken's state is read, the extract may run on for up to WAIT_GEREED seconds, and the
# engine is stopped. The results' temporary files are sampled every second (progress.csv).
#
# Usage: scripts/bench-abonnementen-nacht.sh PRISTINE_DIR ACCOUNTS WORK_DIR [ORDER]
#   ORDER: the runs in order, default "zonder met"; e.g. "zonder met zonder met". A run "leeg"
#   (empty) is a "zonder" on an empty data directory instead of the copy.
#   Environment: VOLLEDIG (default 10), BSNS (default 1000000), WAIT_GEREED (default 300).
# Needs: the release binaries (cargo build --release -p berichtenbox -p berichtenbox-loadtest;
# cargo build --release -p berichtenbox-bench --example abonnementen), curl, jq.
set -euo pipefail
cd "$(dirname "$0")/.."
pristine=$1
accounts=$2
work=$3
order=${4:-"zonder met"}
volledig=${VOLLEDIG:-10}
bsns=${BSNS:-1000000}
wait_gereed=${WAIT_GEREED:-300}
port=18480
ops=19480
base=http://127.0.0.1:$port
export BERICHTENBOX_BEHEER_TOKEN=abo-beheer-token-van-minstens-32-bytes
export BERICHTENBOX_BURGER_JWT_SECRET=abo-burger-jwt-secret-van-minstens-32-bytes
export BERICHTENBOX_LOG=${BERICHTENBOX_LOG:-warn}
bin=./target/release/berichtenbox
loadtest=./target/release/berichtenbox-loadtest
bench=./target/release/examples/abonnementen
mkdir -p "$work"
engine=
sampler=
cleanup() {
  [ -n "$sampler" ] && kill "$sampler" 2>/dev/null || true
  [ -n "$engine" ] && kill -TERM "$engine" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work/run"
}
trap cleanup EXIT
now() { date +%s.%N; }
beheer="Authorization: Bearer $BERICHTENBOX_BEHEER_TOKEN"

verzoek_ids=()
keys=()
make_verzoeken() {
  verzoek_ids=()
  keys=()
  for i in $(seq 0 $((volledig - 1))); do
    local oin; oin=$(printf "00000008%012d" "$i")
    curl -fsS -X PUT "$base/v1/beheer/afnemers/$oin" -H "$beheer" -H 'Content-Type: application/json' \
      -d "{\"naam\":\"Abonnementen bench $i\"}" >/dev/null
    local key; key=$(curl -fsS -X POST "$base/v1/beheer/afnemers/$oin/api-sleutels" -H "$beheer" | jq -r .sleutel)
    local id; id=$(cat /proc/sys/kernel/random/uuid)
    curl -fsS -o /dev/null -X POST "$base/v1/abonnementsverzoeken" -H "Authorization: Bearer $key" \
      -H 'Content-Type: application/json' -d "{\"verzoekId\":\"$id\",\"soort\":\"volledig\"}"
    verzoek_ids+=("$id")
    keys+=("$key")
  done
  if [ "$bsns" -gt 0 ]; then
    local id; id=$(cat /proc/sys/kernel/random/uuid)
    $bench verzoek-body --accounts "$accounts" --bsns "$bsns" --verzoek-id "$id" --out "$work/bsn-lijst.json"
    curl -fsS -o /dev/null -X POST "$base/v1/abonnementsverzoeken" -H "Authorization: Bearer ${keys[0]}" \
      -H 'Content-Type: application/json' --data-binary @"$work/bsn-lijst.json"
    rm -f "$work/bsn-lijst.json"
    verzoek_ids+=("$id")
    keys+=("${keys[0]}")
  fi
}

verzoek_state() { # one JSON line per verzoek
  for k in "${!verzoek_ids[@]}"; do
    curl -fsS "$base/v1/abonnementsverzoeken/${verzoek_ids[$k]}" -H "Authorization: Bearer ${keys[$k]}"
    echo
  done
}

run=0
for mode in $order; do
  run=$((run + 1))
  out="$work/$run-$mode"
  rm -rf "$out" "$work/run"
  mkdir -p "$out"
  began=$(now)
  if [ "$mode" = leeg ]; then
    mkdir -p "$work/run"
  else
    cp -a "$pristine" "$work/run"
  fi
  echo "[$run $mode] data directory ready in $(awk -v a="$began" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s"
  opens=$(( ($(date +%s) + 150) / 60 * 60 ))
  cat >"$out/engine.toml" <<EOF
[abonnementen]
venster_begin = "$(TZ=Europe/Amsterdam date -d "@$opens" +%H:%M)"
venster_eind = "$(TZ=Europe/Amsterdam date -d "@$((opens + 5 * 3600))" +%H:%M)"
ronde_seconden = 1
EOF
  $bin serve --config "$out/engine.toml" --data-dir "$work/run" --listen 127.0.0.1:$port \
    --ops-listen 127.0.0.1:$ops >"$out/engine.out" 2>"$out/engine.err" &
  engine=$!
  until curl -fs -o /dev/null "$base/health/ready"; do
    kill -0 "$engine" 2>/dev/null || { cat "$out/engine.err" >&2; exit 1; }
    sleep 0.1
  done
  echo "[$run $mode] engine $engine ready after $(awk -v a="$began" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s; window opens at $(TZ=Europe/Amsterdam date -d "@$opens" +%H:%M:%S) Amsterdam"
  verzoek_ids=()
  keys=()
  if [ "$mode" = met ]; then
    make_verzoeken
    echo "[$run $mode] ${#verzoek_ids[@]} verzoeken made"
  fi
  # (Without -e and pipefail: a result renamed while find reads the directory is no error.)
  ( set +eo pipefail
    while :; do
      s=$(find "$work/run/abonnementen" -name '*.ndjson.gz*' -printf '%s\n' 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
      c=$(awk '{ print $14 + $15 }' "/proc/$engine/stat" 2>/dev/null || echo 0)
      echo "$(date +%s.%N),$s,$c"
      sleep 1
    done >"$out/progress.csv" ) &
  sampler=$!
  while [ "$(date +%s)" -lt "$opens" ]; do sleep 0.2; done
  if [ "$mode" = met ]; then
    until curl -fsS "$base/v1/abonnementsverzoeken/${verzoek_ids[0]}" -H "Authorization: Bearer ${keys[0]}" | jq -e '.status == "bezig"' >/dev/null; do sleep 0.2; done
  else
    sleep 1
  fi
  load_began=$(now)
  echo "[$run $mode] window open; load starts $(awk -v a="$opens" -v b="$load_began" 'BEGIN { printf "%.1f", b - a }') s after the opening"
  # Its progress lines (one every 10 s, and the phases), each with the time it came.
  set +e
  $loadtest --target "$base" --scenario loadtest/scenarios/saturation.toml --out "$out/loadtest" \
    --engine-pid "$engine" 2>&1 | while IFS= read -r line; do echo "$(date +%s.%N) $line"; done >"$out/loadtest.out"
  status=${PIPESTATUS[0]}
  set -e
  [ "$status" = 0 ] || echo "[$run $mode] loadtest exit $status"
  load_ended=$(now)
  echo "$opens $load_began $load_ended" >"$out/times"
  if [ "$mode" = met ]; then
    verzoek_state >"$out/verzoeken-after-load.ndjson"
    deadline=$(( $(date +%s) + wait_gereed ))
    while [ "$(date +%s)" -lt "$deadline" ] &&
      verzoek_state | jq -s -e 'any(.status != "gereed")' >/dev/null; do sleep 2; done
    verzoek_state >"$out/verzoeken-end.ndjson"
    ls -l "$work/run/abonnementen" >"$out/results.ls"
  fi
  kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true; sampler=
  kill -TERM "$engine"; wait "$engine" || true; engine=
  jq -c '{accept: .accept_latency_ms, achieved: .achieved_msgs_per_s, offered: .offered_msgs_per_s,
          status: .status_counts, rss: .peak_rss_bytes, hwm: .engine_vm_hwm_bytes,
          cpu: .engine_cpu_percent, lag: .processing_lag_seconds, passed: .loss_check.passed,
          generator: .generator}' "$out/loadtest/report.json" | tee "$out/summary.json"
  echo "[$run $mode] load from +$(awk -v a="$opens" -v b="$load_began" 'BEGIN { printf "%.1f", b - a }') s to +$(awk -v a="$opens" -v b="$load_ended" 'BEGIN { printf "%.1f", b - a }') s after the opening; load average $(cut -d' ' -f1-3 /proc/loadavg)"
  rm -rf "$work/run"
done
