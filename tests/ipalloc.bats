#!/usr/bin/env bats
# Public address allocation (lib/ipalloc through the `ipalloc` driver): every case of CTDB's
# that shared/ref/ipalloc-examples.json holds, the cases of tests/ipalloc/ written from
# shared/ref/ipalloc.md, malformed input, and properties of a large allocation.
bats_require_minimum_version 1.5.0
load lib/common

# The reference is shared/ref beside the clone; tests/ipalloc/ctdb-examples.json is a copy
# of it, so that a clone anywhere runs these tests too.
EXAMPLES=${IPALLOC_EXAMPLES:-$SHOAL_TOP/../shared/ref/ipalloc-examples.json}
[ -r "$EXAMPLES" ] || [ -n "${IPALLOC_EXAMPLES:-}" ] || EXAMPLES=$SHOAL_TOP/tests/ipalloc/ctdb-examples.json

setup() {
	CASES=$SHOAL_TOP/tests/ipalloc
	T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/ipalloc.XXXXXX")
}

teardown() {
	rm -rf "$T"
}

need_examples() {
	if [ ! -r "$EXAMPLES" ]; then
		echo "ipalloc-examples.json is missing: expected at $EXAMPLES" \
			"(a copy of shared/ beside the clone, or set IPALLOC_EXAMPLES)" >&2
		return 1
	fi
}

# example_case I: case I of the JSON as driver input, on stdout.
example_case() {
	jq -r --argjson i "$1" '.[$i] |
		"# \(.name)",
		"nodes " + (.node_flags | map(tostring) | join(",")),
		(if .runstate then "runstate " + (.runstate | map(tostring) | join(",")) else empty end),
		(if .known_ips then
			(.known_ips | to_entries[] | "known \(.key) " + (.value | join(" ")))
		 else empty end),
		(if .home_nodes then (.home_nodes[] | "home \(.[0]) \(.[1])") else empty end),
		(.current[] | "\(.[0]) \(.[1])")' "$EXAMPLES"
}

