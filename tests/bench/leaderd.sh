#!/usr/bin/env bash
# leaderd failover on loopback clusters: the time from a failure to the new leader being
# followed by every surviving node, median of LD_BENCH_REPS (10), for a crashed node, a
# frozen node (whole tree SIGSTOPped) and a hung leaderd (SIGSTOP of leaderd alone), on 3
# and 16 nodes with the locks none and file:; and the messages of one election as N grows.
# Times come from the nodes' traces (CLOCK_MONOTONIC, shared by all nodes of one machine):
# failure = just before the signal, announced = the last surviving node's first accept (or
# start) of a newer term. Lease LD_BENCH_LEASE ms (300: leaderd sends its own renewals; 375
# or more: memberd's heartbeats carry them), keepalive 100 ms x 5 (the harness's defaults).
#
#   BENCH leaderd_failover_<kind>_<lock>_<N>n <ms> ms
#   BENCH leaderd_election_msgs_<N>n <count> messages
#   BENCH leaderd_cold_start_3n <ms> ms   `shoal node start` on 3 nodes at once (lock none,
#                                         shoal's default 500 ms lease) to every node following
#                                         one leader, median of 5
set -u
: "${SHOAL_BUILD:?set SHOAL_BUILD}"
TOP=$(cd "$(dirname "$0")/../.." && pwd)
export SHOAL_SVC_DIR=$TOP/svc
BATS_TEST_DIRNAME=$TOP/tests
# shellcheck source=/dev/null
. "$TOP/tests/lib/common.bash"
# shellcheck source=/dev/null
. "$TOP/tests/cluster/lib.bash"
REPS=${LD_BENCH_REPS:-10}
SIZES=${LD_BENCH_SIZES-3 16} # set and empty: the election messages alone
LEASE=${LD_BENCH_LEASE:-300}
LOCKFILE=

trap 'cluster_teardown >/dev/null 2>&1; [ -n "$LOCKFILE" ] && rm -f "$LOCKFILE"' EXIT

leaderctl_json() { "$CLUSTER_BIN/leaderctl" -c "$(node_conf "$1")" -t 1000 --json status; }

# one_leader: every running node follows the same leader and term; prints "INDEX TERM".
one_leader() {
	local i got first= skip=${SKIP:-0}
	for ((i = 1; i <= CLUSTER_N; i++)); do
		((i == skip)) && continue
		got=$(leaderctl_json "$i" | jq -er 'select(.has_leader) | "\(.leader + 1) \(.leader_term)"') || return 1
		[ -z "$first" ] && first=$got
		[ "$got" = "$first" ] || return 1
	done
	echo "$first"
}

mono_ns() { python3 -c 'import time; print(time.monotonic_ns())'; }

# announced_ns TERM SKIP: when the last node other than SKIP first followed a term > TERM.
announced_ns() {
	local term=$1 skip=$2 i t last=0
	for ((i = 1; i <= CLUSTER_N; i++)); do
		((i == skip)) && continue
		t=$(awk -v term="$term" '($1 == "accept" && $2 > term) { print $6; exit }
			($1 == "start" && $2 > term) { print $4; exit }' "$(node_run "$i")/leaderd.trace")
		[ -n "$t" ] || return 1
		((t > last)) && last=$t
	done
	echo "$last"
}

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }

# create N LOCK [LEASE]: the cluster's files, no process yet.
create() {
	local n=$1 lock=$2 lease=${3:-$LEASE} i
	cluster_create "$n"
	for ((i = 1; i <= n; i++)); do
		printf '[cluster]\ncluster lock = %s\n[membership]\nhealth monitor = none\n[leadership]\nlease = %s\n' \
			"$lock" "$lease" >>"$(node_conf "$i")"
	done
}

setup() {
	create "$1" "$2"
	cluster_start >/dev/null || return 1
	wait_for 60 cluster_connected || return 1
	SKIP=0 wait_for 60 one_leader
}

