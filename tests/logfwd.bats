#!/usr/bin/env bats
# logfwd and lib/log: records reach the target without ever blocking a sender; drops are
# counted and reported; levels change at run time and survive restarts; file rotation;
# real rsyslog (started here with its own config, sockets and pid file, stopped by pid)
# for RFC 3164 over UDP and a Unix socket, RFC 5424 over UDP, and syslog(3) in a private
# mount namespace whose /dev/log is that rsyslog's socket. Everything started here is
# stopped by pid in teardown.
bats_require_minimum_version 1.5.0
load lib/common

setup() {
	EMIT=$TBIN/tools/logemit
	T=$(mktemp -d /tmp/lf.XXXXXX)
	PIDS=()
	printf '127.0.0.11\n' >"$T/nodes"
	head -c 32 /dev/urandom >"$T/key"
	chmod 600 "$T/key"
	port_base PORT_BASE "$T"
	UDP_PORT=$((32000 + RANDOM % 700))
	location "file:$T/out.log"
}

teardown() {
	local rc=0
	stop_pids 3
	port_base_release "$T"
	# Under ASan/UBSan the tools report what they found on stderr as they exit.
	sanitizer_check "$T" || rc=1
	rm -rf "$T"
	return $rc
}

# location LOC [EXTRA-LOGGING-LINES]: (re)writes $T/conf with [logging] location = LOC.
location() {
	cat >"$T/conf" <<-EOF
	[cluster]
	node address = 127.0.0.11
	nodes file = $T/nodes
	cluster key = $T/key
	run directory = $T/run
	port base = $PORT_BASE
	[database]
	directory = $T/db
	[logging]
	location = $1
	${2:-}
	EOF
}

# bg NAME CMD...: runs CMD in the background (stdout/stderr to $T/NAME.{out,err}); its pid
# goes to PIDS and $T/NAME.pid.
bg() {
	local name=$1
	shift
	"$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null &
	PIDS+=($!)
	echo $! >"$T/$name.pid"
}

start_logfwd() {
	bg logfwd logfwd -c "$T/conf"
	wait_for 5 test -S "$T/run/sock/logfwd"
}

# emit NAME [ARGS]: a stand-in daemon logging "seq=K" records (tests/tools/logemit.c).
emit() {
	local name=$1
	shift
	bg "$name" "$EMIT" -c "$T/conf" -s "$name" "$@"
}

status_json() {
	logctl -c "$T/conf" --json -t 2000 status
}

# count FILE PATTERN: lines of FILE matching PATTERN (0 if none).
count() {
	grep -c -E "$2" "$1" 2>/dev/null || true
}

# Starts rsyslogd with its own config: a Unix socket in $T/rs and UDP on 127.0.0.1.
start_rsyslog() {
	mkdir -p "$T/rs"
	cat >"$T/rs/rsyslog.conf" <<-EOF
	global(workDirectory="$T/rs" maxMessageSize="8k")
	module(load="imuxsock" SysSock.Use="off")
	input(type="imuxsock" Socket="$T/rs/log.sock" CreatePath="on")
	module(load="imudp")
	input(type="imudp" address="127.0.0.1" port="$UDP_PORT")
	template(name="t" type="string" string="host=%hostname% app=%app-name% pid=%procid% sev=%syslogseverity-text% fac=%syslogfacility-text% msg=%msg%\n")
	*.* action(type="omfile" file="$T/rs/out.log" template="t")
	EOF
	bg rsyslog rsyslogd -n -f "$T/rs/rsyslog.conf" -i "$T/rs/rsyslogd.pid"
	wait_for 5 test -S "$T/rs/log.sock"
	wait_for 5 sh -c "ss -uln | grep -q ':$UDP_PORT '"
}

