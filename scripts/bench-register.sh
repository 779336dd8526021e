# Sourced by the bench scripts: `register N` registers afnemers 1..N on the engine at $base
# with the operator's $token, each with a rate that does not limit (the benches measure the
# store, not the throttle), and writes their API keys to $work/keys, one a line.
register() {
  : >"$work/keys"
  for i in $(seq 1 "$1"); do
    oin=$(printf '%020d' "$i")
    curl -kfs -X PUT "$base/v1/beheer/afnemers/$oin" -H "Authorization: Bearer $token" \
      -H 'Content-Type: application/json' \
      -d '{"naam":"bench","berichtenPerSeconde":1000000,"burst":1000000}' >/dev/null
    curl -kfs -X POST "$base/v1/beheer/afnemers/$oin/api-sleutels" -H "Authorization: Bearer $token" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["sleutel"])' >>"$work/keys"
  done
}
