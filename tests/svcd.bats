#!/usr/bin/env bats
# svcd and svcctl on a loopback cluster (tests/cluster/lib.bash): each node has its own
# events.d and hooks.d (node_events, node_hooks), empty until a test drops scripts in.
# Scripts here append "EVENT ARGS" to $SHOAL_EVENTS_DIR/../events.log, so a test reads
# what ran, in which order, with which arguments. Deadlines are generous.
bats_require_minimum_version 1.5.0
load lib/common
load cluster/lib

# svcd alone: ipd (in svc/) would send its own events (ipreallocated) and hooks into the
# logs these tests read. ipd's events through svcd are tested in tests/ipd.bats.
setup_file() {
	mkdir -p "$BATS_FILE_TMPDIR/svc"
	cp -a "$SHOAL_TOP/svc/." "$BATS_FILE_TMPDIR/svc/"
	rm -rf "$BATS_FILE_TMPDIR/svc/ipd"
}

setup() {
	export SHOAL_SVC_DIR=$BATS_FILE_TMPDIR/svc
}

teardown() {
	local p rc=0
	# Servers the tests started through scripts (outside the node's tree): by pid.
	if [ -n "$CLUSTER_DIR" ]; then
		for p in $(cat "$CLUSTER_DIR"/n*/extra.pids 2>/dev/null); do _kill_pid KILL "$p"; done
	fi
	cluster_teardown || rc=1
	netns_done
	return $rc
}

# create N [INTERVAL] [TIMEOUT]: the cluster files, monitors every INTERVAL s (1), events
# time out after TIMEOUT s (2). No process yet.
create() {
	CLUSTER_MONITOR_INTERVAL=${2:-1} CLUSTER_EVENT_TIMEOUT=${3:-2} cluster_create "$1"
}

# gone PID: the process has ended (a zombie has: this container's pid 1 may reap late).
gone() { [ ! -e "/proc/$1" ] || grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }

evlog() { echo "$CLUSTER_DIR/n$1/events.log"; }

# script i NAME BODY: an executable event script of node i; BODY runs after the line that
# logs the event and its arguments.
script() {
	local f
	f=$(node_events "$1")/$2
	printf '#!/bin/sh\necho "$*" >>"$SHOAL_EVENTS_DIR/../events.log"\n%s\n' "$3" >"$f"
	chmod 755 "$f"
}

svcctl_n() {
	local i=$1
	shift
	svcctl -c "$(node_conf "$i")" "$@"
}

# svc_json i FILTER: jq -e FILTER on `svcctl --json status` of node i.
svc_json() {
	svcctl_n "$1" -t 1000 --json status | jq -e "$2" >/dev/null
}

# monitor_says i TEXT: the last monitor of node i printed TEXT (in svcctl status).
monitor_says() { svcctl_n "$1" -t 1000 status monitor | grep -qF -- "$2"; }

# reason i REASON: node i's own health lists REASON (memberctl's view).
reason() {
	node_memberctl "$1" -t 1000 --json list |
		jq -e --argjson n "$(node_number "$1")" --arg r "$2" \
			'[.nodes[] | select(.node == $n) | .health | index($r)] | .[0] != null' >/dev/null
}
no_reason() {
	node_memberctl "$1" -t 1000 --json list >/dev/null && ! reason "$@"
}

# log_lines i: the events of node i's log, one word each, duplicates of monitor folded.
events_seen() { awk '{print $1}' "$(evlog "$1")" 2>/dev/null | uniq | tr '\n' ' '; }

