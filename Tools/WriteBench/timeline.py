#!/usr/bin/env python3
"""Where the open loop's slow acknowledgements waited: reads a `<case>.timeline` that
tally-write-bench wrote with TALLY_TIMELINE_DIR set, groups the acknowledgements slower than
THRESHOLD_MS into bursts, and prints the largest bursts with the longest gap between commits, the
longest commit and the longest apply around each.

    TALLY_TIMELINE_DIR=/tmp/tl tally-write-bench --cases ingest ... --reuse-store S
    Tools/WriteBench/timeline.py /tmp/tl/ingest-openloop5000.timeline [THRESHOLD_MS]

A burst whose longest commit is close to its longest latency waited for the disk (the commit's
flush); one whose gap between commits is much longer than its longest commit plus apply waited
for something outside the writer's transaction.

When the acknowledgements carry their commit LSN (the ingest open loop records it), each is matched
to its commit (commits hold consecutive LSNs, one per single-event request) and its latency split
into: queued before its group began, its group's apply and commit, and the rest (the ack line is
written before the commit line, so the rest is often negative)."""
import sys


def main():
    path = sys.argv[1]
    threshold = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0
    acks, commits, by_lsn = [], [], []
    for line in open(path):
        fields = line.split()
        if not fields:
            continue
        if fields[0] == "ack":
            end, latency = int(fields[1]), int(fields[2])
            acks.append((end - latency, end))
            if len(fields) > 3:
                by_lsn.append((int(fields[3]), end - latency, end))
        elif fields[0] == "commit":
            commits.append((int(fields[1]), int(fields[2]), int(fields[3]), int(fields[4])))
    if not acks:
        sys.exit(f"{path}: no acknowledgements (only the open-loop cases record them)")
    start = min(origin for origin, _ in acks)
    latencies = sorted(end - origin for origin, end in acks)

    def at(q):
        return latencies[min(len(latencies) - 1, int(len(latencies) * q))] / 1e6

    print(f"{len(latencies)} acks: p50 {at(0.5):.2f} ms, p90 {at(0.9):.2f} ms, p99 {at(0.99):.2f} ms, "
          f"max {latencies[-1] / 1e6:.2f} ms; {len(commits)} commits")
    if len(by_lsn) == len(acks):
        split(sorted(by_lsn), commits)
    bursts = []  # [first origin, last origin, count, worst latency]
    for origin, end in sorted(a for a in acks if a[1] - a[0] > threshold * 1e6):
        if bursts and origin - bursts[-1][1] < 2_000_000:
            burst = bursts[-1]
            burst[1], burst[2], burst[3] = origin, burst[2] + 1, max(burst[3], end - origin)
        else:
            bursts.append([origin, origin, 1, end - origin])
    slow = sum(b[2] for b in bursts)
    print(f"{slow} acks over {threshold} ms in {len(bursts)} bursts; the 20 largest:")
    for first, last, count, worst in sorted(bursts, key=lambda b: -b[2])[:20]:
        near = [c for c in commits if first - 3_000_000 <= c[0] <= last + worst + 1_000_000]
        gap = max((b[0] - a[0] for a, b in zip(near, near[1:])), default=0)
        commit = max((c[3] for c in near), default=0)
        apply = max((c[2] for c in near), default=0)
        print(f"  t={(first - start) / 1e6:9.1f} ms  lasting {(last - first) / 1e6:6.1f} ms  {count:4d} acks  "
              f"worst {worst / 1e6:6.2f} ms | longest commit gap {gap / 1e3:7.0f} µs, "
              f"commit {commit / 1e3:6.0f} µs, apply {apply / 1e3:6.0f} µs")


def split(acks, commits):
    """Each acknowledgement's latency, split at its group's start and end."""
    parts, index = ([], [], []), 0
    for end, requests, apply, commit in commits:
        began = end - apply - commit
        for _ in range(requests):
            if index == len(acks):
                break
            _, origin, acked = acks[index]
            index += 1
            parts[0].append(began - origin)
            parts[1].append(apply + commit)
            parts[2].append(acked - end)
    for name, values in zip(("queued before its group began", "its group's apply + commit", "rest"), parts):
        values.sort()
        if values:
            p = [values[min(len(values) - 1, int(len(values) * q))] / 1e3 for q in (0.5, 0.9, 0.99)]
            print(f"  {name:31s} p50 {p[0]:7.0f} µs, p90 {p[1]:7.0f} µs, p99 {p[2]:7.0f} µs")


if __name__ == "__main__":
    main()
