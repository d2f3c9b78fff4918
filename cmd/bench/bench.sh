#!/usr/bin/env bash
# bench.sh: issue 6's side-by-side benchmark of warren and Debian's rabbitmq-server on this machine.
#
#   cmd/bench/bench.sh [--quick] [--rounds N] [--scenarios "1 2 4 5 8 7 3 6"] [--dir DIR]
#
# It builds warren and the bench helper from this checkout, starts
#   - warren --in-memory            on 127.0.0.1:$WARREN_PORT       (transient scenarios 1 2 4 5 7)
#   - warren --data-dir DIR/...     on 127.0.0.1:$WARREN_DISK_PORT  (persistent scenarios 3 6)
#   - rabbitmq-server               on 127.0.0.1:$RABBITMQ_PORT, data under DIR/rabbitmq
#                                   (via conformance/rabbitmq.sh)
# The memory scenarios (6, 7) run against a fresh broker: a new warren process each time (with a new
# data dir for 6) on 127.0.0.1:$FRESH_PORT, and a restarted RabbitMQ node (scenario 8 leaves one),
# so that neither carries garbage from the scenario before, which it could give back during the
# measurement.
# It runs every scenario against warren then RabbitMQ, round after round (A B A B ...), through the
# same load tool (cmd/warren/perf's lean client). Each run appends a JSON line to DIR/results.jsonl;
# the end prints the median of each figure per broker and the warren/RabbitMQ ratio
# (`bench report`). Broker CPU time (from /proc/<pid>/stat) and memory (VmRSS from
# /proc/<pid>/status; RabbitMQ's beam.smp) are read for the broker process alone.
#
# Scenarios (issue 6): 1 no-ack throughput, 2 acked throughput, 3 persistent with confirms,
# 4 fanout to 10 queues, 5 latency at 2,000 msg/s, 6 a queue of 100-byte persistent messages
# (publish time, memory per message, drain rate), 7 memory per connection, 8 start-up time.
#
# Full run: 3 rounds, 5 s per rate scenario, 1,000,000 queued messages, 1,000 connections,
# scenario 6's memory read 2 s and 40 s after the drain (about 15 minutes on 2 cores, half of it
# RabbitMQ's scenario 6). --quick: 3 rounds, 1 s, 50,000 queued messages, 500 connections,
# memory read 0.3 s and 3 s after the drain (about 2 minutes, a third of it RabbitMQ's restarts
# for scenarios 8 and 6).
#
# Environment: WARREN_PORT (5792), WARREN_DISK_PORT (5793), STARTUP_PORT (5794), FRESH_PORT (5795),
# RABBITMQ_PORT (5791; its Erlang distribution port is +20000).
set -euo pipefail

die() { echo "bench.sh: $*" >&2; exit 1; }

quick=0 rounds=3 scenarios="1 2 4 5 8 7 3 6" dir=""
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 ;;
	--rounds) rounds=$2; shift ;;
	--scenarios) scenarios=$2; shift ;;
	--dir) dir=$2; shift ;;
	-h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
	shift
done
case $rounds in ''|*[!0-9]*|0) die "--rounds wants a positive number" ;; esac

if [ $quick = 1 ]; then
	duration=1s queued=50000 conns=500 settle=300ms settle_long=3s
else
	duration=5s queued=1000000 conns=1000 settle=2s settle_long=40s
fi

repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
wport=${WARREN_PORT:-5792} dport=${WARREN_DISK_PORT:-5793} sport=${STARTUP_PORT:-5794} fport=${FRESH_PORT:-5795}
rport=${RABBITMQ_PORT:-5791}
dir=${dir:-$(mktemp -d /tmp/warren-bench.XXXXXX)}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
results=$dir/results.jsonl
: >"$results"

for p in $wport $dport $sport $fport $rport; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
		die "port $p is taken; set WARREN_PORT, WARREN_DISK_PORT, STARTUP_PORT, FRESH_PORT or RABBITMQ_PORT"
	fi
done

echo "== building into $dir"
# warren is built as a release binary: static (no cgo: no dynamic loader, no libc
# threads) and without urfave/cli's man-page renderer, which nothing in warren uses.
# Together they take about a millisecond and a half off scenario 8 here (6.2 → 5.0 ms).
CGO_ENABLED=0 go build -tags urfave_cli_no_docs -o "$dir/warren" ./cmd/warren
go build -o "$dir/bench" ./cmd/bench
bench=$dir/bench

# Every warren runs without its management API and metrics listeners: several run at
# once (their default ports would collide), and RabbitMQ runs without its management
# plugin too.
wflags=(--log-level warn --http-listen "" --metrics-listen "")

