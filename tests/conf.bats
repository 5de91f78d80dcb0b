#!/usr/bin/env bats
# shoal config: golden canonical output, error messages, the cross checks, the CLI shell.
bats_require_minimum_version 1.5.0
load lib/common

setup() {
	CONF=$SHOAL_TOP/tests/conf
	T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/conf.XXXXXX")
}

teardown() {
	rm -rf "$T"
}

# A node's files in $T from the examples: nodes, a key of mode 0600, shoal.conf naming them.
make_node() {
	cp "$SHOAL_TOP/conf/nodes" "$T/nodes"
	head -c 32 /dev/urandom >"$T/cluster.key"
	chmod 600 "$T/cluster.key"
	sed -e "s|^nodes file = .*|nodes file = $T/nodes|" \
		-e "s|^cluster key = .*|cluster key = $T/cluster.key|" \
		-e "s|^run directory = .*|run directory = $T/run|" \
		"$SHOAL_TOP/conf/shoal.conf" >"$T/shoal.conf"
}

@test "conf: unit tests (tests/unit/conf_test)" {
	run "$TBIN/unit/conf_test"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "conf: golden files print canonically and re-parse to the same text" {
	cd "$CONF/golden"
	n=0
	for f in *.conf; do
		shoal config print -c "$f" >"$T/out" || { echo "print $f failed"; false; }
		diff -u "${f%.conf}.out" "$T/out" || { echo "golden $f differs"; false; }
		shoal config print -c "$T/out" >"$T/out2" || { echo "re-parse $f failed"; false; }
		diff -u "$T/out" "$T/out2" || { echo "re-parse of $f differs"; false; }
		n=$((n + 1))
	done
	[ "$n" -ge 4 ]
}

@test "conf: each bad file gets its exact error on stderr and exit 100" {
	cd "$CONF/bad"
	n=0
	for f in *.conf; do
		run --separate-stderr shoal config print -c "$f"
		[ "$status" -eq 100 ] || { echo "$f: exit $status"; false; }
		[ -z "$output" ] || { echo "$f: stdout: $output"; false; }
		[ "$stderr" = "$(cat "${f%.conf}.err")" ] ||
			{ echo "$f: want: $(cat "${f%.conf}.err")"; echo "$f: got:  $stderr"; false; }
		n=$((n + 1))
	done
	[ "$n" -ge 10 ]
}

@test "conf: the example shoal.conf documents the true defaults" {
	run shoal config print -c "$SHOAL_TOP/conf/shoal.conf"
	[ "$status" -eq 0 ]
	[ "$output" = "$(sed 's/^node address =$/node address = 127.0.0.11/' "$CONF/golden/defaults.out")" ]
}

@test "conf: config check of the example files succeeds and prints the canonical config" {
	make_node
	run --separate-stderr shoal config check -c "$T/shoal.conf"
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[ "$output" = "$(shoal config print -c "$T/shoal.conf")" ]
	# -c before the command, and $SHOAL_CONF, work the same.
	run shoal -c "$T/shoal.conf" config check
	[ "$status" -eq 0 ]
	SHOAL_CONF=$T/shoal.conf run shoal config check
	[ "$status" -eq 0 ]
	# A key readable by the group (0640) is fine too.
	chmod 640 "$T/cluster.key"
	run shoal config check -c "$T/shoal.conf"
	[ "$status" -eq 0 ]
}

@test "conf: config check --nodes prints the canonical nodes file" {
	make_node
	printf '; nodes\n127.0.0.11\n\n  #127.0.0.012\n#\nFE80:0::1\n' >"$T/nodes"
	run shoal config check --nodes -c "$T/shoal.conf"
	[ "$status" -eq 100 ] # 127.0.0.012 is not an address
	[ "$output" = "shoal: fatal: $T/nodes:4: expected a deleted node (# and an optional IPv4 or IPv6 address), got \"#127.0.0.012\" (comments start with ;)" ]
	printf '; nodes\n127.0.0.11\n\n  #127.0.0.12\n#\nFE80:0::1\n' >"$T/nodes"
	run shoal config check --nodes -c "$T/shoal.conf"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf '127.0.0.11\n#127.0.0.12\n#\nfe80::1')" ]
}

@test "conf: a key file readable by others is refused, naming chmod 600" {
	make_node
	chmod 644 "$T/cluster.key"
	run --separate-stderr shoal config check -c "$T/shoal.conf"
	[ "$status" -eq 100 ]
	[ -z "$output" ]
	[ "$stderr" = "shoal: fatal: $T/cluster.key: cluster key: mode 0644 lets others read or write it: run chmod 600 $T/cluster.key" ]
	chmod 600 "$T/cluster.key"
	run shoal config check -c "$T/shoal.conf"
	[ "$status" -eq 0 ]
}

