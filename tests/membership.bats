#!/usr/bin/env bats
# Membership on a loopback cluster (tests/cluster/lib.bash): admin flags set from one node for
# another and for all, seen in every view and kept across restarts; bans that lift on their
# own; changes refused for disconnected nodes; `start as`; nodes file reloads and refusals;
# graceful leave; a busy machine. Deadlines are generous and no test asserts a duration.
# After each test, the flap check (tests/cluster/flaps.bash) fails it on any flap that the
# test did not cause.
bats_require_minimum_version 1.5.0
load lib/common
load cluster/lib
load cluster/flaps
cli_leak_checks_off # its CLIs poll; LeakSanitizer stays on in the daemons

HOGS=()
FUSE_PID=
FUSE_MNT=

teardown() {
	local rc=0 p
	for p in "${HOGS[@]}"; do _kill_pid KILL "$p"; done
	# A killed FUSE server fails what waits on its mount (ENOTCONN) instead of hanging it.
	if [ -n "$FUSE_PID" ]; then
		_kill_pid KILL "$FUSE_PID"
		wait "$FUSE_PID" 2>/dev/null
		umount -l "$FUSE_MNT" 2>/dev/null
	fi
	cluster_flap_check || rc=1
	cluster_teardown || rc=1
	return $rc
}

# conf_set i KEY VALUE: a [membership] setting of node i (before its start).
conf_set() {
	sed -i "/^\[membership\]/a $2 = $3" "$(node_conf "$1")"
}

# create N: a loopback cluster whose nodes are healthy from the start (no svcd yet).
create() {
	local i
	cluster_create "$1"
	for ((i = 1; i <= $1; i++)); do conf_set "$i" "health monitor" none; done
}

start3() {
	create 3
	cluster_start
	wait_for 10 cluster_connected
}

# state i j: node j's state as node i sees it (e.g. DISABLED|BANNED).
# (polled: bash's matching on memberctl's one-line JSON, no jq)
state() {
	local out re
	node_re re "$(($2 - 1))" '"state":"([^"]*)"'
	out=$(node_memberctl "$1" -t 1000 --json list) && [[ $out =~ $re ]] && echo "${BASH_REMATCH[1]}"
}

# has i j FLAG: node i's view of node j has FLAG. lacks i j FLAG: it has not.
has() { [[ "|$(state "$1" "$2")|" == *"|$3|"* ]]; }
lacks() {
	local s
	s=$(state "$1" "$2") || return 1
	[[ "|$s|" != *"|$3|"* ]]
}

# everywhere CHECK j FLAG: CHECK (has or lacks) holds in the views of nodes 1..CLUSTER_N.
everywhere() {
	local i
	for ((i = 1; i <= CLUSTER_N; i++)); do
		"$1" "$i" "$2" "$3" || return 1
	done
}

# reason i j REASON: node i's view lists REASON in node j's health.
reason() {
	node_memberctl "$1" -t 1000 --json list |
		jq -e --argjson n "$(node_number "$2")" --arg r "$3" \
			'[.nodes[] | select(.node == $n) | .health | index($r)] | .[0] != null' >/dev/null
}
no_reason() { state "$1" "$2" >/dev/null && ! reason "$@"; }

# node_log_has i REGEX: node i's log (the supervisor's: memberd logs to stderr) matches.
node_log_has() { grep -qE "$2" "$(node_run "$1")/node.log"; }

new_memberd() {
	local pid
	pid=$(node_daemon_pid "$1") && [ "$pid" != "$2" ]
}

# restart_memberd i: kill node i's memberd; s6 starts a new one, which rejoins.
restart_memberd() {
	local pid
	pid=$(node_daemon_pid "$1")
	_kill_pid KILL "$pid"
	wait_for 10 new_memberd "$1" "$pid"
	wait_for 10 cluster_connected
}

# Each case: one admin change from node 1 for node 2, seen by all three nodes, then undone.

# disable and enable, from another node, seen by every node
disable_enable() {
	run -0 node_memberctl 1 -n 1 disable
	wait_for 10 everywhere has 2 DISABLED
	everywhere lacks 1 DISABLED
	everywhere lacks 3 DISABLED
	run -0 node_memberctl 3 -n 1 enable
	wait_for 10 everywhere lacks 2 DISABLED
}

