# The namespace cluster harness (root only): N shoal nodes, each in its own network
# namespace, joined by veth pairs to bridges in a "switch" namespace, plus a client
# namespace. Nothing touches the host's interfaces: every link is created inside the
# run's own namespaces, and every address lives only there. Loaded by bats suites after
# lib/common (`load cluster/netns`), and sourced by benchmarks. It builds on
# cluster/lib.bash (same node numbering, files, node_* helpers, cluster_kill/freeze/thaw)
# and cluster/flaps.bash (the flap check), which it sources.
#
# Layout of one run (run id RID, 4 hex digits; subnet byte R, from the run id):
#   namespaces   shns-<pid>-RID-sw (switch), shns-<pid>-RID-n<i> (node i),
#                shns-<pid>-RID-cl (client); <pid> is the owner's, so a later run can
#                remove what a killed run left behind (ns_sweep_stale)
#   switch       bridge br0 (cluster network, ports c<i>), bridge br1 (public network,
#                ports p<i>, and pc for the client); no STP, no forwarding delay
#   node i       eth0 = 10.99.R.(10+i)/24, its cluster address (in the nodes file);
#                eth1 = the public interface, up, no address (ipd will put public
#                addresses on it: see ns_public_net); eth2... likewise with
#                NS_PUBLIC_IFACES > 1 (switch ports p<i>e2...); lo up
#   client       eth0 = 10.98.R.250/24 on the public network
# Nodes are numbered i = 1..N (node number i-1 in memberctl), as in lib.bash.
#
#   ns_cluster_create N     namespaces, links and files (no process yet); ns_teardown undoes it
#   ns_cluster_start [i...] `ip netns exec <node ns> shoal node start`, all at once (default: all)
#   ns_cluster_stop [i...]  shoal node stop (a graceful leave)
#   ns_kill i               SIGKILL the node's whole tree (crash)
#   ns_freeze i / ns_thaw i SIGSTOP / SIGCONT the node's tree
#   ns_cut i / ns_restore i silent cut of node i's cluster link: its switch port is
#                           detached from the bridge (carrier stays up on both ends)
#   ns_cut_oneway i         node i drops every packet that comes in on eth0 (nftables in
#                           its namespace); it still sends. ns_restore i (or ns_heal) ends it
#   ns_partition "1 2" "3"  groups that reach only each other (each node drops input from
#                           the nodes outside its group); ns_heal ends every partition and
#                           one-way cut
#   ns_exec i CMD...        run CMD in node i's namespace; ns_client_exec CMD... in the client's
#   ns_name i, ns_switch, ns_client, ns_public_net (10.98.R: the public /24),
#   ns_client_addr
#   ns_teardown             call from teardown() (or an EXIT trap): the flap check, then
#                           lib.bash's cluster_teardown (stop, kill leftovers by pid,
#                           sanitizer reports), then every process left in the run's
#                           namespaces is killed by pid and the namespaces are deleted.
#                           Fails if any of that found something wrong.
# Tunables: those of lib.bash (CLUSTER_KEEPALIVE_MS, ...), and NS_START_AS, NS_HEALTH_MONITOR
# (default none), NS_EXTRA_MEMBERSHIP (more [membership] lines), NS_PUBLIC_IFACES (1: how
# many public interfaces each node has, eth1...). Each node has its own
# events.d and hooks.d (node_events i, node_hooks i), empty at first.
#
# Cuts, freezes and stops are recorded for the flap check (cluster/flaps.bash); kills are not
# (a restarted node has a new incarnation, which is no flap).

# shellcheck source=lib.bash
source "${BASH_SOURCE[0]%/*}/lib.bash"
# shellcheck source=flaps.bash
source "${BASH_SOURCE[0]%/*}/flaps.bash"

NS_PFX=
NS_R=
NS_N=0

_ns_fail() {
	echo "netns: $*" >&2
	return 1
}

ns_name() { echo "${NS_PFX}n$1"; }
ns_switch() { echo "${NS_PFX}sw"; }
ns_client() { echo "${NS_PFX}cl"; }
ns_public_net() { echo "10.98.$NS_R"; }
ns_client_addr() { echo "10.98.$NS_R.250"; }
# Overrides lib.bash's (loopback) address.
node_addr() { echo "10.99.$NS_R.$((10 + $1))"; }

ns_exec() {
	local i=$1
	shift
	ip netns exec "${NS_PFX}n$i" "$@"
}

ns_client_exec() { ip netns exec "${NS_PFX}cl" "$@"; }

