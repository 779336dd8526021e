#!/usr/bin/env bash
# Measures what follows parking: berichten decided and stored per second (processing), and
# notifications sent per second with the caps lifted (to the .eml outbox), while afnemers
# park at full speed. Every recipient has a box with an e-mail address, so every bericht is
# delivered and notified.
#
# Usage: scripts/bench-processing.sh [seconds of load, default 15]
# Needs: wrk, curl, python3 (Debian packages).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-15}
port=18182
token=bench-beheer-token-of-at-least-32-bytes
secret=bench-burger-secret-of-at-least-32-bytes
work=$(mktemp -d)
trap 'kill $engine 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
cargo build --release --quiet
base=http://127.0.0.1:$port
ops=http://127.0.0.1:$((port + 100)) # the operations listener: /metrics

cat >"$work/config.toml" <<TOML
[notifications]
per_hour = 1000000000
per_day = 1000000000
TOML
BERICHTENBOX_BEHEER_TOKEN=$token BERICHTENBOX_BURGER_JWT_SECRET=$secret BERICHTENBOX_LOG=warn \
  ./target/release/berichtenbox serve --config "$work/config.toml" --listen 127.0.0.1:$port --ops-listen 127.0.0.1:$((port + 100)) \
  --data-dir "$work/data" >"$work/engine.out" 2>&1 &
engine=$!
for _ in $(seq 100); do curl -fs $base/health/ready >/dev/null && break; sleep 0.1; done

# Afnemers, their berichttype, and a box for every recipient the wrk script uses.
: >"$work/keys"
for i in $(seq 1 20); do
  oin=$(printf '%020d' "$i")
  curl -fs -X PUT "$base/v1/beheer/afnemers/$oin" -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' -d '{"naam":"bench","berichtenPerSeconde":1000000,"burst":1000000}' >/dev/null
  key=$(curl -fs -X POST "$base/v1/beheer/afnemers/$oin/api-sleutels" -H "Authorization: Bearer $token" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["sleutel"])')
  echo "$key" >>"$work/keys"
  curl -fs -X PUT "$base/v1/berichttypen/AANSLAG" -H "Authorization: Bearer $key" \
    -H 'Content-Type: application/json' -d '{"omschrijving":"Aanslag"}' >/dev/null
done
python3 - "$base" "$secret" <<'PY'
import base64, hashlib, hmac, json, sys, time, urllib.request
base, secret = sys.argv[1], sys.argv[2]
def b64(data): return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
def token(bsn):
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps({"sub": bsn, "exp": int(time.time()) + 3600}).encode())
    sig = b64(hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"
# The same 997 BSNs as scripts/wrk-batches.lua.
bsns, candidate = [], 100000000
while len(bsns) < 997:
    s = str(candidate)
    if (sum((9 - i) * int(s[i]) for i in range(8)) - int(s[8])) % 11 == 0:
        bsns.append(s)
    candidate += 7
for bsn in bsns:
    request = urllib.request.Request(f"{base}/v1/account", method="POST",
        data=json.dumps({"email": f"{bsn}@voorbeeld.nl"}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token(bsn)}"})
    urllib.request.urlopen(request).read()
PY

metric() { curl -fs $ops/metrics | awk -v name="$1" '$1 ~ "^"name {sum += $2} END {printf "%d\n", sum}'; }
parked() { curl -fs $ops/metrics | awk '$1 ~ /^berichtenbox_geparkeerd_berichten/ {sum += $2} END {printf "%d\n", sum}'; }

echo "== load: 20 afnemers, batches of 100 text-only berichten, 64 connections, ${seconds}s"
start=$(date +%s.%N)
wrk -t2 -c64 -d"${seconds}s" -s scripts/wrk-batches.lua "$base" -- "$work/keys" 100 | grep -E "Requests/sec|status"
load_end=$(date +%s.%N)
echo "parked still waiting at the end of the load: $(parked)"
while [ "$(parked)" -gt 0 ]; do sleep 0.2; done
drained=$(date +%s.%N)
decided=$(metric berichtenbox_berichten_besloten_total)
awk -v d="$decided" -v s="$start" -v l="$load_end" -v e="$drained" 'BEGIN {
  printf "decided %d berichten; all decided %.1f s after the load ended; %.0f decided/s over %.1f s\n", d, e-l, d/(e-s), e-s }'
# Notifications: the rate over a fixed window (the queue may hold far more than a window sends).
window=${NOTIFY_WINDOW:-20}
before=$(metric berichtenbox_notificaties_verzonden_total)
sleep "$window"
after=$(metric berichtenbox_notificaties_verzonden_total)
awk -v a="$after" -v b="$before" -v w="$window" -v q="$decided" 'BEGIN {
  printf "notifications: %.0f/s to the .eml outbox over %d s (%d of %d sent so far)\n", (a-b)/w, w, a, q }'
