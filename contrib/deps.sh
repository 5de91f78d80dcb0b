#!/bin/sh
# Installs, idempotently, every Debian package that shoal's build, tests and demo need.
# Usage: contrib/deps.sh [--check] [fuzz]
#   --check  only report what is missing (exit 1 if anything is)
#   fuzz     also the fuzzing toolchain (clang with libFuzzer)
set -eu

pkgs="gcc make pkg-config python3 libcbor-dev libev-dev libtdb-dev tdb-tools skalibs-dev s6
libsodium-dev bats jq iproute2 nftables procps util-linux rsyslog samba bindfs"
check=0
for a in "$@"; do
	case "$a" in
	--check) check=1 ;;
	fuzz) pkgs="$pkgs clang libclang-rt-dev" ;;
	*) echo "deps.sh: fatal: unknown argument: $a" >&2; exit 100 ;;
	esac
done

missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$check" = 1 ]; then
	echo "deps.sh: missing:$missing" >&2
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "deps.sh: fatal: missing packages:$missing (run as root, or install them)" >&2
	exit 111
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "deps.sh: installed:$missing" >&2
