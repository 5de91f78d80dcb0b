#!/usr/bin/env bats
# shoal messaging (lib/msg) driven by a real tool, tests/tools/msgtool, on a three-node
# loopback cluster (127.0.0.11..13) with a random port base. Servers run in the background;
# teardown stops exactly the processes this file started.
bats_require_minimum_version 1.5.0
load lib/common

setup() {
	MT=$TBIN/tools/msgtool
	T=$(mktemp -d /tmp/msg.XXXXXX)
	PIDS=()
	port_base PORT_BASE "$T"
	printf '127.0.0.11\n127.0.0.12\n127.0.0.13\n' >"$T/nodes"
	head -c 32 /dev/urandom >"$T/key"
	chmod 600 "$T/key"
	for n in 1 2 3; do
		cat >"$T/n$n.conf" <<-EOF
		[cluster]
		node address = 127.0.0.1$n
		nodes file = $T/nodes
		cluster key = $T/key
		run directory = $T/run$n
		port base = $PORT_BASE
		[database]
		directory = $T/db$n
		EOF
	done
}

teardown() {
	local rc=0
	stop_pids 2
	port_base_release "$T"
	# Under ASan/UBSan the tools report what they found on stderr as they exit.
	sanitizer_check "$T" || rc=1
	rm -rf "$T"
	return $rc
}

# serve NODE NAME [ARGS...]: starts `msgtool serve` on node NODE (1..3) as $T/NAME.{out,err},
# records its pid in PIDS and in $T/NAME.pid, and waits until it is bound.
serve() {
	local node=$1 name=$2
	shift 2
	"$MT" -c "$T/n$node.conf" serve "$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null &
	PIDS+=($!)
	echo $! >"$T/$name.pid"
	wait_for 5 grep -qx ready "$T/$name.out" || { cat "$T/$name.err"; return 1; }
}

# counter NODE DST NAME: one counter of DST's stats, asked from node NODE.
counter() {
	"$MT" -c "$T/n$1.conf" stats "$2" | awk -v n="$3" '$1 == n { print $2; found = 1 } END { exit !found }'
}

# counter_is NODE DST NAME VALUE
counter_is() {
	[ "$(counter "$1" "$2" "$3")" = "$4" ]
}

@test "messaging: local request/response" {
	serve 1 s1
	run "$MT" -c "$T/n1.conf" ping 0:msgtest --count 200 --size 100
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"count 200"* ]]
	run "$MT" -c "$T/n1.conf" call 0:msgtest
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"status ok"* ]]
	counter_is 1 0:msgtest requests 1
}

@test "messaging: remote request/response (node 0 to node 1)" {
	serve 2 s2
	run "$MT" -c "$T/n1.conf" ping 1:msgtest --count 200 --size 1000
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"count 200"* ]]
	run "$MT" -c "$T/n1.conf" call 1:msgtest
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"status ok"* ]]
	counter_is 1 1:msgtest requests 1
	[ "$(counter 1 1:msgtest drop_mac)" = 0 ]
}

@test "messaging: a lazily read link dates a message read with its sender's FIN from before the FIN" {
	# memberd reads its links once a tick and counts a peer's silence from when the kernel
	# took its heartbeat in. A FIN that comes while the last heartbeat waits unread must not
	# lend it its own, later time, or a crash is seen up to a tick late.
	serve 2 s2 --lazy
	run -0 "$MT" -c "$T/n1.conf" lastword 1:msgtest --linger 300
	closing=$(awk '$1 == "closing" { print $2 }' <<<"$output")
	[ -n "$closing" ]
	# The client is gone and its FIN has come: now the server reads what waits.
	kill -USR1 "$(cat "$T/s2.pid")"
	wait_for 5 grep -q "^ping 0 arrived " "$T/s2.out"
	arrived=$(awk '$1 == "ping" { print $4 }' "$T/s2.out")
	echo "closing $closing arrived $arrived"
	((arrived < closing))
}

