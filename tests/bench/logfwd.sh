#!/bin/sh
# logfwd benchmark: records per second from one process through logfwd to a file, and the
# time one log call takes (p50/p99) with the target healthy and with it blocked (a FIFO
# whose reader is stopped), and how long logctl status takes meanwhile.
# Prints `BENCH <name> <value> <unit>` lines. SHOAL_BUILD names the build (make bench).
set -eu
: "${SHOAL_BUILD:?set SHOAL_BUILD to a build directory}"
BIN=$SHOAL_BUILD/bin
EMIT=$SHOAL_BUILD/tests/tools/logemit
T=$(mktemp -d /tmp/lfb.XXXXXX)
PIDS=""

cleanup() {
	for p in $PIDS; do kill -CONT "$p" 2>/dev/null || true; kill -TERM "$p" 2>/dev/null || true; done
	for p in $PIDS; do
		i=0
		while kill -0 "$p" 2>/dev/null && [ $i -lt 40 ]; do sleep 0.05; i=$((i + 1)); done
		kill -KILL "$p" 2>/dev/null || true
	done
	rm -rf "$T"
}
trap cleanup EXIT INT TERM

printf '127.0.0.11\n' >"$T/nodes"
head -c 32 /dev/urandom >"$T/key"
chmod 600 "$T/key"
port_base=$((20000 + ($$ % 2000) * 16))

conf() {
	cat >"$T/conf" <<-EOF
	[cluster]
	node address = 127.0.0.11
	nodes file = $T/nodes
	cluster key = $T/key
	run directory = $T/run
	port base = $port_base
	[database]
	directory = $T/db
	[logging]
	location = $1
	EOF
}

start_logfwd() {
	"$BIN/logfwd" -c "$T/conf" 2>>"$T/logfwd.err" &
	LOGFWD=$!
	PIDS="$PIDS $LOGFWD"
	i=0
	until [ -S "$T/run/sock/logfwd" ]; do
		sleep 0.05
		i=$((i + 1))
		[ $i -lt 100 ] || { echo "logfwd did not start" >&2; exit 111; }
	done
}

stop_logfwd() {
	kill -TERM "$LOGFWD"
	wait "$LOGFWD" 2>/dev/null || true
}

status() { "$BIN/logctl" -c "$T/conf" --json -t 5000 status; }
field() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"; }
now_ns() { date +%s%N; }

# field NAME of `calls=.. p50_us=.. ...`
pick() { tr ' ' '\n' | sed -n "s/^$1=//p"; }

# 1. Throughput: one sender flat out, records the file took per second.
conf "file:$T/out.log"
start_logfwd
w0=$(status | field written)
t0=$(now_ns)
"$EMIT" -c "$T/conf" -s bench -b 300000 -p 100 >"$T/burst.out"
i=0
while [ "$(status | field queued)" != 0 ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
t1=$(now_ns)
w1=$(status | field written)
echo "BENCH logfwd_file_records_per_s $(( (w1 - w0) * 1000000000 / (t1 - t0) )) records/s"
echo "BENCH log_call_burst_p50 $(pick p50_us <"$T/burst.out") us"
echo "BENCH log_call_burst_p99 $(pick p99_us <"$T/burst.out") us"

# 2. A log call, target healthy, at a steady rate (20 us between calls).
"$EMIT" -c "$T/conf" -s bench -b 50000 -g 20 -p 100 >"$T/healthy.out"
echo "BENCH log_call_healthy_p50 $(pick p50_us <"$T/healthy.out") us"
echo "BENCH log_call_healthy_p99 $(pick p99_us <"$T/healthy.out") us"
# The raw reference, same rate: formatting the text into a buffer and nothing else.
"$EMIT" -c "$T/conf" -s bench -b 50000 -g 20 -p 100 -r >"$T/raw.out"
echo "BENCH log_call_raw_format_p50 $(pick p50_us <"$T/raw.out") us"
echo "BENCH log_call_raw_format_p99 $(pick p99_us <"$T/raw.out") us"
echo "BENCH log_call_healthy_p99_vs_raw $(awk -v a="$(pick p99_us <"$T/healthy.out")" -v b="$(pick p99_us <"$T/raw.out")" 'BEGIN { printf "%.1f", a / b }') x"
stop_logfwd

# 3. The target blocked: a FIFO whose reader stopped once the pipe filled.
mkfifo "$T/fifo"
conf "file:$T/fifo"
cat "$T/fifo" >/dev/null &
READER=$!
PIDS="$PIDS $READER"
start_logfwd
"$EMIT" -c "$T/conf" -s fill -b 20000 >/dev/null
kill -STOP "$READER"
"$EMIT" -c "$T/conf" -s fill -b 100000 -g 5 >/dev/null
i=0
until [ "$(status | field queued)" = 4096 ] || [ $i -gt 100 ]; do sleep 0.05; i=$((i + 1)); done
"$EMIT" -c "$T/conf" -s bench -b 50000 -g 20 -p 100 >"$T/blocked.out"
echo "BENCH log_call_blocked_p50 $(pick p50_us <"$T/blocked.out") us"
echo "BENCH log_call_blocked_p99 $(pick p99_us <"$T/blocked.out") us"
t0=$(now_ns)
s=$(status)
t1=$(now_ns)
echo "BENCH logctl_status_blocked $(( (t1 - t0) / 1000000 )) ms"
echo "BENCH logfwd_blocked_dropped $(echo "$s" | field dropped) records"
kill -CONT "$READER"