# stop and continue, from another node, seen by every node
stop_continue() {
	run -0 node_memberctl 1 -n 1 stop
	wait_for 10 everywhere has 2 STOPPED
	everywhere lacks 1 STOPPED
	# Stopped is an admin state: the node stays connected.
	cluster_connected
	run -0 node_memberctl 2 continue
	wait_for 10 everywhere lacks 2 STOPPED
}

# ban and unban, from another node, seen by every node with the remainder
ban_unban() {
	run -0 node_memberctl 1 -n 1 ban 600
	wait_for 10 everywhere has 2 BANNED
	for i in 1 2 3; do
		run node_memberctl "$i" --json list
		jq -e '.nodes[] | select(.node == 1) | .ban_remaining_ms > 500000 and .ban_remaining_ms <= 600000' <<<"$output"
	done
	run -0 node_memberctl 3 -n 1 unban
	wait_for 10 everywhere lacks 2 BANNED
	run node_memberctl 1 --json list
	jq -e '.nodes[] | select(.node == 1) | .ban_remaining_ms == 0' <<<"$output"
}

# a health reason on and off, from another node, seen by every node
health_on_off() {
	run -0 node_memberctl 1 -n 1 health "test reason" on
	wait_for 10 everywhere has 2 UNHEALTHY
	for i in 1 2 3; do reason "$i" 2 "test reason"; done
	run -0 node_memberctl 2 health "other reason" on
	wait_for 10 reason 3 2 "other reason"
	# Each source clears only its own reason: the node stays unhealthy while one is left.
	run -0 node_memberctl 3 -n 1 health "test reason" off
	wait_for 10 no_reason 1 2 "test reason"
	everywhere has 2 UNHEALTHY
	run -0 node_memberctl 1 --json -n 1 health
	jq -e '.healthy == false and .reasons == ["other reason"]' <<<"$output"
	run -0 node_memberctl 2 health "other reason" off
	wait_for 10 everywhere lacks 2 UNHEALTHY
	run -0 node_memberctl 3 --json -n 1 health
	jq -e '.healthy and .reasons == []' <<<"$output"
}

# every flag for all nodes at once (-n all), seen by every node
all_flags() {
	run -0 node_memberctl 2 -n all disable
	run -0 node_memberctl 2 -n all stop
	run -0 node_memberctl 2 -n all ban 600
	run -0 node_memberctl 2 -n all health "all reason" on
	for j in 1 2 3; do
		wait_for 10 everywhere has "$j" DISABLED
		wait_for 10 everywhere has "$j" STOPPED
		wait_for 10 everywhere has "$j" BANNED
		wait_for 10 everywhere has "$j" UNHEALTHY
	done
	run -0 node_memberctl 3 -n all enable
	run -0 node_memberctl 3 -n all continue
	run -0 node_memberctl 3 -n all unban
	run -0 node_memberctl 3 -n all health "all reason" off
	for j in 1 2 3; do
		wait_for 10 everywhere lacks "$j" DISABLED
		wait_for 10 everywhere lacks "$j" STOPPED
		wait_for 10 everywhere lacks "$j" BANNED
		wait_for 10 everywhere lacks "$j" UNHEALTHY
	done
}

# The flag cases one after the other on one cluster: each ends with the flags it set
# cleared, where the next starts (a cluster costs more to start than a case to run).
@test "membership: disable, stop, ban, a health reason, each set and cleared from another node, and all at once (-n all): seen by every node" {
	start3
	disable_enable
	stop_continue
	ban_unban
	health_on_off
	all_flags
}

@test "membership: flags are kept after a memberd restart and after a node restart" {
	start3
	run -0 node_memberctl 1 -n 1 disable
	run -0 node_memberctl 1 -n 1 stop
	run -0 node_memberctl 1 -n 1 ban 600
	wait_for 10 everywhere has 2 BANNED
	old=$(node_memberctl 1 --json list | jq '.nodes[] | select(.node == 1) | .incarnation')

	restart_memberd 2
	# A new incarnation, the same flags, in every view.
	[ "$(node_memberctl 1 --json list | jq '.nodes[] | select(.node == 1) | .incarnation')" != "$old" ]
	for f in DISABLED STOPPED BANNED; do wait_for 10 everywhere has 2 "$f"; done
	run node_memberctl 3 --json list
	jq -e '.nodes[] | select(.node == 1) | .ban_remaining_ms > 500000' <<<"$output"

	cluster_stop 2
	wait_for 10 node_sees 1 2 disconnected
	cluster_start 2
	wait_for 10 cluster_connected
	for f in DISABLED STOPPED BANNED; do wait_for 10 everywhere has 2 "$f"; done
	run node_memberctl 1 --json list
	jq -e '.nodes[] | select(.node == 1) | .ban_remaining_ms > 500000' <<<"$output"

	# And cleared flags stay cleared across a restart too.
	run -0 node_memberctl 3 -n 1 enable
	run -0 node_memberctl 3 -n 1 continue
	run -0 node_memberctl 3 -n 1 unban
	wait_for 10 everywhere lacks 2 BANNED
	restart_memberd 2
	for f in DISABLED STOPPED BANNED; do everywhere lacks 2 "$f"; done
}

