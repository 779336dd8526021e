#!/usr/bin/env bash
# Start a fresh 3-node cluster on 127.0.0.1-3 (seed 127.0.0.1) and wait until nodetool shows 3 x UN.
# usage: cluster3.sh [start|stop]
set -euo pipefail
SPIKE=${SPIKE:-/tmp/spike14}; C=$SPIKE/conf
export HEAP=${HEAP:-512m} PHI=${PHI:-5}
if [ "${1:-start}" = stop ]; then for n in 1 2 3; do "$C/node.sh" stop $n || true; done; exit 0; fi
s=$SECONDS
for n in 1 2 3; do "$C/node.sh" clean $n; done
"$C/node.sh" start 1 && "$C/node.sh" wait 1 180      # seed first
"$C/node.sh" start 2 && "$C/node.sh" start 3        # auto_bootstrap: false -> may join together
"$C/node.sh" wait 2 180 && "$C/node.sh" wait 3 180
until [ "$("$C/nodetool.sh" 1 status 2>/dev/null | grep -c '^UN')" = 3 ]; do
  (( SECONDS - s > 240 )) && { echo "cluster not UN"; exit 1; }; sleep 1
done
echo "3 nodes UN after $((SECONDS - s))s"