# example_args I: the driver options of case I, one per line.
example_args() {
	jq -r --argjson i "$1" '.[$i] |
		"--algorithm", .algorithm,
		(if (.tunables.NoIPTakeover // 0) != 0 then "--no-ip-takeover" else empty end),
		(if (.tunables.NoIPFailback // 0) != 0 then "--no-ip-failback" else empty end),
		(if .force_rebalance_nodes then
			"--force-rebalance", (.force_rebalance_nodes | map(tostring) | join(","))
		 else empty end)' "$EXAMPLES"
}

@test "ipalloc: unit tests (tests/unit/ipalloc_test)" {
	run "$TBIN/unit/ipalloc_test"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "ipalloc: every case of ipalloc-examples.json gets CTDB's owners" {
	need_examples
	n=$(jq length "$EXAMPLES")
	[ "$n" -ge 1 ]
	ok=0
	for i in $(seq 0 $((n - 1))); do
		name=$(jq -r --argjson i "$i" '.[$i].name' "$EXAMPLES")
		example_case "$i" >"$T/case"
		mapfile -t args < <(example_args "$i")
		jq -r --argjson i "$i" '.[$i].expected[] | "\(.[0]) \(.[1])"' "$EXAMPLES" >"$T/want"
		ipalloc "${args[@]}" <"$T/case" >"$T/got" ||
			{ echo "$name: ipalloc failed (${args[*]})"; cat "$T/case"; false; }
		diff -u "$T/want" "$T/got" || { echo "$name: owners differ (${args[*]})"; false; }
		ok=$((ok + 1))
	done
	echo "# $ok of $n cases match" >&3
	[ "$ok" -eq "$n" ]
}

@test "ipalloc: the expected logs of the examples are reproduced" {
	need_examples
	n=$(jq length "$EXAMPLES")
	checked=0
	for i in $(seq 0 $((n - 1))); do
		name=$(jq -r --argjson i "$i" '.[$i].name' "$EXAMPLES")
		# Keep the allocator's lines: the takeover helper's own (fetching addresses, the
		# controls it sends) are no part of ipalloc.
		jq -r --argjson i "$i" '.[$i].expected_log[]?' "$EXAMPLES" |
			grep -Ev '^(Fetched public IPs|START_IPREALLOCATE|RELEASE_IP|TAKEOVER_IP|IPREALLOCATED)' \
			>"$T/want" || true
		[ -s "$T/want" ] || continue
		level=info
		if grep -Eq 'CONSIDERING|Unassign IP|Selecting' "$T/want"; then
			level=debug
		fi
		example_case "$i" >"$T/case"
		mapfile -t args < <(example_args "$i")
		ipalloc "${args[@]}" --log-level "$level" <"$T/case" 2>"$T/got" >/dev/null
		diff -u "$T/want" "$T/got" || { echo "$name: log differs (level $level)"; false; }
		checked=$((checked + 1))
	done
	[ "$checked" -ge 3 ]
}

@test "ipalloc: the cases of tests/ipalloc (IPv6, tunables, eligibility, many addresses)" {
	n=0
	for f in "$CASES"/*.in; do
		name=$(basename "$f" .in)
		# shellcheck disable=SC2046
		set -- $(sed -n 's/^# args: //p' "$f" | head -n 1)
		ipalloc "$@" <"$f" >"$T/got" 2>"$T/err" ||
			{ echo "$name: ipalloc failed: $(cat "$T/err")"; false; }
		diff -u "$CASES/$name.out" "$T/got" || { echo "$name: owners differ ($*)"; false; }
		n=$((n + 1))
	done
	[ "$n" -ge 25 ]
}

@test "ipalloc: each malformed case gets its exact error on stderr and exit 100" {
	cd "$CASES/bad"
	n=0
	for f in *.in; do
		run --separate-stderr ipalloc <"$f"
		[ "$status" -eq 100 ] || { echo "$f: exit $status"; false; }
		[ -z "$output" ] || { echo "$f: stdout: $output"; false; }
		[ "$stderr" = "$(cat "${f%.in}.err")" ] ||
			{ echo "$f: want: $(cat "${f%.in}.err")"; echo "$f: got:  $stderr"; false; }
		n=$((n + 1))
	done
	[ "$n" -ge 20 ]
}

@test "ipalloc: bad options exit 100 with a message" {
	printf 'nodes 0\n10.0.0.1 0\n' >"$T/case"
	run --separate-stderr ipalloc --algorithm best <"$T/case"
	[ "$status" -eq 100 ]
	[ "$stderr" = 'ipalloc: fatal: unknown algorithm "best" (lcp2, deterministic, nondeterministic)' ]
	run --separate-stderr ipalloc --force-rebalance 1,,2 <"$T/case"
	[ "$status" -eq 100 ]
	[[ "$stderr" == *'--force-rebalance: expected node numbers N,N,..., got "1,,2"'* ]]
	run --separate-stderr ipalloc --log-level chatty <"$T/case"
	[ "$status" -eq 100 ]
	run --separate-stderr ipalloc --frobnicate <"$T/case"
	[ "$status" -eq 100 ]
	[[ "$stderr" == *"ipalloc: fatal: unknown option"* ]]
	run --separate-stderr ipalloc case.txt <"$T/case"
	[ "$status" -eq 100 ]
	[[ "$stderr" == *'unexpected argument "case.txt"'* ]]
	run ipalloc --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"--force-rebalance"* ]]
}

@test "ipalloc: IPAllocAlgorithm numbers, and unknown ones mean LCP2" {
	f=$CASES/ipv6-nondeterministic.in
	for pair in 0:deterministic 1:nondeterministic 2:lcp2 7:lcp2; do
		ipalloc --algorithm "${pair%%:*}" <"$f" >"$T/num"
		ipalloc --algorithm "${pair#*:}" <"$f" >"$T/name"
		diff -u "$T/name" "$T/num"
	done
	# The choice matters on this case: LCP2 and deterministic place differently.
	ipalloc --algorithm lcp2 <"$f" >"$T/a"
	ipalloc --algorithm deterministic <"$f" >"$T/b"
	! diff -q "$T/a" "$T/b" >/dev/null
}

# big_case NODES ADDRS: healthy nodes, node 1 unhealthy, IPv4 and IPv6, some unassigned.
big_case() {
	awk -v n="$1" -v a="$2" 'BEGIN {
		f = ""
		for (k = 0; k < n; k++)
			f = f (k ? "," : "") (k == 1 ? 2 : 0)
		print "nodes " f
		for (i = 0; i < a; i++) {
			if (i % 4 == 3)
				printf "fd00:%x::%x %d\n", i % 5, i, (i % 3 ? i % n : -1)
			else
				printf "10.%d.%d.%d %d\n", i % 7, int(i / 7) % 256, i % 251, (i % 3 ? i % n : -1)
		}
	}'
}

@test "ipalloc: 64 nodes x 1024 addresses: all placed on eligible nodes, input order irrelevant" {
	big_case 64 1024 >"$T/case"
	for alg in lcp2 deterministic nondeterministic; do
		ipalloc --algorithm "$alg" <"$T/case" >"$T/$alg"
		[ "$(wc -l <"$T/$alg")" -eq 1024 ]
		# Node 1 is unhealthy; every address has an owner.
		! grep -Eq ' (-1|1)$' "$T/$alg" || { echo "$alg: bad owner"; false; }
		# Output order: the same as the case's addresses sorted by the driver once more.
		(grep '^nodes' "$T/case"; tac "$T/case" | grep -v '^nodes') >"$T/reversed"
		ipalloc --algorithm "$alg" <"$T/reversed" >"$T/$alg.rev"
		diff -q "$T/$alg" "$T/$alg.rev" || { echo "$alg: depends on input order"; false; }
	done
	# LCP2 and non-deterministic spread over every eligible node.
	[ "$(cut -d' ' -f2 "$T/lcp2" | sort -u | wc -l)" -eq 63 ]
	[ "$(cut -d' ' -f2 "$T/nondeterministic" | sort -u | wc -l)" -eq 63 ]
}

@test "ipalloc: random input never crashes it (exit 0 or 100)" {
	for i in $(seq 1 40); do
		head -c $((i * 37)) /dev/urandom >"$T/junk"
		# Half the time behind a valid nodes line, so the address parser sees it too.
		if [ $((i % 2)) -eq 0 ]; then
			{ echo "nodes 0,2,0"; tr -c 'a-f0-9:.,\n -' ' ' <"$T/junk"; } >"$T/case"
		else
			cp "$T/junk" "$T/case"
		fi
		run ipalloc <"$T/case"
		[ "$status" -eq 0 ] || [ "$status" -eq 100 ] || { echo "exit $status"; false; }
	done
}
