#!/bin/sh
# Messaging benchmarks (lib/msg through tests/tools/msgtool) on a loopback cluster of two
# nodes (127.0.0.11, 127.0.0.12), with raw socket references. Prints `BENCH name value unit`.
# Takes about 30-40 s. Everything it starts is stopped by pid on exit.
#
# Where each process runs decides a round trip more than any code does: on one CPU a reply
# needs no wake-up of an idle CPU, and on this virtual machine that makes it ~20x faster
# (2.7 against 72 us for raw Unix datagrams). Left to the scheduler, a pair lands either
# way at random, so a reference and the lib/msg figure beside it could be measured in
# different placements (ratios from 0.04x to 25x in one afternoon). So every process is
# pinned: the round trips are measured twice, _same_cpu (client and server on CPU 0: the
# cost of the code) and _cross_cpu (client on CPU 0, server on CPU 1: what two daemons that
# both sleep see), each against its raw reference in the same placement. Rates, fan-out and
# streams run across CPUs. On a one-CPU machine the _cross_cpu figures are left out.
set -eu
: "${SHOAL_BUILD:?set SHOAL_BUILD to a build directory}"
MT=$SHOAL_BUILD/tests/tools/msgtool
[ -x "$MT" ] || { echo "messaging.sh: $MT is missing (run make)" >&2; exit 1; }

T=$(mktemp -d /tmp/msgbench.XXXXXX)
PIDS=""
cleanup() {
	for p in $PIDS; do
		kill -CONT "$p" 2>/dev/null || true
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in $PIDS; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT_BASE=$((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 2000 * 16))
printf '127.0.0.11\n127.0.0.12\n' >"$T/nodes"
head -c 32 /dev/urandom >"$T/key"
chmod 600 "$T/key"
for n in 1 2; do
	cat >"$T/n$n.conf" <<CONF
[cluster]
node address = 127.0.0.1$n
nodes file = $T/nodes
cluster key = $T/key
run directory = $T/run$n
port base = $PORT_BASE
[database]
directory = $T/db$n
CONF
done

CLIENT_CPU=0
SERVER_CPU=1
ncpu=$(nproc)
[ "$ncpu" -ge 2 ] || SERVER_CPU=0

# serve NODE NAME [ARGS...]: a server in the background on SERVER_CPU, waited for until bound.
serve() {
	node=$1 name=$2
	shift 2
	taskset -c "$SERVER_CPU" "$MT" -c "$T/n$node.conf" serve "$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null &
	PIDS="$PIDS $!"
	echo $! >"$T/$name.pid"
	i=0
	until grep -qx ready "$T/$name.out" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 100 ]; then
			echo "messaging.sh: server $name did not start:" >&2
			cat "$T/$name.err" >&2
			exit 1
		fi
		sleep 0.05
	done
}

# val FILE KEY: the value after KEY on its line.
val() {
	awk -v k="$2" '$1 == k { print $2; exit }' "$1"
}

bench() {
	echo "BENCH $1 $2 $3"
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'
}

# client ARGS...: msgtool on CLIENT_CPU.
client() {
	taskset -c "$CLIENT_CPU" "$MT" "$@"
}

# servers_on CPU: moves the two ping servers (their every thread) to CPU.
servers_on() {
	for s in s1 s2; do
		taskset -a -p -c "$1" "$(cat "$T/$s.pid")" >/dev/null
	done
}

# rtt_figures RAW NAME RATIO: the median and p99 of $T/RAW and $T/NAME (msgtool's output),
# then NAME's median over RAW's as RATIO; every figure's name ends in _$place.
rtt_figures() {
	for f in "$1" "$2"; do
		bench "${f}_rtt_median_$place" "$(val "$T/$f" median_us)" us
		bench "${f}_rtt_p99_$place" "$(val "$T/$f" p99_us)" us
	done
	bench "${3}_$place" "$(ratio "$(val "$T/$2" median_us)" "$(val "$T/$1" median_us)")" x
}

# round_trips PLACEMENT SERVER_CPU: local (Unix datagrams) and remote (node 0 to node 1 over
# TCP with HMAC frames) request/response, each after its raw reference (the same sockets
# without lib/msg, between the same CPUs and, for TCP, the same addresses).
round_trips() {
	place=$1
	servers_on "$2"
	client rawpingpong --count 20000 --size 96 --peer-cpu "$2" >"$T/raw_unix"
	client -c "$T/n1.conf" ping 0:msgtest --count 20000 >"$T/local"
	rtt_figures raw_unix local local_rtt_ratio_vs_raw
	client rawtcp --server 127.0.0.12 --client 127.0.0.11 --count 10000 --size 140 --peer-cpu "$2" >"$T/raw_tcp"
	client -c "$T/n1.conf" ping 1:msgtest --count 10000 >"$T/remote"
	rtt_figures raw_tcp remote remote_rtt_ratio_vs_raw_tcp
}

serve 1 s1
serve 2 s2

round_trips same_cpu "$CLIENT_CPU"
if [ "$ncpu" -ge 2 ]; then
	round_trips cross_cpu "$SERVER_CPU"
else
	echo "# one CPU: no _cross_cpu figures"
fi

# --- one-way rates, local and remote
client -c "$T/n1.conf" send 0:msgtest --count 200000 >"$T/lrate"
bench local_oneway_rate "$(val "$T/lrate" rate_per_s)" msgs/s
client -c "$T/n1.conf" send 1:msgtest --count 100000 >"$T/rrate"
bench remote_oneway_rate "$(val "$T/rrate" rate_per_s)" msgs/s

# --- stuck receiver: three subscribers, one stopped; the delay the other two saw, against
# the same fan-out with nobody stuck
fan_delay() {
	awk '$1 == "dest" && $7 == "max_delay_us" && $8 + 0 > m { m = $8 + 0 } END { print m + 0 }' "$1"
}
serve 1 a1 -s a1
serve 1 a2 -s a2
serve 1 a3 -s a3
client -c "$T/n1.conf" fanout --to a1,a2,a3 --count 2000 --rate 1000 >"$T/fan0"
serve 1 b1 -s b1
serve 1 b2 -s b2
serve 1 b3 -s b3
kill -STOP "$(cat "$T/b3.pid")"
client -c "$T/n1.conf" fanout --to b1,b2,b3 --count 2000 --rate 1000 >"$T/fan1"
kill -CONT "$(cat "$T/b3.pid")"
base=$(fan_delay "$T/fan0")
stuck=$(fan_delay "$T/fan1")
bench fanout_max_delay_us "$base" us
bench stuck_receiver_max_delay_us "$stuck" us
bench stuck_receiver_extra_delay_us "$(awk -v a="$stuck" -v b="$base" 'BEGIN { print (a > b ? a - b : 0) }')" us
bench stuck_receiver_drops "$(awk '$1 == "dest" && $2 == "b3" { print $4 }' "$T/fan1")" msgs
bench stuck_receiver_sender_max_iteration "$(val "$T/fan1" max_iteration_us)" us

# --- 64 MiB streams
client -c "$T/n1.conf" stream 1:msgtest --bytes 67108864 --seed 1 >"$T/rstream"
client -c "$T/n1.conf" stream 0:msgtest --bytes 67108864 --seed 2 >"$T/lstream"
bench remote_stream_64mib "$(val "$T/rstream" mb_per_s)" MB/s
bench local_stream_64mib "$(val "$T/lstream" mb_per_s)" MB/s
