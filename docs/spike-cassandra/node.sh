#!/usr/bin/env bash
# usage: node.sh start N   (N=1..3 -> 127.0.0.N, JMX port 7199+100*(N-1))
#        node.sh stop N (SIGTERM) | kill N (SIGKILL) | wait N [timeout_s] | gen N | clean N
# env: HEAP=512m PHI=5 (phi_convict_threshold) NUM_TOKENS=4 JAMM=0 CASSANDRA_LIB=dir-of-jars SPIKE=base-dir
set -euo pipefail
SPIKE=${SPIKE:-/tmp/spike14}
LIB=${CASSANDRA_LIB:-$SPIKE/lib}
SEEDS=${SEEDS:-127.0.0.1:7000}
HEAP=${HEAP:-1g}
cmd=$1; n=$2
ip=127.0.0.$n
jmx=$((7199 + 100*(n-1)))
dir=$SPIKE/node$n
pidf=$dir/cassandra.pid

gen() {
  mkdir -p "$dir"/{conf,data,commitlog,saved_caches,hints,cdc_raw,logs,triggers}
  cat > "$dir/conf/cassandra.yaml" <<YAML
cluster_name: spike
num_tokens: ${NUM_TOKENS:-4}
allocate_tokens_for_local_replication_factor: 3
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
auto_bootstrap: false
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "$SEEDS"
listen_address: $ip
rpc_address: $ip
storage_port: 7000
native_transport_port: 9042
start_native_transport: true
endpoint_snitch: SimpleSnitch
authenticator: AllowAllAuthenticator
authorizer: AllowAllAuthorizer
role_manager: CassandraRoleManager
data_file_directories: [$dir/data]
commitlog_directory: $dir/commitlog
saved_caches_directory: $dir/saved_caches
hints_directory: $dir/hints
cdc_raw_directory: $dir/cdc_raw
commitlog_sync: periodic
commitlog_sync_period: 10000ms
commitlog_segment_size: 8MiB
commitlog_total_space: 256MiB
concurrent_reads: 4
concurrent_writes: 4
concurrent_counter_writes: 4
concurrent_materialized_view_writes: 2
concurrent_compactors: 1
memtable_heap_space: 128MiB
memtable_offheap_space: 128MiB
key_cache_size: 8MiB
file_cache_size: 64MiB
native_transport_max_threads: 16
auto_snapshot: false
hinted_handoff_enabled: true
dynamic_snitch: true
phi_convict_threshold: ${PHI:-8}
YAML
  cat > "$dir/conf/logback.xml" <<XML
<configuration scan="false">
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>$dir/logs/system.log</file>
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <filter class="ch.qos.logback.classic.filter.ThresholdFilter"><level>WARN</level></filter>
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE"/><appender-ref ref="STDOUT"/></root>
  <logger name="org.apache.cassandra" level="INFO"/>
</configuration>
XML
}

port_busy() { (exec 3<>/dev/tcp/$1/$2) 2>/dev/null; }

start() {
  for hp in $ip:9042 $ip:7000 127.0.0.1:$jmx; do
    if port_busy "${hp%:*}" "${hp#*:}"; then echo "port $hp already in use (stale node?)" >&2; return 1; fi
  done
  [ -f "$dir/conf/cassandra.yaml" ] || gen
  # shellcheck disable=SC2046
  nohup java -ea -Xms$HEAP -Xmx$HEAP -Xss256k \
    -XX:+UseG1GC -XX:+ParallelRefProcEnabled -XX:MaxTenuringThreshold=1 -XX:G1HeapRegionSize=16m \
    -XX:+HeapDumpOnOutOfMemoryError -XX:HeapDumpPath="$dir" -XX:+CrashOnOutOfMemoryError \
    -XX:ActiveProcessorCount=2 -XX:CICompilerCount=2 \
    $(grep -v '^#' "$SPIKE/conf/jvm17.options") \
    $( [ "${JAMM:-1}" = 1 ] && echo -javaagent:"$LIB/jamm-0.4.0.jar" ) \
    -Djava.net.preferIPv4Stack=true \
    -Dcassandra.jmx.local.port=$jmx \
    -Dcassandra.config=file://$dir/conf/cassandra.yaml \
    -Dcassandra.storagedir=$dir \
    -Dcassandra.logdir=$dir/logs -Dcassandra.triggers_dir=$dir/triggers \
    -Dlogback.configurationFile=file://$dir/conf/logback.xml \
    -Dcassandra-foreground=yes \
    -Dcassandra.skip_wait_for_gossip_to_settle=0 \
    -Dcassandra.ring_delay_ms=${RING_DELAY_MS:-1000} \
    -cp "$LIB/*" org.apache.cassandra.service.CassandraDaemon \
    > "$dir/logs/stdout.log" 2>&1 < /dev/null &
  echo $! > "$pidf"
  echo "node$n pid $(cat "$pidf") on $ip (jmx $jmx)"
}

wait_cql() {
  local t=${1:-180} s=$SECONDS
  while ! port_busy "$ip" 9042; do
    if ! kill -0 "$(cat "$pidf")" 2>/dev/null; then echo "node$n died"; tail -30 "$dir/logs/stdout.log"; return 1; fi
    (( SECONDS - s > t )) && { echo "timeout"; return 1; }
    sleep 0.5
  done
  echo "node$n CQL up after $((SECONDS - s))s"
}

case $cmd in
  gen) gen;;
  start) start;;
  wait) wait_cql "${3:-180}";;
  stop) kill -TERM "$(cat "$pidf")"; while kill -0 "$(cat "$pidf")" 2>/dev/null; do sleep 0.5; done; echo stopped;;
  kill) kill -KILL "$(cat "$pidf")"; echo killed;;
  clean) if [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; then echo "node$n still running" >&2; exit 1; fi
         rm -rf "$dir";;
esac
