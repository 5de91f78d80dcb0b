#!/usr/bin/env bats
# Namespace clusters (root only): each node in its own network namespace, linked through a
# bridge (tests/cluster/netns.bash). Crashes, freezes, silent link cuts, partitions and a
# one-way cut, each seen as such by every side, then healed. As root these tests always run
# (CI runs as root); otherwise they are skipped, saying so. Deadlines are generous and no
# test asserts a duration. After each test the harness fails it on any flap that the test
# did not cause, and removes every namespace.
bats_require_minimum_version 1.5.0
load lib/common
load cluster/netns
cli_leak_checks_off # its CLIs poll; LeakSanitizer stays on in the daemons

setup() {
	require_root
}

teardown() {
	ns_teardown
}

incarnation() {
	node_memberctl "$1" --json list | jq -e --argjson n "$(node_number "$2")" '.nodes[] | select(.node == $n) | .incarnation'
}

# sees_only i j...: node i's view has exactly nodes j... (in order) connected, itself
# included. Polled: no jq.
sees_only() {
	local i=$1 j want=() out
	shift
	for j in "$@"; do want+=($((j - 1))); done
	out=$(node_memberctl "$i" -t 1000 --json list) || return 1
	[ "$(_connected_in "$out")" = "${want[*]}" ]
}

# The state as seen from each node, for the logs of a failing test.
show_views() {
	local i
	for ((i = 1; i <= CLUSTER_N; i++)); do
		echo "node $i: $(node_memberctl "$i" -t 1000 --json list | jq -c '[.nodes[] | "\(.node):\(.state)"]')"
	done
}

start3() {
	ns_cluster_create 3
	ns_cluster_start
	wait_for 10 cluster_connected
}

@test "netns: three nodes in their own namespaces form a cluster over the bridge" {
	start3
	run node_memberctl 1 --json status
	[ "$status" -eq 0 ]
	jq -e --arg a "$(node_addr 1)" '[.nodes[] | select(.this_node) | .address] == [$a]' <<<"$output"
	jq -e '[.nodes[] | select(.connected)] | length == 3' <<<"$output"
	# Each node's memberd runs in its own namespace, listening on its cluster address.
	pid=$(node_daemon_pid 2)
	[ "$(readlink "/proc/$pid/ns/net")" = "$(ip netns exec "$(ns_name 2)" readlink /proc/self/ns/net)" ]
	[ "$(readlink "/proc/$pid/ns/net")" != "$(readlink /proc/self/ns/net)" ]
}

@test "netns: the client reaches an address on a node's public interface" {
	ns_cluster_create 2
	addr=$(ns_public_net).100
	ip -n "$(ns_name 2)" addr add "$addr/24" dev eth1
	# A closed port answers with a refusal (exit 1) when the path works; a timeout is 124.
	run ns_client_exec timeout 3 bash -c "exec 3<>/dev/tcp/$addr/9"
	[ "$status" -eq 1 ]
	ip -n "$(ns_name 2)" addr del "$addr/24" dev eth1
	run ns_client_exec timeout 3 bash -c "exec 3<>/dev/tcp/$addr/9"
	[ "$status" -ne 0 ]
}

@test "netns: a crashed node is seen DISCONNECTED by the others, and rejoins after restart" {
	start3
	old=$(incarnation 1 2)
	ns_kill 2
	wait_for 10 node_sees 1 2 disconnected
	wait_for 10 node_sees 3 2 disconnected
	node_sees 1 3 connected
	node_sees 3 1 connected
	run node_memberctl 3 --json list
	jq -e '.nodes[] | select(.node == 1) | .state | split("|") | index("DISCONNECTED")' <<<"$output"
	ns_cluster_start 2
	wait_for 10 cluster_connected
	[ "$(incarnation 1 2)" != "$old" ]
	[ "$(incarnation 3 2)" != "$old" ]
}

@test "netns: a frozen node is seen DISCONNECTED by the others, and rejoins once thawed" {
	start3
	old=$(incarnation 1 3)
	ns_freeze 3
	wait_for 10 node_sees 1 3 disconnected
	wait_for 10 node_sees 2 3 disconnected
	node_sees 1 2 connected
	ns_thaw 3
	wait_for 10 cluster_connected
	# The same process: same incarnation. Its own memberd saw its stall, not the peers'.
	[ "$(incarnation 1 3)" = "$old" ]
	run node_memberctl 3 --json status
	jq -e '.stalls >= 1' <<<"$output"
	jq -e '[.nodes[].flaps] | add == 0' <<<"$output"
}

@test "netns: a silent link cut is seen by both sides, and healed when the link is back" {
	start3
	ns_cut 2
	# Carrier stays up on the node's side: this is silence, not a link-down event.
	ip -n "$(ns_name 2)" link show eth0 | grep -q 'state UP'
	wait_for 10 node_sees 1 2 disconnected
	wait_for 10 node_sees 3 2 disconnected
	wait_for 10 sees_only 2 2
	sees_only 1 1 3
	sees_only 3 1 3
	ns_restore 2
	# TCP retransmits with backoff after a cut: be generous.
	wait_for 30 cluster_connected
}

@test "netns: a 2+1 partition is seen as such on each side, and heals" {
	start3
	ns_partition "1 2" "3"
	wait_for 10 sees_only 1 1 2
	wait_for 10 sees_only 2 1 2
	wait_for 10 sees_only 3 3
	sleep 1
	show_views
	sees_only 1 1 2
	sees_only 2 1 2
	sees_only 3 3
	ns_heal
	wait_for 30 cluster_connected
}

@test "netns: a 1+1+1 partition leaves each node alone, and heals" {
	start3
	ns_partition "1" "2" "3"
	wait_for 10 sees_only 1 1
	wait_for 10 sees_only 2 2
	wait_for 10 sees_only 3 3
	ns_heal
	wait_for 30 cluster_connected
}

# Node 3 drops everything that comes in; what it sends still goes out. memberd's links are
# TCP, so node 3's heartbeats stop reaching the others too as soon as the segments that TCP
# sends without acknowledgement are gone: node 3 sees both others disconnected, nodes 1 and
# 2 see node 3 disconnected and each other connected. A one-way cut is a full cut of node 3,
# seen the same by all, and it stays that way (no node comes and goes).
@test "netns: a one-way cut (node 3 drops input) isolates node 3 on every side" {
	start3
	ns_cut_oneway 3
	wait_for 10 sees_only 3 3
	wait_for 10 sees_only 1 1 2
	wait_for 10 sees_only 2 1 2
	for k in 1 2 3 4; do
		sleep 0.5
		show_views
		sees_only 3 3
		sees_only 1 1 2
		sees_only 2 1 2
	done
	ns_heal
	wait_for 30 cluster_connected
}