@test "conf: a short or missing key file is refused" {
	make_node
	head -c 31 /dev/urandom >"$T/cluster.key"
	run shoal config check -c "$T/shoal.conf"
	[ "$status" -eq 100 ]
	[ "$output" = "shoal: fatal: $T/cluster.key: cluster key: holds 31 bytes, expected 32 to 1024" ]
	rm "$T/cluster.key"
	run shoal config check -c "$T/shoal.conf"
	[ "$status" -eq 100 ]
	[ "$output" = "shoal: fatal: $T/cluster.key: No such file or directory" ]
}

@test "conf: a run directory too long for sun_path is refused" {
	make_node
	long=/$(printf 'r%.0s' $(seq 1 69))
	sed -i "s|^run directory = .*|run directory = $long|" "$T/shoal.conf"
	run shoal config check -c "$T/shoal.conf"
	[ "$status" -eq 100 ]
	[ "$output" = "shoal: fatal: $T/shoal.conf: run directory is too long (70 bytes): socket paths under it would take 108 bytes, more than the 107 of sun_path; use at most 69 bytes" ]
	# config print checks only the syntax.
	run shoal config print -c "$T/shoal.conf"
	[ "$status" -eq 0 ]
}

@test "conf: this node must be set, listed and not deleted" {
	make_node
	sed -i 's|^node address = .*|node address = 127.0.0.14|' "$T/shoal.conf"
	run shoal config check -c "$T/shoal.conf"
	[ "$status" -eq 100 ]
	[ "$output" = "shoal: fatal: $T/nodes: node address 127.0.0.14 (from $T/shoal.conf) is not listed" ]
	sed -i 's|^127.0.0.12$|#127.0.0.12|' "$T/nodes"
	sed -i 's|^node address = .*|node address = 127.0.0.12|' "$T/shoal.conf"
	run shoal config check -c "$T/shoal.conf"
	[ "$status" -eq 100 ]
	[ "$output" = "shoal: fatal: $T/nodes: node address 127.0.0.12 (from $T/shoal.conf) is node 1, which is deleted" ]
	sed -i '/^node address/d' "$T/shoal.conf"
	run shoal config check -c "$T/shoal.conf"
	[ "$status" -eq 100 ]
	[ "$output" = "shoal: fatal: $T/shoal.conf: node address is not set: add \"node address = <this node's address>\" to [cluster]" ]
}

@test "conf: a missing config file is an error naming it" {
	run shoal config print -c "$T/none.conf"
	[ "$status" -eq 100 ]
	[ "$output" = "shoal: fatal: $T/none.conf: No such file or directory" ]
}

@test "shoal: --help lists the commands; no command is a usage error" {
	run --separate-stderr shoal --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"Usage: shoal [-c FILE] COMMAND"* ]]
	[[ "$output" == *"  config "* ]]
	run shoal -h
	[ "$status" -eq 0 ]
	run --separate-stderr shoal
	[ "$status" -eq 100 ]
	[ -z "$output" ]
	[[ "$stderr" == *"Usage: shoal"* ]]
	run --separate-stderr shoal config --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"Usage: shoal config check"* ]]
	run shoal config check --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"Usage: shoal config check"* ]]
}

@test "shoal: unknown commands and options exit 100" {
	run shoal frobnicate
	[ "$status" -eq 100 ]
	[ "$output" = 'shoal: fatal: unknown command "frobnicate" (see shoal --help)' ]
	run shoal --frob config
	[ "$status" -eq 100 ]
	[ "$output" = 'shoal: fatal: unknown option "--frob" (see shoal --help)' ]
	run shoal config frob
	[ "$status" -eq 100 ]
	[ "$output" = 'shoal: fatal: unknown config command "frob" (see shoal config --help)' ]
	run shoal config print -x
	[ "$status" -eq 100 ]
	[ "$output" = 'shoal: fatal: unknown option "-x" (see shoal config --help)' ]
	run shoal config print extra
	[ "$status" -eq 100 ]
	[ "$output" = 'shoal: fatal: unexpected argument "extra" (see shoal config --help)' ]
	run shoal -c
	[ "$status" -eq 100 ]
	[ "$output" = 'shoal: fatal: option -c needs an argument (see shoal --help)' ]
	run shoal config
	[ "$status" -eq 100 ]
}
