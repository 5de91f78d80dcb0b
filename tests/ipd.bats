#!/usr/bin/env bats
# ipd and ipctl on namespace clusters (root only): 3 nodes, 6 public addresses on each node's
# eth1, a test server per node answering with its node number, and a client namespace that
# connects to the addresses. Every address is held exactly once and answers; crashes,
# freezes and power-offs move addresses to the survivors; ipctl move, reload, add, delete,
# hosts; drift repaired; a restarted ipd adopts; shutdown failover; bad input; updateip on a
# changed interface; the deterministic and non-deterministic algorithms against ipalloc;
# disable ip failover and no ip takeover; a 2+2 partition (leaderd's partitioned reason
# fences the half without the leader). Deadlines are
# generous and no test asserts a duration (tests/bench/failover.sh measures them).
bats_require_minimum_version 1.5.0
load lib/common
load cluster/netns
cli_leak_checks_off # its CLIs poll; LeakSanitizer stays on in the daemons

# leaderd's service directory waits in contrib/leaderd.svc: run a copy of svc/ with it.
setup_file() {
	local d=$BATS_FILE_TMPDIR/svc
	mkdir -p "$d"
	cp -a "$SHOAL_TOP/svc/." "$d/"
	if [ ! -d "$d/leaderd" ]; then
		mkdir "$d/leaderd"
		cp -a "$SHOAL_TOP/contrib/leaderd.svc/run" "$SHOAL_TOP/contrib/leaderd.svc/finish" \
			"$SHOAL_TOP/contrib/leaderd.svc/notification-fd" \
			"$SHOAL_TOP/contrib/leaderd.svc/timeout-finish" "$d/leaderd/"
	fi
	export SHOAL_SVC_DIR=$d
}

setup() {
	require_root
	export SHOAL_SVC_DIR=$BATS_FILE_TMPDIR/svc
}

teardown() {
	local f p i
	for f in "$CLUSTER_DIR"/n*/run/node.log; do
		[ -e "$f" ] && grep -H "ipd: \(died\|fatal\)" "$f" >&2
	done
	# For the log of a failing test: what each node holds and thinks, and what its ipd did
	# (the harness shows only the last lines of a node's log, mostly other daemons').
	for ((i = 1; i <= NS_N; i++)); do
		echo "--- node $i: $(ip -n "$(ns_name "$i")" -br addr show dev eth1 2>/dev/null)" >&2
		node_ipctl "$i" -t 1000 status >&2 2>&1
		ns_exec "$i" "$BIN/memberctl" -c "$(node_conf "$i")" -t 1000 list >&2 2>&1
		if [ -z "${BATS_TEST_COMPLETED:-}" ] && [ -e "$(node_run "$i")/node.log" ]; then
			echo "--- node $i: ipd's log (last 80 lines)" >&2
			grep " ipd" "$(node_run "$i")/node.log" | tail -n 80 >&2
		fi
	done
	# The test servers are ours, not the nodes': stop them first, by pid.
	for p in "${SERVERS[@]}"; do
		_kill_pid KILL "$p"
	done
	for p in "${SERVERS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	ns_teardown
	rm -f "$(lock_file)"
}

PORT=8000
SUFFIXES="101 102 103 104 105 106"

addrs() { local s; for s in $SUFFIXES; do echo "10.98.$NS_R.$s"; done; }
pa_file() { echo "$CLUSTER_DIR/n$1/public_addresses"; }

# ip_cluster N [EXTRA-IP-CONF]: N nodes, each listing the 6 addresses on eth1, a test server
# in each node's namespace; started, connected, with a leader. The lease is IP_LEASE ms
# (1000): these tests look at ipd, and under CI's load (both cores busy throughout) leaderd's
# renewals fell behind a 300 ms lease and the leader changed mid-test; leaderd.bats tests
# leases at shoal's 300.
ip_cluster() {
	local n=$1 extra=${2:-} i a
	ns_cluster_create "$n"
	for ((i = 1; i <= n; i++)); do
		for a in $(addrs); do echo "$a/24 eth1"; done >"$(pa_file "$i")"
		printf '[leadership]\nlease = %s\n[ip]\npublic addresses = %s\n%b' "${IP_LEASE:-1000}" \
			"$(pa_file "$i")" "$extra" >>"$(node_conf "$i")"
	done
	SERVERS=()
	for ((i = 1; i <= n; i++)); do
		# ip netns exec execs the server: $! is its pid
		ip netns exec "$(ns_name "$i")" "$TBIN/tools/ipserve" $PORT "node$(node_number "$i")" 3>&- &
		SERVERS+=($!)
	done
	ns_cluster_start
	wait_for 20 cluster_connected
}

