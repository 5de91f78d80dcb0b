#!/usr/bin/env bash
# Public address failover on a 3-node namespace cluster (root only; skipped otherwise), 6
# addresses, a test server per node. For crash (tree SIGKILLed, its addresses flushed as a
# dead machine's are), power-off (crash, and its public link detached) and freeze (tree
# SIGSTOPped), of the leader and of a non-leader, median and max of FO_BENCH_REPS (10):
#   (a) from the failure to every one of the node's addresses configured on a survivor;
#   (b) to a reply from a survivor at each of them (non-blocking connects, 100 ms timeout,
#       retried every 50 ms, from the client namespace).
# Then: after a thaw, how long any address stayed held twice (target: none); cold start of
# the 3 nodes to every address answering; a crashed node's restart to the addresses
# rebalanced (2 each) and answering. Keepalive 100 ms x 5, lease 300 ms.
#
#   BENCH ipd_failover_<kind>_<leader|nonleader>_<a|b>_<median|max> <ms> ms
#   BENCH ipd_thaw_overlap_max <ms> ms
#   BENCH ipd_cold_start <ms> ms
#   BENCH ipd_rejoin_rebalanced <ms> ms
set -u
: "${SHOAL_BUILD:?set SHOAL_BUILD}"
if [ "$(id -u)" != 0 ]; then
	echo "# failover.sh: needs root (network namespaces): skipped"
	exit 0
fi
TOP=$(cd "$(dirname "$0")/../.." && pwd)
SVC=$(mktemp -d /tmp/shoal-bench-svc.XXXXXX)
cp -a "$TOP/svc/." "$SVC/"
if [ ! -d "$SVC/leaderd" ]; then
	mkdir "$SVC/leaderd"
	for f in run finish notification-fd timeout-finish; do cp -a "$TOP/contrib/leaderd.svc/$f" "$SVC/leaderd/"; done
fi
BATS_TEST_DIRNAME=$TOP/tests
# shellcheck source=/dev/null
. "$TOP/tests/lib/common.bash"
export SHOAL_SVC_DIR=$SVC # after common.bash, which points it at svc/
# shellcheck source=/dev/null
. "$TOP/tests/cluster/netns.bash"
REPS=${FO_BENCH_REPS:-10}
KINDS=${FO_BENCH_KINDS:-crash poweroff freeze}
PORT=8000
PROBE=$TOP/tests/bench/failover_probe.py
SERVERS=()

stop_servers() {
	local p
	for p in "${SERVERS[@]}"; do _kill_pid KILL "$p"; done
	for p in "${SERVERS[@]}"; do wait "$p" 2>/dev/null; done
	SERVERS=()
}
trap 'stop_servers; ns_teardown >/dev/null 2>&1; rm -rf "$SVC"' EXIT

# The interpreter itself, not a wrapper (a pyenv shim takes a second to start).
PY=$(python3 -c 'import sys; print(sys.executable)')
mono_ns() { "$PY" -c 'import time; print(time.monotonic_ns())'; }
addrs() { local s; for s in 101 102 103 104 105 106; do echo "$(ns_public_net).$s"; done; }
holds() { ip -n "$(ns_name "$1")" -o addr show | grep -q " $2/"; }
count_on() {
	local a n=0
	for a in $(addrs); do if holds "$1" "$a"; then n=$((n + 1)); fi; done
	echo $n
}
balanced() { local i; for i in 1 2 3; do [ "$(count_on "$i")" = 2 ] || return 1; done; }
ipctl() { local i=$1; shift; ns_exec "$i" "$CLUSTER_BIN/ipctl" -c "$(node_conf "$i")" -t 1000 "$@"; }
leader_node() { local l; l=$(ipctl 1 --json status | jq -e 'select(.has_leader) | .leader') && echo $((l + 1)); }
others() { local x=$1 i; for i in 1 2 3; do ((i == x)) || echo "$i"; done; }
ask() { ns_client_exec timeout 1 bash -c "exec 3<>/dev/tcp/$1/$PORT && head -1 <&3" 2>/dev/null; }
all_answer() { local a; for a in $(addrs); do [ -n "$(ask "$a")" ] || return 1; done; }

start_cluster() {
	local i a
	ns_cluster_create 3 || exit 1
	for i in 1 2 3; do
		for a in $(addrs); do echo "$a/24 eth1"; done >"$CLUSTER_DIR/n$i/public_addresses"
		printf '[leadership]\nlease = 300\n[ip]\npublic addresses = %s\n' "$CLUSTER_DIR/n$i/public_addresses" \
			>>"$(node_conf "$i")"
	done
	for i in 1 2 3; do
		ip netns exec "$(ns_name "$i")" "$TBIN/tools/ipserve" $PORT "node$((i - 1))" 3>&- &
		SERVERS+=($!)
	done
}

