# The flap check of cluster tests: after a test, no live node may show a flap (a peer that
# was declared disconnected and then came back with the same incarnation: memberd was
# wrong to drop it), except where the test itself caused the silence. Sourced after
# cluster/lib.bash (tests/cluster/netns.bash sources it itself).
#
#   cluster_flap_exempt VIEWER SUBJECT   node VIEWER may count flaps of node SUBJECT
#                                        ('*' for every node); the harness records these
#   cluster_flap_exempt_node i           i's link was cut or i was stopped: every flap
#                                        seen by i or of i is expected
#   cluster_flap_check                   fails (listing them) on any other flap in the
#                                        `memberctl --json status` of each live node;
#                                        runs once per cluster (a second call returns
#                                        the first one's result)
#
# Loaded after lib.bash, it wraps cluster_freeze (the others may see flaps of the frozen
# node; the frozen node itself must not: its memberd notices its own stall) and
# cluster_stop (exempt both ways, as the issue says). A kill needs no exemption: the
# restarted node has a new incarnation, which is not a flap.
#
# Exemptions live in $CLUSTER_DIR/flap-exempt, one "VIEWER SUBJECT" a line.

cluster_flap_exempt() {
	[ -n "$CLUSTER_DIR" ] && [ -d "$CLUSTER_DIR" ] && echo "$1 $2" >>"$CLUSTER_DIR/flap-exempt"
}

cluster_flap_exempt_node() {
	cluster_flap_exempt "$1" '*'
	cluster_flap_exempt '*' "$1"
}

# _flap_exempt VIEWER SUBJECT: that pair is exempt.
_flap_exempt() {
	[ -f "$CLUSTER_DIR/flap-exempt" ] || return 1
	grep -qxE "($1|\\*) ($2|\\*)" "$CLUSTER_DIR/flap-exempt"
}

cluster_flap_check() {
	local i j out flaps rc=0 n
	[ -n "$CLUSTER_DIR" ] && [ -d "$CLUSTER_DIR" ] || return 0
	# Once per cluster: the suite's teardown and cluster_teardown may both call it.
	if [ -f "$CLUSTER_DIR/flap-checked" ]; then
		return "$(cat "$CLUSTER_DIR/flap-checked")"
	fi
	for ((i = 1; i <= CLUSTER_N; i++)); do
		# Only live nodes: a memberd that is up (a node the test left down has no view).
		node_daemon_pid "$i" >/dev/null 2>&1 || continue
		_flap_exempt "$i" '\*' && continue # its whole view is exempt: do not even ask
		if ! out=$(node_memberctl "$i" -t 2000 --json status 2>&1); then
			echo "flap check: node $i did not answer: $out" >&2
			continue
		fi
		# "subject-index flaps" for every peer with a non-zero count
		while read -r n flaps; do
			[ -n "$n" ] || continue
			j=$((n + 1))
			_flap_exempt "$i" "$j" && continue
			echo "flap check: node $i (number $((i - 1))) counts $flaps flap(s) of node $j (number $n), which the test did not cut, freeze or stop" >&2
			rc=1
		done < <(jq -r '.nodes[] | select(.flaps > 0) | "\(.node) \(.flaps)"' <<<"$out")
	done
	if ((rc)); then
		for ((i = 1; i <= CLUSTER_N; i++)); do
			echo "--- node $i: flap and disconnect lines of its log ---" >&2
			grep -E 'flapped|disconnected|late' "$(node_run "$i")/node.log" 2>/dev/null | tail -n 20 >&2
		done
	fi
	echo "$rc" >"$CLUSTER_DIR/flap-checked"
	return $rc
}

# Wrap lib.bash's freeze and stop so that they record their exemptions (once).
if declare -F cluster_freeze >/dev/null && ! declare -F _flaps_orig_cluster_freeze >/dev/null; then
	eval "_flaps_orig_$(declare -f cluster_freeze)"
	cluster_freeze() {
		cluster_flap_exempt '*' "$1"
		_flaps_orig_cluster_freeze "$@"
	}
fi
if declare -F cluster_stop >/dev/null && ! declare -F _flaps_orig_cluster_stop >/dev/null; then
	eval "_flaps_orig_$(declare -f cluster_stop)"
	cluster_stop() {
		local i nodes=("$@")
		((${#nodes[@]})) || nodes=($(seq 1 "$CLUSTER_N"))
		for i in "${nodes[@]}"; do cluster_flap_exempt_node "$i"; done
		_flaps_orig_cluster_stop "$@"
	}
fi
