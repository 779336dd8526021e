#!/usr/bin/env bash
# End-to-end: resolve Cassandra jars (Maven, cached in $M2), start one node on 127.0.0.1, create schema.
set -euo pipefail
SPIKE=${SPIKE:-/tmp/spike14}
M2=${M2:-$SPIKE/m2repo}
t() { echo "[$(printf '%6.2f' "$(echo "$(date +%s.%N) - $T0" | bc)")s] $*"; }
T0=$(date +%s.%N)
cd "$SPIKE/fetch"
# offline first (no network when cached), online on a cold cache
mvn -B -q -Dstyle.color=never -o -Dmaven.repo.local="$M2" dependency:build-classpath -DincludeScope=runtime \
    -Dmdep.outputFile="$SPIKE/classpath.txt" >/dev/null 2>&1 \
 || mvn -B -q -Dstyle.color=never -Dmaven.repo.local="$M2" dependency:build-classpath -DincludeScope=runtime \
    -Dmdep.outputFile="$SPIKE/classpath.txt"
t "classpath resolved ($(tr ':' '\n' < "$SPIKE/classpath.txt" | grep -c .) jars)"
# node.sh wants a lib dir: symlink the jars from the Maven cache instead of copying
rm -rf "$SPIKE/libcp" && mkdir -p "$SPIKE/libcp"
tr ':' '\n' < "$SPIKE/classpath.txt" | xargs -I{} ln -s {} "$SPIKE/libcp/"
"$SPIKE/conf/node.sh" clean 1
CASSANDRA_LIB="$SPIKE/libcp" HEAP=${HEAP:-512m} "$SPIKE/conf/node.sh" start 1 >/dev/null
"$SPIKE/conf/node.sh" wait 1 240 >/dev/null
t "CQL port 9042 answers"
"$SPIKE/venv/bin/python" - <<'PY'
from cassandra.cluster import Cluster
c = Cluster(["127.0.0.1"]); s = c.connect()
s.execute("CREATE KEYSPACE IF NOT EXISTS bb WITH replication = {'class':'SimpleStrategy','replication_factor':1}")
s.execute("CREATE TABLE IF NOT EXISTS bb.messages (box text, id timeuuid, body blob, PRIMARY KEY (box, id))")
s.execute("CREATE TABLE IF NOT EXISTS bb.uniq (k text PRIMARY KEY, v text)")
c.shutdown()
PY
t "schema created"
