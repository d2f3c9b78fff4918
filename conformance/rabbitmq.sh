#!/usr/bin/env bash
# rabbitmq.sh: run Debian's rabbitmq-server as a private reference node, for the conformance suite and
# the benchmarks.
#
#   conformance/rabbitmq.sh start  <port> <datadir>   start it on 127.0.0.1:<port>, wait until it serves AMQP
#   conformance/rabbitmq.sh stop   <port> <datadir>   stop it cleanly (SIGKILL only as a last resort)
#   conformance/rabbitmq.sh status <port> <datadir>   exit 0 if it answers AMQP on <port>
#
# Each node is isolated: node name warren-ref-<port>@localhost, distribution port <port>+20000, data, logs,
# Erlang cookie (HOME), config and plugin list under <datadir>. /etc/rabbitmq is not read. It prints nothing
# on success; on failure it says why on stderr with the end of the node's log, and exits non-zero.
#
# Environment (optional):
#   RABBITMQ_MGMT_PORT   enable rabbitmq_management on 127.0.0.1:<that port> (amqp091-go's recovery tests
#                        want 15672); off by default.
#   START_TIMEOUT        seconds to wait for the node to serve AMQP (default 90).
#   RABBITMQ_BIN         directory holding rabbitmq-server and rabbitmqctl (default /usr/lib/rabbitmq/bin).
set -euo pipefail

die() { echo "rabbitmq.sh: $*" >&2; exit 1; }
usage() { die "usage: $0 start|stop|status <port> <datadir>"; }

[ $# -eq 3 ] || usage
cmd=$1 port=$2 dir=$3
case $port in ''|*[!0-9]*) die "port must be a number: $port" ;; esac
[ "$port" -ge 1 ] && [ "$port" -le 45535 ] || die "port out of range (1-45535, the distribution port is +20000): $port"

bin=${RABBITMQ_BIN:-/usr/lib/rabbitmq/bin}
[ -x "$bin/rabbitmq-server" ] || die "$bin/rabbitmq-server not found (apt-get install rabbitmq-server)"
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
node="warren-ref-$port@localhost"
pidfile="$dir/rabbitmq.pid"

# Everything the node and rabbitmqctl read comes from here, never from /etc/rabbitmq or ~/.
export HOME="$dir" # .erlang.cookie lives here; rabbitmqctl must see the same one
export RABBITMQ_NODENAME="$node"
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT="$port"
export RABBITMQ_DIST_PORT=$((port + 20000))
export RABBITMQ_MNESIA_BASE="$dir/mnesia"
export RABBITMQ_LOG_BASE="$dir/log"
export RABBITMQ_LOGS="$dir/log/rabbit.log"
export RABBITMQ_PID_FILE="$pidfile"
export RABBITMQ_PLUGINS_EXPAND_DIR="$dir/plugins-expand"
export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
export RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf"
export RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config"
export RABBITMQ_CONF_ENV_FILE=/dev/null
export RABBITMQ_USE_LONGNAME=false

# serves_amqp: send the AMQP 0-9-1 protocol header and expect a method frame (type 1, connection.start).
serves_amqp() {
	local first
	first=$(timeout 3 bash -c '
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf "AMQP\x00\x00\x09\x01" >&3
		head -c 1 <&3 | od -An -tu1' _ "$port" 2>/dev/null) || return 1
	[ "${first// /}" = 1 ]
}

node_pid() {
	local pid
	[ -s "$pidfile" ] || return 1
	pid=$(cat "$pidfile")
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

log_tail() {
	echo "--- end of $dir/log ---" >&2
	tail -n 30 "$dir/log/rabbit.log" "$dir/log/stdout.log" 2>/dev/null >&2 || true
}

start() {
	if node_pid >/dev/null && serves_amqp; then
		return 0 # already running
	fi
	if serves_amqp; then
		die "127.0.0.1:$port already serves AMQP, but not from $dir"
	fi
	mkdir -p "$dir/log" "$dir/mnesia"
	if [ -n "${RABBITMQ_MGMT_PORT:-}" ]; then
		echo '[rabbitmq_management].' >"$dir/enabled_plugins"
		printf 'management.tcp.port = %s\nmanagement.tcp.ip = 127.0.0.1\n' "$RABBITMQ_MGMT_PORT" >"$dir/rabbitmq.conf"
	else
		echo '[].' >"$dir/enabled_plugins"
		: >"$dir/rabbitmq.conf"
	fi
	# The defaults the suite relies on, stated so that a changed package default shows up here.
	cat >>"$dir/rabbitmq.conf" <<-EOF
		loopback_users.guest = true
		log.console = false
		log.file.level = warning
	EOF
	rm -f "$pidfile"

	# setsid: the node outlives this script and ignores the caller's terminal signals.
	setsid "$bin/rabbitmq-server" >"$dir/log/stdout.log" 2>&1 </dev/null &
	local launcher=$! deadline=$((SECONDS + ${START_TIMEOUT:-90}))
	until serves_amqp; do
		if ! kill -0 "$launcher" 2>/dev/null && ! node_pid >/dev/null; then
			log_tail
			die "rabbitmq-server exited before serving AMQP on 127.0.0.1:$port"
		fi
		if [ $SECONDS -ge $deadline ]; then
			log_tail
			stop >/dev/null 2>&1 || true
			die "rabbitmq-server did not serve AMQP on 127.0.0.1:$port within ${START_TIMEOUT:-90}s"
		fi
		sleep 0.3
	done
	if [ -n "${RABBITMQ_MGMT_PORT:-}" ]; then
		until timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$RABBITMQ_MGMT_PORT" 2>/dev/null; do
			if [ $SECONDS -ge $deadline ]; then
				log_tail
				die "management API not listening on 127.0.0.1:$RABBITMQ_MGMT_PORT within ${START_TIMEOUT:-90}s"
			fi
			sleep 0.3
		done
	fi
}

stop() {
	local pid deadline
	pid=$(node_pid) || { rm -f "$pidfile"; return 0; } # not running
	# rabbitmqctl stop <pidfile> returns once the OS process has exited.
	if ! timeout 60 "$bin/rabbitmqctl" -q -n "$node" stop "$pidfile" >/dev/null 2>&1; then
		kill -TERM "$pid" 2>/dev/null || true # RabbitMQ shuts down cleanly on SIGTERM
	fi
	deadline=$((SECONDS + 30))
	while kill -0 "$pid" 2>/dev/null; do
		if [ $SECONDS -ge $deadline ]; then
			echo "rabbitmq.sh: node $node (pid $pid) did not stop in 30s, killing it" >&2
			kill -KILL "$pid" 2>/dev/null || true
			break
		fi
		sleep 0.2
	done
	rm -f "$pidfile"
}

case $cmd in
start) start ;;
stop) stop ;;
status) node_pid >/dev/null && serves_amqp ;;
*) usage ;;
esac