node_ipctl() {
	local i=$1
	shift
	ns_exec "$i" "$BIN/ipctl" -c "$CLUSTER_DIR/n$i/shoal.conf" "$@"
}

# The checks below are polled by wait_for many times a second, so each costs a process or
# two, not a few per address and node: nsaddrs lists every node's addresses, ipask asks
# every address.

# held_table [i...]: "i ADDR" for every address on any interface of node i (default every
# node).
held_table() {
	local i nodes=("$@") args=()
	((${#nodes[@]})) || for ((i = 1; i <= NS_N; i++)); do nodes+=("$i"); done
	for i in "${nodes[@]}"; do args+=("$i=${NS_PFX}n$i"); done
	"$TBIN/tools/nsaddrs" "${args[@]}"
}

# holds i ADDR: node i has ADDR on an interface.
holds() { held_table "$1" | awk -v a="$2" '$2 == a { f = 1 } END { exit !f }'; }

# holders ADDR [i...]: the nodes (harness numbers) among i... (default all) that hold ADDR.
holders() {
	local a=$1
	shift
	held_table "$@" | awk -v a="$a" '$2 == a { print $1 }'
}

# held_once [i...]: every address is held by exactly one of the nodes i... (default all).
held_once() {
	held_table "$@" | awk -v want="$(addrs)" '
		{ n[$2]++ }
		END { c = split(want, w, "\n"); for (k = 1; k <= c; k++) if (n[w[k]] != 1) exit 1 }'
}

# crash i: the node's tree is SIGKILLed and, as when a machine dies, its kernel state goes
# with it: its public addresses are flushed.
crash() {
	ns_kill "$1"
	ip -n "$(ns_name "$1")" addr flush dev eth1 scope global
}

# ask ADDR: what the server behind ADDR answers, from the client namespace.
ask() {
	ns_client_exec "$TBIN/tools/ipask" "$PORT" "$1" | awk '$2 != "-" { print $2; f = 1 } END { exit !f }'
}

# all_answer [i...]: every address answers, from the one node that holds it, one of i...
all_answer() {
	local table answers
	table=$(held_table "$@")
	answers=$(ns_client_exec "$TBIN/tools/ipask" "$PORT" $(addrs)) || return 1
	awk 'NR == FNR { if ($2 in h) h[$2] = "twice"; else h[$2] = $1; next }
		{ want = ($1 in h) && h[$1] != "twice" ? "node" (h[$1] - 1) : "one holder"; if ($2 != want) bad = 1 }
		END { exit bad }' <(echo "$table") <(echo "$answers")
}

# count_on i: how many of the addresses node i holds.
count_on() { held_table "$1" | awk -v want="$(addrs)" 'BEGIN { split(want, w, "\n"); for (k in w) a[w[k]] } $2 in a { n++ } END { print n + 0 }'; }

# balanced N i...: each of the nodes i... holds N addresses.
balanced() {
	local want=$1 i
	shift
	for i in "$@"; do [ "$(count_on "$i")" = "$want" ] || return 1; done
}

leader_of() {
	local out
	local l
	out=$(node_ipctl "$1" --json status) || return 1
	json_is "$out" has_leader true && json_get l "$out" leader && echo "$l"
}

# leader_node [i]: the leader's harness number as node i (1) knows it, waited for up to 10 s:
# a node that was just thawed, cut off or restarted may still be learning it.
leader_node() {
	local l end=$((SECONDS + 10))
	until l=$(leader_of "${1:-1}"); do
		((SECONDS < end)) || { echo "leader_node: node ${1:-1} knows no leader" >&2; return 1; }
		sleep 0.1
	done
	echo $((l + 1))
}

others() { local x=$1 i; for ((i = 1; i <= NS_N; i++)); do ((i == x)) || echo "$i"; done; }

settled() { held_once "$@" && all_answer "$@"; }

# For wait_for, which runs its command again each time (a $(...) in its arguments would be
# evaluated once):
holds_none() { [ "$(count_on "$1")" = 0 ]; }       # holds_none i
held_by() { [ "$(holders "$1")" = "$2" ]; }        # held_by ADDR i ("": nobody)
ipd_restarted() { local p; p=$(node_daemon_pid "$1" ipd) && [ "$p" != "$2" ]; }
# svcd_seen_up i: node i's memberd has its own svcd up (what ipd goes by for its events).
svcd_seen_up() {
	local out re
	node_re re "$(($1 - 1))" '"daemons":\{[^}]*"svcd":"up"'
	out=$(node_memberctl "$1" -t 1000 --json list) && [[ $out =~ $re ]]
}
fenced_for() { node_ipctl "$1" -t 1000 --json status | jq -e --arg w "$2" '.fenced | test($w)' >/dev/null; }

# owners: "ADDR NODE" per address held by exactly one node (NODE in memberctl's numbering),
# sorted; an address held by nobody is "ADDR -1".
owners() {
	local a h
	for a in $(addrs); do
		h=$(holders "$a")
		[ "$(wc -w <<<"$h")" -le 1 ] || return 1
		echo "$a $([ -n "$h" ] && node_number "$h" || echo -1)"
	done | sort
}

# ipalloc_says ARGS... < CASE: the owners the allocation driver computes, sorted.
ipalloc_says() { "$BIN/ipalloc" "$@" | sort; }

# restart_ipd i...: ipd of each node SIGKILLed; back (the supervisor restarts it, and it
# reads its configuration again) and answering.
restart_ipd() {
	local i pid
	for i in "$@"; do
		pid=$(node_daemon_pid "$i" ipd)
		kill -KILL "$pid"
		wait_for 10 ipd_restarted "$i" "$pid"
		wait_for 10 node_ipctl "$i" -t 1000 status
	done
}

# set_conf KEY VALUE: on every node, in [ip] (the last section of each node's file).
set_conf() {
	local i f
	for ((i = 1; i <= NS_N; i++)); do
		f=$(node_conf "$i")
		sed -i "/^$1 = /d" "$f"
		echo "$1 = $2" >>"$f"
	done
}

@test "ipd: unit tests of public_addresses (tests/unit/pubaddr_test)" {
	run "$TBIN/unit/pubaddr_test"
	echo "$output"
	[ "$status" -eq 0 ]
}

# every address is held exactly once and answers from its holder; ipctl and shoal status show it
held_once_everywhere() {
	balanced 2 1 2 3
	run -0 node_ipctl 2 --json status
	jq -e '.addresses | length == 6' <<<"$output"
	jq -e '[.addresses[] | select(.held)] | length == 2' <<<"$output"
	jq -e '.interfaces == [{"name":"eth1","exists":true,"up":true}] and .hosts == [0,1,2]' <<<"$output"
	# Every node agrees on the owners, and the owners are the holders.
	for a in $(addrs); do
		h=$(holders "$a")
		for i in 1 2 3; do
			node_ipctl "$i" --json status |
				jq -e --arg a "$a" --argjson o "$(node_number "$h")" '.addresses[] | select(.address == $a) | .owner == $o'
		done
	done
	run -0 node_ipctl 1 -n all list
	[ "$(grep -c "^$(ns_public_net)" <<<"$output")" = 18 ]
	run -0 node_ipctl 1 status
	[[ "$output" == *"eth1             up"* ]]
	run -0 ns_exec 1 "$BIN/shoal" -c "$(node_conf 1)" status
	[[ "$output" == *"$(ns_public_net).101"* ]]
}

# ipctl move moves one address; an unknown node or address is refused
move_one() {
	a=$(ns_public_net).101
	h=$(holders "$a")
	to=$(others "$h" | head -1)
	run -0 node_ipctl 2 move "$a" "$(node_number "$to")"
	wait_for 10 held_by "$a" "$to"
	wait_for 10 settled
	[ "$(ask "$a")" = "node$(node_number "$to")" ]
	run -100 node_ipctl 2 move "$a" 7
	run -100 node_ipctl 2 move not-an-address 1
}

# an address removed by hand is put back
put_back() {
	a=$(ns_public_net).102
	h=$(holders "$a")
	ip -n "$(ns_name "$h")" addr del "$a/24" dev eth1
	wait_for 10 holds "$h" "$a"
	wait_for 10 settled
}

# a restarted ipd adopts the addresses its interfaces hold
adopt() {
	before=$(for i in 1 2 3; do echo "$i: $(count_on "$i")"; done)
	pid=$(node_daemon_pid 2 ipd)
	lines=$(wc -l <"$(node_run 2)/node.log")
	kill -KILL "$pid"
	wait_for 10 ipd_restarted 2 "$pid"
	wait_for 10 node_ipctl 2 status
	wait_for 5 grep -q "adopting 2 public addresses" "$(node_run 2)/node.log"
	sleep 1
	[ "$before" = "$(for i in 1 2 3; do echo "$i: $(count_on "$i")"; done)" ]
	settled
	# Nothing was released on node 2 since the kill.
	! tail -n +"$((lines + 1))" "$(node_run 2)/node.log" | grep "ipd.*released"
}

# ipctl add and delete change one node's list
add_delete() {
	a=$(ns_public_net).110
	run -0 node_ipctl 3 add "$a/24" eth1
	wait_for 10 holds 3 "$a"
	[ "$(ask "$a")" = node2 ]
	run -100 node_ipctl 3 add "$a/24" eth1
	[[ "$output" == *"already listed"* ]]
	run -100 node_ipctl 3 add "$(ns_public_net).111/24" eth9
	[[ "$output" == *"interface eth9 does not exist"* ]]
	run -0 node_ipctl 3 delete "$a"
	wait_for 10 held_by "$a" ""
	run -100 node_ipctl 3 delete "$a"
	settled
}

# bad public_addresses are refused with the line and the reason; nothing moves
bad_lists() {
	before=$(for a in $(addrs); do holders "$a"; done)
	f=$(pa_file 2)
	cp "$f" "$f.good"
	for bad in "10.1.2.3 eth1|no prefix" "$(ns_public_net).101/24 eth1|listed twice" \
		"10.1.2.300/24 eth1|IPv4 or IPv6 address" "10.1.2.3/24 eth9|interface eth9 does not exist" \
		"10.1.2.3/40 eth1|from 1 to 32"; do
		{ cat "$f.good"; echo "${bad%%|*}"; } >"$f"
		run -100 node_ipctl 2 reload
		echo "$output"
		[[ "$output" == *"public_addresses:7: "*"${bad#*|}"* ]]
	done
	cp "$f.good" "$f"
	sleep 1
	[ "$before" = "$(for a in $(addrs); do holders "$a"; done)" ]
	settled
}

# shoal node stop hands the node's addresses over before the tree stops
node_stop() {
	run -0 ns_exec 2 "$BIN/shoal" -c "$(node_conf 2)" node stop
	[[ "$output" == *"shutdown failover: addresses handed over in "* ]]
	# At once, not after a detection delay: the others hold everything.
	held_once 1 3
	wait_for 10 all_answer 1 3
}

# The admin's commands and changes one after the other on one cluster, each where the one
# before left it (a cluster costs more to build than a case to run).
@test "ipd: one holder per address, shown by ipctl and shoal status; a restarted ipd adopts; an address removed by hand put back; ipctl move, add, delete; bad public_addresses refused; shoal node stop hands over" {
	cli_leak_checks_on
	ip_cluster 3
	wait_for 20 settled
	held_once_everywhere
	adopt
	put_back
	move_one
	add_delete
	bad_lists
	node_stop
}

# a crashed non-leader's, then the leader's, addresses move to the survivors; back, each
# gets its share
crash_each() {
	l=$(leader_node)
	for v in $(others "$l" | head -1) "$l"; do
		crash "$v"
		survivors=($(others "$v"))
		wait_for 20 settled "${survivors[@]}"
		balanced 3 "${survivors[@]}"
		ns_cluster_start "$v"
		wait_for 20 balanced 2 1 2 3
		wait_for 20 settled
	done
}

# a frozen non-leader's (SIGSTOP), then the leader's (the cgroup freezer, as a paused VM:
# no signal) addresses move; thawed, its ipd knows its state may be stale (the SIGCONT; memberd's
# view of its own stall) and no address is held twice once settled
freeze_each() {
	l=$(leader_node)
	v=$(others "$l" | head -1)
	for v in "$v" "$l"; do
		if [ "$v" = "$l" ]; then cluster_pause "$v"; else ns_freeze "$v"; fi
		survivors=($(others "$v"))
		wait_for 20 all_answer "${survivors[@]}"
		sleep 1 # the stop outlasts ipd's limit (1 s) in any case
		if [ "$v" = "$l" ]; then
			cluster_unpause "$v"
			wait_for 5 grep -q "ipd.*was paused with its node" "$(node_run "$v")/node.log"
		else
			ns_thaw "$v"
			wait_for 5 grep -q "ipd.*was stopped for up to" "$(node_run "$v")/node.log"
		fi
		wait_for 20 cluster_connected
		wait_for 20 balanced 2 1 2 3
		wait_for 20 settled
	done
}

# a node whose cluster link is cut releases its addresses; the others take them
cut_link() {
	l=$(leader_node)
	v=$(others "$l" | head -1)
	ns_cut "$v"
	survivors=($(others "$v"))
	wait_for 20 settled "${survivors[@]}"
	# The cut node fenced itself: it holds nothing (it cannot see a majority).
	wait_for 10 holds_none "$v"
	run -0 node_ipctl "$v" --json status
	jq -e '.fenced | test("majority")' <<<"$output"
	ns_restore "$v"
	wait_for 30 cluster_connected
	wait_for 30 balanced 2 1 2 3
	wait_for 20 settled
}

# a public interface that goes down hosts nothing; up again, it gets its share
iface_down() {
	ip -n "$(ns_name 3)" link set eth1 down
	wait_for 10 holds_none 3
	wait_for 10 settled 1 2
	run -0 node_ipctl 3 status
	[[ "$output" == *"eth1             down"* ]]
	ip -n "$(ns_name 3)" link set eth1 up
	wait_for 20 balanced 2 1 2 3
	wait_for 20 settled
}

# a long-lived connection to a powered-off node's address is reset after the takeover
# (tickle ACK)
power_off_tickle() {
	l=$(leader_node)
	v=$(others "$l" | head -1)
	a=$(for x in $(addrs); do holds "$v" "$x" && echo "$x"; done | head -1)
	# A client holds a connection open, reading until the connection ends.
	ns_client_exec timeout 30 bash -c "exec 3<>/dev/tcp/$a/$PORT; head -1 <&3; cat <&3 >/dev/null; echo ended >&2" \
		2>"$BATS_TEST_TMPDIR/client.err" >"$BATS_TEST_TMPDIR/client.out" &
	cpid=$!
	wait_for 5 grep -q node "$BATS_TEST_TMPDIR/client.out"
	# Give the holder time to copy its connections to the others.
	sleep 1.5
	ip -n "$(ns_switch)" link set "p$v" nomaster
	ns_kill "$v"
	wait_for 20 all_answer $(others "$v")
	wait_for 10 grep -q ended "$BATS_TEST_TMPDIR/client.err"
	grep -q "reset" "$BATS_TEST_TMPDIR/client.err"
	wait "$cpid" || true
	ip -n "$(ns_switch)" link set "p$v" master br1
	# It comes back as after a reboot: none of its addresses left.
	ip -n "$(ns_name "$v")" addr flush dev eth1 scope global
	ns_cluster_start "$v"
	wait_for 20 balanced 2 1 2 3
	wait_for 20 settled
}

# releasing an address resets the connections to it at once (sock_diag SOCK_DESTROY)
sock_destroy() {
	a=$(ns_public_net).103
	h=$(holders "$a")
	to=$(others "$h" | head -1)
	ns_client_exec timeout 30 bash -c "exec 3<>/dev/tcp/$a/$PORT; head -1 <&3; cat <&3 >/dev/null; echo ended >&2" \
		2>"$BATS_TEST_TMPDIR/client.err" >"$BATS_TEST_TMPDIR/client.out" &
	cpid=$!
	wait_for 5 grep -q node "$BATS_TEST_TMPDIR/client.out"
	# node 1 may be the one that just came back: it relays the move to the leader it knows
	leader_node 1 >/dev/null
	run -0 node_ipctl 1 move "$a" "$(node_number "$to")"
	wait_for 10 grep -q ended "$BATS_TEST_TMPDIR/client.err"
	wait "$cpid" || true
	run -0 node_ipctl "$h" --json status
	jq -e '.connection_reset == "sock_diag SOCK_DESTROY"' <<<"$output"
	run -0 node_ipctl "$h" stats
	[[ "$output" =~ connections_reset\ +[1-9] ]]
}

# The failures one after the other on one cluster: each but the last ends with every
# address answering from its share (balanced 2 2 2), where the next one starts.
# While a node is frozen its kernel still answers ARP for the addresses it held, so a client
# may learn its MAC for an address another node took meanwhile. Once thawed it releases them,
# and the allocation run that follows has every holder announce what it kept: clients that
# were pointed at the frozen node are corrected at once, not when their neighbour entries
# expire (a REACHABLE entry lasts 15-45 s). Here the client is made to have learned the frozen
# node's MAC for every address; without the announcements at the end of the run, the
# addresses that do not come back to it stay unreachable past the deadline.
@test "ipd: clients that learned a frozen node's MAC are corrected once it releases its addresses" {
	ip_cluster 3
	wait_for 20 settled
	local v mac a survivors
	v=$(others "$(leader_node)" | head -1)
	mac=$(ip -n "$(ns_name "$v")" -o link show eth1 | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2)
	[ -n "$mac" ]
	ns_freeze "$v"
	survivors=($(others "$v"))
	wait_for 20 all_answer "${survivors[@]}"
	sleep 1 # the stop outlasts ipd's limit (1 s)
	for a in $(addrs); do
		ns_client_exec ip neigh replace "$a" lladdr "$mac" dev eth0 nud reachable
	done
	ns_thaw "$v"
	wait_for 5 grep -q "ipd.*was stopped for up to" "$(node_run "$v")/node.log"
	wait_for 20 balanced 2 1 2 3
	wait_for 10 all_answer
}

@test "ipd: a crashed non-leader and leader, a frozen one of each, a cut link, a public interface down, a power-off (tickle ACK), a release (SOCK_DESTROY): addresses move and come back" {
	ip_cluster 3
	wait_for 20 settled
	crash_each
	freeze_each
	cut_link
	iface_down
	power_off_tickle
	sock_destroy
}
@test "ipd: reload keeps unchanged addresses, takes added ones, releases removed ones" {
	ip_cluster 3
	wait_for 20 settled
	keep=$(ns_public_net).103
	h=$(holders "$keep")
	for i in 1 2 3; do
		grep -v "\.106/" "$(pa_file "$i")" >"$(pa_file "$i").new"
		echo "$(ns_public_net).107/24 eth1" >>"$(pa_file "$i").new"
		mv "$(pa_file "$i").new" "$(pa_file "$i")"
	done
	run -0 node_ipctl 1 -n all reload
	[[ "$output" == *"1 added, 1 removed, 5 unchanged"* ]]
	SUFFIXES="101 102 103 104 105 107"
	wait_for 20 settled
	[ -z "$(holders "$(ns_public_net).106")" ]
	# Did not move (LCP2 may rebalance another address, never one it need not).
	[ "$(holders "$keep")" = "$h" ]
	! grep -q "released $keep/" "$(node_run "$h")/node.log"
}

@test "ipd: one address with different prefixes on two nodes is not hosted; the others are" {
	ip_cluster 3
	wait_for 20 settled
	a=$(ns_public_net).106
	sed -i "s|^$a/24|$a/25|" "$(pa_file 3)"
	run -0 node_ipctl 3 reload
	wait_for 10 held_by "$a" ""
	SUFFIXES="101 102 103 104 105"
	wait_for 10 settled
	l=$(leader_node)
	grep -q "$a is listed with prefix" "$(node_run "$l")/node.log"
}

@test "ipd: with ip host source = manual, ipctl hosts decides which nodes host" {
	cli_leak_checks_on
	ip_cluster 3 'ip host source = manual\n'
	run -0 node_ipctl 1 -n all hosts 0,2
	wait_for 20 settled 1 3
	[ "$(count_on 2)" = 0 ]
	run -0 node_ipctl 2 --json hosts
	jq -e '.host_source == "manual" and .hosts == [0,2]' <<<"$output"
	run -0 node_ipctl 1 -n all hosts 0,1,2
	wait_for 20 balanced 2 1 2 3
	run -100 node_ipctl 1 hosts 0,9
}

@test "ipd: an IPv6 address is usable at once (no DAD), announced, answers, and moves on a crash" {
	ns_cluster_create 3
	a6="fd00:$NS_R::101"
	for i in 1 2 3; do
		# the same address spelled differently on each node: compared canonically
		printf '%s/64 eth1\n' "$(sed 's/::/:0::/' <<<"$a6")" >"$(pa_file "$i")"
		[ "$i" = 2 ] && printf 'fd00:%s:0:0::101/64 eth1\n' "$NS_R" >"$(pa_file "$i")"
		printf '[leadership]\nlease = 300\n[ip]\npublic addresses = %s\n' "$(pa_file "$i")" >>"$(node_conf "$i")"
	done
	ip -n "$(ns_client)" addr add "fd00:$NS_R::250/64" dev eth0 nodad
	SERVERS=()
	for i in 1 2 3; do
		ip netns exec "$(ns_name "$i")" "$TBIN/tools/ipserve" $PORT "node$(node_number "$i")" 3>&- &
		SERVERS+=($!)
	done
	ns_cluster_start
	wait_for 20 cluster_connected
	SUFFIXES=
	addrs() { echo "$a6"; }
	wait_for 20 settled
	h=$(holders "$a6")
	# not tentative: DAD was skipped
	ip -n "$(ns_name "$h")" -6 addr show dev eth1 | grep "$a6" | grep -vq tentative
	crash "$h"
	wait_for 20 settled $(others "$h")
}

@test "ipd: with no ip failback, a returning node gets nothing back" {
	ip_cluster 3 'no ip failback = yes\n'
	wait_for 20 settled
	v=$(others "$(leader_node)" | head -1)
	crash "$v"
	wait_for 20 settled $(others "$v")
	ns_cluster_start "$v"
	wait_for 20 cluster_connected
	sleep 2
	[ "$(count_on "$v")" = 0 ]
	settled $(others "$v")
}

@test "ipd: events and hooks go through svcd; a failed takeip releases, reports the node and moves the address" {
	ip_cluster 3
	wait_for 20 settled
	a=$(ns_public_net).101
	h=$(holders "$a")
	x=$(others "$h" | head -1)
	log=$BATS_TEST_TMPDIR/svcd.log
	# The node's real svcd runs an event script that records its arguments and fails the
	# takeip of $a, and a hook that records the change it is told of.
	cat >"$(node_events "$x")/10.record" <<-EOF
	#!/bin/sh
	echo "run \$*" >>"$log"
	[ "\$1" = takeip ] && [ "\$3" = "$a" ] && exit 1
	exit 0
	EOF
	cat >"$(node_hooks "$x")/10.record" <<-EOF
	#!/bin/sh
	echo "hook SHOAL_IP_CHANGE=\$SHOAL_IP_CHANGE SHOAL_IP_ADDRESS=\$SHOAL_IP_ADDRESS SHOAL_IP_BITS=\$SHOAL_IP_BITS SHOAL_IP_IFACE=\$SHOAL_IP_IFACE SHOAL_NODE=\$SHOAL_NODE" >>"$log"
	EOF
	chmod +x "$(node_events "$x")/10.record" "$(node_hooks "$x")/10.record"
	# With `health monitor = none` a node hosts before memberd has first seen its svcd up,
	# and until then ipd counts ip events as succeeded without running them.
	wait_for 10 svcd_seen_up "$x"
	# Right after the start a follower may drop the leader for a moment (its view does not
	# show the leader's leaderd up yet), and a move then fails with "no leader": retry it.
	wait_for 10 node_ipctl 1 move "$a" "$(node_number "$x")"
	# x tried, failed, released it; the leader gave it to another node, not x again.
	wait_for 10 grep -q "^run takeip eth1 $a 24$" "$log"
	wait_for 10 grep -q "^run releaseip eth1 $a 24$" "$log"
	wait_for 20 settled
	h2=$(holders "$a")
	[ "$h2" != "$x" ]
	# Hooks run beside the events, so they may come a moment later.
	wait_for 10 grep -q "^hook SHOAL_IP_CHANGE=takeip SHOAL_IP_ADDRESS=$a SHOAL_IP_BITS=24 SHOAL_IP_IFACE=eth1 SHOAL_NODE=$(node_number "$x")" "$log"
	wait_for 10 grep -q "^hook SHOAL_IP_CHANGE=releaseip SHOAL_IP_ADDRESS=$a " "$log"
	wait_for 10 grep -q "^run ipreallocated$" "$log"
	l=$(leader_node)
	run -0 ns_exec "$l" "$BIN/leaderctl" -c "$(node_conf "$l")" --json status
	jq -e --argjson n "$(node_number "$x")" '.culprits[] | select(.node == $n) | .reason | test("takeip")' <<<"$output"
	# Another address moved to x works: its events succeed.
	b=$(for y in $(addrs); do [ "$y" != "$a" ] && ! holds "$x" "$y" && echo "$y"; done | head -1)
	run -0 node_ipctl 1 move "$b" "$(node_number "$x")"
	wait_for 10 held_by "$b" "$x"
	wait_for 10 grep -q "^run takeip eth1 $b 24$" "$log"
}

@test "ipd: deterministic and non-deterministic allocation give ipalloc's owners; a changed interface moves its address (updateip)" {
	NS_PUBLIC_IFACES=2 ip_cluster 3 'ip allocation = deterministic\n'
	wait_for 20 settled
	# Deterministic: the owners of the driver for the same input (ipalloc's own tests check
	# the algorithm against CTDB's); the current owners do not matter to it.
	want=$({ echo "nodes 0,0,0"; for a in $(addrs); do echo "$a -1"; done; } | ipalloc_says -a deterministic)
	wait_for 10 eval '[ "$(owners)" = "$want" ]'
	run -0 node_ipctl 1 --json status
	jq -e '.algorithm == "deterministic"' <<<"$output"

	# updateip: one address's line names eth2 instead of eth1; on reload its holder moves it
	# and svcd runs updateip with CTDB's arguments (OLD-IFACE NEW-IFACE IP BITS).
	log=$BATS_TEST_TMPDIR/events.log
	for i in 1 2 3; do
		printf '#!/bin/sh\necho "node %s: $*" >>"%s"\n' "$i" "$log" >"$(node_events "$i")/10.record"
		chmod +x "$(node_events "$i")/10.record"
	done
	a=$(ns_public_net).101
	h=$(holders "$a")
	before=$(owners)
	for i in 1 2 3; do sed -i "s|^$a/24 eth1$|$a/24 eth2|" "$(pa_file "$i")"; done
	run -0 node_ipctl 1 -n all reload
	wait_for 10 eval 'ip -n "$(ns_name "$h")" -o addr show dev eth2 | grep -q " $a/24"'
	! ip -n "$(ns_name "$h")" -o addr show dev eth1 | grep " $a/" || false
	wait_for 10 grep -qx "node $h: updateip eth1 eth2 $a 24" "$log"
	run -0 node_ipctl "$h" status
	[[ "$output" == *"eth2             up"* ]]
	[ "$(owners)" = "$before" ]
	wait_for 10 settled
	! grep -E "(takeip|releaseip) [a-z0-9]+ $a " "$log" || false

	# Non-deterministic: after a crash of a non-leader, the owners of the driver for the
	# owners before, with that node disconnected.
	set_conf "ip allocation" nondeterministic
	restart_ipd 1 2 3
	wait_for 20 settled
	run -0 node_ipctl 1 --json status
	jq -e '.algorithm == "nondeterministic"' <<<"$output"
	v=$(others "$(leader_node)" | head -1)
	flags=$(for i in 1 2 3; do ((i == v)) && echo 1 || echo 0; done | paste -sd,)
	want=$({ echo "nodes $flags"; owners; } | ipalloc_says -a nondeterministic)
	crash "$v"
	wait_for 20 settled $(others "$v")
	wait_for 10 eval '[ "$(owners)" = "$want" ]'
}

@test "ipd: with disable ip failover nothing moves on a crash; with no ip takeover a returning node gets nothing" {
	# Placed with failover on; then the switch, which ipd reads at its start.
	ip_cluster 3
	wait_for 20 settled
	set_conf "disable ip failover" yes
	restart_ipd 1 2 3
	wait_for 20 settled
	balanced 2 1 2 3
	l=$(leader_node)
	v=$(others "$l" | head -1)
	mine=$(for a in $(addrs); do if holds "$v" "$a"; then echo "$a"; fi; done)
	before=$(owners)
	lines=$(wc -l <"$(node_run "$l")/node.log")
	crash "$v"
	# The leader saw the node go and ran an allocation since (which moved nothing).
	wait_for 10 eval 'tail -n +"$lines" "$(node_run "$l")/node.log" | grep -q "ipd.*node $(node_number "$v") disconnected"'
	wait_for 10 eval 'tail -n +"$lines" "$(node_run "$l")/node.log" | sed -n "/node $(node_number "$v") disconnected/,\$p" | grep -q "ipd.*run [0-9]* done"'
	sleep 1
	for a in $mine; do [ -z "$(holders "$a")" ]; done
	[ "$(owners)" = "$(sed "s/ $(node_number "$v")\$/ -1/" <<<"$before")" ]
	# The leader does not run again and again for the unhosted addresses.
	n=$(grep -c "ipd.*run [0-9]* (term" "$(node_run "$l")/node.log")
	sleep 2.5
	[ "$(grep -c "ipd.*run [0-9]* (term" "$(node_run "$l")/node.log")" = "$n" ]

	# No ip takeover instead: nothing may receive an address, so the crashed node's stay
	# unhosted, and back, it gets nothing (not even its own old ones).
	set_conf "disable ip failover" no
	set_conf "no ip takeover" yes
	restart_ipd $(others "$v")
	ns_cluster_start "$v"
	wait_for 20 cluster_connected
	wait_for 10 eval 'node_ipctl "$l" --json status | jq -e ".hosts == [0,1,2]" >/dev/null'
	sleep 2
	[ "$(count_on "$v")" = 0 ]
	[ "$(owners)" = "$(sed "s/ $(node_number "$v")\$/ -1/" <<<"$before")" ]
	for a in $(addrs); do
		h=$(holders "$a")
		[ -z "$h" ] || [ "$(ask "$a")" = "node$(node_number "$h")" ]
	done
}

@test "ipd: a partition into two halves: the half without the leader is partitioned and releases, the other hosts everything" {
	# 4 nodes and a file lock, so the half with the leader keeps leading; the other half
	# reaches half of the nodes, which is not fewer than half: leaderd's partitioned
	# reason is what fences it. A lease of 3 s: under CI's I/O load one lock operation
	# took over a second, the leader's renewals fell behind a short lease, and the other
	# half rightly took the lock (what this test does not look at).
	IP_LEASE=3000 ip_cluster 4 "[cluster]\ncluster lock = file:$(lock_file)\n"
	wait_for 20 settled
	# Addresses may settle while a node still waits to hear the lock's holder.
	wait_for 10 leader_node
	l=$(leader_node)
	p=$(others "$l" | head -1)
	b=($(others "$l" | tail -2))
	ns_partition "$l $p" "${b[*]}"
	for i in "${b[@]}"; do
		wait_for 10 holds_none "$i"
		wait_for 10 fenced_for "$i" partitioned
	done
	wait_for 20 settled "$l" "$p"
	[ "$(leader_node "$l")" = "$l" ]
	run -0 node_ipctl "$l" --json status
	jq -e '.fenced == ""' <<<"$output"
	ns_heal
	wait_for 30 cluster_connected
	hold_some() { local i; for i in "$@"; do [ "$(count_on "$i")" -ge 1 ] || return 1; done; }
	wait_for 30 hold_some 1 2 3 4
	wait_for 20 settled
}
