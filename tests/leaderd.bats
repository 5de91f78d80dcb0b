#!/usr/bin/env bats
# leaderd on loopback clusters: one leader, replaced when it crashes, freezes or hangs, steps
# down when stopped or banned; the cluster locks none, file: and !COMMAND; culprits and bans.
# Every test ends with the interval check of tests/cluster/leadercheck.py over all nodes'
# traces: no two leaders at once, terms never shrink, nothing from an old leader acted on.
# Deadlines are generous and no test asserts a duration.
bats_require_minimum_version 1.5.0
load lib/common
load cluster/lib
load cluster/leader
cli_leak_checks_off # its CLIs poll; LeakSanitizer stays on in the daemons

teardown() {
	# A leaderd that died at start is the first thing to look at.
	local f
	for f in "$CLUSTER_DIR"/n*/run/node.log; do
		[ -e "$f" ] && grep -H "leaderd: \(died\|fatal\)" "$f" >&2
	done
	cluster_teardown
	rm -f "$(lock_file)"
}

# ld_cluster N [LOCK [EXTRA-CONF]]: N nodes, started and connected. The lease is 500 ms with
# lock none (memberd's heartbeats carry a lease of 375 ms or more at 100 ms x 5), 300 ms
# with a lock (leaderd renews it itself).
ld_cluster() {
	local n=$1 lock=${2:-none} extra=${3:-} i lease=300
	[ "$lock" = none ] && lease=500
	cluster_create "$n"
	for ((i = 1; i <= n; i++)); do
		printf '[cluster]\ncluster lock = %s\n[membership]\nhealth monitor = none\n[leadership]\nlease = %s\n%b' \
			"$lock" "$lease" "$extra" >>"$(node_conf "$i")"
	done
	cluster_start
	wait_for 20 cluster_connected
}

three_candidates() { node_leaderctl 1 --json status | jq -e '(.candidates | length) == 3'; }

@test "leaderd: 3 nodes elect exactly one leader; shoal status and leaderctl show it" {
	cli_leak_checks_on
	ld_cluster 3
	l=$(settled_leader 20)
	run -0 node_shoal 2 status
	[[ "$output" == *"Leader: node $((l - 1)), term "* ]]
	run -0 node_shoal 2 status --json
	jq -e --argjson n $((l - 1)) '.leader.node == $n and .leader.term >= 1' <<<"$output"
	run -0 node_leaderctl "$l" status
	[[ "$output" == *"this node:   $((l - 1)), leader"* ]]
	run -0 node_leaderctl 1 --json status
	jq -e '.lock == "none" and .lease_ms == 500' <<<"$output"
	# Every node is a candidate once memberd reports its leaderd up, which may come a moment
	# after the election: a cold start elects in ~0.6 s, with a majority of candidates.
	wait_for 10 three_candidates
	sleep 1
	one_leader
	check_traces
}

@test "leaderd: 7 nodes elect exactly one leader" {
	ld_cluster 7
	wait_for 30 one_leader
	sleep 1
	one_leader
	check_traces
}

