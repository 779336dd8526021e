"""Smoke test of a Cassandra node/cluster via the DataStax python driver."""
import sys, time
from cassandra.cluster import Cluster, ExecutionProfile, EXEC_PROFILE_DEFAULT
from cassandra.policies import WhiteListRoundRobinPolicy
from cassandra import ConsistencyLevel

hosts = sys.argv[1].split(",") if len(sys.argv) > 1 else ["127.0.0.1"]
rf = int(sys.argv[2]) if len(sys.argv) > 2 else 1
cl = getattr(ConsistencyLevel, sys.argv[3]) if len(sys.argv) > 3 else ConsistencyLevel.LOCAL_ONE

t0 = time.time()
prof = ExecutionProfile(consistency_level=cl, request_timeout=20)
cluster = Cluster(hosts, port=9042, execution_profiles={EXEC_PROFILE_DEFAULT: prof})
s = cluster.connect()
print("connected, protocol v%d in %.2fs" % (cluster.protocol_version, time.time() - t0))
print("release_version", s.execute("SELECT release_version FROM system.local").one()[0])
print("peers", [r.peer for r in s.execute("SELECT peer FROM system.peers")])
ks = "spike_rf%d" % rf
s.execute("CREATE KEYSPACE IF NOT EXISTS %s WITH replication = {'class':'SimpleStrategy','replication_factor':%d}" % (ks, rf))
s.execute("CREATE TABLE IF NOT EXISTS %s.msg (box text, id timeuuid, body text, PRIMARY KEY (box, id))" % ks)
s.execute("CREATE TABLE IF NOT EXISTS %s.uniq (k text PRIMARY KEY, v text)" % ks)
print("schema done at %.2fs" % (time.time() - t0))
s.set_keyspace(ks)
ins = s.prepare("INSERT INTO msg (box, id, body) VALUES (?, now(), ?)")
for i in range(10):
    s.execute(ins, ("box1", "hello %d" % i))
rows = list(s.execute("SELECT body FROM msg WHERE box = %s", ("box1",)))
print("select", len(rows), "rows")
key = "k-%d" % int(time.time() * 1000)
r1 = s.execute("INSERT INTO uniq (k, v) VALUES (%s, %s) IF NOT EXISTS", (key, "first")).one()
r2 = s.execute("INSERT INTO uniq (k, v) VALUES (%s, %s) IF NOT EXISTS", (key, "second")).one()
print("lwt first applied:", r1[0], "second applied:", r2[0], "existing:", r2)
s.execute("INSERT INTO uniq (k, v) VALUES (%s, %s) USING TTL 2", ("ttl-" + key, "x"))
print("ttl now:", s.execute("SELECT v, TTL(v) FROM uniq WHERE k = %s", ("ttl-" + key,)).one())
time.sleep(3)
print("ttl after 3s:", s.execute("SELECT v FROM uniq WHERE k = %s", ("ttl-" + key,)).one())
print("total %.2fs" % (time.time() - t0))
cluster.shutdown()
