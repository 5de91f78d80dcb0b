# The loopback cluster harness: N shoal nodes on this machine, each with its own address in
# 127.0.0.0/8, configuration, run directory, database directory and supervision tree
# (`shoal node start`). Loaded by bats suites after lib/common (`load cluster/lib`), and
# sourced by benchmarks and the demo, also after lib/common.bash (for node_re); it needs
# only bash, jq, s6 and $SHOAL_BUILD.
#
# Nodes are numbered i = 1..N here: node i has address 127.0.0.(10+i) and is node number
# i-1 in the nodes file (and in memberctl's output).
#
#   cluster_create N        make the files (no process yet); sets CLUSTER_DIR, CLUSTER_N
#   cluster_start [i...]    shoal node start on every listed node at once (default: all)
#   cluster_stop [i...]     shoal node stop (default: all)
#   cluster_kill i          SIGKILL the node's whole tree: s6-svscan, then s6-supervise and
#                           the daemons, each by pid
#   cluster_freeze i        SIGSTOP the same processes; cluster_thaw i: SIGCONT them
#   cluster_pause i         freeze them with the cgroup freezer (a paused VM: no signal);
#                           cluster_unpause i
#   cluster_teardown        call from teardown(): stops everything, kills by pid what is left,
#                           fails if a sanitizer wrote a report, removes the files
#   node_conf i, node_run i, node_addr i, node_number i
#   node_events i, node_hooks i   node i's events.d and hook directory (empty at first)
#   node_memberctl i ARGS   memberctl -c <conf of i> ARGS
#   node_daemon_pid i [D]   the pid of daemon D (memberd) from s6-svstat; fails if down
#   node_tree_pids i        the pids of the node's tree, s6-svscan first
#   cluster_connected [i...]   every listed node (default: all) sees every listed node
#                              connected
#   node_sees i j STATE     node i's view shows node j as connected/disconnected
#
# Tunables, read by cluster_create: CLUSTER_KEEPALIVE_MS (100; "default" leaves both keepalive
# lines out, so the nodes run with shoal's own defaults), CLUSTER_KEEPALIVE_LIMIT (5),
# CLUSTER_BACKOFF_MAX_MS (5000), CLUSTER_PERMAFAIL_COUNT (5), CLUSTER_PERMAFAIL_SECONDS (60),
# CLUSTER_MONITOR_INTERVAL (15 s), CLUSTER_EVENT_TIMEOUT (30 s); CLUSTER_LEADERD_TRACE (1:
# leaderd writes <run dir>/leaderd.trace for tests/cluster/leadercheck.py; 0: as in production).
#
# Every daemon runs with ASAN_OPTIONS/UBSAN_OPTIONS log_path=<run dir>/asan/..., so the
# report of a daemon that s6 restarted is kept; cluster_teardown fails on any report.
# Nothing is ever killed by name: only pids recorded from svscan.pid and /proc.

: "${SHOAL_BUILD:?set SHOAL_BUILD to a build directory}"
CLUSTER_BIN=$SHOAL_BUILD/bin
CLUSTER_DIR=
CLUSTER_N=0

_cluster_fail() {
	echo "cluster: $*" >&2
	return 1
}

# _kill_pid SIGNAL PID: only a plain number above 1 (kill -9 -1 would end everything).
_kill_pid() {
	[[ $2 =~ ^[0-9]+$ ]] && (($2 > 1)) && kill "-$1" "$2" 2>/dev/null
}

# _cluster_keepalive VAR: VAR = the [membership] keepalive lines of a node's shoal.conf, or
# nothing with CLUSTER_KEEPALIVE_MS=default (benchmarks of a node as shipped). The suites
# keep 100 ms x 5: their timings were tuned on it.
_cluster_keepalive() {
	if [ "${CLUSTER_KEEPALIVE_MS:-}" = default ]; then
		printf -v "$1" '%s' ""
	else
		printf -v "$1" 'keepalive interval = %s\nkeepalive limit = %s' \
			"${CLUSTER_KEEPALIVE_MS:-100}" "${CLUSTER_KEEPALIVE_LIMIT:-5}"
	fi
}

cluster_create() {
	local n=$1 i keepalive
	_cluster_keepalive keepalive
	[[ $n =~ ^[0-9]+$ ]] && ((n >= 1 && n <= 200)) || _cluster_fail "cluster_create: bad count '$n'" || return 1
	# Short: socket paths under <run dir>/sock/ must fit in 108 bytes.
	CLUSTER_DIR=$(mktemp -d "$SCRATCH_DIR/shc.XXXXXX") || return 1
	CLUSTER_N=$n
	local port
	port_base port "$CLUSTER_DIR" || return 1
	head -c 32 /dev/urandom >"$CLUSTER_DIR/key"
	chmod 600 "$CLUSTER_DIR/key"
	for ((i = 1; i <= n; i++)); do
		echo "127.0.0.$((10 + i))"
	done >"$CLUSTER_DIR/nodes"
	for ((i = 1; i <= n; i++)); do
		_cluster_node_conf "$CLUSTER_DIR/n$i" "127.0.0.$((10 + i))" "$port" "$keepalive"
	done
}

