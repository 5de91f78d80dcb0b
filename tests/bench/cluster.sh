#!/bin/bash
# Benchmarks of a loopback cluster (tests/cluster/lib.bash), run by tests/bench/run with
# SHOAL_BUILD set. Prints:
#   BENCH formation_3_nodes_ms V ms       from launching `shoal node start` on 3 nodes at
#                                         once (in parallel, as admins of 3 machines would)
#                                         to every node's view showing all 3 connected;
#                                         median of 5 clusters
#   BENCH idle_pss_kb V kB                PSS (smaps_rollup) of one node's processes in an
#                                         idle 3-node cluster: s6-svscan, s6-supervise,
#                                         memberd
#   BENCH idle_cpu_ms_per_min V ms        their CPU time (utime+stime) over 60 s idle
# SHOAL_BENCH_QUICK=1 measures the CPU over 10 s and scales it to a minute.
# Everything started is stopped, by pid, even on failure or interruption.
set -u
: "${SHOAL_BUILD:?set SHOAL_BUILD to a build directory}"
tests=$(cd "$(dirname "$0")/.." && pwd)
BATS_TEST_DIRNAME=$tests
# shellcheck source=../lib/common.bash
source "$tests/lib/common.bash"
# shellcheck source=../cluster/lib.bash
source "$tests/cluster/lib.bash"

trap 'cluster_teardown >&2' EXIT
trap 'exit 130' INT TERM

die() {
	echo "bench/cluster.sh: fatal: $*" >&2
	exit 111
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# Node i's own view has every node connected. Counted in bash, not jq: a jq run costs more
# than a memberctl call and would blur the figure.
view_complete() {
	local out rest ones
	out=$(node_memberctl "$1" -t 500 --json list 2>/dev/null) || return 1
	rest=${out//'"connected":true'/$'\1'}
	ones=${rest//[^$'\1']/}
	((${#ones} == CLUSTER_N))
}

# Sets ms: one formation. Not in a subshell: the harness must see the cluster to remove it.
formation() {
	local t0 i pids=() done_=0 end
	cluster_create 3 || die "cluster_create"
	t0=$(now_ms)
	for i in 1 2 3; do
		cluster_start "$i" >/dev/null &
		pids+=($!)
	done
	end=$((t0 + 20000))
	local seen=()
	while ((done_ < 3)); do
		(($(now_ms) < end)) || die "no formation within 20 s"
		for i in 1 2 3; do
			[ -n "${seen[$i]:-}" ] && continue
			if view_complete "$i"; then
				seen[$i]=1
				done_=$((done_ + 1))
			fi
		done
		((done_ < 3)) && sleep 0.005
	done
	ms=$(($(now_ms) - t0))
	for i in "${pids[@]}"; do
		wait "$i" || die "shoal node start failed"
	done
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Sum of a per-process number over node 1's tree.
tree_sum() {
	local what=$1 p sum=0 v
	for p in $(node_tree_pids 1); do
		case $what in
		pss) v=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null) ;;
		cpu) v=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }') ;;
		esac
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}

runs=()
for r in 1 2 3 4 5; do
	formation
	runs+=("$ms")
	cluster_teardown >&2 || die "teardown of run $r failed"
done
echo "# formation_3_nodes_ms runs: ${runs[*]} (shoal node start on the 3 nodes in parallel)"
echo "BENCH formation_3_nodes_ms $(printf '%s\n' "${runs[@]}" | median) ms"

# The idle figures: a formed 3-node cluster, measured on node 1 after it settles.
cluster_create 3 || die "cluster_create"
cluster_start >/dev/null || die "cluster_start"
wait_for 10 cluster_connected || die "no formation"
sleep 2
ntree=$(node_tree_pids 1 | wc -l)
[ "$ntree" -ge 3 ] || die "node 1 has $ntree processes, expected s6-svscan, s6-supervise, memberd"
echo "BENCH idle_pss_kb $(tree_sum pss) kB"
secs=60
[ "${SHOAL_BENCH_QUICK:-0}" = 1 ] && secs=10
hz=$(getconf CLK_TCK)
c0=$(tree_sum cpu)
sleep "$secs"
c1=$(tree_sum cpu)
[ "$(node_tree_pids 1 | wc -l)" -eq "$ntree" ] || die "node 1's processes changed during the measurement"
echo "BENCH idle_cpu_ms_per_min $(((c1 - c0) * 1000 * 60 / hz / secs)) ms"
