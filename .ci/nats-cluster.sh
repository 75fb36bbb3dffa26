#!/usr/bin/env bash
# Starts or stops a 3-node NATS JetStream cluster on 127.0.0.1 for paylog's replicated
# event log.
#
#   .ci/nats-cluster.sh start [DIR]   # DIR defaults to ./target/nats-cluster
#   .ci/nats-cluster.sh stop  [DIR]
#
# Clients connect to nats://127.0.0.1:4222,127.0.0.1:4223,127.0.0.1:4224 (override the
# first client port with PAYLOG_NATS_PORT; cluster ports are client port + 2000).
# Each node keeps its config, JetStream data, log and pid file under DIR/nN. `start`
# returns once the cluster has elected a JetStream meta leader; `stop` ends exactly the
# processes whose pids it wrote. The binary is $PAYLOG_NATS_SERVER, else the one
# .ci/setup.sh installs.
set -euo pipefail

NATS_SERVER_VERSION="2.12.8"
# Longest wait for the meta leader, in seconds.
LEADER_WAIT_SECS=30
# Longest wait for a node to exit after SIGTERM before it gets SIGKILL, in seconds.
STOP_WAIT_SECS=10

cmd="${1:-}"
dir="${2:-target/nats-cluster}"
base_port="${PAYLOG_NATS_PORT:-4222}"

nats_server() {
  local bin="${PAYLOG_NATS_SERVER:-${HOME}/.cache/paylog-tools/nats-server-${NATS_SERVER_VERSION}/bin/nats-server}"
  if [ ! -x "$bin" ]; then
    echo "nats-cluster: no nats-server at $bin; run .ci/setup.sh (or set PAYLOG_NATS_SERVER)" >&2
    exit 1
  fi
  echo "$bin"
}

start() {
  local bin routes i port cport monitor
  bin="$(nats_server)"
  mkdir -p "$dir"
  routes=""
  for i in 0 1 2; do
    routes="${routes}nats-route://127.0.0.1:$((base_port + 2000 + i)),"
  done
  routes="${routes%,}"
  for i in 0 1 2; do
    port=$((base_port + i)); cport=$((base_port + 2000 + i)); monitor=$((base_port + 4000 + i))
    mkdir -p "$dir/n$i/js"
    if [ -f "$dir/n$i/pid" ] && kill -0 "$(cat "$dir/n$i/pid")" 2>/dev/null; then
      echo "nats-cluster: node n$i already running (pid $(cat "$dir/n$i/pid"))" >&2
      exit 1
    fi
    cat > "$dir/n$i/nats.conf" <<CONF
server_name: n$i
listen: 127.0.0.1:$port
http: 127.0.0.1:$monitor
# sync_interval: always — fsync every write before the quorum ack, so "acknowledged"
# means on disk on two machines (the default, 2 minutes, means only "in two page caches").
jetstream { store_dir: "$dir/n$i/js", sync_interval: always }
cluster {
  name: paylog
  listen: 127.0.0.1:$cport
  routes: [ $routes ]
}
CONF
    "$bin" -c "$dir/n$i/nats.conf" -l "$dir/n$i/nats.log" &
    echo $! > "$dir/n$i/pid"
  done
  # The meta leader shows up in /jsz of any node once the cluster has formed.
  local deadline=$((SECONDS + LEADER_WAIT_SECS))
  while [ $SECONDS -lt $deadline ]; do
    if curl -fsS "http://127.0.0.1:$((base_port + 4000))/jsz" 2>/dev/null | grep -q '"leader"'; then
      echo "nats-cluster: up, nats://127.0.0.1:${base_port},127.0.0.1:$((base_port + 1)),127.0.0.1:$((base_port + 2))"
      return 0
    fi
    sleep 0.2
  done
  echo "nats-cluster: no meta leader after ${LEADER_WAIT_SECS}s; logs in $dir/n*/nats.log" >&2
  stop
  exit 1
}

stop() {
  local i pid waited
  for i in 0 1 2; do
    [ -f "$dir/n$i/pid" ] || continue
    pid="$(cat "$dir/n$i/pid")"
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      waited=0
      while kill -0 "$pid" 2>/dev/null && [ $waited -lt $((STOP_WAIT_SECS * 10)) ]; do
        sleep 0.1; waited=$((waited + 1))
      done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/n$i/pid"
  done
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop [DIR]" >&2; exit 2 ;;
esac
