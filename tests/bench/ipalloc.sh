#!/bin/sh
# Allocation-time benchmarks of lib/ipalloc through the `ipalloc` driver (its --time option
# times ipalloc_run() alone, without parsing). Prints `BENCH name value ms`, the fastest of a
# few runs. Scenarios on N nodes x A IPv4 addresses in A/256 /24s (10.S.0.0/24):
#   cold      every address unassigned, every node healthy (placement, then rebalancing onto
#             all nodes: the most work)
#   failover  addresses spread round-robin, node 1 unhealthy: its addresses are placed
#   failback  node N-1 back with nothing: LCP2 rebalances onto it
#   rejoin    half the nodes back with nothing: many rebalancing moves (512 for LCP2)
# The time is the fastest of the runs (the least disturbed by other load).
# Takes a few seconds.
set -eu
: "${SHOAL_BUILD:?set SHOAL_BUILD to a build directory}"
IPALLOC=$SHOAL_BUILD/bin/ipalloc
[ -x "$IPALLOC" ] || { echo "ipalloc.sh: $IPALLOC is missing (run make)" >&2; exit 1; }
T=$(mktemp -d /tmp/ipallocbench.XXXXXX)
trap 'rm -rf "$T"' EXIT
trap 'exit 130' INT TERM

# gen NODES ADDRS SCENARIO > case
gen() {
	awk -v n="$1" -v a="$2" -v s="$3" 'BEGIN {
		flags = ""
		for (k = 0; k < n; k++)
			flags = flags (k ? "," : "") ((s == "failover" && k == 1) ? 2 : 0)
		print "nodes " flags
		for (i = 0; i < a; i++) {
			if (s == "cold")
				o = -1
			else if (s == "failback")
				o = i % (n - 1)
			else if (s == "rejoin")
				o = i % (n / 2)
			else
				o = i % n
			printf "10.%d.%d.%d %d\n", 1 + int(i / 256), int(i % 256 / 16), 1 + i % 16 * 15, o
		}
	}'
}

# bench NAME ALGORITHM NODES ADDRS SCENARIO REPEAT
bench() {
	gen "$3" "$4" "$5" >"$T/case"
	"$IPALLOC" --algorithm "$2" --time --repeat "$6" <"$T/case" >"$T/out" 2>"$T/err" ||
		{ cat "$T/err" >&2; exit 1; }
	ms=$(sed -n 's/^ipalloc: time: \([0-9.]*\) ms.*/\1/p' "$T/err")
	[ -n "$ms" ] || { echo "ipalloc.sh: no time from ipalloc" >&2; exit 1; }
	# Every address must have found a node in these scenarios.
	if grep -q ' -1$' "$T/out"; then
		echo "ipalloc.sh: $1 left addresses unassigned" >&2
		exit 1
	fi
	echo "BENCH $1 $ms ms"
}

bench ipalloc_lcp2_64n_1024a_ms lcp2 64 1024 cold 15
bench ipalloc_lcp2_failover_64n_1024a_ms lcp2 64 1024 failover 15
bench ipalloc_lcp2_failback_64n_1024a_ms lcp2 64 1024 failback 15
bench ipalloc_lcp2_rejoin_64n_1024a_ms lcp2 64 1024 rejoin 15
bench ipalloc_lcp2_16n_256a_ms lcp2 16 256 cold 20
bench ipalloc_deterministic_64n_1024a_ms deterministic 64 1024 failover 20
bench ipalloc_nondeterministic_64n_1024a_ms nondeterministic 64 1024 cold 20
bench ipalloc_nondeterministic_failback_64n_1024a_ms nondeterministic 64 1024 failback 20