@test "messaging: broadcast *:msgtest reaches every node's server" {
	serve 1 s1
	serve 2 s2
	serve 3 s3
	run "$MT" -c "$T/n1.conf" send '*:msgtest' --count 25
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"failed 0"* ]]
	for n in 0 1 2; do
		counter_is 1 "$n:msgtest" pings 25 || { echo "node $n: $(counter 1 "$n:msgtest" pings)"; false; }
	done
	# and from another node's point of view too
	run "$MT" -c "$T/n3.conf" send '*:msgtest' --count 5
	[ "$status" -eq 0 ]
	for n in 0 1 2; do
		counter_is 3 "$n:msgtest" pings 30
	done
}

@test "messaging: a 64 MiB stream from node 0 to node 1 arrives complete" {
	serve 2 s2
	run "$MT" -c "$T/n1.conf" stream 1:msgtest --bytes 67108864 --seed 42
	echo "$output"
	[ "$status" -eq 0 ]
	sent=$(awk '$1 == "sent" { print $2, $3 }' <<<"$output")
	[ -n "$sent" ]
	wait_for 5 grep -q "^stream " "$T/s2.out"
	got=$(awk '$1 == "stream" { print $2, $3 }' "$T/s2.out")
	echo "sent: $sent"
	echo "got:  $got"
	[ "$sent" = "$got" ]
	[ "${sent%% *}" = 67108864 ]
	counter_is 1 1:msgtest streams 1
}

@test "messaging: a local stream arrives complete" {
	serve 1 s1
	run "$MT" -c "$T/n1.conf" stream 0:msgtest --bytes 5000000 --seed 7
	echo "$output"
	[ "$status" -eq 0 ]
	wait_for 5 grep -q "^stream " "$T/s1.out"
	[ "$(awk '$1 == "sent" { print $2, $3 }' <<<"$output")" = "$(awk '$1 == "stream" { print $2, $3 }' "$T/s1.out")" ]
}

@test "messaging: a stuck receiver costs the others nothing and its drops are counted" {
	serve 1 sub1 -s sub1
	serve 1 sub2 -s sub2
	serve 1 sub3 -s sub3
	kill -STOP "$(cat "$T/sub3.pid")"
	run "$MT" -c "$T/n1.conf" fanout --to sub1,sub2,sub3 --count 2000 --rate 1000
	echo "$output"
	[ "$status" -eq 0 ]
	grep -qx "dest sub1 drops 0 received 2000 .*" <<<"$output"
	grep -qx "dest sub2 drops 0 received 2000 .*" <<<"$output"
	drops=$(awk '$1 == "dest" && $2 == "sub3" { print $4 }' <<<"$output")
	[ "$drops" -gt 0 ]
	# a deadline, not a benchmark: the sender's loop never stalled on the stuck receiver
	iter=$(awk '$1 == "max_iteration_us" { printf "%d", $2 }' <<<"$output")
	[ "$iter" -lt 200000 ]
	send=$(awk '$1 == "max_send_us" { printf "%d", $2 }' <<<"$output")
	[ "$send" -lt 200000 ]
	counter_is 1 0:sub1 pings 2000
	counter_is 1 0:sub2 pings 2000
	# once it runs again, the stuck receiver works
	kill -CONT "$(cat "$T/sub3.pid")"
	wait_for 5 "$MT" -c "$T/n1.conf" stats 0:sub3
}

@test "messaging: forged frames (bad MAC, replay) are dropped and counted; the link survives" {
	serve 2 s2
	run "$MT" -c "$T/n1.conf" forge 1:msgtest --mode badmac
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"pong ok"* ]]
	counter_is 1 1:msgtest drop_mac 1
	run "$MT" -c "$T/n1.conf" forge 1:msgtest --mode replay
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"pong ok"* ]]
	counter_is 1 1:msgtest drop_replay 1
	# the replayed frame was taken once, not twice
	counter_is 1 1:msgtest pings 1
	run "$MT" -c "$T/n1.conf" ping 1:msgtest --count 10
	[ "$status" -eq 0 ]
}

