#!/usr/bin/env bash
# usage: nodetool.sh N <nodetool args...>   (talks JMX to 127.0.0.1:7199+100*(N-1))
SPIKE=${SPIKE:-/tmp/spike14}; LIB=${CASSANDRA_LIB:-$SPIKE/lib}
n=$1; shift
exec java -Xmx128m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC $(grep -v '^#' "$SPIKE/conf/jvm17.options") \
  -Dlogback.configurationFile=file://$SPIKE/conf/logback-tools.xml \
  -Dcassandra.logdir=$SPIKE/tools-logs -Duser.home=$SPIKE \
  -cp "$LIB/*" org.apache.cassandra.tools.NodeTool -h 127.0.0.1 -p $((7199 + 100*(n-1))) "$@"