# failover KIND: one failure of the current leader; prints the milliseconds.
failover() {
	local kind=$1 cur l term pid t0 t1
	cur=$(SKIP=0 one_leader) || return 1
	l=${cur% *}
	term=${cur#* }
	case $kind in
	crash)
		pids=$(node_tree_pids "$l")
		t0=$(mono_ns)
		# shellcheck disable=SC2086
		kill -KILL $pids
		;;
	frozen)
		pids=$(node_tree_pids "$l")
		t0=$(mono_ns)
		# shellcheck disable=SC2086
		kill -STOP $pids
		;;
	hung)
		pid=$(node_daemon_pid "$l" leaderd)
		t0=$(mono_ns)
		kill -STOP "$pid"
		;;
	esac
	wait_for 30 announced_ns "$term" "$l" || return 1
	t1=$(announced_ns "$term" "$l")
	case $kind in
	crash) cluster_start "$l" >/dev/null ;;
	frozen)
		# shellcheck disable=SC2086
		kill -CONT $pids
		;;
	hung) kill -CONT "$pid" ;;
	esac
	wait_for 60 cluster_connected || return 1
	SKIP=0 wait_for 60 one_leader || return 1
	sleep 0.5
	echo $(((t1 - t0) / 1000000))
}

for n in $SIZES; do
	for lock in none file; do
		if [ "$lock" = file ]; then
			LOCKFILE=$(mktemp /tmp/shoal-bench-lock.XXXXXX)
			spec=file:$LOCKFILE
		else
			spec=none
		fi
		setup "$n" "$spec" || { echo "# leaderd: cluster of $n did not start"; exit 1; }
		for kind in crash frozen hung; do
			vals=()
			for ((r = 0; r < REPS; r++)); do
				v=$(failover "$kind") || { echo "# leaderd: $kind failover $r on $n nodes failed"; continue; }
				vals+=("$v")
			done
			((${#vals[@]})) || exit 1
			echo "BENCH leaderd_failover_${kind}_${lock}_${n}n $(printf '%s\n' "${vals[@]}" | median) ms"
		done
		python3 "$TOP/tests/cluster/leadercheck.py" "$CLUSTER_DIR"/n*/run/leaderd.trace | sed 's/^/# /'
		cluster_teardown >/dev/null 2>&1
		[ -n "$LOCKFILE" ] && rm -f "$LOCKFILE"
		LOCKFILE=
	done
done

# Messages of one election (leaderctl elect), summed over all nodes, as N grows.
sum_election_msgs() {
	local i s=0 v
	for ((i = 1; i <= CLUSTER_N; i++)); do
		v=$("$CLUSTER_BIN/leaderctl" -c "$(node_conf "$i")" --json stats | jq '.election_msgs') || return 1
		s=$((s + v))
	done
	echo "$s"
}
for n in 3 7 16; do
	setup "$n" none || exit 1
	sleep 1
	total=0
	for ((r = 0; r < 3; r++)); do
		cur=$(SKIP=0 one_leader)
		before=$(sum_election_msgs)
		"$CLUSTER_BIN/leaderctl" -c "$(node_conf 1)" elect >/dev/null
		newer() { local c; c=$(SKIP=0 one_leader) && [ "${c#* }" -gt "${cur#* }" ]; }
		wait_for 30 newer || exit 1
		sleep 0.5
		after=$(sum_election_msgs)
		total=$((total + after - before))
	done
	echo "BENCH leaderd_election_msgs_${n}n $((total / 3)) messages"
	cluster_teardown >/dev/null 2>&1
done

# Cold start: from just before `shoal node start` on 3 nodes at once to the last node's
# first accept of a term. A leaderd votes for nobody within a lease of its own start, and
# nodes start a few ms apart: the first bid meets "just started" from the others.
vals=()
for ((r = 0; r < 5; r++)); do
	create 3 none 500
	t0=$(mono_ns)
	cluster_start >/dev/null || exit 1
	wait_for 60 announced_ns 0 0 || exit 1
	vals+=($((($(announced_ns 0 0) - t0) / 1000000)))
	cluster_teardown >/dev/null 2>&1
done
echo "# leaderd_cold_start_3n runs: ${vals[*]} ms"
echo "BENCH leaderd_cold_start_3n $(printf '%s\n' "${vals[@]}" | median) ms"