# Lays out one node's directory ($1) and writes its shoal.conf: node address $2, port base
# $3, the [membership] keepalive lines $4, and $5 (optional) more [membership] lines.
_cluster_node_conf() {
	local d=$1
	mkdir -p "$d/run/asan" "$d/db" "$d/events.d" "$d/hooks.d"
	cat >"$d/shoal.conf" <<-EOF
		[cluster]
		node address = $2
		nodes file = $CLUSTER_DIR/nodes
		cluster key = $CLUSTER_DIR/key
		port base = $3
		run directory = $d/run
		[database]
		directory = $d/db
		[membership]
		$4
		${5:-}
		[supervision]
		restart backoff max = ${CLUSTER_BACKOFF_MAX_MS:-5000}
		permanent failure count = ${CLUSTER_PERMAFAIL_COUNT:-5}
		permanent failure seconds = ${CLUSTER_PERMAFAIL_SECONDS:-60}
		[events]
		directory = $d/events.d
		hook directory = $d/hooks.d
		monitor interval = ${CLUSTER_MONITOR_INTERVAL:-15}
		event timeout = ${CLUSTER_EVENT_TIMEOUT:-30}
		[logging]
		level = info
	EOF
}

# Forking costs ~10 ms on a virtual machine: helpers that tests poll use these paths
# directly rather than through $(node_conf i).
node_conf() { echo "$CLUSTER_DIR/n$1/shoal.conf"; }
node_run() { echo "$CLUSTER_DIR/n$1/run"; }
node_events() { echo "$CLUSTER_DIR/n$1/events.d"; }
node_hooks() { echo "$CLUSTER_DIR/n$1/hooks.d"; }
node_addr() { echo "127.0.0.$((10 + $1))"; }
node_number() { echo "$(($1 - 1))"; }

node_memberctl() {
	local i=$1
	shift
	"$CLUSTER_BIN/memberctl" -c "$CLUSTER_DIR/n$i/shoal.conf" "$@"
}

node_shoal() {
	local i=$1
	shift
	"$CLUSTER_BIN/shoal" -c "$CLUSTER_DIR/n$i/shoal.conf" "$@"
}

# The daemons get the sanitizer options through shoal node start's environment.
_node_env() {
	local run
	run=$(node_run "$1")
	echo "ASAN_OPTIONS=log_path=$run/asan/asan:halt_on_error=1:detect_leaks=1${CLUSTER_ASAN_EXTRA:+:$CLUSTER_ASAN_EXTRA}"
	echo "UBSAN_OPTIONS=log_path=$run/asan/ubsan:halt_on_error=1:print_stacktrace=1"
	echo "SHOAL_LEADERD_TRACE=${CLUSTER_LEADERD_TRACE:-1}"
}