@test "membership: a health reason set by hand is kept after a memberd restart" {
	start3
	run -0 node_memberctl 1 -n 1 health "by hand" on
	wait_for 10 everywhere has 2 UNHEALTHY
	restart_memberd 2
	wait_for 10 everywhere has 2 UNHEALTHY
	for i in 1 2 3; do reason "$i" 2 "by hand"; done
}

@test "membership: unit tests of lib/fs: atomic files and the writer's thread (tests/unit/fs_test)" {
	local d
	d=$(mktemp -d)
	run "$TBIN/unit/fs_test" "$d"
	rm -rf "$d"
	echo "$output"
	[ "$status" -eq 0 ]
}

# state_file_has i LINE: node i's memberd.state holds LINE, read beside the FUSE mount (a
# read through it would wait as memberd would)
state_file_has() {
	grep -qxF "$2" "$CLUSTER_DIR/n$1/db.real/memberd.state"
}

@test "membership: a hung disk under memberd's state file stalls nothing: flags change everywhere, no flap, the file catches up (root, FUSE)" {
	[ "$(id -u)" = 0 ] || skip "needs root (a FUSE mount)"
	create 3
	# Node 2's database directory is a bindfs mount of another directory: with bindfs
	# stopped, every file operation there waits, as on a hung disk or NFS server.
	FUSE_MNT=$CLUSTER_DIR/n2/db
	mv "$FUSE_MNT" "$FUSE_MNT.real"
	mkdir "$FUSE_MNT"
	bindfs -f "$FUSE_MNT.real" "$FUSE_MNT" &
	FUSE_PID=$!
	wait_for 10 mountpoint -q "$FUSE_MNT"
	cluster_start
	wait_for 10 cluster_connected
	wait_for 10 state_file_has 2 "disabled = 0"
	kill -STOP "$FUSE_PID"
	run -0 node_memberctl 1 -n 1 disable
	wait_for 10 everywhere has 2 DISABLED
	run -0 node_memberctl 3 -n 1 health "disk test" on
	wait_for 10 everywhere has 2 UNHEALTHY
	# Well past the silence limit (450 ms): a memberd that waited on the disk is dropped.
	sleep 2
	cluster_connected
	run -0 node_memberctl 2 --json status
	jq -e '.stalls == 0' <<<"$output"
	! state_file_has 2 "disabled = 1" || false
	# The disk comes back: the newest state is written, durably, by the writer's thread.
	kill -CONT "$FUSE_PID"
	wait_for 10 state_file_has 2 "disabled = 1"
	wait_for 10 state_file_has 2 "health = disk test"
	cluster_connected
}

@test "membership: a ban lifts on its own, in every view" {
	start3
	# Long enough for one pass of the check over the three nodes to see it, on a loaded
	# machine under ASan (2 s was missed once, and 6 s once in CI with both cores busy).
	run -0 node_memberctl 1 -n 2 ban 12
	wait_for 10 everywhere has 3 BANNED
	wait_for 25 everywhere lacks 3 BANNED
	for i in 1 2 3; do
		run node_memberctl "$i" --json list
		jq -e '.nodes[] | select(.node == 2) | .ban_remaining_ms == 0' <<<"$output"
	done
	wait_for 10 node_log_has 3 'ban lifted'
}

@test "membership: a change for a disconnected node fails, saying it is disconnected" {
	start3
	cluster_kill 3
	wait_for 10 node_sees 1 3 disconnected
	for cmd in disable enable stop continue "ban 10" unban "health r on"; do
		# shellcheck disable=SC2086
		run node_memberctl 1 -n 2 $cmd
		echo "$cmd: $status: $output"
		[ "$status" -ne 0 ]
		[[ $output == *disconnected* ]]
	done
	# For all nodes: the connected ones change, the disconnected one is reported.
	run node_memberctl 1 -n all disable
	echo "$output"
	[ "$status" -ne 0 ]
	[[ $output == *disconnected* ]]
	# The others are still fine, and nothing was set on node 3 when it comes back.
	cluster_start 3
	wait_for 10 cluster_connected
	everywhere lacks 3 DISABLED
}

