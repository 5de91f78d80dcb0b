#!/usr/bin/env bats
# Loopback clusters: real nodes (shoal node start: s6-svscan, s6-supervise, memberd) on
# 127.0.0.11.. of this machine. See tests/cluster/lib.bash for the harness. Deadlines are
# generous and no test asserts a duration.
bats_require_minimum_version 1.5.0
load lib/common
load cluster/lib

teardown() {
	cluster_teardown
}

# incarnation i j: node j's incarnation in node i's view.
# (Not a pipe: jq 1.6 -e succeeds on empty input.)
incarnation() {
	local out
	out=$(node_memberctl "$1" --json list) || return 1
	jq -e --argjson n "$(node_number "$2")" '.nodes[] | select(.node == $n) | .incarnation' <<<"$out"
}

# new_memberd i OLDPID: node i's memberd runs again, with another pid.
new_memberd() {
	local pid
	pid=$(node_daemon_pid "$1") && [ "$pid" != "$2" ]
}

@test "cluster: three nodes form a cluster, each sees all connected" {
	cluster_create 3
	cluster_start
	wait_for 10 cluster_connected
	# Not `i`: bats 1.8's `run -N` sets a global i.
	for node in 1 2 3; do
		run -0 node_memberctl "$node" --json list
		[ "$(jq '[.nodes[] | select(.connected and (.state | test("DISCONNECTED") | not))] | length' <<<"$output")" -eq 3 ]
		[ "$(jq '[.nodes[] | select(.this_node)] | .[0].node' <<<"$output")" -eq "$(node_number "$node")" ]
	done
}

@test "cluster: memberctl --json status gives the view, this node and the nodes" {
	cluster_create 3
	cluster_start
	wait_for 10 cluster_connected
	run -0 node_memberctl 2 --json status
	echo "$output"
	jq -e '.view >= 1' <<<"$output"
	jq -e '.this_node == 1' <<<"$output"
	jq -e '.incarnation > 0' <<<"$output"
	jq -e '.keepalive_interval_ms == 100 and .keepalive_limit == 5' <<<"$output"
	jq -e '[.nodes[].address] == ["127.0.0.11", "127.0.0.12", "127.0.0.13"]' <<<"$output"
	jq -e '[.nodes[] | select(.this_node) | .incarnation] == [.incarnation]' <<<"$output"
}

@test "cluster: a killed node is seen DISCONNECTED, restarts and rejoins" {
	cluster_create 3
	cluster_start
	wait_for 10 cluster_connected
	old=$(incarnation 1 2)
	cluster_kill 2
	wait_for 10 node_sees 1 2 disconnected
	wait_for 10 node_sees 3 2 disconnected
	run -0 node_memberctl 1 --json list
	jq -e '.nodes[] | select(.node == 1) | .state | split("|") | index("DISCONNECTED")' <<<"$output"
	run -0 node_shoal 2 node status --json
	jq -e '.running == false' <<<"$output"
	# The killed tree left its scan directory behind; start copes with it.
	cluster_start 2
	wait_for 10 cluster_connected
	new=$(incarnation 1 2)
	[ -n "$new" ] && [ "$new" != "$old" ]
}

@test "cluster: a frozen node is seen DISCONNECTED, and rejoins once thawed" {
	cluster_create 3
	cluster_start
	wait_for 10 cluster_connected
	cluster_freeze 3
	wait_for 10 node_sees 1 3 disconnected
	wait_for 10 node_sees 2 3 disconnected
	node_sees 1 2 connected
	cluster_thaw 3
	wait_for 10 cluster_connected
}

@test "cluster: s6 restarts a killed memberd; peers see a new incarnation" {
	cluster_create 2
	cluster_start
	wait_for 10 cluster_connected
	pid=$(node_daemon_pid 1)
	old=$(incarnation 2 1)
	_kill_pid KILL "$pid"
	wait_for 10 new_memberd 1 "$pid"
	wait_for 10 cluster_connected
	wait_for 10 eval 'new=$(incarnation 2 1) && [ "$new" != "$old" ]'
	run -0 node_shoal 1 node status --json
	jq -e '.services[] | select(.name == "memberd") | .up and .ready and (.permanently_failed | not)' <<<"$output"
	[ ! -e "$(node_run 1)/failed/memberd" ]
}