@test "logfwd: unit tests of the shared-memory ring (tests/unit/logring_test)" {
	run "$TBIN/unit/logring_test"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "logfwd: a daemon logs to stderr until logfwd is up, then to the file" {
	bg memberd memberd -c "$T/conf"
	wait_for 5 grep -q 'ready' "$T/memberd.err"
	start_logfwd
	wait_for 5 grep -q 'logfwd\[[0-9]*\]: ready' "$T/out.log"
	emit e1 -i 20
	wait_for 5 grep -q 'notice e1\[[0-9]*\]: seq=3' "$T/out.log"
	# one line: time, host (the node address), level, service[pid], text
	pid=$(cat "$T/e1.pid")
	grep -E "^20[0-9-]{8}T[0-9:.]{12}Z 127\.0\.0\.11 notice e1\[$pid\]: seq=0$" "$T/out.log"
	[ ! -s "$T/e1.err" ]
	# memberd, started first, logged to stderr; its later records go through logfwd.
	kill -TERM "$(cat "$T/memberd.pid")"
	wait_for 5 grep -q 'memberd\[[0-9]*\]: stopping' "$T/out.log"
	run status_json
	[ "$status" -eq 0 ]
	echo "$output" | jq -e '.sources[] | select(.service == "e1") | .received > 3'
	echo "$output" | jq -e '.target == "file:'"$T"'/out.log" and .dropped == 0'
}

@test "logfwd: levels change at run time, per daemon, and survive restarts" {
	start_logfwd
	emit e1 -i 10
	wait_for 5 grep -q 'e1\[[0-9]*\]: seq=5' "$T/out.log"
	[ "$(count "$T/out.log" 'debug e1')" -eq 0 ]
	run logctl -c "$T/conf" level e1 debug
	[ "$status" -eq 0 ]
	echo "$output" | grep -E '^e1 +debug$'
	wait_for 5 grep -q 'debug e1\[[0-9]*\]: debug seq=' "$T/out.log"
	grep -q '^e1 debug$' "$T/run/log-levels"
	# logfwd restarts: the level is still there; the daemon restarts: it still applies.
	kill -TERM "$(cat "$T/logfwd.pid")" "$(cat "$T/e1.pid")"
	sleep 0.3
	start_logfwd
	run logctl -c "$T/conf" --json level
	[ "$status" -eq 0 ]
	echo "$output" | jq -e '.default == "notice" and .daemons["e1"] == "debug"'
	: >"$T/out.log"
	emit e1 -i 10
	wait_for 5 grep -q 'debug e1\[[0-9]*\]: debug seq=' "$T/out.log"
	# `level LEVEL` sets every daemon and drops the overrides.
	run logctl -c "$T/conf" level warning
	[ "$status" -eq 0 ]
	sleep 0.3
	n=$(count "$T/out.log" 'e1\[')
	sleep 0.3
	[ "$(count "$T/out.log" 'e1\[')" -eq "$n" ]
	run logctl -c "$T/conf" level e1 loud
	[ "$status" -eq 100 ]
	run logctl -c "$T/conf" level E/1 debug
	[ "$status" -eq 100 ]
}

@test "logfwd: SIGHUP reopens the file (logrotate)" {
	start_logfwd
	emit e1 -i 10
	wait_for 5 grep -q 'seq=3' "$T/out.log"
	mv "$T/out.log" "$T/out.log.1"
	kill -HUP "$(cat "$T/logfwd.pid")"
	wait_for 5 grep -q 'e1\[[0-9]*\]: seq=' "$T/out.log"
	last_old=$(grep -o 'seq=[0-9]*$' "$T/out.log.1" | tail -1 | cut -d= -f2)
	first_new=$(grep -o 'e1\[[0-9]*\]: seq=[0-9]*$' "$T/out.log" | head -1 | sed 's/.*seq=//')
	[ "$first_new" -eq $((last_old + 1)) ]
}

@test "logfwd: a stopped FIFO reader stalls nobody; drops are counted and reported" {
	mkfifo "$T/fifo"
	location "file:$T/fifo"
	bg reader sh -c "exec cat '$T/fifo' >'$T/fifo.out'"
	start_logfwd
	emit e1 -i 1 -n 20 -z 200
	wait_for 5 grep -q 'seq=100' "$T/fifo.out"
	kill -STOP "$(cat "$T/reader.pid")"
	# The pipe fills, the writer blocks, the queue fills: logfwd drops and counts.
	wait_for 10 sh -c "logctl -c '$T/conf' --json -t 2000 status | jq -e '.dropped > 1000'"
	# logfwd still answers at once, and the sender keeps going at full speed.
	start=$(date +%s%N)
	run status_json
	[ "$status" -eq 0 ]
	[ $(( ($(date +%s%N) - start) / 1000000 )) -lt 2000 ]
	echo "$output" | jq -e '.blocked_ms > 0 and .queued == .queue_max'
	before=$(echo "$output" | jq '.sources[] | select(.service == "e1") | .received')
	sleep 1
	after=$(status_json | jq '.sources[] | select(.service == "e1") | .received')
	echo "received: $before -> $after"
	[ $((after - before)) -gt 10000 ]
	kill -CONT "$(cat "$T/reader.pid")"
	wait_for 10 grep -q 'logfwd\[[0-9]*\]: [0-9]* log records dropped: the target did not keep up' "$T/fifo.out"
}

# seqs NAME: the seq numbers of NAME's notice records in the file, sorted.
seqs() {
	grep -o -E "$1\[[0-9]+\]: seq=[0-9]+" "$T/out.log" | sed 's/.*seq=//' | sort -n
}

# no_gap NAME: NAME's records in the file are seq=0..max, each once.
no_gap() {
	local n max
	n=$(seqs "$1" | uniq | wc -l)
	max=$(seqs "$1" | tail -1)
	echo "$1: $n records, last seq=$max"
	[ "$n" -gt 0 ] && [ "$n" = $((max + 1)) ] && [ "$(seqs "$1" | wc -l)" = "$n" ]
}

@test "logfwd: what a daemon logs while logfwd restarts waits in its ring: nothing lost" {
	start_logfwd
	emit e1 -i 5
	wait_for 5 grep -q 'seq=5$' "$T/out.log"
	kill -TERM "$(cat "$T/logfwd.pid")"
	sleep 0.5
	start_logfwd
	wait_for 5 sh -c "[ \$(grep -c 'e1.*seq=' '$T/out.log') -gt 150 ]"
	kill -TERM "$(cat "$T/e1.pid")"
	wait_for 5 sh -c "! kill -0 $(cat "$T/e1.pid") 2>/dev/null"
	# The ring of a process that has ended is drained and removed.
	wait_for 5 sh -c "! ls '$T/run/logring' | grep -q '^e1\.'"
	no_gap e1
	! grep -q 'log records dropped' "$T/out.log" || false
	[ ! -s "$T/e1.err" ]
}

@test "logfwd: the last records of a daemon killed while logfwd is stopped are delivered" {
	start_logfwd
	emit e2 -i 2
	wait_for 5 grep -q 'e2.*seq=5$' "$T/out.log"
	kill -STOP "$(cat "$T/logfwd.pid")"
	sleep 0.3
	kill -KILL "$(cat "$T/e2.pid")"
	before=$(seqs e2 | tail -1)
	kill -CONT "$(cat "$T/logfwd.pid")"
	wait_for 5 sh -c "! ls '$T/run/logring' | grep -q '^e2\.'"
	after=$(seqs e2 | tail -1)
	echo "last seq in the file: $before when stopped, $after once drained"
	[ "$after" -gt $((before + 20)) ]
	no_gap e2
}

@test "logfwd: a sender counts what it drops while logfwd is gone and its ring is full" {
	start_logfwd
	# 100 records of 1 kB every 5 ms: the 256 kB ring is full within a few ticks.
	emit e1 -i 5 -n 100 -z 1000
	wait_for 5 grep -q 'seq=5 ' "$T/out.log"
	kill -TERM "$(cat "$T/logfwd.pid")"
	sleep 0.5
	start_logfwd
	wait_for 5 grep -q 'e1\[[0-9]*\]: [0-9]* log records dropped before this one' "$T/out.log"
	# Drops may come in several runs (the ring fills again while logfwd catches up): all of
	# them are reported.
	n=$(grep -o 'e1\[[0-9]*\]: [0-9]* log records dropped before' "$T/out.log" | sed 's/.*: \([0-9]*\) log.*/\1/' | awk '{ s += $1 } END { print s }')
	echo "reported dropped: $n"
	[ "$n" -gt 20 ]
	status_json | jq -e '.sources[] | select(.service == "e1") | .dropped_sender > 20'
	# records went nowhere else: not to the sender's stderr
	[ ! -s "$T/e1.err" ]
}

@test "logfwd: RFC 3164 and RFC 5424 over UDP reach rsyslog parsed" {
	start_rsyslog
	location "syslog:udp:127.0.0.1:$UDP_PORT" "facility = local3"
	start_logfwd
	emit e1 -i 10
	pid=$(cat "$T/e1.pid")
	wait_for 5 grep -q "app=e1 pid=$pid sev=notice fac=local3 msg= *seq=2\$" "$T/rs/out.log"
	grep "host=127.0.0.11 app=e1 pid=$pid sev=notice fac=local3 msg= *seq=2\$" "$T/rs/out.log"
	kill -TERM "$(cat "$T/logfwd.pid")" "$pid"
	sleep 0.3
	location "syslog:udp-rfc5424:127.0.0.1:$UDP_PORT" "$(printf 'tag = shoal\nhostname = node-a')"
	start_logfwd
	emit e2 -i 10 -z 3000
	pid=$(cat "$T/e2.pid")
	# the record looked at, not just the first one (it comes 10 ms after)
	wait_for 5 grep -q "app=shoal-e2 pid=$pid sev=notice fac=daemon msg=seq=2 " "$T/rs/out.log"
	line=$(grep "app=shoal-e2 pid=$pid sev=notice fac=daemon msg=seq=2 " "$T/rs/out.log")
	echo "$line" | grep '^host=node-a '
	# within RFC 5426's 2048 bytes: the 3000-byte record is cut
	len=$(echo "$line" | sed 's/.*msg=//' | wc -c)
	[ "$len" -gt 1800 ] && [ "$len" -lt 2048 ]
}

@test "logfwd: RFC 3164 to a Unix socket (syslog:nonblocking) reaches rsyslog parsed" {
	start_rsyslog
	location "syslog:nonblocking:$T/rs/log.sock"
	start_logfwd
	emit e1 -i 10
	pid=$(cat "$T/e1.pid")
	wait_for 5 grep -q "app=e1 pid=$pid sev=notice fac=daemon msg= *seq=2\$" "$T/rs/out.log"
	grep -q "app=logfwd pid=$(cat "$T/logfwd.pid") sev=notice .*ready" "$T/rs/out.log"
	# rsyslog stopped: the socket fills, logfwd fails records and keeps answering.
	kill -STOP "$(cat "$T/rsyslog.pid")"
	wait_for 10 sh -c "logctl -c '$T/conf' --json -t 2000 status | jq -e '.failed > 0'"
	kill -CONT "$(cat "$T/rsyslog.pid")"
	n=$(status_json | jq .written)
	wait_for 5 sh -c "[ \$(logctl -c '$T/conf' --json status | jq .written) -gt $((n + 20)) ]"
}

@test "logfwd: syslog(3) in a private mount namespace; a stopped rsyslog stalls nobody" {
	require_root
	start_rsyslog
	location syslog
	# The namespace's /dev is a fresh tmpfs with null, zero, urandom and log (bound to
	# our rsyslog's socket); the machine's /dev is untouched.
	mkdir -p "$T/hostdev"
	bg logfwd unshare -m --propagation private sh -c "
		mount --bind /dev '$T/hostdev' &&
		mount -t tmpfs -o mode=755 tmpfs /dev &&
		for n in null zero urandom; do touch /dev/\$n && mount --bind '$T/hostdev/'\$n /dev/\$n || exit 1; done &&
		touch /dev/log && mount --bind '$T/rs/log.sock' /dev/log &&
		umount -l '$T/hostdev' &&
		exec logfwd -c '$T/conf'"
	wait_for 5 test -S "$T/run/sock/logfwd"
	[ ! -e /dev/log ] || [ "$(stat -c %i /dev/log)" != "$(stat -c %i "$T/rs/log.sock")" ]
	emit e1 -i 1 -n 10 -z 100
	pid=$(cat "$T/e1.pid")
	wait_for 5 grep -q "app=e1 pid=$pid sev=notice fac=daemon msg= *seq=2 " "$T/rs/out.log"
	kill -STOP "$(cat "$T/rsyslog.pid")"
	wait_for 15 sh -c "logctl -c '$T/conf' --json -t 2000 status | jq -e '.dropped > 1000'"
	start=$(date +%s%N)
	run status_json
	[ "$status" -eq 0 ]
	[ $(( ($(date +%s%N) - start) / 1000000 )) -lt 2000 ]
	echo "$output" | jq -e '.blocked_ms > 0'
	kill -CONT "$(cat "$T/rsyslog.pid")"
	wait_for 10 grep -q 'app=logfwd .*log records dropped: the target did not keep up' "$T/rs/out.log"
}

@test "logfwd: -n prints the canonical configuration; logctl without logfwd exits 111" {
	location "syslog:udp-rfc5424:[::1]:5514" "facility = LOCAL7"
	run logfwd -n -c "$T/conf"
	[ "$status" -eq 0 ]
	echo "$output" | grep -x 'location = syslog:udp-rfc5424:\[::1\]:5514'
	echo "$output" | grep -x 'facility = local7'
	run logctl -c "$T/conf" -t 300 status
	[ "$status" -eq 111 ]
	run logctl -c "$T/conf" frobnicate
	[ "$status" -eq 100 ]
}