@test "leaderd: shoal status says so when leaderd is not running" {
	ld_cluster 3
	wait_for 20 one_leader
	pid=$(s6-svstat -o pid "$(node_run 2)/scan/leaderd")
	s6-svc -d "$(node_run 2)/scan/leaderd"
	# Generous: under ASan on a loaded machine the exit (step-down, leak check) can be slow.
	if ! wait_for 30 bash -c "! s6-svok $(node_run 2)/scan/leaderd || [ \"\$(s6-svstat -o up $(node_run 2)/scan/leaderd)\" = false ]"; then
		echo "leaderd $pid still up: $(cat /proc/"$pid"/stat 2>/dev/null) wchan=$(cat /proc/"$pid"/wchan 2>/dev/null)"
		cat /proc/"$pid"/task/*/stat 2>/dev/null
		false
	fi
	run -0 node_shoal 2 status
	[[ "$output" == *"Leader: unknown (leaderd not running)"* ]]
	s6-svc -u "$(node_run 2)/scan/leaderd"
}

@test "leaderd: a crashed leader is replaced" {
	ld_cluster 3
	old=$(settled_leader 20)
	cluster_kill "$old"
	wait_for 20 one_leader_not "$old" $(others "$old")
	cluster_start "$old"
	wait_for 20 cluster_connected
	wait_for 20 one_leader
	check_traces
}

# A node that comes back hears the leader's claims (through its memberd) before the view in
# which the leader is connected. Its leaderd used to drop that leader on its stale copy of
# the view at once, bid against a live lease, and learn the leader again a second later
# (5 of 6 restarts); it now asks memberd for the current view and judges on that.
@test "leaderd: a restarted node follows the running leader without dropping it or bidding" {
	ld_cluster 3
	l=$(settled_leader 20)
	seen=$(leader_seen_by "$l")
	local k v log
	v=$(others "$l" | head -1)
	log=$(node_run "$v")/node.log
	for k in 1 2 3; do
		cluster_kill "$v"
		wait_for 20 one_leader $(others "$v")
		: >"$log"
		cluster_start "$v"
		wait_for 20 one_leader
		[ "$(leader_seen_by "$v")" = "$seen" ]
		sleep 1 # a bid would follow the drop within half a second
		! grep -E "leaderd\[[0-9]+\]: (no leader \(term|bidding for term)" "$log" || false
	done
	check_traces
}

# led_after TERM: every node follows one leader, in a term newer than TERM.
led_after() {
	local l seen
	l=$(one_leader) && seen=$(leader_seen_by "$l") && [ "${seen#* }" -gt "$1" ]
}

# The restarted leaderd keeps quiet for a lease, so the others usually elect one of
# themselves; if their votes split meanwhile, it may win the next term itself. Either way a
# new term, one leader, and no overlap.
@test "leaderd: a killed leaderd (SIGKILL) is replaced in a new term; its restart leads nothing of the old one" {
	ld_cluster 3
	old=$(settled_leader 20)
	seen=$(leader_seen_by "$old")
	kill -KILL "$(node_daemon_pid "$old" leaderd)"
	wait_for 20 led_after "${seen#* }"
	check_traces
}

@test "leaderd: a frozen leader is replaced (lock none); thawed, nothing it sends is acted on" {
	ld_cluster 3
	old=$(settled_leader 20)
	cluster_freeze "$old"
	wait_for 20 one_leader_not "$old" $(others "$old")
	cluster_thaw "$old"
	wait_for 20 cluster_connected
	wait_for 20 one_leader
	sleep 1
	check_traces
	echo "$output"
}

@test "leaderd: a hung leaderd on a live node is replaced" {
	ld_cluster 3
	old=$(settled_leader 20)
	pid=$(node_daemon_pid "$old" leaderd)
	kill -STOP "$pid"
	wait_for 20 one_leader_not "$old" $(others "$old")
	kill -CONT "$pid"
	wait_for 20 one_leader
	sleep 1
	check_traces
}

@test "leaderd: a stopped leader steps down, and a banned one" {
	ld_cluster 3
	old=$(settled_leader 20)
	node_memberctl "$old" stop
	wait_for 20 one_leader_not "$old" $(others "$old")
	node_memberctl "$old" continue
	second=$(settled_leader 20)
	node_memberctl 1 -n $((second - 1)) ban 60
	wait_for 20 one_leader_not "$second" $(others "$second")
	node_memberctl 1 -n $((second - 1)) unban
	wait_for 20 one_leader
	check_traces
}

@test "leaderd: leaderctl elect starts a new term" {
	cli_leak_checks_on
	ld_cluster 3
	wait_for 20 one_leader
	before=$(leader_seen_by 2)
	run -0 node_leaderctl 2 elect
	newer() {
		local now
		now=$(leader_seen_by 2) && one_leader >/dev/null && [ "${now#* }" -gt "${before#* }" ]
	}
	wait_for 20 newer
	check_traces
}

@test "leaderd: a node with leader capability = no never leads" {
	cluster_create 3
	for i in 1 2 3; do
		printf '[membership]\nhealth monitor = none\n[leadership]\nlease = 500\n' >>"$(node_conf "$i")"
	done
	printf '[cluster]\nleader capability = no\n' >>"$(node_conf 1)"
	cluster_start
	wait_for 20 cluster_connected
	old=$(settled_leader 20)
	[ "$old" != 1 ]
	cluster_kill "$old"
	wait_for 20 one_leader_not "$old" $(others "$old")
	[ "$(one_leader $(others "$old"))" != 1 ]
	check_traces
}

@test "leaderd: lock file: one leader; a frozen leader is replaced and fenced out" {
	ld_cluster 3 "file:$(lock_file)"
	old=$(settled_leader 20)
	run -0 node_leaderctl "$old" --json status
	jq -e '.lock_state == "held"' <<<"$output"
	cluster_freeze "$old"
	wait_for 20 one_leader_not "$old" $(others "$old")
	cluster_thaw "$old"
	wait_for 20 cluster_connected
	wait_for 20 one_leader
	sleep 1
	check_traces
}

@test "leaderd: lock file: a SIGKILLed leaderd leaves no helper; a new term is led" {
	ld_cluster 3 "file:$(lock_file)"
	old=$(settled_leader 20)
	pid=$(node_daemon_pid "$old" leaderd)
	seen=$(leader_seen_by "$old")
	helpers=$(pgrep -P "$pid" || true)
	[ -n "$helpers" ]
	kill -KILL "$pid"
	for h in $helpers; do wait_for 10 bash -c "! kill -0 $h"; done
	# A new term is led, whoever takes the lock (see the test of a killed leaderd above).
	wait_for 20 led_after "${seen#* }"
	check_traces
}

@test "leaderd: a hung leaderd is replaced with lock file" {
	ld_cluster 3 "file:$(lock_file)"
	old=$(settled_leader 20)
	pid=$(node_daemon_pid "$old" leaderd)
	kill -STOP "$pid"
	wait_for 20 one_leader_not "$old" $(others "$old")
	kill -CONT "$pid"
	wait_for 20 one_leader
	sleep 1
	check_traces
}

# A mutex helper with CTDB's contract, on flock(1): 0 and hold, or 1 when contended.
make_helper() {
	cat >"$CLUSTER_DIR/helper" <<-EOF
		#!/bin/sh
		exec 9>>"$CLUSTER_DIR/mutex"
		if flock -n 9; then echo 0; exec sleep 100000; fi
		echo 1
	EOF
	chmod +x "$CLUSTER_DIR/helper"
}

@test "leaderd: lock !COMMAND: one leader; a frozen one keeps the lock and nobody else leads" {
	cluster_create 3
	make_helper
	for i in 1 2 3; do
		printf '[cluster]\ncluster lock = !%s\n[membership]\nhealth monitor = none\n[leadership]\nlease = 300\n' \
			"$CLUSTER_DIR/helper" >>"$(node_conf "$i")"
	done
	cluster_start
	wait_for 20 cluster_connected
	old=$(settled_leader 20)
	cluster_freeze "$old"
	for i in $(others "$old"); do wait_for 20 no_leader_at "$i"; done
	sleep 2
	for i in $(others "$old"); do no_leader_at "$i"; done
	cluster_thaw "$old"
	wait_for 20 cluster_connected
	wait_for 30 one_leader
	check_traces
}

@test "leaderd: lock !COMMAND: a SIGKILLed leaderd leaves no helper holding the lock; a new term is led" {
	cluster_create 3
	make_helper
	for i in 1 2 3; do
		printf '[cluster]\ncluster lock = !%s\n[membership]\nhealth monitor = none\n[leadership]\nlease = 300\n' \
			"$CLUSTER_DIR/helper" >>"$(node_conf "$i")"
	done
	cluster_start
	wait_for 20 cluster_connected
	old=$(settled_leader 20)
	pid=$(node_daemon_pid "$old" leaderd)
	seen=$(leader_seen_by "$old")
	helpers=$(pgrep -P "$pid" || true)
	[ -n "$helpers" ]
	kill -KILL "$pid"
	for h in $helpers; do wait_for 10 bash -c "! kill -0 $h"; done
	# The lock is free again: a new term is led (by whoever takes the lock first, the
	# restarted leaderd included).
	wait_for 30 led_after "${seen#* }"
	check_traces
}

# helper_case SCRIPT-BODY LOG-TEXT: with a broken helper nobody leads, and the log says why.
helper_case() {
	cluster_create 3
	printf '#!/bin/sh\n%s\n' "$1" >"$CLUSTER_DIR/helper"
	chmod +x "$CLUSTER_DIR/helper"
	for i in 1 2 3; do
		printf '[cluster]\ncluster lock = !%s\n[membership]\nhealth monitor = none\n[leadership]\nlease = 300\n' \
			"$CLUSTER_DIR/helper" >>"$(node_conf "$i")"
	done
	cluster_start
	wait_for 20 cluster_connected
	wait_for 20 grep -q "$2" "$(node_run 1)/node.log" "$(node_run 2)/node.log" "$(node_run 3)/node.log"
	sleep 1
	for i in 1 2 3; do no_leader_at "$i"; done
	check_traces
}

@test "leaderd: lock !COMMAND: a helper that prints garbage gives no leader" {
	helper_case 'echo x; exec sleep 1000' "printed garbage"
}

@test "leaderd: lock !COMMAND: a helper that hangs gives no leader and no hang" {
	helper_case 'exec sleep 1000' "gave no status in time"
	node_leaderctl 1 status
}

@test "leaderd: lock !COMMAND: a helper that exits gives no leader" {
	helper_case 'exit 0' "exited without a status"
}

@test "leaderd: culprit reports lead to a ban that lifts; counts decay" {
	ld_cluster 3 none '[leadership]\nban culprit count = 2\nrecovery grace period = 3\nrecovery ban period = 4\n'
	l=$(settled_leader 20)
	victim=$(others "$l" | head -1)
	vn=$((victim - 1))
	# Two reports, then the count decays.
	node_leaderctl "$victim" culprit "$vn" "test one"
	node_leaderctl "$victim" culprit "$vn" "test two"
	run -0 node_leaderctl "$l" --json status
	jq -e --argjson n "$vn" '[.culprits[] | select(.node == $n) | .count] == [2]' <<<"$output"
	sleep 4
	node_leaderctl "$victim" culprit "$vn" "test three"
	run -0 node_leaderctl "$l" --json status
	jq -e --argjson n "$vn" '[.culprits[] | select(.node == $n) | .count] == [1]' <<<"$output"
	node_memberctl 1 --json list | jq -e --argjson n "$vn" '.nodes[] | select(.node == $n) | .state | test("BANNED") | not'
	# Three in a row: banned; the ban lifts on its own.
	node_leaderctl "$l" culprit "$vn" "test four"
	node_leaderctl "$l" culprit "$vn" "test five"
	banned() { node_memberctl 1 --json list | jq -e --argjson n "$vn" '.nodes[] | select(.node == $n) | .state | test("BANNED")'; }
	not_banned() { ! banned; }
	wait_for 10 banned
	wait_for 20 not_banned
	check_traces
}

@test "leaderd: the leader never bans itself on its own report" {
	ld_cluster 3 none '[leadership]\nban culprit count = 0\n'
	l=$(settled_leader 20)
	node_leaderctl "$l" culprit $((l - 1)) "myself"
	sleep 1
	[ "$(one_leader)" = "$l" ]
	grep -q "not banning this node" "$(node_run "$l")/node.log"
}
