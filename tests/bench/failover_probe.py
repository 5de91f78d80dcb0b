#!/usr/bin/env python3
"""Failover probe for tests/bench/failover.sh, run in the client namespace.

failover_probe.py T0_NS LIMIT_S PORT BAD ADDR... -- NS...

From T0_NS (CLOCK_MONOTONIC nanoseconds, taken just before the failure), polls until
(a) every ADDR is configured on one of the survivors' namespaces NS..., and (b) every ADDR
answers with a line other than BAD (the failed node's server), with non-blocking connects
of 100 ms retried every 50 ms. Prints "A_MS B_MS" (-1 for what did not happen within
LIMIT_S)."""
import errno, select, socket, subprocess, sys, time

def configured(addr, nss):
    for ns in nss:
        out = subprocess.run(["ip", "-n", ns, "-o", "addr", "show"], capture_output=True, text=True).stdout
        if (" %s/" % addr) in out:
            return True
    return False

def answers(addr, port, bad):
    s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        rc = s.connect_ex((addr, port))
        if rc not in (0, errno.EINPROGRESS):
            return False
        end = time.monotonic() + 0.1
        buf = b""
        while time.monotonic() < end and b"\n" not in buf:
            r, _, _ = select.select([s], [], [], max(0, end - time.monotonic()))
            if not r:
                break
            try:
                d = s.recv(64)
            except OSError:
                return False
            if not d:
                break
            buf += d
        line = buf.decode(errors="replace").strip()
        return bool(line) and line != bad
    finally:
        s.close()

def main():
    t0 = int(sys.argv[1]) / 1e9
    limit = float(sys.argv[2])
    port = int(sys.argv[3])
    bad = sys.argv[4]
    rest = sys.argv[5:]
    sep = rest.index("--")
    addrs, nss = rest[:sep], rest[sep + 1:]
    a_ms = b_ms = -1
    pend_a, pend_b = set(addrs), set(addrs)
    def check_a():
        nonlocal a_ms
        for x in list(pend_a):
            if configured(x, nss):
                pend_a.discard(x)
        if not pend_a and a_ms < 0:
            a_ms = int((time.monotonic() - t0) * 1000)
    while time.monotonic() - t0 < limit and (pend_a or pend_b):
        check_a()
        for x in list(pend_b):
            if answers(x, port, bad):
                pend_b.discard(x)
            check_a()
        if not pend_b and b_ms < 0:
            b_ms = int((time.monotonic() - t0) * 1000)
        if pend_a or pend_b:
            time.sleep(0.05)
    print(a_ms, b_ms)

main()