@test "membership: start as = disabled applies at the first start only" {
	create 3
	conf_set 2 "start as" disabled
	conf_set 3 "start as" stopped
	cluster_start
	wait_for 10 cluster_connected
	wait_for 10 everywhere has 2 DISABLED
	wait_for 10 everywhere has 3 STOPPED
	everywhere lacks 1 DISABLED
	everywhere lacks 2 STOPPED
	# Once enabled, a restart keeps what the admin said, not the configured start state.
	run -0 node_memberctl 1 -n 1 enable
	wait_for 10 everywhere lacks 2 DISABLED
	cluster_stop 2
	cluster_start 2
	wait_for 10 cluster_connected
	sleep 0.5
	everywhere lacks 2 DISABLED
}

@test "membership: reload adds a node: every node takes it, then it starts and joins" {
	create 4
	cp "$CLUSTER_DIR/nodes" "$CLUSTER_DIR/nodes.4"
	head -n 3 "$CLUSTER_DIR/nodes.4" >"$CLUSTER_DIR/nodes"
	cluster_start 1 2 3
	wait_for 10 cluster_connected 1 2 3
	run node_memberctl 1 --json list
	jq -e '.nodes | length == 3' <<<"$output"
	# The admin appends the line (the nodes file is shared by the test's nodes), reloads each.
	tail -n 1 "$CLUSTER_DIR/nodes.4" >>"$CLUSTER_DIR/nodes"
	for i in 1 2 3; do
		run -0 node_memberctl "$i" reload
		[[ $output == *"4 nodes"* ]]
	done
	for i in 1 2 3; do
		run node_memberctl "$i" --json list
		jq -e '.nodes | length == 4' <<<"$output"
		jq -e '.nodes[3].connected == false and .nodes[3].address == "127.0.0.14"' <<<"$output"
	done
	cluster_start 4
	wait_for 10 cluster_connected
	for i in 1 2 3 4; do
		run node_memberctl "$i" --json list
		jq -e '[.nodes[] | select(.connected)] | length == 4' <<<"$output"
	done
	# Nothing else was disturbed: nodes 1-3 kept their incarnations (no restart).
	grep -q 'reloaded' "$(node_run 1)/node.log"
}

@test "membership: reload deletes a node (#ADDR): it shows DELETED everywhere" {
	start3
	cluster_stop 3
	wait_for 10 node_sees 1 3 disconnected
	sed -i '3s/^/#/' "$CLUSTER_DIR/nodes"
	for i in 1 2; do
		run -0 node_memberctl "$i" reload
	done
	for i in 1 2; do
		run node_memberctl "$i" --json list
		echo "$output"
		jq -e '.nodes | length == 3' <<<"$output"
		jq -e '.nodes[2].state == "DELETED"' <<<"$output"
		jq -e '.nodes[0].connected and .nodes[1].connected' <<<"$output"
	done
	cluster_connected 1 2
	# A deleted node takes no admin change.
	run node_memberctl 1 -n 2 disable
	[ "$status" -ne 0 ]
	# A reload may not delete the node itself (memberctl already refuses the file).
	sed -i '1s/^/#/' "$CLUSTER_DIR/nodes"
	run node_memberctl 1 reload
	echo "$output"
	[ "$status" -ne 0 ]
	[[ $output == *"not in the nodes file"* ]]
	sed -i '1s/^#//' "$CLUSTER_DIR/nodes"
	run -0 node_memberctl 1 --json list
	jq -e '.nodes[2].state == "DELETED"' <<<"$output"
}

@test "membership: a node whose nodes file differs (an entry changed) is refused, both sides log it" {
	create 3
	# Node 3's list has another first entry: nodes 2 and 3 can talk, and must refuse.
	sed '1s/.*/127.0.0.99/' "$CLUSTER_DIR/nodes" >"$CLUSTER_DIR/nodes.3"
	sed -i "s|^nodes file = .*|nodes file = $CLUSTER_DIR/nodes.3|" "$(node_conf 3)"
	cluster_start
	wait_for 10 cluster_connected 1 2
	wait_for 10 node_log_has 2 'refusing node 2 .*nodes file'
	wait_for 10 node_log_has 3 'refusing node 1 .*nodes file'
	sleep 1
	for i in 1 2; do node_sees "$i" 3 disconnected; done
	for j in 1 2; do node_sees 3 "$j" disconnected; done
	run ! grep -E 'node 2 \(127.0.0.13\) connected' "$(node_run 1)/node.log" "$(node_run 2)/node.log"
}

