#!/bin/bash
# The idle cost of one node, run by tests/bench/run with SHOAL_BUILD set: a formed 3-node
# loopback cluster (tests/cluster/lib.bash) with shoal's default keepalive, not the suites'
# 100 ms x 5 (CLUSTER_KEEPALIVE_MS=default: memberd's wake-ups follow the interval, and the
# figure is that of a node as shipped), measured on node 1 after it settles. The node is its whole supervision tree: s6-svscan, the s6-supervise processes
# and every daemon of svc/ (memberd, leaderd, logfwd, svcd, ...). Prints:
#   BENCH idle_pss_kb V kB                 PSS (smaps_rollup) of the node's processes
#   BENCH idle_cpu_ms_per_min V ms         their CPU time over 60 s idle, scaled to a minute
#                                          (target: 100 ms). From /proc/PID/schedstat (time
#                                          on a CPU, in ns) rather than utime+stime, which
#                                          count whole 10 ms ticks: a daemon that runs for
#                                          100 us at a time gets its share by sampling only
#   BENCH idle_wakeups_per_s V /s          their voluntary context switches per second: the
#                                          wake-ups, which on a virtual machine cost ~100 us
#                                          each and so are what the CPU figure follows
#   BENCH idle_<proc>_cpu_ms_per_min V ms  the same per process (s6-supervise summed)
#   BENCH idle_<proc>_wakeups_per_s V /s
#   BENCH idle_floor_cpu_ms_per_min V ms   the raw reference, measured in the same window:
#                                          one node of tests/tools/tickfloor, three processes
#                                          that only wake each 180 ms, read their TCP peers
#                                          and send each a heartbeat's bytes
#   BENCH idle_memberd_vs_floor R x        memberd's CPU over the floor's: what a wake-up and
#                                          a cold system call cost on a virtual machine
#                                          changes with the hour, for both alike
#   BENCH idle_host_busy_pct V %           the whole machine's busy time in the window (all
#                                          CPUs, as a share of them): noise beside the node
# It first waits (up to 30 s) for the machine to be quiet, under 3% busy over 2 s: the
# benchmarks before it leave the kernel work of dismantled namespaces behind for a while.
# SHOAL_BENCH_QUICK=1 measures over 10 s and scales to a minute; SHOAL_BENCH_IDLE_S sets
# the seconds. Everything started is stopped, by pid, even on failure or interruption.
set -u
: "${SHOAL_BUILD:?set SHOAL_BUILD to a build directory}"
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BATS_TEST_DIRNAME=$TOP/tests
# shellcheck source=../lib/common.bash
source "$TOP/tests/lib/common.bash"
export SHOAL_SVC_DIR=$TOP/svc
# shellcheck source=../cluster/lib.bash
source "$TOP/tests/cluster/lib.bash"

# As in production: shoal's own keepalive, and no leadership trace (a test-only write per
# lease renewal).
export CLUSTER_KEEPALIVE_MS=default
export CLUSTER_LEADERD_TRACE=0
FLOOR_PID= FLOOR_OUT=
trap '[ -n "$FLOOR_PID" ] && kill "$FLOOR_PID" 2>/dev/null && wait "$FLOOR_PID"; rm -f "$FLOOR_OUT"; cluster_teardown >&2' EXIT
trap 'exit 130' INT TERM

die() {
	echo "bench/idle.sh: fatal: $*" >&2
	exit 111
}

