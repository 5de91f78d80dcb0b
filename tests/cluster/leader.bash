# Leadership helpers for bats suites and benchmarks, on either harness (cluster/lib.bash or
# cluster/netns.bash, loaded first): who leads as each node sees it, and the interval check
# of tests/cluster/leadercheck.py over every node's leaderd trace.

node_leaderctl() {
	local i=$1
	shift
	"$CLUSTER_BIN/leaderctl" -c "$(node_conf "$i")" "$@"
}

# leader_seen_by i: the leader node number node i follows (fails if none).
leader_seen_by() {
	local out
	out=$(node_leaderctl "$1" -t 1000 --json status) || return 1
	jq -e 'select(.has_leader) | "\(.leader) \(.leader_term)"' -r <<<"$out"
}

# one_leader [i...]: every listed node (default all) follows the same leader and term, and
# that leader says it leads it. Prints the leader's harness index (1..N).
one_leader() {
	local nodes=("$@") i first= got out
	((${#nodes[@]})) || nodes=($(seq 1 "$CLUSTER_N"))
	for i in "${nodes[@]}"; do
		got=$(leader_seen_by "$i") || return 1
		[ -z "$first" ] && first=$got
		[ "$got" = "$first" ] || return 1
	done
	local l=$((${first% *} + 1)) t=${first#* }
	out=$(node_leaderctl "$l" -t 1000 --json status) || return 1
	jq -e --argjson t "$t" '.role == "leader" and .leader_term == $t' <<<"$out" >/dev/null || return 1
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
	jq -e '.has_leader | not' <<<"$out" >/dev/null
}

check_traces() {
	python3 "$SHOAL_TOP/tests/cluster/leadercheck.py" "$CLUSTER_DIR"/n*/run/leaderd.trace
}

others() {
	local x=$1 i
	for ((i = 1; i <= CLUSTER_N; i++)); do ((i == x)) || echo "$i"; done
}