@test "membership: a node whose nodes file has two entries swapped is never connected" {
	create 3
	# Node 3's list: the first two entries swapped. It numbers the others differently.
	sed -n '2p;1p;3p' "$CLUSTER_DIR/nodes" | awk 'NR == 1 { a = $0; next } { print } NR == 2 { print a }' \
		>"$CLUSTER_DIR/nodes.3"
	[ "$(sed -n 1p "$CLUSTER_DIR/nodes.3")" = 127.0.0.12 ]
	sed -i "s|^nodes file = .*|nodes file = $CLUSTER_DIR/nodes.3|" "$(node_conf 3)"
	cluster_start
	wait_for 10 cluster_connected 1 2
	sleep 2
	for i in 1 2; do node_sees "$i" 3 disconnected; done
	for j in 1 2; do node_sees 3 "$j" disconnected; done
	run ! grep -E 'node 2 \(127.0.0.13\) connected' "$(node_run 1)/node.log" "$(node_run 2)/node.log"
	run ! grep -E 'node [01] \(127.0.0.1[12]\) connected' "$(node_run 3)/node.log"
}

@test "membership: a swapped nodes file is logged on both sides" {
	create 3
	sed -n '2p;1p;3p' "$CLUSTER_DIR/nodes" | awk 'NR == 1 { a = $0; next } { print } NR == 2 { print a }' \
		>"$CLUSTER_DIR/nodes.3"
	sed -i "s|^nodes file = .*|nodes file = $CLUSTER_DIR/nodes.3|" "$(node_conf 3)"
	cluster_start
	wait_for 10 node_log_has 1 'nodes file'
	wait_for 10 node_log_has 3 'nodes file'
}

@test "membership: shoal node stop is a graceful leave, seen as DISCONNECTED by the peers" {
	start3
	run -0 node_shoal 3 node stop
	wait_for 10 node_sees 1 3 disconnected
	wait_for 10 node_sees 2 3 disconnected
	# Told, not timed out: the peers' logs give the reason.
	node_log_has 1 'node 2 \(127.0.0.13\) disconnected: it is stopping'
	node_log_has 2 'node 2 \(127.0.0.13\) disconnected: it is stopping'
	run ! node_log_has 1 'node 2 \(127.0.0.13\) disconnected: silent'
	cluster_start 3
	wait_for 10 cluster_connected
}

# hogs N: N busy loops, by pid in HOGS (teardown kills them).
hogs() {
	local k
	for ((k = 0; k < $1; k++)); do
		sh -c 'while :; do :; done' &
		HOGS+=($!)
	done
}

busy_machine() {
	local cpus
	cpus=$(nproc)
	((cpus >= 2)) || cpus=2
	hogs "$cpus"
	# 10 s of a busy machine, looking at the views all along. Bounded by the clock: under
	# the hogs each look takes seconds, and a count of looks made this 50 s, slowing every
	# suite that runs beside it.
	local end=$((SECONDS + 10))
	while ((SECONDS < end)); do
		sleep 0.5
		cluster_connected
	done
	for p in "${HOGS[@]}"; do _kill_pid KILL "$p"; done
	HOGS=()
	cluster_connected
	for i in 1 2 3; do
		run node_memberctl "$i" --json status
		echo "node $i: stalls $(jq .stalls <<<"$output"), flaps $(jq -c '[.nodes[].flaps]' <<<"$output")"
		jq -e '[.nodes[].flaps] | add == 0' <<<"$output"
		run node_memberctl "$i" --json stats
		jq -e '.flaps == 0' <<<"$output"
	done
}

@test "membership: a busy machine (CPU hogs on every core) causes no flap" {
	start3
	busy_machine
}

@test "membership: a busy machine causes no flap without realtime scheduling either" {
	create 3
	for i in 1 2 3; do conf_set "$i" "realtime scheduling" no; done
	cluster_start
	wait_for 10 cluster_connected
	busy_machine
}
