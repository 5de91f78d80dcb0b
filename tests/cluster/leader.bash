# Leadership helpers for bats suites and benchmarks, on either harness (cluster/lib.bash or
# cluster/netns.bash, loaded first): who leads as each node sees it, and the interval check
# of tests/cluster/leadercheck.py over every node's leaderd trace.

node_leaderctl() {
	local i=$1
	shift
	"$CLUSTER_BIN/leaderctl" -c "$CLUSTER_DIR/n$i/shoal.conf" "$@"
}

# These run in tight wait_for loops: they read leaderctl's one-line JSON with bash's own
# matching (see json_* in lib/common.bash) rather than starting jq, which costs four times
# a plain exec here.

# leader_seen_by i: "LEADER TERM" as node i follows them (fails if it follows none).
leader_seen_by() {
	local out l t
	out=$(node_leaderctl "$1" -t 1000 --json status) || return 1
	json_is "$out" has_leader true && json_get l "$out" leader && json_get t "$out" leader_term && echo "$l $t"
}

# one_leader [i...]: every listed node (default all) follows the same leader and term, and
# that leader says it leads it. Prints the leader's harness index (1..N).
one_leader() {
	local nodes=("$@") i first= got out
	((${#nodes[@]})) || for ((i = 1; i <= CLUSTER_N; i++)); do nodes+=("$i"); done
	for i in "${nodes[@]}"; do
		got=$(leader_seen_by "$i") || return 1
		[ -z "$first" ] && first=$got
		[ "$got" = "$first" ] || return 1
	done
	local l=$((${first% *} + 1)) t=${first#* }
	out=$(node_leaderctl "$l" -t 1000 --json status) || return 1
	json_is "$out" role '"leader"' && json_is "$out" leader_term "$t" || return 1
	echo "$l"
}

# settled_leader SECONDS: waits up to SECONDS for one_leader and prints what it found. One
# look, not a wait and then a second look: a leader may change between the two (a lease
# that ran out on a loaded machine), and a test that only needs to know who leads now
# must not fail for it.
settled_leader() {
	local end=$((SECONDS + $1)) l
	until l=$(one_leader); do
		if ((SECONDS >= end)); then
			echo "settled_leader: no single leader within $1 s" >&2
			return 1
		fi
		sleep 0.1
	done
	echo "$l"
}

# one_leader_not OLD [i...]: as one_leader, and the leader is not OLD.
one_leader_not() {
	local old=$1 l
	shift
	l=$(one_leader "$@") && [ "$l" != "$old" ] && echo "$l"
}

no_leader_at() {
	local out
	out=$(node_leaderctl "$1" -t 1000 --json status) || return 1
	json_is "$out" has_leader false
}

check_traces() {
	python3 "$SHOAL_TOP/tests/cluster/leadercheck.py" "$CLUSTER_DIR"/n*/run/leaderd.trace
}

others() {
	local x=$1 i
	for ((i = 1; i <= CLUSTER_N; i++)); do ((i == x)) || echo "$i"; done
}
