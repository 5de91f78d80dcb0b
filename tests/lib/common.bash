# Sourced by every bats suite: where the build is, and small helpers.
: "${SHOAL_BUILD:?set SHOAL_BUILD (make check does)}"
SHOAL_TOP=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
BIN=$SHOAL_BUILD/bin
TBIN=$SHOAL_BUILD/tests
export PATH="$BIN:$PATH"
# The service directories of this tree, whichever build is under test.
export SHOAL_SVC_DIR="$SHOAL_TOP/svc"

# As root (CI), a test that needs root must never be skipped silently.
require_root() {
	if [ "$(id -u)" != 0 ]; then
		skip "needs root"
	fi
}

# json_get VAR JSON NAME: VAR = the value of the first "NAME": in JSON (a number, true,
# false, or a string with its quotes); json_is JSON NAME VALUE: it is VALUE. For the flat
# one-line objects the CLIs print, in checks that are polled: no fork, where jq costs four
# times a plain exec here.
json_get() {
	local re="\"$3\":(\"[^\"]*\"|[^],}]*)"
	[[ $2 =~ $re ]] && printf -v "$1" '%s' "${BASH_REMATCH[1]}"
}
json_is() {
	local v
	json_get v "$1" "$2" && [ "$v" = "$3" ]
}

# node_re VAR N REST: VAR = a regex for node N's object in a CLI's one-line JSON, from its
# "node" to REST (a regex), for polled checks (no jq). N may be a regex too, e.g. '([0-9]+)'
# (then group 1). [^{}]* keeps the match inside N's object, so REST must come before the
# object's first nested object.
node_re() {
	printf -v "$1" '%s' "\\{\"node\":$2,[^{}]*$3"
}

# The clusters' files (run and database directories, logs) are on tmpfs too: under CI's
# builds and three suites at once, the disk's latency reached seconds, and every daemon that
# wrote a file waited on it. The tests look at logic, not at a disk; the one test of a hung
# disk mounts one of its own (membership.bats, FUSE).
SCRATCH_DIR=/dev/shm

# lock_file: this test's cluster lock file, on tmpfs. leaderd's lock helper writes and
# fdatasyncs it at every renewal (every lease/3); on the CI machine's disk, under the
# suites' own I/O, one such write took over a second and the tests' 300 ms leases ran out.
# The tests look at the lock's logic, not at a disk. Each suite's teardown removes it.
lock_file() {
	echo "$SCRATCH_DIR/shoal-lock${BATS_TEST_TMPDIR//\//_}"
}

# port_base VAR DIR: a base for 16 ports below the ephemeral range (32768-) that no other
# test on this machine holds now. CI runs suites side by side, all on 127.0.0.11...; a
# random pick alone collided ("Address already in use"). The base is held by a symlink
# $SCRATCH_DIR/shoal-port-BASE -> DIR (ln -sn is atomic); once DIR is gone (its test's
# teardown removed it, or a killed run left it) the base is free again.
port_base() {
	local try base lock
	for ((try = 0; try < 200; try++)); do
		base=$(((10000 + RANDOM % 22000) / 16 * 16))
		lock=$SCRATCH_DIR/shoal-port-$base
		# -n: without it, ln makes its link inside a taken base's directory and succeeds
		if ln -sn "$2" "$lock" 2>/dev/null ||
			{ [ ! -e "$lock" ] && rm -f "$lock" && ln -sn "$2" "$lock" 2>/dev/null; }; then
			printf -v "$1" '%s' "$base"
			return 0
		fi
	done
	echo "port_base: no free port base" >&2
	return 1
}
# port_base_release DIR: frees at once every base held for DIR or a directory under it (a
# test may reserve more under its cluster's directory); else each is freed when its
# directory is removed, but its link stays behind in $SCRATCH_DIR.
port_base_release() {
	local l t
	for l in "$SCRATCH_DIR"/shoal-port-*; do
		t=$(readlink "$l") || continue
		if [[ $t == "$1" || $t == "$1"/* ]]; then
			rm -f "$l"
		fi
	done
	return 0
}

# stop_pids [SECONDS]: stops this test's background processes, the pids in the array PIDS:
# SIGCONT (a test may have stopped one) and SIGTERM to each, then up to SECONDS (3) for each
# to exit before SIGKILL; reaps them. Never by name.
stop_pids() {
	local p i tries=$((${1:-3} * 20))
	for p in "${PIDS[@]}"; do
		kill -CONT "$p" 2>/dev/null || true
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		for ((i = 0; i < tries; i++)); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.05
		done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	PIDS=()
}

# sanitizer_check DIR: fails, printing them, if the stderr files DIR/*.err hold an ASan or
# UBSan report (the sanitized tools write theirs there as they exit).
sanitizer_check() {
	local bad
	bad=$(grep -l -E 'Sanitizer|runtime error' "$1"/*.err 2>/dev/null) || return 0
	# shellcheck disable=SC2086
	cat $bad
	return 1
}

# cli_leak_checks_off: the sanitized CLIs and tools this suite runs skip LeakSanitizer's
# pass at their exit. It costs ~55 ms of CPU a run on the CI machine, twice the rest of a
# CLI's run, and the cluster suites run the CLIs thousands of times: on CI's two cores,
# busy all the time, that CPU came out of the daemons under test. The daemons keep it (the
# harness gives them their own ASAN_OPTIONS), and so do the CLIs in the suites and tests
# that test them (cluster, conf, logfwd, messaging, proto, svcd; leaderctl's and ipctl's).
cli_leak_checks_off() {
	export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
}
# cli_leak_checks_on: back on for one test (the one that tests a CLI of such a suite).
cli_leak_checks_on() {
	export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1
}

# wait_for SECONDS CMD...: retry CMD until it succeeds or the deadline passes, every
# WAIT_FOR_POLL seconds (0.05) or, for a check that itself takes longer than half that,
# after a pause twice as long as the check took. Some tests watch states that last a moment
# (an event queued behind another), so cheap checks poll fast; an expensive one spaced out
# by twice its own cost keeps the polling to a third of a core at most, and the daemons
# under test get the rest (three suites run side by side on two cores in CI: at half a
# core each, the polling alone could take three quarters of the machine). Time comes from $EPOCHREALTIME: no fork.
# What is polled runs without LeakSanitizer: its pass at the exit of every sanitized CLI
# cost ~90 ms of CPU, and the same CLIs are leak-checked where a test runs them directly
# (the daemons get their own ASAN_OPTIONS from the harness).
wait_for() {
	local limit=$1 t0 t1 end pause secs poll=${WAIT_FOR_POLL:-0.05} int frac
	shift
	# microseconds, as integers: EPOCHREALTIME without its separator, the poll the same way
	int=${poll%%.*}
	frac=${poll#"$int"}
	frac=${frac#.}000000
	poll=$((10#${int:-0} * 1000000 + 10#${frac:0:6}))
	t0=${EPOCHREALTIME//[!0-9]/}
	end=$((t0 + limit * 1000000))
	while :; do
		t0=${EPOCHREALTIME//[!0-9]/}
		ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 "$@" >/dev/null 2>&1 && return 0
		t1=${EPOCHREALTIME//[!0-9]/}
		if ((t1 > end)); then
			echo "wait_for: timed out after ${limit}s: $*" >&2
			return 1
		fi
		pause=$((2 * (t1 - t0) > poll ? 2 * (t1 - t0) : poll))
		printf -v secs '%d.%06d' $((pause / 1000000)) $((pause % 1000000))
		sleep "$secs"
	done
}