@test "messaging: wrong key, garbage framing and an unknown source are dropped and counted" {
	serve 2 s2
	run "$MT" -c "$T/n1.conf" forge 1:msgtest --mode wrongkey
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"closed by peer"* ]]
	counter_is 1 1:msgtest drop_mac 1
	run "$MT" -c "$T/n1.conf" forge 1:msgtest --mode garbage
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"closed by peer"* ]]
	counter_is 1 1:msgtest drop_malformed 1
	run "$MT" -c "$T/n1.conf" forge 1:msgtest --mode foreign:127.0.0.99
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"closed by peer"* ]]
	counter_is 1 1:msgtest drop_unknown_source 1
	counter_is 1 1:msgtest pings 0
	run "$MT" -c "$T/n1.conf" ping 1:msgtest --count 10
	[ "$status" -eq 0 ]
}

@test "messaging: an unknown message type gets an error reply (unknown_type)" {
	serve 1 s1
	run "$MT" -c "$T/n1.conf" forge 0:msgtest --mode unknown-type
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == "error unknown_type "* ]]
	run "$MT" -c "$T/n1.conf" ping 0:msgtest --count 10
	[ "$status" -eq 0 ]
}

@test "messaging: a late reply is dropped and counted" {
	serve 1 s1 --delay-ms 400
	run "$MT" -c "$T/n1.conf" call 0:msgtest --timeout 100 --linger 1000
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"status timed out"* ]]
	grep -qx "late_replies 1" <<<"$output"
	# with time enough the same request succeeds
	run "$MT" -c "$T/n1.conf" call 0:msgtest --timeout 3000
	[ "$status" -eq 0 ]
}

@test "messaging: a broken link fails the pending request at once with the link error" {
	serve 2 bh --blackhole
	"$MT" -c "$T/n1.conf" call 1:msgtest --timeout 10000 >"$T/call.out" 2>&1 </dev/null &
	cpid=$!
	PIDS+=($cpid)
	# the request is pending once the server has taken it (and not answered)
	wait_for 5 counter_is 1 1:msgtest requests 1
	kill -KILL "$(cat "$T/bh.pid")"
	wait "$cpid" || true
	unset 'PIDS[-1]'
	cat "$T/call.out"
	grep -qx "status link to the node broke" "$T/call.out"
	ms=$(awk '$1 == "elapsed_ms" { printf "%d", $2 }' "$T/call.out")
	[ "$ms" -lt 5000 ]
}

@test "messaging: a request to a service that is not running fails at once with unreachable" {
	run "$MT" -c "$T/n1.conf" call 0:msgtest --timeout 10000
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"status destination unreachable"* ]]
	ms=$(awk '$1 == "elapsed_ms" { printf "%d", $2 }' <<<"$output")
	[ "$ms" -lt 1000 ]
	# the same on another node: the link is refused
	run "$MT" -c "$T/n1.conf" call 1:msgtest --timeout 10000
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"status destination unreachable"* ]]
	ms=$(awk '$1 == "elapsed_ms" { printf "%d", $2 }' <<<"$output")
	[ "$ms" -lt 2000 ]
}

@test "messaging: a malformed local datagram is counted and the server keeps working" {
	serve 1 s1
	before=$(counter 1 0:msgtest drop_malformed)
	run "$MT" -c "$T/n1.conf" forge 0:msgtest --mode local-garbage
	[ "$status" -eq 0 ]
	wait_for 5 counter_is 1 0:msgtest drop_malformed $((before + 1))
	run "$MT" -c "$T/n1.conf" ping 0:msgtest --count 10
	[ "$status" -eq 0 ]
}