# sample: "pid name cpu_ns wakeups pss_kb" for every process of node 1's tree, its threads
# summed (memberd's file writers sleep unless there is state to write).
sample() {
	local p name cpu sw pss
	for p in $(node_tree_pids 1); do
		name=$(cat "/proc/$p/comm" 2>/dev/null) || continue
		cpu=$(cat "/proc/$p"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
		sw=$(cat "/proc/$p"/task/*/status 2>/dev/null | awk '/^voluntary_ctxt_switches/ { s += $2 } END { print s + 0 }')
		pss=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null)
		echo "$p $name ${cpu:-0} ${sw:-0} ${pss:-0}"
	done
}

# busy_ticks: "busy total" jiffies of all CPUs, from /proc/stat's cpu line.
busy_ticks() {
	awk '$1 == "cpu" { b = $2 + $3 + $4 + $7 + $8 + $9; t = b + $5 + $6; print b, t; exit }' /proc/stat
}

# busy_pct "B0 T0" "B1 T1": the busy share between two busy_ticks.
busy_pct() {
	awk -v a="$1" -v b="$2" 'BEGIN { split(a, x); split(b, y); t = y[2] - x[2]; printf "%.1f", (t > 0 ? (y[1] - x[1]) * 100 / t : 0) }'
}

for ((i = 0; i < 15; i++)); do
	q0=$(busy_ticks)
	sleep 2
	pct=$(busy_pct "$q0" "$(busy_ticks)")
	awk -v p="$pct" 'BEGIN { exit !(p < 3) }' && break
	echo "# waiting for a quiet machine: $pct% busy"
done

FLOOR_OUT=$(mktemp /tmp/tickfloor.XXXXXX)
"$SHOAL_BUILD/tests/tools/tickfloor" >"$FLOOR_OUT" &
FLOOR_PID=$!
cluster_create 3 || die "cluster_create"
cluster_start >/dev/null || die "cluster_start"
wait_for 10 cluster_connected || die "no formation"
sleep 3
ntree=$(node_tree_pids 1 | wc -l)
[ "$ntree" -ge 3 ] || die "node 1 has $ntree processes, expected s6-svscan, s6-supervise, memberd"
secs=${SHOAL_BENCH_IDLE_S:-60}
[ "${SHOAL_BENCH_QUICK:-0}" = 1 ] && secs=10
grep -qx ready "$FLOOR_OUT" || die "tickfloor did not start"
floor=$(head -1 "$FLOOR_OUT")
floor_cpu() { awk '{ print $1 }' "/proc/$floor/schedstat"; }
f0=$(floor_cpu)
h0=$(busy_ticks)
s0=$(sample)
sleep "$secs"
s1=$(sample)
f1=$(floor_cpu)
h1=$(busy_ticks)
[ "$(node_tree_pids 1 | wc -l)" -eq "$ntree" ] || die "node 1's processes changed during the measurement"
echo "# node 1 over $secs s: $(awk '{ print $2 }' <<<"$s1" | sort | uniq -c | awk '{ printf "%s%s x%d", s, $2, $1; s = ", " }')"
# Per process name (the s6-supervise processes summed), then the whole tree.
join <(sort <<<"$s0") <(sort <<<"$s1") | awk -v secs="$secs" -v f0="$f0" -v f1="$f1" \
	-v host="$(busy_pct "$h0" "$h1")" '
	{ cpu[$2] += $7 - $3; sw[$2] += $8 - $4; pss += $9; tc += $7 - $3; ts += $8 - $4 }
	END {
		printf "BENCH idle_pss_kb %d kB\n", pss
		printf "BENCH idle_cpu_ms_per_min %d ms\n", tc / 1e6 * 60 / secs
		printf "BENCH idle_wakeups_per_s %.1f /s\n", ts / secs
		floor = (f1 - f0) / 1e6 * 60 / secs
		printf "BENCH idle_floor_cpu_ms_per_min %d ms\n", floor
		printf "BENCH idle_memberd_vs_floor %.2f x\n", (floor > 0 ? cpu["memberd"] / 1e6 * 60 / secs / floor : 0)
		printf "BENCH idle_host_busy_pct %s %%\n", host
		for (n in cpu) {
			k = n; gsub(/[^A-Za-z0-9]/, "_", k)
			printf "BENCH idle_%s_cpu_ms_per_min %d ms\n", k, cpu[n] / 1e6 * 60 / secs
			printf "BENCH idle_%s_wakeups_per_s %.1f /s\n", k, sw[n] / secs
		}
	}'
