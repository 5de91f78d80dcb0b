#!/bin/bash
# Benchmarks of a loopback cluster (tests/cluster/lib.bash), run by tests/bench/run with
# SHOAL_BUILD set. Prints:
#   BENCH formation_3_nodes_ms V ms       from launching `shoal node start` on 3 nodes at
#                                         once (in parallel, as admins of 3 machines would)
#                                         to every node's view showing all 3 connected;
#                                         median of 5 clusters
# The idle cost of a node (PSS, CPU, wake-ups) is tests/bench/idle.sh's.
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

runs=()
for r in 1 2 3 4 5; do
	formation
	runs+=("$ms")
	cluster_teardown >&2 || die "teardown of run $r failed"
done
echo "# formation_3_nodes_ms runs: ${runs[*]} (shoal node start on the 3 nodes in parallel)"
echo "BENCH formation_3_nodes_ms $(printf '%s\n' "${runs[@]}" | median) ms"