# _ns_kill_all NS: SIGKILL, by pid, every process left in namespace NS. Fails if there was
# any (the caller decides whether that is an error).
_ns_kill_all() {
	local p left=0
	[ -e "/run/netns/$1" ] || return 0
	# What `ip netns pids` does, without a fork: -ef compares the namespaces' inodes.
	for p in /proc/[0-9]*; do
		[[ $p/ns/net -ef /run/netns/$1 ]] || continue
		_kill_pid KILL "${p#/proc/}" && left=1
	done
	return $left
}

# _ns_delete NAME...: kill what runs there, delete them.
_ns_delete() {
	local ns
	for ns in "$@"; do
		[ -e "/run/netns/$ns" ] || continue
		_ns_kill_all "$ns" || :
		ip netns del "$ns" 2>/dev/null
	done
}

# Namespaces of runs whose owner process is gone (a bats run killed with SIGKILL).
ns_sweep_stale() {
	local f ns pid
	for f in /run/netns/shns-*; do
		[ -e "$f" ] || continue
		ns=${f##*/}
		pid=${ns#shns-}
		pid=${pid%%-*}
		[[ $pid =~ ^[0-9]+$ ]] || continue
		[ -d "/proc/$pid" ] && continue
		echo "netns: removing $ns, left by process $pid" >&2
		_ns_delete "$ns"
	done
}

# _ns_all: every namespace of this run.
_ns_all() {
	local i
	[ -n "$NS_PFX" ] || return 0
	ns_switch
	ns_client
	for ((i = 1; i <= NS_N; i++)); do ns_name "$i"; done
}

ns_cluster_create() {
	local n=$1 i k sw cl rid port keepalive membership
	_cluster_keepalive keepalive
	printf -v membership 'start as = %s\nhealth monitor = %s\n%s' "${NS_START_AS:-enabled}" \
		"${NS_HEALTH_MONITOR:-none}" "${NS_EXTRA_MEMBERSHIP:-}"
	[ "$(id -u)" = 0 ] || _ns_fail "ns_cluster_create needs root" || return 1
	[[ $n =~ ^[0-9]+$ ]] && ((n >= 1 && n <= 200)) || _ns_fail "ns_cluster_create: bad count '$n'" || return 1
	command -v nft >/dev/null || _ns_fail "nft (nftables) is needed for cuts and partitions" || return 1
	ns_sweep_stale
	rid=$(od -An -N2 -tx1 /dev/urandom | tr -d ' \n')
	NS_PFX="shns-$$-$rid-"
	NS_R=$((16#$rid % 250 + 1))
	NS_N=$n
	CLUSTER_DIR=$(mktemp -d "$SCRATCH_DIR/shn.XXXXXX") || return 1
	CLUSTER_N=$n
	port=$(((10000 + RANDOM % 22000) / 16 * 16)) # below the ephemeral range (32768-)
	head -c 32 /dev/urandom >"$CLUSTER_DIR/key"
	chmod 600 "$CLUSTER_DIR/key"
	echo "$NS_PFX" >"$CLUSTER_DIR/netns"
	for ((i = 1; i <= n; i++)); do node_addr "$i"; done >"$CLUSTER_DIR/nodes"

	# Three `ip -batch` runs rather than forty `ip` commands: a fork costs ~10 ms here.
	sw=$(ns_switch)
	cl=$(ns_client)
	{
		echo "netns add $sw"
		echo "netns add $cl"
		for ((i = 1; i <= n; i++)); do echo "netns add ${NS_PFX}n$i"; done
	} | ip -batch - || return 1
	{
		echo "link set lo up"
		echo "link add br0 type bridge forward_delay 0 stp_state 0"
		echo "link add br1 type bridge forward_delay 0 stp_state 0"
		echo "link set br0 up"
		echo "link set br1 up"
		echo "link add pc type veth peer name eth0 netns $cl"
		echo "link set pc master br1 up"
		for ((i = 1; i <= n; i++)); do
			echo "link add c$i type veth peer name eth0 netns ${NS_PFX}n$i"
			echo "link add p$i type veth peer name eth1 netns ${NS_PFX}n$i"
			echo "link set c$i master br0 up"
			echo "link set p$i master br1 up"
			for ((k = 2; k <= ${NS_PUBLIC_IFACES:-1}; k++)); do
				echo "link add p${i}e$k type veth peer name eth$k netns ${NS_PFX}n$i"
				echo "link set p${i}e$k master br1 up"
			done
		done
	} | ip -n "$sw" -batch - || return 1
	printf '%s\n' "link set lo up" "addr add $(ns_client_addr)/24 dev eth0" "link set eth0 up" |
		ip -n "$cl" -batch - || return 1
	for ((i = 1; i <= n; i++)); do
		{
			printf '%s\n' "link set lo up" "addr add $(node_addr "$i")/24 dev eth0" "link set eth0 up" "link set eth1 up"
			for ((k = 2; k <= ${NS_PUBLIC_IFACES:-1}; k++)); do echo "link set eth$k up"; done
		} | ip -n "${NS_PFX}n$i" -batch - || return 1
		_cluster_node_conf "$CLUSTER_DIR/n$i" "$(node_addr "$i")" "$port" "$keepalive" "$membership"
	done
	# The addresses answer before any node starts: a TCP connect to a closed port is
	# refused at once when the path works (no ping needed), and times out when not.
	for ((i = 2; i <= n; i++)); do
		local rc=0
		ns_exec 1 timeout 3 bash -c "exec 3<>/dev/tcp/$(node_addr "$i")/9" 2>/dev/null || rc=$?
		((rc != 124)) || _ns_fail "node 1 cannot reach node $i on the cluster network" || return 1
	done
}

ns_cluster_start() {
	local nodes=("$@")
	((${#nodes[@]})) || nodes=($(seq 1 "$NS_N"))
	_start_nodes "${nodes[@]}"
}

# Overrides lib.bash's: node i starts in its namespace (on the loopback once the namespace
# cluster is gone: a benchmark may run both).
_start_node() {
	[ -n "$NS_PFX" ] || { _start_node_loopback "$1"; return; }
	# shellcheck disable=SC2046
	ip netns exec "${NS_PFX}n$1" env $(_node_env "$1") "$CLUSTER_BIN/shoal" -c "$CLUSTER_DIR/n$1/shoal.conf" node start
}

ns_cluster_stop() { cluster_stop "$@"; }
ns_kill() { cluster_kill "$1"; }
ns_freeze() { cluster_freeze "$1"; }
ns_thaw() { cluster_thaw "$1"; }

ns_cut() {
	cluster_flap_exempt_node "$1"
	ip -n "$(ns_switch)" link set "c$1" nomaster
}

# _ns_drop i ADDR...: node i drops what comes in on eth0 from ADDR... (every source when none).
_ns_drop() {
	local i=$1 rule
	shift
	if (($#)); then
		rule="ip saddr { $(IFS=,; echo "$*") } drop"
	else
		rule="drop"
	fi
	ns_exec "$i" nft -f - <<-EOF
		table inet shoal_test
		delete table inet shoal_test
		table inet shoal_test {
			chain input {
				type filter hook input priority 0; policy accept;
				iifname "eth0" $rule
			}
		}
	EOF
}

_ns_undrop() { ns_exec "$1" nft delete table inet shoal_test 2>/dev/null || true; }

ns_cut_oneway() {
	cluster_flap_exempt_node "$1"
	_ns_drop "$1"
}

ns_restore() {
	_ns_undrop "$1"
	ip -n "$(ns_switch)" link set "c$1" master br0
}

# ns_partition "1 2" "3" ...: every listed node drops input from the nodes of other groups.
ns_partition() {
	local g h i j others
	local groups=("$@")
	for g in "${groups[@]}"; do
		for i in $g; do
			others=()
			for h in "${groups[@]}"; do
				[ "$h" = "$g" ] && continue
				for j in $h; do
					others+=("$(node_addr "$j")")
					cluster_flap_exempt "$i" "$j"
				done
			done
			((${#others[@]})) || continue
			_ns_drop "$i" "${others[@]}" || return 1
		done
	done
}

ns_heal() {
	local i
	for ((i = 1; i <= NS_N; i++)); do ns_restore "$i"; done
}

ns_teardown() {
	local rc=0 pfx=$NS_PFX ns
	local all
	all=$(_ns_all)
	if [ -n "$CLUSTER_DIR" ] && [ -d "$CLUSTER_DIR" ]; then
		# Thaw and heal first, so the check sees every live node.
		cluster_flap_check || rc=1
	fi
	cluster_teardown || rc=1
	local del=()
	for ns in $all; do
		[ -e "/run/netns/$ns" ] || continue
		if ! _ns_kill_all "$ns"; then
			echo "ns_teardown: processes were left in $ns (killed)" >&2
			rc=1
		fi
		del+=("netns del $ns")
	done
	((${#del[@]} == 0)) || printf '%s\n' "${del[@]}" | ip -batch - || rc=1
	if [ -n "$pfx" ] && compgen -G "/run/netns/$pfx*" >/dev/null; then
		echo "ns_teardown: namespaces left: $(ls /run/netns | grep -F "$pfx")" >&2
		rc=1
	fi
	NS_PFX=
	NS_N=0
	return $rc
}