cluster_start() {
	local nodes=("$@")
	((${#nodes[@]})) || nodes=($(seq 1 "$CLUSTER_N"))
	_start_nodes "${nodes[@]}"
}

# _start_nodes i...: `shoal node start` for every node at once (each one waits for its own
# tree to be ready, mostly idle time), then every one's status.
_start_nodes() {
	local k pids=() nodes=("$@") rc=0
	for k in "${!nodes[@]}"; do
		_start_node "${nodes[$k]}" &
		pids[k]=$!
	done
	for k in "${!nodes[@]}"; do
		wait "${pids[k]}" ||
			_cluster_fail "node ${nodes[k]} did not start (log: $CLUSTER_DIR/n${nodes[k]}/run/node.log)" || rc=1
	done
	return $rc
}

# _start_node i: node i's tree, started (netns.bash starts it in the node's namespace, and
# here, on the loopback, when no namespace cluster is up).
_start_node() { _start_node_loopback "$1"; }
_start_node_loopback() {
	# shellcheck disable=SC2046
	env $(_node_env "$1") "$CLUSTER_BIN/shoal" -c "$CLUSTER_DIR/n$1/shoal.conf" node start
}

cluster_stop() {
	local i nodes=("$@") rc=0
	((${#nodes[@]})) || nodes=($(seq 1 "$CLUSTER_N"))
	for i in "${nodes[@]}"; do
		"$CLUSTER_BIN/shoal" -c "$(node_conf "$i")" node stop >/dev/null || rc=1
	done
	return $rc
}

# _proc_table: "pid ppid state starttime" for every process.
_proc_table() {
	local f line rest
	for f in /proc/[0-9]*/stat; do
		read -r line 2>/dev/null <"$f" || continue
		rest=${line##*) }
		# shellcheck disable=SC2086
		set -- $rest
		echo "${f//[^0-9]/} $2 $1 ${20}"
	done
}

# _tree ROOT: ROOT and its living descendants, ROOT first, as "pid:starttime".
_tree() {
	local root=$1
	[[ $root =~ ^[0-9]+$ ]] && ((root > 1)) || return 0
	_proc_table | awk -v root="$root" '
		$3 != "Z" { ppid[$1] = $2; start[$1] = $4; kids[$2] = kids[$2] " " $1 }
		END {
			if (!(root in start)) exit
			q[0] = root; n = 1
			for (h = 0; h < n; h++) {
				p = q[h]; print p ":" start[p]
				m = split(kids[p], k, " ")
				for (x = 1; x <= m; x++) q[n++] = k[x]
			}
		}'
}

_svscan_pid() {
	local f
	f=$CLUSTER_DIR/n$1/run/svscan.pid
	[ -r "$f" ] && read -r pid <"$f" && [[ $pid =~ ^[0-9]+$ ]] && ((pid > 1)) && echo "$pid"
}

# node_tree_pids i: s6-svscan of node i, then its s6-supervise processes, daemons, scripts.
node_tree_pids() {
	local t
	t=$(_tree "$(_svscan_pid "$1")") || return 1
	[ -n "$t" ] && echo "$t" | cut -d: -f1
}

# _same_proc PID:START: that process still runs (not a zombie, pid not reused).
_same_proc() {
	local pid=${1%%:*} start=${1##*:} line rest
	read -r line 2>/dev/null </proc/"$pid"/stat || return 1
	rest=${line##*) }
	# shellcheck disable=SC2086
	set -- $rest
	[ "$1" != Z ] && [ "${20}" = "$start" ]
}

# Every process ever seen in a node's tree, for the teardown's last sweep.
_cluster_remember() {
	[ -n "$CLUSTER_DIR" ] && [ -d "$CLUSTER_DIR" ] && printf '%s\n' "$@" >>"$CLUSTER_DIR/pids"
}

_signal_tree() {
	local sig=$1 i=$2 t p
	t=$(_tree "$(_svscan_pid "$i")")
	[ -n "$t" ] || _cluster_fail "node $i is not running" || return 1
	# shellcheck disable=SC2086
	_cluster_remember $t
	# s6-svscan first, so it cannot react to the death of its supervisors.
	for p in $t; do
		_kill_pid "$sig" "${p%%:*}"
	done
	echo "$t"
}

cluster_kill() {
	local t p
	t=$(_signal_tree KILL "$1") || return 1
	for p in $t; do
		wait_for_gone "$p" || return 1
	done
}

wait_for_gone() {
	local end=$(($(date +%s) + 10))
	while _same_proc "$1"; do
		(($(date +%s) <= end)) || _cluster_fail "process ${1%%:*} still runs" || return 1
		sleep 0.02
	done
}

cluster_freeze() { _signal_tree STOP "$1" >/dev/null; }
cluster_thaw() { _signal_tree CONT "$1" >/dev/null; }

# cluster_pause i / cluster_unpause i: freeze node i's tree with the cgroup freezer, as a
# paused VM is: no signal, nothing runs, and the clocks go on (v1 freezer or v2 cgroup.freeze).
_pause_cg() {
	if [ -d /sys/fs/cgroup/freezer ]; then
		echo "/sys/fs/cgroup/freezer/shoal-pause.${CLUSTER_DIR##*.}.$1"
	else
		echo "/sys/fs/cgroup/shoal-pause.${CLUSTER_DIR##*.}.$1"
	fi
}
cluster_pause() {
	local cg p
	cg=$(_pause_cg "$1")
	mkdir -p "$cg" || return 1
	for p in $(node_tree_pids "$1"); do
		if [ -e "$cg/tasks" ]; then echo "$p" >"$cg/tasks"; else echo "$p" >"$cg/cgroup.procs"; fi
	done
	if [ -e "$cg/freezer.state" ]; then echo FROZEN >"$cg/freezer.state"; else echo 1 >"$cg/cgroup.freeze"; fi
}
cluster_unpause() {
	local cg p root
	cg=$(_pause_cg "$1")
	[ -d "$cg" ] || return 0
	if [ -e "$cg/freezer.state" ]; then echo THAWED >"$cg/freezer.state"; else echo 0 >"$cg/cgroup.freeze"; fi
	root=$(dirname "$cg")
	for p in $(cat "$cg/cgroup.procs" 2>/dev/null); do
		if [ -e "$root/tasks" ]; then echo "$p" >"$root/tasks"; else echo "$p" >"$root/cgroup.procs"; fi
	done
	rmdir "$cg"
}

node_daemon_pid() {
	local pid
	pid=$(s6-svstat -o pid "$CLUSTER_DIR/n$1/run/scan/${2:-memberd}" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] && ((pid > 1)) && echo "$pid"
}

# _node_connected_is JSON N true|false: in memberctl's `--json list`, node N's "connected"
# is that (the node objects are flat up to "connected"; no jq in polled checks).
_node_connected_is() {
	local re
	node_re re "$2" "\"connected\":$3[,}]"
	[[ $1 =~ $re ]]
}

# _connected_in JSON: the node numbers memberctl's `--json list` shows connected, in order,
# space-separated.
_connected_in() {
	local rest=$1 got=() re
	node_re re '([0-9]+)' '"connected":(true|false)'
	while [[ $rest =~ $re ]]; do
		[ "${BASH_REMATCH[2]}" = true ] && got+=("${BASH_REMATCH[1]}")
		rest=${rest#*"${BASH_REMATCH[0]}"}
	done
	echo "${got[*]}"
}

# node_sees i j connected|disconnected
node_sees() {
	local want=true
	[ "$3" = disconnected ] && want=false
	local out
	out=$(node_memberctl "$1" -t 1000 --json list) || return 1
	_node_connected_is "$out" "$(($2 - 1))" "$want"
}

cluster_connected() {
	local i j nums=() nodes=("$@")
	((${#nodes[@]})) || for ((i = 1; i <= CLUSTER_N; i++)); do nodes+=("$i"); done
	for j in "${nodes[@]}"; do nums+=("$((j - 1))"); done
	# One memberctl per node and no jq: this runs in tight wait_for loops.
	local out n
	for i in "${nodes[@]}"; do
		out=$(node_memberctl "$i" -t 1000 --json list) || return 1
		for n in "${nums[@]}"; do _node_connected_is "$out" "$n" true || return 1; done
	done
}

# Always from teardown(): whatever the test did, nothing survives it.
cluster_teardown() {
	local i t rc=0 f p stops=()
	[ -n "$CLUSTER_DIR" ] && [ -d "$CLUSTER_DIR" ] || return 0
	for ((i = 1; i <= CLUSTER_N; i++)); do
		t=$(_tree "$(_svscan_pid "$i")")
		# shellcheck disable=SC2086
		_cluster_remember $t
		# A frozen tree would only die by SIGKILL (a paused one not even so): let it stop.
		cluster_unpause "$i"
		for p in $t; do _kill_pid CONT "${p%%:*}"; done
	done
	# The nodes stop side by side: one after the other, the stops were a good part of each
	# test's time (a sanitized daemon's exit runs a leak check).
	for ((i = 1; i <= CLUSTER_N; i++)); do
		"$CLUSTER_BIN/shoal" -c "$(node_conf "$i")" node stop >/dev/null 2>&1 &
		stops+=($!)
	done
	for p in "${stops[@]}"; do
		wait "$p" || rc=1
	done
	if [ -f "$CLUSTER_DIR/pids" ]; then
		for p in $(sort -u "$CLUSTER_DIR/pids"); do
			if _same_proc "$p"; then
				echo "cluster_teardown: process ${p%%:*} survived the stop; killing it" >&2
				_kill_pid KILL "${p%%:*}"
				rc=1
			fi
		done
	fi
	for f in "$CLUSTER_DIR"/n*/run/asan/*; do
		[ -e "$f" ] || continue
		echo "cluster_teardown: sanitizer report $f:" >&2
		cat "$f" >&2
		rc=1
	done
	# Also for a test that failed (bats sets BATS_TEST_COMPLETED only for one that passed).
	if ((rc)) || { [ -n "${BATS_TEST_NAME:-}" ] && [ -z "${BATS_TEST_COMPLETED:-}" ]; }; then
		for ((i = 1; i <= CLUSTER_N; i++)); do
			echo "--- node $i log (last 30 lines) ---" >&2
			tail -n 30 "$CLUSTER_DIR/n$i/run/node.log" >&2 2>/dev/null
		done
	fi
	port_base_release "$CLUSTER_DIR"
	rm -rf "$CLUSTER_DIR"
	CLUSTER_DIR=
	CLUSTER_N=0
	return $rc
}