median() { sort -n | awk '{ v[NR] = $1 } END { if (!NR) { print -1; exit } print v[int((NR + 1) / 2)] }'; }
max() { sort -n | tail -1; }

# One failure of kind K on node v; prints "a b"; leaves the cluster whole and balanced.
one() {
	local k=$1 v=$2 t0 r mine=() x
	for x in $(addrs); do holds "$v" "$x" && mine+=("$x"); done
	local surv=()
	for x in $(others "$v"); do surv+=("$(ns_name "$x")"); done
	t0=$(mono_ns)
	case $k in
	crash) ns_kill "$v"; ip -n "$(ns_name "$v")" addr flush dev eth1 scope global ;;
	poweroff) ip -n "$(ns_switch)" link set "c$v" nomaster; ip -n "$(ns_switch)" link set "p$v" nomaster; ns_kill "$v" ;;
	freeze) ns_freeze "$v" ;;
	esac
	r=$(ns_client_exec "$PY" "$PROBE" "$t0" 30 $PORT "node$((v - 1))" "${mine[@]}" -- "${surv[@]}")
	case $k in
	crash) ns_cluster_start "$v" >/dev/null ;;
	poweroff)
		ip -n "$(ns_name "$v")" addr flush dev eth1 scope global
		ip -n "$(ns_switch)" link set "c$v" master br0; ip -n "$(ns_switch)" link set "p$v" master br1
		ns_cluster_start "$v" >/dev/null ;;
	freeze) overlap_after_thaw "$v" ;;
	esac
	wait_for 30 cluster_connected >/dev/null 2>&1
	wait_for 30 balanced >/dev/null 2>&1
	echo "$r"
}

OVERLAP_MAX=0
# After a thaw: samples every 20 ms for 3 s; the longest run of samples with an address held
# twice.
overlap_after_thaw() {
	ns_thaw "$1"
	local end=$(($(date +%s%N) + 3000000000)) run_start=0 now dup a n
	while (($(date +%s%N) < end)); do
		now=$(date +%s%N)
		dup=0
		for a in $(addrs); do
			n=0
			for i in 1 2 3; do if holds "$i" "$a"; then n=$((n + 1)); fi; done
			((n > 1)) && dup=1
		done
		if ((dup)); then
			((run_start)) || run_start=$now
			local ms=$(((now - run_start) / 1000000 + 20))
			((ms > OVERLAP_MAX)) && OVERLAP_MAX=$ms
		else
			run_start=0
		fi
		sleep 0.02
	done
}

# cold start
start_cluster
t0=$(date +%s%N)
ns_cluster_start >/dev/null || exit 1
wait_for 30 all_answer || exit 1
echo "BENCH ipd_cold_start $((($(date +%s%N) - t0) / 1000000)) ms"
wait_for 30 balanced || exit 1

for k in $KINDS; do
	for who in nonleader leader; do
		as=() bs=()
		for ((r = 0; r < REPS; r++)); do
			l=$(leader_node) || { wait_for 10 leader_node; l=$(leader_node); }
			if [ "$who" = leader ]; then v=$l; else v=$(others "$l" | head -1); fi
			read -r a b <<<"$(one "$k" "$v")"
			as+=("$a")
			bs+=("$b")
		done
		echo "BENCH ipd_failover_${k}_${who}_a_median $(printf '%s\n' "${as[@]}" | median) ms"
		echo "BENCH ipd_failover_${k}_${who}_a_max $(printf '%s\n' "${as[@]}" | max) ms"
		echo "BENCH ipd_failover_${k}_${who}_b_median $(printf '%s\n' "${bs[@]}" | median) ms"
		echo "BENCH ipd_failover_${k}_${who}_b_max $(printf '%s\n' "${bs[@]}" | max) ms"
	done
done
case " $KINDS " in *" freeze "*) echo "BENCH ipd_thaw_overlap_max $OVERLAP_MAX ms" ;; esac

# rejoin: a crashed node restarts; until 2 addresses each and all answer
v=$(others "$(leader_node)" | head -1)
ns_kill "$v"
ip -n "$(ns_name "$v")" addr flush dev eth1 scope global
holds_none() { [ "$(count_on "$1")" = 0 ]; }
wait_for 30 holds_none "$v"
sleep 1
t0=$(date +%s%N)
ns_cluster_start "$v" >/dev/null
wait_for 30 balanced && wait_for 30 all_answer
echo "BENCH ipd_rejoin_rebalanced $((($(date +%s%N) - t0) / 1000000)) ms"
