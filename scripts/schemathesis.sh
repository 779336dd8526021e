#!/usr/bin/env bash
# The OpenAPI document as a fuzzing oracle: schemathesis generates requests from
# /v1/openapi.json and checks every answer against it. One run per role (the afnemer's API
# key, a citizen's token, the operator's token, each over the operations of its tag), and one
# over the operations listener's /metrics; each bounded in time. Exits non-zero on any
# server error, any status, content type, header or body outside the document, and any other
# failed check. scripts/test.sh runs it after the tests.
#
# Needs /usr/bin/python3 with venv (Debian's python3-venv); installs schemathesis, pinned in
# scripts/schemathesis/requirements.txt, into target/schemathesis-venv.
#
# Environment: ST_SECONDS, the time budget of each role's run (default 50); ST_SEED, a seed
# to repeat a run (default: a new one each time, printed by schemathesis).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${ST_SECONDS:-50}"
venv=target/schemathesis-venv
requirements=scripts/schemathesis/requirements.txt

# The venv, made anew when the pins change.
if ! cmp -s "$requirements" "$venv/requirements.txt" 2>/dev/null; then
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --require-virtualenv -r "$requirements"
  cp "$requirements" "$venv/requirements.txt"
fi
st="$venv/bin/st"
python="$venv/bin/python"

cargo build --locked --bin berichtenbox
engine=target/debug/berichtenbox

work="$(mktemp -d)"
engine_pid=""
cleanup() {
  if [ -n "$engine_pid" ]; then
    kill "$engine_pid" 2>/dev/null || true
    wait "$engine_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
# Whether the engine still runs (a process that exited stays a zombie until waited for, and
# `kill -0` takes a zombie for alive).
alive() {
  [ -r "/proc/$engine_pid/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$engine_pid/status"
}

# Fresh tokens, a fresh data directory, ports the kernel picks. Every limit that guards
# against abuse from one address or one citizen is lifted, so the runs measure the contract,
# not the limiters (tests/it/limits.rs covers those); webhooks keep their production rules.
BERICHTENBOX_BEHEER_TOKEN="$("$python" -c 'import secrets; print(secrets.token_urlsafe(32))')"
BERICHTENBOX_BURGER_JWT_SECRET="$("$python" -c 'import secrets; print(secrets.token_urlsafe(32))')"
export BERICHTENBOX_BEHEER_TOKEN BERICHTENBOX_BURGER_JWT_SECRET
cat >"$work/engine.toml" <<EOF
[server]
listen = "127.0.0.1:0"
ops_listen = "127.0.0.1:0"
workers = 2

[store]
data_dir = "$work/data"

[auth]
failures_burst = 1000000
failures_per_minute = 1000000

[burgers]
verzoeken_per_seconde = 1000000
burst = 1000000

[validaties]
per_uur = 1000000

[abonnementen]
per_nacht_volledig = 1000000
per_nacht_bsn_lijst = 1000000
per_nacht_mutaties = 1000000

[webhooks]
allow_private_addresses = false
EOF

BERICHTENBOX_LOG=warn "$engine" serve --config "$work/engine.toml" >"$work/stdout" 2>"$work/stderr" &
engine_pid=$!
base="" ops=""
for _ in $(seq 1 600); do
  base="$(sed -n 's/^listening on //p' "$work/stdout")"
  ops="$(sed -n 's/^operations on //p' "$work/stdout")"
  [ -n "$base" ] && [ -n "$ops" ] && break
  if ! alive; then
    cat "$work/stderr" >&2
    echo "schemathesis.sh: the engine exited before it listened" >&2
    exit 1
  fi
  sleep 0.1
done
if [ -z "$base" ] || [ -z "$ops" ]; then
  echo "schemathesis.sh: the engine did not listen within 60 s" >&2
  exit 1
fi

"$python" scripts/schemathesis/session.py "$base" >"$work/session"
{ read -r sleutel; read -r burger_token; } <"$work/session"

# Requests the engine has answered so far, from its own counter on the operations listener
# (0 if it cannot be read: the engine's death is reported below).
answered() {
  "$python" - "$ops/metrics" <<'PY' || echo 0
import sys, urllib.request
text = urllib.request.urlopen(sys.argv[1], timeout=10).read().decode()
print(sum(int(float(line.rsplit(" ", 1)[1])) for line in text.splitlines()
          if line.startswith("berichtenbox_http_requests_total{")))
PY
}

failed=()
summary=()
# One schemathesis run: a name, the base URL, the bearer token (empty for none), the time
# budget in seconds, then its own arguments (which operations).
fuzz() {
  local name="$1" url="$2" token="$3" budget="$4"
  shift 4
  local extra=()
  [ -n "$token" ] && extra+=(--header "Authorization: Bearer $token")
  [ -n "${ST_SEED:-}" ] && extra+=(--seed "$ST_SEED")
  echo "== schemathesis: $name =="
  local before started
  before="$(answered)"
  started="$(date +%s)"
  if ! "$st" --config-file scripts/schemathesis/schemathesis.toml --no-color run \
    "$base/v1/openapi.json" --url "$url" "${extra[@]}" \
    --max-time "$budget" \
    --report junit --report-junit-path "target/schemathesis-$name.xml" \
    "$@"; then
    failed+=("$name")
  fi
  summary+=("$name: $(($(answered) - before)) requests in $(($(date +%s) - started)) s")
}

# Each role over the operations of its tag, with its own credentials. The operator's run also
# takes the API listener's unauthenticated operations (the document, the health checks);
# /metrics, served on the operations listener only, has a short run of its own there.
fuzz afnemer "$base" "$sleutel" "$seconds" --include-tag afnemers
fuzz burger "$base" "$burger_token" "$seconds" --include-tag burgers
fuzz beheer "$base" "$BERICHTENBOX_BEHEER_TOKEN" "$seconds" \
  --include-tag beheer --include-tag operations --exclude-path /metrics
fuzz operations "$ops" "" 5 --include-path /metrics --include-path /health/live \
  --include-path /health/ready

printf '%s\n' "${summary[@]}"
# The engine's log (warnings and errors only) is kept beside the reports.
cp "$work/stderr" target/schemathesis-engine.log
if ! alive; then
  cat "$work/stderr" >&2
  echo "schemathesis.sh: the engine died during the runs" >&2
  exit 1
fi
# A panic off the request path (an actor processing a fuzzed batch) answers no request 5xx.
if grep -q 'panicked' "$work/stderr"; then
  grep -B2 -A10 'panicked' "$work/stderr" >&2
  echo "schemathesis.sh: the engine panicked during the runs" >&2
  exit 1
fi
if [ "${#failed[@]}" -gt 0 ]; then
  echo "schemathesis.sh: failed: ${failed[*]}" >&2
  exit 1
fi
echo "schemathesis.sh: every run answered as documented"