@test "svcd: unit tests (tests/unit/svc_test: script names, order, enable, output tail)" {
	run "$TBIN/unit/svc_test"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "svcd: init, setup, startup, then a monitor at once, then periodic monitors; no scripts are fine" {
	create 2 1
	script 1 10.log ""
	cluster_start
	wait_for 20 svc_json 1 '.state == "running"'
	wait_for 20 svc_json 2 '.state == "running"'
	wait_for 10 bash -c "[ \$(grep -c '^monitor' $(evlog 1)) -ge 3 ]"
	run events_seen 1
	[[ "$output" == "init setup startup monitor "* ]]
	# Node 2 has no scripts: every event succeeds with none.
	run -0 svcctl_n 2 --json status
	jq -e '.events.monitor.ok and (.events.monitor.scripts | length) == 0 and .events.startup.ok' <<<"$output"
	run -0 svcctl_n 1 status
	[[ "$output" == *"state:    running"* ]]
	[[ "$output" == *"10.log"*"OK"* ]]
	wait_for 10 no_reason 1 "not yet monitored"
	wait_for 10 no_reason 2 "not yet monitored"
	# svcctl -n: node 2's svcctl reaches node 1's svcd through its own svcd.
	run -0 svcctl_n 2 -n 0 --json status
	jq -e '.node == 0 and .events.monitor.scripts[0].name == "10.log"' <<<"$output"
	run -0 svcctl_n 2 -n all --json status
	[ "${#lines[@]}" -eq 2 ]
	jq -e '.node == 0 and (.events.monitor.scripts | length) == 1' <<<"${lines[0]}"
	jq -e '.node == 1 and (.events.monitor.scripts | length) == 0' <<<"${lines[1]}"
	run -0 svcctl_n 2 -n all list
	[[ "$output" == "node 0: $(node_events 1):"*"10.log"*"node 1: $(node_events 2):"*"(no scripts)" ]]
	run -0 svcctl_n 2 -n 0 run startrecovery
	[[ "$output" == *"startrecovery: OK"* ]]
	grep -qx startrecovery "$(evlog 1)"
	run -0 svcctl_n 2 -n 0 disable 10.log
	[ ! -x "$(node_events 1)/10.log" ]
	run -0 svcctl_n 1 -n 0 enable 10.log
	[ -x "$(node_events 1)/10.log" ]
	run -100 svcctl_n 2 -n 2 status
	[[ "$output" == *"-n: expected a node number below 2 or all, got \"2\""* ]]
	run -100 svcctl_n 2 -n 0 hook A=1
	[[ "$output" == *"no -n"* ]]
}

@test "svcd: startup is retried until it succeeds; the node stays 'not yet monitored' until then" {
	create 1 1
	# Fails twice, then succeeds.
	script 1 20.flaky 'if [ "$1" = startup ]; then
	c=$(cat "$SHOAL_EVENTS_DIR/../count" 2>/dev/null || echo 0)
	echo $((c + 1)) >"$SHOAL_EVENTS_DIR/../count"
	[ "$c" -ge 2 ] || { echo "not yet ($c)"; exit 1; }
fi'
	cluster_start
	wait_for 10 svc_json 1 '.state == "startup" and .events.startup.ok == false'
	run -0 svcctl_n 1 status startup
	[[ "$output" == *"20.flaky"*"FAILED"*"(exit 1)"* ]]
	[[ "$output" == *"| not yet ("* ]]
	reason 1 "not yet monitored"
	wait_for 20 svc_json 1 '.state == "running"'
	wait_for 10 no_reason 1 "not yet monitored"
	[ "$(grep -c '^startup' "$(evlog 1)")" -eq 3 ]
	run events_seen 1
	echo "events: $output"
	[[ "$output" == "init setup startup monitor "* ]]
}

@test "svcd: a restarted svcd keeps the node 'not yet monitored' until its startup and a monitor pass" {
	create 1 1
	script 1 10.gate '[ "$1" != startup ] || [ ! -e "$SHOAL_EVENTS_DIR/../gate" ] || { echo "gate closed"; exit 1; }'
	cluster_start
	wait_for 20 svc_json 1 '.state == "running" and .healthy'
	wait_for 10 no_reason 1 "not yet monitored"
	touch "$CLUSTER_DIR/n1/gate"
	# A crash: the supervisor starts a new svcd, whose startup fails for now.
	local pid
	pid=$(node_daemon_pid 1 svcd)
	kill -KILL "$pid"
	wait_for 10 reason 1 "not yet monitored"
	wait_for 10 svc_json 1 '.state == "startup"'
	[ "$(node_daemon_pid 1 svcd)" != "$pid" ]
	sleep 2
	reason 1 "not yet monitored"
	rm "$CLUSTER_DIR/n1/gate"
	wait_for 20 no_reason 1 "not yet monitored"
	# Brought down on purpose: shutdown runs, and the node hosts nothing meanwhile.
	s6-svc -d "$(node_run 1)/scan/svcd"
	wait_for 10 reason 1 "not yet monitored"
	[ "$(tail -n 1 "$(evlog 1)")" = shutdown ]
	s6-svc -u "$(node_run 1)/scan/svcd"
	wait_for 20 no_reason 1 "not yet monitored"
}

@test "svcd: a failed monitor sets the health reason 'monitor', a passing one clears it" {
	create 2 1
	script 1 30.check '[ "$1" != monitor ] || [ ! -e "$SHOAL_EVENTS_DIR/../broken" ] || { echo "service broken"; exit 3; }'
	cluster_start
	wait_for 20 svc_json 1 '.state == "running" and .healthy'
	wait_for 10 no_reason 1 "not yet monitored"
	touch "$CLUSTER_DIR/n1/broken"
	wait_for 10 reason 1 monitor
	# Every node sees it, in memberctl status too.
	wait_for 10 bash -c "memberctl -c $(node_conf 2) -t 1000 --json status | jq -e '.nodes[] | select(.node == 0) | .health | index(\"monitor\")'"
	run -0 node_memberctl 2 status
	[[ "$output" == *UNHEALTHY* ]]
	run -0 svcctl_n 1 --json status monitor
	jq -e '.healthy == false and .events.monitor.scripts[0].status == "failed" and
		.events.monitor.scripts[0].exit_code == 3 and .events.monitor.scripts[0].output == "service broken"' <<<"$output"
	# A reason another source set is left alone.
	run -0 node_memberctl 1 health "by hand" on
	rm "$CLUSTER_DIR/n1/broken"
	wait_for 10 no_reason 1 monitor
	reason 1 "by hand"
	run -0 node_memberctl 1 health "by hand" off
	wait_for 10 bash -c "memberctl -c $(node_conf 2) -t 1000 list | grep -q '^0 .* OK'"
}

@test "svcd: a hung script times out: its whole process group is killed and the rest do not run" {
	create 1 60 2
	script 1 10.hang 'if [ "$1" = takeip ]; then
	sleep 1000 &
	echo $! >"$SHOAL_EVENTS_DIR/../bg.pid"
	echo $$ >"$SHOAL_EVENTS_DIR/../fg.pid"
	echo "hanging"
	sleep 1000
fi'
	script 1 20.after ""
	cluster_start
	wait_for 20 svc_json 1 '.state == "running"'
	run -1 svcctl_n 1 run takeip lo 10.1.2.3 24
	[[ "$output" == "takeip: TIMEDOUT"* ]]
	[[ "$output" == *"10.hang"*"TIMEDOUT"*"(signal 9)"* ]]
	[[ "$output" == *"| hanging"* ]]
	[[ "$output" == *"20.after"*"NOT_RUN"* ]]
	local bg fg
	bg=$(cat "$CLUSTER_DIR/n1/bg.pid")
	fg=$(cat "$CLUSTER_DIR/n1/fg.pid")
	wait_for 5 gone "$bg"
	wait_for 5 gone "$fg"
	# 20.after logged init..monitor, but not takeip.
	[ "$(grep -c '^takeip' "$(evlog 1)")" -eq 1 ]
	svc_json 1 '.events.takeip.ok == false and .events.takeip.scripts[1].status == "not_run"'
}

@test "svcd: monitor timeouts count as a failure only at the third in a row" {
	create 1 1 1
	script 1 10.slow '[ "$1" != monitor ] || [ ! -e "$SHOAL_EVENTS_DIR/../slow" ] || sleep 30'
	cluster_start
	wait_for 20 svc_json 1 '.state == "running" and .healthy'
	touch "$CLUSTER_DIR/n1/slow"
	wait_for 20 svc_json 1 '.monitor_timeouts >= 1 and .monitor_timeouts < 3'
	no_reason 1 monitor
	wait_for 20 svc_json 1 '.monitor_timeouts >= 3'
	wait_for 10 reason 1 monitor
	rm "$CLUSTER_DIR/n1/slow"
	wait_for 20 svc_json 1 '.monitor_timeouts == 0 and .healthy'
	wait_for 10 no_reason 1 monitor
}

@test "svcd: a failing script stops the event; a non-executable script is skipped" {
	create 1 60
	script 1 10.fails '[ "$1" != recovered ] || exit 7'
	script 1 20.off 'echo "must not run" >"$SHOAL_EVENTS_DIR/../off-ran"'
	chmod 644 "$(node_events 1)/20.off"
	script 1 30.last ""
	# Not event scripts: ignored altogether.
	script 1 30.last~ ""
	script 1 README ""
	script 1 40.x.orig ""
	cluster_start
	wait_for 20 svc_json 1 '.state == "running"'
	[ ! -e "$CLUSTER_DIR/n1/off-ran" ]
	run -0 svcctl_n 1 --json status monitor
	jq -e '[.events.monitor.scripts[] | .name + "=" + .status] == ["10.fails=ok", "20.off=disabled", "30.last=ok"]' <<<"$output"
	run -1 svcctl_n 1 run recovered
	[[ "$output" == "recovered: FAILED"* ]]
	[[ "$output" == *"10.fails"*"FAILED"*"(exit 7)"* ]]
	[[ "$output" == *"20.off"*"DISABLED"* ]]
	[[ "$output" == *"30.last"*"NOT_RUN"* ]]
	run -0 svcctl_n 1 run startrecovery
	[[ "$output" == "startrecovery: OK"* ]]
	run -0 svcctl_n 1 list
	[[ "$output" == *"20.off"*"disabled"* ]]
	[[ "$output" != *"README"* && "$output" != *"orig"* && "$output" != *"~"* ]]
}

@test "svcd: ip events get CTDB's arguments, queued events run in arrival order" {
	create 1 60 10
	script 1 10.ip 'case "$1" in takeip) sleep 2 ;; releaseip|updateip) sleep 0.2 ;; esac'
	cluster_start
	wait_for 20 svc_json 1 '.state == "running"'
	# Each request is sent once the one before is running or queued.
	svcctl_n 1 run takeip eth1 192.0.2.10 24 &
	local p1=$!
	wait_for 5 svc_json 1 '.running == "takeip"'
	svcctl_n 1 run releaseip eth1 192.0.2.11 24 &
	local p2=$!
	wait_for 5 svc_json 1 '.queued == 1'
	run -0 svcctl_n 1 --json run updateip eth1 eth2 2001:db8::5 64
	jq -e '.event == "updateip" and .ok and .scripts[0].name == "10.ip"' <<<"$output"
	wait "$p1" "$p2"
	run -0 svcctl_n 1 run ipreallocated
	run grep -E '^(takeip|releaseip|updateip|ipreallocated)' "$(evlog 1)"
	[ "${lines[0]}" = "takeip eth1 192.0.2.10 24" ]
	[ "${lines[1]}" = "releaseip eth1 192.0.2.11 24" ]
	[ "${lines[2]}" = "updateip eth1 eth2 2001:db8::5 64" ]
	[ "${lines[3]}" = "ipreallocated" ]
	svc_json 1 '.events.takeip.args == ["eth1", "192.0.2.10", "24"]'
}

@test "svcd: hooks run with the environment they were sent, beside events" {
	create 1 60 10
	script 1 10.slow '[ "$1" != recovered ] || sleep 3'
	local h
	h=$(node_hooks 1)
	printf '#!/bin/sh\necho "$SHOAL_EVENT ADDR=$ADDR OP=$OP" >>"$SHOAL_EVENTS_DIR/../hooks.log"\n' >"$h/a-log"
	printf '#!/bin/sh\nexit 1\n' >"$h/b-fails"
	printf '#!/bin/sh\necho "$OP" >>"$SHOAL_EVENTS_DIR/../hooks.log"\n' >"$h/c-also"
	printf '#!/bin/sh\necho disabled >>"$SHOAL_EVENTS_DIR/../hooks.log"\n' >"$h/d-off"
	chmod 755 "$h/a-log" "$h/b-fails" "$h/c-also"
	cluster_start
	wait_for 20 svc_json 1 '.state == "running"'
	# A slow event runs: the hook does not wait for it.
	svcctl_n 1 run recovered >/dev/null &
	local p=$!
	wait_for 5 svc_json 1 '.running == "recovered"'
	run -0 svcctl_n 1 hook ADDR=192.0.2.7 OP=taken
	wait_for 1 grep -q taken "$CLUSTER_DIR/n1/hooks.log"
	svc_json 1 '.running == "recovered"'
	wait "$p"
	# Hooks run side by side: their lines come in either order.
	run sort "$CLUSTER_DIR/n1/hooks.log"
	[ "${lines[0]}" = "hook ADDR=192.0.2.7 OP=taken" ]
	[ "${lines[1]}" = "taken" ]
	[ "${#lines[@]}" -eq 2 ]
	svc_json 1 '[.events.hook.scripts[] | .status] == ["ok", "failed", "ok", "disabled"]'
	run -100 svcctl_n 1 hook NOEQUALS
	[[ "$output" == *"expected NAME=VALUE"* ]]
}

@test "svcctl: disable clears the execute bits, enable sets them; both persist" {
	create 1 1
	script 1 10.a ""
	script 1 20.b ""
	cluster_start
	wait_for 20 svc_json 1 '.state == "running"'
	run -0 svcctl_n 1 disable 20.b
	[[ "$output" == *"20.b"*"disabled"* ]]
	[ ! -x "$(node_events 1)/20.b" ]
	[ "$(stat -c %a "$(node_events 1)/20.b")" = 644 ]
	wait_for 10 svc_json 1 '.events.monitor.scripts[1].status == "disabled"'
	run -0 svcctl_n 1 --json list
	jq -e '.scripts == [{"name": "10.a", "enabled": true}, {"name": "20.b", "enabled": false}]' <<<"$output"
	# Kept across a restart of the node.
	cluster_stop 1
	cluster_start 1
	wait_for 20 svc_json 1 '.state == "running"'
	svc_json 1 '.events.init.scripts[1].status == "disabled"'
	run -0 svcctl_n 1 enable 20.b
	[ "$(stat -c %a "$(node_events 1)/20.b")" = 755 ]
	wait_for 10 svc_json 1 '.events.monitor.scripts[1].status == "ok"'
}

@test "svcctl: bad input gets a clear error and exit 100; no svcd is 111" {
	create 1 60
	script 1 10.a ""
	cluster_start
	wait_for 20 svc_json 1 '.state == "running"'
	run -100 svcctl_n 1 run nosuchevent
	[[ "$output" == *'unknown event "nosuchevent"'* ]]
	run -100 svcctl_n 1 run takeip eth0 192.0.2.1
	[[ "$output" == *"takeip takes 3 arguments (IFACE IP BITS), got 2"* ]]
	run -100 svcctl_n 1 run updateip a b c
	[[ "$output" == *"OLDIFACE NEWIFACE IP BITS"* ]]
	run -100 svcctl_n 1 run monitor extra
	run -100 svcctl_n 1 run
	run -100 svcctl_n 1 enable 99.nosuch
	[[ "$output" == *"no script 99.nosuch in $(node_events 1)"* ]]
	run -100 svcctl_n 1 disable not-a-script
	[[ "$output" == *"not an event script name"* ]]
	run -100 svcctl_n 1 disable ../10.a
	[[ "$output" == *"not a path"* ]]
	run -100 svcctl_n 1 disable
	run -100 svcctl_n 1 frobnicate
	[[ "$output" == *'unknown command "frobnicate"'* ]]
	run -100 svcctl_n 1 status bogus
	run -100 svcctl_n 1 -t 0 status
	run -100 svcctl
	run -0 svcctl --help
	[[ "$output" == *"takeip IFACE IP BITS"* ]]
	cluster_stop 1
	run -111 svcctl_n 1 status
	[[ "$output" == *"svcd is not running"* ]]
}

@test "svcd: the shutdown event runs when the node stops, within its timeout" {
	create 1 60
	script 1 10.a ""
	cluster_start
	wait_for 20 svc_json 1 '.state == "running"'
	cluster_stop 1
	[ "$(tail -n 1 "$(evlog 1)")" = shutdown ]
}

@test "svcd: a running monitor gives way to another event" {
	create 1 1 20
	script 1 10.slowmon '[ "$1" != monitor ] || [ ! -e "$SHOAL_EVENTS_DIR/../slow" ] || { echo $$ >"$SHOAL_EVENTS_DIR/../mon.pid"; sleep 30; }'
	cluster_start
	wait_for 20 svc_json 1 '.state == "running"'
	touch "$CLUSTER_DIR/n1/slow"
	wait_for 10 test -s "$CLUSTER_DIR/n1/mon.pid"
	# Read now: once takeip is done, the next monitor (1 s later) writes its own pid there,
	# and on a loaded machine the test read that one and waited for it in vain.
	local t0=$SECONDS mon
	mon=$(cat "$CLUSTER_DIR/n1/mon.pid")
	run -0 svcctl_n 1 run takeip lo 192.0.2.9 32
	((SECONDS - t0 < 10))
	wait_for 5 gone "$mon"
	# A cancelled monitor is no timeout.
	svc_json 1 '.monitor_timeouts == 0'
	rm "$CLUSTER_DIR/n1/slow"
}

# --- the shipped scripts (events.d/) ---

# ship i SCRIPT: copy a shipped script into node i's events.d.
ship() { cp "$SHOAL_TOP/events.d/$2" "$(node_events "$1")/$2"; }

# conf_add i TEXT: append to node i's shoal.conf (before its start).
conf_add() { printf '%b' "$2" >>"$(node_conf "$1")"; }

@test "events.d/10.interface: a missing public interface fails the monitor" {
	create 1 1
	ship 1 10.interface
	local pa=$CLUSTER_DIR/n1/public_addresses
	printf '# comment\n192.0.2.1/24 lo\n2001:db8::1/64 lo,lo\n' >"$pa"
	conf_add 1 "[ip]\npublic addresses = $pa\n"
	cluster_start
	wait_for 20 svc_json 1 '.state == "running" and .healthy'
	wait_for 10 no_reason 1 "not yet monitored"
	echo "192.0.2.2/24 nosuch0" >>"$pa"
	wait_for 10 reason 1 monitor
	run -0 svcctl_n 1 --json status monitor
	jq -e '.events.monitor.scripts[0].output == "public interface nosuch0 is missing"' <<<"$output"
	run -1 svcctl_n 1 run takeip nosuch0 192.0.2.2 24
	[[ "$output" == *"no interface nosuch0"* ]]
	sed -i '/nosuch0/d' "$pa"
	wait_for 10 no_reason 1 monitor
}

# netns_new: a network namespace of this test ($NS), removed by netns_done.
netns_new() {
	NS=shsvcd$$
	ip netns add "$NS"
	ip -n "$NS" link set lo up
}
netns_done() {
	[ -n "${NS:-}" ] && ip netns del "$NS" 2>/dev/null
	NS=
}

@test "events.d/10.interface: a public interface whose link is down fails the monitor (root)" {
	require_root
	netns_new
	local pa=$BATS_TEST_TMPDIR/pa s=$SHOAL_TOP/events.d/10.interface
	# veth pairs: d0 and d1 lose their carrier when their peers go down.
	ip -n "$NS" link add d0 type veth peer name p0
	ip -n "$NS" link add d1 type veth peer name p1
	local l
	for l in d0 p0 d1 p1; do ip -n "$NS" link set "$l" up; done
	printf '192.0.2.1/24 d0\n192.0.2.2/24 d0,d1\n' >"$pa"
	export SHOAL_PUBLIC_ADDRESSES=$pa
	run -0 ip netns exec "$NS" "$s" monitor
	wait_for 5 ip netns exec "$NS" "$s" monitor
	ip -n "$NS" link set p1 down
	run -1 ip netns exec "$NS" "$s" monitor
	[ "$output" = "public interface d1 is down" ]
	# Partially online: fails only with every interface down.
	run -0 ip netns exec "$NS" env PARTIALLY_ONLINE_INTERFACES=yes "$s" monitor
	[[ "$output" == *"partially online: 1 of 2"* ]]
	ip -n "$NS" link set d0 down
	run -1 ip netns exec "$NS" env PARTIALLY_ONLINE_INTERFACES=yes "$s" monitor
	[[ "$output" == *"public interface d0 is down; public interface d1 is down"* ]]
	netns_done
}

@test "events.d/40.tcpservice: starts a service at startup, fails the monitor when it dies, stops it" {
	create 1 1 15
	ship 1 40.tcpservice
	local port d=$CLUSTER_DIR/n1 pid
	mkdir "$d/tcp"
	port_base port "$d/tcp" # a port no other test on this machine listens on
	printf 'TCPSERVICE_DIR=%s\n' "$d/tcp" >"$(node_events 1)/40.tcpservice.options"
	cat >"$d/tcp/web.conf" <<-CONF
		port=$port
		address=127.0.0.11
		start="python3 -m http.server $port --bind 127.0.0.11 >/dev/null 2>&1 & echo \\\$! >$d/web.pid"
		stop="kill \\\$(cat $d/web.pid)"
	CONF
	cluster_start
	wait_for 40 svc_json 1 '.state == "running" and .healthy' || { svcctl_n 1 status; false; }
	pid=$(cat "$d/web.pid")
	echo "$pid" >>"$d/extra.pids"
	run -0 svcctl_n 1 status startup
	[[ "$output" == *"| web: starting"* ]]
	wait_for 10 no_reason 1 "not yet monitored"
	kill "$pid"
	wait_for 10 reason 1 monitor
	run -0 svcctl_n 1 --json status monitor
	jq -e --arg p "$port" '.events.monitor.scripts[0].output | test("^web: nothing listens on port \($p) at 127.0.0.11 \\([0-9]+ in a row\\)$")' <<<"$output"
	# Started again by hand (startup): healthy again.
	run -0 svcctl_n 1 run startup
	pid=$(cat "$d/web.pid")
	echo "$pid" >>"$d/extra.pids"
	wait_for 10 no_reason 1 monitor
	cluster_stop 1
	wait_for 5 gone "$pid"
	rm -f "$d/extra.pids"
}

@test "events.d/60.nfs: monitors RPC programs and exports (exportfs and rpcinfo stand-ins)" {
	create 1 1 15
	ship 1 60.nfs
	local d=$CLUSTER_DIR/n1 sb=$CLUSTER_DIR/n1/standins
	mkdir -p "$sb" "$d/export1"
	# The stand-ins: rpcinfo fails for a program named in $sb/down; exportfs -v lists
	# $sb/exports; every call is logged.
	cat >"$sb/rpcinfo" <<-'SB'
		#!/bin/sh
		echo "rpcinfo $*" >>"$(dirname "$0")/calls"
		if grep -qx "$4" "$(dirname "$0")/down" 2>/dev/null; then
			echo "rpcinfo: RPC: Program not registered"; exit 1
		fi
		echo "program $4 version $5 ready and waiting"
	SB
	cat >"$sb/exportfs" <<-'SB'
		#!/bin/sh
		echo "exportfs $*" >>"$(dirname "$0")/calls"
		[ "$1" = -v ] && cat "$(dirname "$0")/exports"
		exit 0
	SB
	chmod 755 "$sb/rpcinfo" "$sb/exportfs"
	printf '%s\t192.0.2.0/24(rw,wdelay,root_squash)\n' "$d/export1" >"$sb/exports"
	printf 'NFS_START="echo nfs started >>%s/calls"\nNFS_STOP="echo nfs stopped >>%s/calls"\n' "$sb" "$sb" \
		>"$(node_events 1)/60.nfs.options"
	PATH="$sb:$PATH" cluster_start
	wait_for 20 svc_json 1 '.state == "running" and .healthy'
	grep -qx "nfs started" "$sb/calls"
	grep -qx "exportfs -ra" "$sb/calls"
	grep -qx "rpcinfo -T tcp 127.0.0.1 nfs 3" "$sb/calls"
	grep -qx "rpcinfo -T tcp 127.0.0.1 status 1" "$sb/calls"
	wait_for 10 no_reason 1 "not yet monitored"
	echo mountd >"$sb/down"
	wait_for 10 reason 1 monitor
	run -0 svcctl_n 1 status monitor
	[[ "$output" == *"RPC program mountd version 3 does not answer"* ]]
	rm "$sb/down"
	wait_for 10 no_reason 1 monitor
	printf '/nonexistent/dir\t*(ro)\n' >>"$sb/exports"
	wait_for 10 reason 1 monitor
	run -0 svcctl_n 1 status monitor
	[[ "$output" == *"exported directory /nonexistent/dir does not exist"* ]]
	run -0 svcctl_n 1 run ipreallocated
	cluster_stop 1
	grep -qx "nfs stopped" "$sb/calls"
}

@test "events.d/50.samba: a real smbd started, monitored, killed (node unhealthy), stopped (root, netns)" {
	require_root
	command -v smbd >/dev/null || { echo "smbd missing: run contrib/deps.sh" >&2; false; }
	netns_new
	create 1 1 15
	ship 1 50.samba
	local d=$CLUSTER_DIR/n1/smb pid p
	mkdir -p "$d"/{run,lock,state,cache,private,ncalrpc,log,share}
	cat >"$d/smb.conf" <<-CONF
		[global]
		workgroup = SHOAL
		server role = standalone server
		pid directory = $d/run
		lock directory = $d/lock
		state directory = $d/state
		cache directory = $d/cache
		private dir = $d/private
		ncalrpc dir = $d/ncalrpc
		binddns dir = $d/private
		log file = $d/log/log.%m
		disable netbios = yes
		load printers = no
		printing = bsd
		printcap name = /dev/null
		[share]
		path = $d/share
	CONF
	printf 'SMB_CONF=%s\n' "$d/smb.conf" >"$(node_events 1)/50.samba.options"
	# The whole node runs in the namespace: smbd's ports 445 and 139 are its own there.
	# shellcheck disable=SC2046
	ip netns exec "$NS" env $(_node_env 1) "$CLUSTER_BIN/shoal" -c "$(node_conf 1)" node start
	wait_for 30 svc_json 1 '.state == "running" and .healthy'
	wait_for 10 no_reason 1 "not yet monitored"
	pid=$(cat "$d/run/smbd.pid")
	echo "$pid" >>"$CLUSTER_DIR/n1/extra.pids"
	run -0 svcctl_n 1 status startup
	[[ "$output" == *"| starting smbd"*"| smbd runs (pid $pid)"* ]]
	# It answers on 445 in the namespace, and not outside of it.
	ip netns exec "$NS" bash -c 'exec 3<>/dev/tcp/127.0.0.11/445'
	# smbd dies (its whole process group): the node becomes unhealthy.
	kill -KILL -- "-$pid"
	wait_for 10 reason 1 monitor
	# (a monitor that ran across the kill may have seen the ports go first)
	wait_for 10 monitor_says 1 "| smbd is not running"
	# Started again: healthy again.
	run -0 svcctl_n 1 run startup
	pid=$(cat "$d/run/smbd.pid")
	echo "$pid" >>"$CLUSTER_DIR/n1/extra.pids"
	wait_for 10 no_reason 1 monitor
	# Stopping the node stops smbd.
	cluster_stop 1
	# (pid 1 of a container may be slow to reap: zombies do not count)
	wait_for 10 bash -c "[ -z \"\$(ps -o pid=,stat= -g $pid | awk '\$2 !~ /^Z/')\" ]"
	for p in $(ps -o pid=,stat= -g "$pid" | awk '$2 !~ /^Z/ { print $1 }'); do
		echo "process $p of smbd's group still runs" >&2
		false
	done
	rm -f "$CLUSTER_DIR/n1/extra.pids"
	netns_done
}
