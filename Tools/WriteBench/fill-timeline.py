#!/usr/bin/env python3
"""Where a fill's time went, from the commit lines of a `<case>.timeline` that tally-write-bench
wrote with TALLY_TIMELINE_DIR set (`commit END_NS REQUESTS APPLY_NS COMMIT_NS`):

    TALLY_TIMELINE_DIR=/tmp/tl tally-write-bench --cases ingest --events 10000000 --cards 1000000 ...
    Tools/WriteBench/fill-timeline.py /tmp/tl/ingest1024.timeline [EVENTS_PER_REQUEST]

Prints the writer's share of the wall time spent applying groups, committing them, and between
groups (the gap: resuming the callers, starting checkpoints, waiting for a checkpoint that lags,
and waiting for the next request, which a producer with one request in flight decodes only after
its last one was answered), then the fill rate in each tenth of the run, so a rate that falls as
the store grows shows (the summary row gives only the average)."""
import statistics
import sys


def quantile(values, q):
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


def main():
    path = sys.argv[1]
    per_request = int(sys.argv[2]) if len(sys.argv) > 2 else 1024
    commits = []
    for line in open(path):
        fields = line.split()
        if fields and fields[0] == "commit":
            commits.append(tuple(int(field) for field in fields[1:5]))
    if len(commits) < 20:
        sys.exit(f"{path}: {len(commits)} commits; too few to split")
    commits.sort()
    starts = [end - apply - commit for end, _, apply, commit in commits]
    wall = commits[-1][0] - starts[0]
    applies = [apply for _, _, apply, _ in commits]
    commit_times = [commit for _, _, _, commit in commits]
    gaps = [starts[i] - commits[i - 1][0] for i in range(1, len(commits))]
    print(
        f"{len(commits)} commits in {wall / 1e9:.1f} s: apply {sum(applies) / wall:.0%}, "
        f"commit {sum(commit_times) / wall:.0%}, between groups {sum(gaps) / wall:.0%}"
    )
    for name, values in (("apply", applies), ("commit", commit_times), ("between", gaps)):
        print(
            f"  {name:8} mean {statistics.mean(values) / 1e6:6.1f}  p50 {quantile(values, 0.5) / 1e6:6.1f}  "
            f"p99 {quantile(values, 0.99) / 1e6:6.1f}  max {max(values) / 1e6:6.1f} ms; "
            f"{sum(v for v in values if v > 50e6) / 1e9:.1f} s in those over 50 ms"
        )
    count = len(commits)
    rates = []
    for tenth in range(10):
        part = commits[tenth * count // 10 : (tenth + 1) * count // 10]
        begin = part[0][0] - part[0][2] - part[0][3]
        requests = sum(requests for _, requests, _, _ in part)
        rates.append(requests * per_request / ((part[-1][0] - begin) / 1e9))
    print("  events/s by tenth of the fill: " + ", ".join(f"{rate:,.0f}" for rate in rates))


if __name__ == "__main__":
    main()