@test "cluster: a memberd that keeps dying is left down and reported" {
	CLUSTER_PERMAFAIL_COUNT=3 CLUSTER_PERMAFAIL_SECONDS=60 cluster_create 2
	cluster_start
	wait_for 10 cluster_connected
	failed=$(node_run 1)/failed/memberd
	# Kill memberd as soon as it is up, until s6 gives up on it.
	for k in 1 2 3; do
		pid=$(node_daemon_pid 1)
		_kill_pid KILL "$pid"
		[ "$k" -eq 3 ] || wait_for 10 new_memberd 1 "$pid"
	done
	wait_for 10 test -e "$failed"
	cat "$failed"
	grep -qx 'service=memberd' "$failed"
	grep -qx 'signal=KILL' "$failed"
	grep -q '^time=' "$failed"
	run -0 node_shoal 1 node status --json
	echo "$output"
	jq -e '.running' <<<"$output"
	jq -e '.services[] | select(.name == "memberd") | .state == "failed" and .permanently_failed and (.up | not)' <<<"$output"
	run -0 node_shoal 1 node status
	[[ $output == *"memberd"*"failed permanently"* ]]
	# It stays down, and the peer sees the node go.
	sleep 1
	run node_daemon_pid 1
	[ "$status" -ne 0 ]
	wait_for 10 node_sees 2 1 disconnected
	# A new start clears the verdict.
	cluster_stop 1
	cluster_start 1
	[ ! -e "$failed" ]
	wait_for 10 cluster_connected
}

@test "cluster: shoal node stop leaves no process behind" {
	cluster_create 2
	cluster_start
	wait_for 10 cluster_connected
	pids=$( (node_tree_pids 1; node_tree_pids 2) | sort -u)
	[ "$(wc -w <<<"$pids")" -ge 6 ] # per node: s6-svscan, s6-supervise, memberd
	run -0 node_shoal 1 node stop
	[[ $output == *"stopped"* ]]
	run -0 node_shoal 2 node stop
	for p in $pids; do
		if [ -e "/proc/$p" ] && ! grep -q '^State:.*Z' "/proc/$p/status"; then
			echo "pid $p still runs: $(cat "/proc/$p/cmdline" | tr '\0' ' ')"
			false
		fi
	done
	for node in 1 2; do
		[ ! -e "$(node_run "$node")/scan" ]
		[ ! -e "$(node_run "$node")/svscan.pid" ]
		run -0 node_shoal "$node" node status
		[[ $output == *"not running"* ]]
	done
}

@test "cluster: starting a running node is an error naming its pid" {
	cluster_create 1
	cluster_start
	svscan=$(node_tree_pids 1 | head -n 1)
	run -100 node_shoal 1 node start
	[[ $output == *"already running"*"pid $svscan"* ]]
	run -0 node_shoal 1 node status --json
	jq -e --argjson p "$svscan" '.running and .pid == $p' <<<"$output"
}

@test "cluster: stopping a node that is not running is fine" {
	cluster_create 1
	run -0 node_shoal 1 node stop
	[[ $output == *"not running"* ]]
	cluster_start
	run -0 node_shoal 1 node stop
	run -0 node_shoal 1 node stop
	[[ $output == *"not running"* ]]
}

@test "cluster: start refuses a bad configuration and starts nothing" {
	cluster_create 1
	chmod 644 "$CLUSTER_DIR/key"
	run -100 node_shoal 1 node start
	[[ $output == *"key"* ]]
	[ ! -e "$(node_run 1)/svscan.pid" ]
	chmod 600 "$CLUSTER_DIR/key"
	cluster_start
}
