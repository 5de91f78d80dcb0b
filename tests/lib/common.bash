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

# wait_for SECONDS CMD...: retry CMD every WAIT_FOR_POLL seconds (0.05) until it succeeds or
# the deadline passes. Some tests watch states that last a moment (an event queued behind
# another): a coarser poll misses them on a loaded machine.
wait_for() {
	local limit=$1; shift
	local end=$(( $(date +%s%N) + limit * 1000000000 ))
	while ! "$@" >/dev/null 2>&1; do
		if [ "$(date +%s%N)" -gt "$end" ]; then
			echo "wait_for: timed out after ${limit}s: $*" >&2
			return 1
		fi
		sleep "${WAIT_FOR_POLL:-0.05}"
	done
}
