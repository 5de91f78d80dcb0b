#!/usr/bin/env bats
# leaderd across network partitions (root only: the namespace cluster of
# tests/cluster/netns.bash), with cluster lock `none` (majority votes) and `file:` (a lease
# on storage every node shares): 2+1 with the leader alone, 2+1 with a follower alone,
# 1+1+1, and a one-way cut of the leader, each healed before the next. A node that reaches no majority never
# leads and says it is partitioned; the majority side has one leader; healing converges on
# one leader; and every test ends with the interval check of tests/cluster/leadercheck.py
# (no two leaders at once, terms never shrink, nothing from an old leader acted on).
# Deadlines are generous and no test asserts a duration.
bats_require_minimum_version 1.5.0
load lib/common
load cluster/netns
load cluster/leader
cli_leak_checks_off # its CLIs poll; LeakSanitizer stays on in the daemons

setup() {
	require_root
}

teardown() {
	ns_teardown
	rm -f "$(lock_file)"
}

# lp_cluster LOCK: 3 nodes, connected, one leader. The lease is 500 ms with lock none
# (memberd's heartbeats carry a lease of 375 ms or more at 100 ms x 5), 300 ms with a lock.
lp_cluster() {
	local i lease=300
	[ "$1" = none ] && lease=500
	ns_cluster_create 3
	for ((i = 1; i <= 3; i++)); do
		printf '[cluster]\ncluster lock = %s\n[leadership]\nlease = %s\n' "$1" "$lease" >>"$(node_conf "$i")"
	done
	ns_cluster_start
	wait_for 20 cluster_connected
	wait_for 20 one_leader
}

lock_of() {
	case $1 in
	none) echo none ;;
	file) echo "file:$(lock_file)" ;;
	esac
}

# not_leading i: node i neither leads nor follows anyone.
not_leading() {
	local out
	out=$(node_leaderctl "$1" -t 1000 --json status) || return 1
	! json_is "$out" role '"leader"' && json_is "$out" has_leader false
}

# partitioned i: node i's leaderd says so, and memberd carries the health reason.
partitioned() {
	local out re
	node_re re "$(($1 - 1))" '"health":\[[^]]*"partitioned"'
	out=$(node_leaderctl "$1" -t 1000 --json status) && json_is "$out" partitioned true &&
		out=$(node_memberctl "$1" -t 1000 --json status) && [[ $out =~ $re ]]
}

not_partitioned() {
	local out
	out=$(node_leaderctl "$1" -t 1000 --json status) && json_is "$out" partitioned false
}

healed() {
	ns_heal
	wait_for 30 cluster_connected
	wait_for 20 one_leader
	sleep 1
	one_leader >/dev/null
	local i
	for i in 1 2 3; do wait_for 10 not_partitioned "$i"; done
	check_traces
}

leader_alone() {
	local old
	old=$(settled_leader 20)
	ns_partition "$(others "$old" | xargs)" "$old"
	wait_for 20 one_leader_not "$old" $(others "$old")
	wait_for 10 not_leading "$old"
	wait_for 10 partitioned "$old"
	sleep 1
	one_leader_not "$old" $(others "$old") >/dev/null
	not_leading "$old"
	healed
}

follower_alone() {
	local l f before
	l=$(settled_leader 20)
	f=$(others "$l" | head -1)
	before=$(leader_seen_by "$l")
	ns_partition "$(others "$f" | xargs)" "$f"
	wait_for 10 partitioned "$f"
	wait_for 10 not_leading "$f"
	sleep 1
	# The majority side keeps its leader and its term.
	[ "$(one_leader $(others "$f"))" = "$l" ]
	[ "$(leader_seen_by "$l")" = "$before" ]
	healed
}

each_alone() {
	ns_partition "1" "2" "3"
	local i
	for i in 1 2 3; do wait_for 10 partitioned "$i"; done
	for i in 1 2 3; do wait_for 10 not_leading "$i"; done
	sleep 1
	for i in 1 2 3; do not_leading "$i"; done
	healed
}

leader_oneway() {
	local old
	old=$(settled_leader 20)
	ns_cut_oneway "$old"
	wait_for 20 one_leader_not "$old" $(others "$old")
	wait_for 10 not_leading "$old"
	sleep 1
	one_leader_not "$old" $(others "$old") >/dev/null
	not_leading "$old"
	healed
}

# One cluster per lock runs the four cases one after the other: each ends healed (one
# leader, nobody partitioned, the interval check passed), which is where the next starts,
# and a cluster costs more to build than a case to run.
all_cases() {
	lp_cluster "$(lock_of "$1")"
	leader_alone
	follower_alone
	each_alone
	leader_oneway
}

@test "leaderpart: lock none: the leader alone (2+1), a follower alone, 1+1+1, a one-way cut of the leader; each healed" {
	all_cases none
}

@test "leaderpart: lock file: the leader alone (2+1), a follower alone, 1+1+1, a one-way cut of the leader; each healed" {
	all_cases file
}
