#!/usr/bin/env python3
"""Checks the leadership traces of a test cluster (leaderd's <run dir>/leaderd.trace, format
in bin/leaderd/store.c). All nodes of a loopback cluster share CLOCK_MONOTONIC, so their
times compare. Fails (exit 1, one line per violation) if:
  - two leadership intervals overlap (an interval ends at its `end`, or at the last lease
    expiry it logged, whichever is earlier; a lease that never expires ends at `end` or
    runs on);
  - a node's newest term ever shrinks, or a later interval has a smaller or equal term;
  - a node accepted a leader message sent outside its sender's interval for that term, or
    with a term older than the newest the receiver had seen.
The cluster may still run while this reads: only what happened before the check started
is checked (a renewal sent after the sender's trace was read would look unlicensed).
Usage: leadercheck.py TRACE... ; prints a summary line on success."""
import sys
import time

INF = 2**64 - 1


def main(paths):
    cutoff = time.monotonic_ns()
    skipped = set()
    errors = []
    intervals = {}  # (node, term) -> [start, until, end]
    accepts = []
    for path in paths:
        newest = 0
        try:
            lines = open(path).read().splitlines()
        except FileNotFoundError:
            continue
        for no, line in enumerate(lines, 1):
            f = line.split()
            if not f:
                continue
            where = "%s:%d" % (path, no)
            try:
                v = [int(x) for x in f[1:]]
            except ValueError:
                errors.append("%s: malformed line: %s" % (where, line))
                continue
            kind = f[0]
            if kind == "start":
                term, node, at, until = v
                if at > cutoff:
                    skipped.add((node, term))
                    continue
                if term < newest:
                    errors.append("%s: node %d leads term %d after seeing term %d" % (where, node, term, newest))
                newest = max(newest, term)
                if (node, term) in intervals:
                    errors.append("%s: node %d starts term %d twice" % (where, node, term))
                intervals[(node, term)] = [at, until, None]
            elif kind == "valid":
                term, node, until = v
                if (node, term) in skipped:
                    continue
                iv = intervals.get((node, term))
                if iv is None:
                    errors.append("%s: lease of term %d without a start" % (where, term))
                elif iv[2] is None:
                    iv[1] = max(iv[1], until)
            elif kind == "end":
                term, node, at = v
                if (node, term) in skipped:
                    continue
                iv = intervals.get((node, term))
                if iv is None:
                    errors.append("%s: end of term %d without a start" % (where, term))
                elif iv[2] is None:
                    iv[2] = at
            elif kind == "term":
                term, node, at = v
                if term < newest:
                    errors.append("%s: node %d's newest term shrank from %d to %d" % (where, node, newest, term))
                newest = max(newest, term)
            elif kind == "accept":
                term, sender, sent, node, at = v
                if sent > cutoff:
                    continue
                if term < newest:
                    errors.append("%s: node %d accepted term %d from node %d after seeing term %d"
                                  % (where, node, term, sender, newest))
                accepts.append((where, term, sender, sent, node))
            else:
                errors.append("%s: unknown line: %s" % (where, line))

    def span(iv):
        start, until, end = iv
        stop = until if end is None else min(end, until)
        return start, stop

    spans = sorted((span(iv) + (node, term)) for (node, term), iv in intervals.items())
    # Every pair: intervals are few.
    for i in range(len(spans)):
        for j in range(i + 1, len(spans)):
            s1, e1, n1, t1 = spans[i]
            s2, e2, n2, t2 = spans[j]
            if s2 < e1 and s1 < e2:
                errors.append("intervals overlap: node %d term %d [%d, %s) and node %d term %d [%d, %s)"
                              % (n1, t1, s1, e1 if e1 != INF else "inf", n2, t2, s2, e2 if e2 != INF else "inf"))
    by_start = sorted(spans)
    for a, b in zip(by_start, by_start[1:]):
        if b[3] <= a[3]:
            errors.append("terms do not grow: node %d term %d leads after node %d term %d"
                          % (b[2], b[3], a[2], a[3]))
    for where, term, sender, sent, node in accepts:
        iv = intervals.get((sender, term))
        if iv is None:
            errors.append("%s: node %d accepted term %d from node %d, which never led it"
                          % (where, node, term, sender))
            continue
        start, stop = span(iv)
        if not (start <= sent < stop):
            errors.append("%s: node %d accepted a message of node %d term %d sent at %d, outside [%d, %d)"
                          % (where, node, sender, term, sent, start, stop))
    for e in errors[:50]:
        print("leadercheck: " + e)
    if errors:
        return 1
    print("leadercheck: ok: %d intervals, %d accepted messages" % (len(spans), len(accepts)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