wpid="" dpid="" fpid="" rabbit_up=0 rabbit_fresh=0
cleanup() {
	local p
	for p in $wpid $dpid $fpid; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in $wpid $dpid $fpid; do
		wait "$p" 2>/dev/null || true
	done
	if [ $rabbit_up = 1 ]; then
		conformance/rabbitmq.sh stop "$rport" "$dir/rabbitmq" || true
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== starting warren (in memory on $wport, data dir on $dport) and rabbitmq-server (on $rport)"
"$dir/warren" --listen "127.0.0.1:$wport" --in-memory "${wflags[@]}" >"$dir/warren-mem.log" 2>&1 &
wpid=$!
"$dir/warren" --listen "127.0.0.1:$dport" --data-dir "$dir/warren-data" "${wflags[@]}" >"$dir/warren-disk.log" 2>&1 &
dpid=$!
"$bench" wait --addr "127.0.0.1:$wport" || die "warren did not start: $(cat "$dir/warren-mem.log")"
"$bench" wait --addr "127.0.0.1:$dport" || die "warren did not start: $(cat "$dir/warren-disk.log")"
rabbit_up=1
conformance/rabbitmq.sh start "$rport" "$dir/rabbitmq"
rabbit_pid() { cat "$dir/rabbitmq/rabbitmq.pid"; } # the beam.smp process

start_fresh_warren() { # warren flags
	"$dir/warren" --listen "127.0.0.1:$fport" "${wflags[@]}" "$@" >"$dir/warren-fresh.log" 2>&1 &
	fpid=$!
	"$bench" wait --addr "127.0.0.1:$fport" || die "warren did not start: $(cat "$dir/warren-fresh.log")"
}
stop_fresh_warren() {
	kill -TERM "$fpid"
	wait "$fpid" || true
	fpid=""
}
fresh_rabbit() {
	if [ $rabbit_fresh = 0 ]; then
		conformance/rabbitmq.sh stop "$rport" "$dir/rabbitmq"
		conformance/rabbitmq.sh start "$rport" "$dir/rabbitmq"
	fi
}

notes=()
notes+=(--note "3:warren syncs to disk (fsync) before each confirm; RabbitMQ's classic queues confirm without syncing")
notes+=(--note "6:memory per queued message is the RSS ${settle} after the last confirm less the RSS before publishing over the messages queued; memory kept is the RSS ${settle} (later: ${settle_long}) after the drain less the RSS before publishing")

machine() {
	echo "machine:  $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, Linux $(uname -r)"
	echo "software: $(go version | cut -d' ' -f3), warren $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo "${BENCH_REV:-?}"), RabbitMQ $(dpkg-query -W -f '${Version}' rabbitmq-server 2>/dev/null || echo '?'), Erlang $(cat /usr/lib/erlang/releases/*/OTP_VERSION 2>/dev/null | head -1)"
	echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) $1"
}
machine "before the run"
echo "settings: $rounds rounds, scenarios $scenarios, $duration per rate scenario, $queued queued, $conns connections"
begin=$SECONDS

run_scenario() { # scenario broker round
	local s=$1 b=$2 r=$3 port pid
	if [ "$s" = 8 ]; then
		startup "$b" "$r"
		if [ "$b" = rabbitmq ]; then rabbit_fresh=1; fi
		return 0
	fi
	case $b/$s in
	warren/6) start_fresh_warren --data-dir "$dir/warren-data-6-$r"; port=$fport pid=$fpid ;;
	warren/7) start_fresh_warren --in-memory; port=$fport pid=$fpid ;;
	warren/3) port=$dport pid=$dpid ;;
	warren/*) port=$wport pid=$wpid ;;
	rabbitmq/6 | rabbitmq/7) fresh_rabbit; port=$rport pid=$(rabbit_pid) ;;
	rabbitmq/*) port=$rport pid=$(rabbit_pid) ;;
	esac
	if [ "$b" = rabbitmq ]; then rabbit_fresh=0; fi
	"$bench" scenario --id "$s" --broker "$b" --round "$r" --out "$results" --url "amqp://guest:guest@127.0.0.1:$port/" \
		--pid "$pid" --duration "$duration" --queued "$queued" --conns "$conns" --settle "$settle" --settle-long "$settle_long"
	if [ -n "$fpid" ]; then
		stop_fresh_warren
	fi
}

startup() { # broker round
	case $1 in
	warren)
		"$bench" startup --broker warren --round "$2" --out "$results" --addr "127.0.0.1:$sport" --kill \
			--log "$dir/warren-startup.log" -- "$dir/warren" --listen "127.0.0.1:$sport" --in-memory "${wflags[@]}" ;;
	rabbitmq)
		conformance/rabbitmq.sh stop "$rport" "$dir/rabbitmq"
		"$bench" startup --broker rabbitmq --round "$2" --out "$results" --addr "127.0.0.1:$rport" \
			-- conformance/rabbitmq.sh start "$rport" "$dir/rabbitmq" ;;
	esac
}

for r in $(seq 1 "$rounds"); do
	echo "== round $r of $rounds ($((SECONDS - begin)) s so far)"
	for s in $scenarios; do
		for b in warren rabbitmq; do
			run_scenario "$s" "$b" "$r"
		done
		if [ "$s" = 5 ]; then # what the machine allows: the same stream through a bare relay
			"$bench" floor --round "$r" --out "$results" --duration "$duration"
		fi
	done
done

echo
echo "== medians over $rounds rounds (ratio = warren / RabbitMQ), $((SECONDS - begin)) s"
machine "after the run"
"$bench" report "${notes[@]}" "$results" | tee "$dir/report.txt"
echo "results: $results"
