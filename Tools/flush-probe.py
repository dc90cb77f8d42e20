#!/usr/bin/env python3
"""What an acknowledgement's flush costs while other writes reach the same disk.

Tally's journaled mode acknowledges a group after appending it to the journal and calling
fdatasync; meanwhile the checkpoint thread writes data.mdb's dirty pages back. On a virtual disk
with a write-back cache and no FUA, every fdatasync ends in a device flush, and a device flush
waits for every write the device has taken so far, whichever file it belongs to. This probe
measures that coupling without Tally: one thread appends 120 bytes to a pre-written journal file
and calls fdatasync at a fixed rate (an open loop, like the benchmark's acknowledgements), while a
second thread writes random 4 KiB pages of another file at a fixed rate (like a checkpoint's
writeback) and flushes that file once a second. It prints the journal fdatasync's percentiles for
each background rate, and the random-write rate the device sustains with nothing paced.

    Tools/flush-probe.py [--dir DIR] [--rate 2500] [--seconds 8] [--background 0,5,10,20,40,80]

DIR must be on the disk under test (not tmpfs); the probe writes a 64 MiB journal file and a
2 GiB data file there and removes them at the end. Run it on a quiet machine.
"""
import argparse
import os
import random
import threading
import time


def prewrite(path, size):
    """A file of `size` bytes written with zeros and flushed, so later writes allocate nothing."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    chunk = b"\0" * (1 << 20)
    for _ in range(size >> 20):
        os.write(fd, chunk)
    os.fsync(fd)
    return fd


def percentile(sorted_values, p):
    return sorted_values[min(len(sorted_values) - 1, int(p * len(sorted_values)))]


class Background(threading.Thread):
    """Random 4 KiB page writes at `mb_per_s` (0: as fast as the device takes them), with one
    fdatasync of the file a second."""

    def __init__(self, fd, size, mb_per_s):
        super().__init__(daemon=True)
        self.fd, self.size, self.mb_per_s = fd, size, mb_per_s
        self.stop = False
        self.pages = 0

    def run(self):
        page = os.urandom(4096)
        pages_per_s = self.mb_per_s * 1e6 / 4096 if self.mb_per_s else None
        start = last_flush = time.perf_counter()
        while not self.stop:
            for _ in range(16):
                os.pwrite(self.fd, page, random.randrange(self.size // 4096) * 4096)
            self.pages += 16
            now = time.perf_counter()
            if now - last_flush >= 1:
                os.fdatasync(self.fd)
                last_flush = time.perf_counter()
            if pages_per_s:
                ahead = start + self.pages / pages_per_s - time.perf_counter()
                if ahead > 0:
                    time.sleep(ahead)


def journal_flushes(fd, rate, seconds):
    """Latencies (µs) of 120-byte appends plus fdatasync, sent on a fixed schedule."""
    record = b"x" * 120
    latencies, offset = [], 0
    start = time.perf_counter()
    n = 0
    while time.perf_counter() - start < seconds:
        ahead = start + n / rate - time.perf_counter()
        if ahead > 0:
            time.sleep(ahead)
        began = time.perf_counter()
        os.pwrite(fd, record, offset)
        os.fdatasync(fd)
        latencies.append((time.perf_counter() - began) * 1e6)
        offset = (offset + 4096) % (64 << 20)
        n += 1
    return sorted(latencies)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", default=".bench-data/flush-probe")
    parser.add_argument("--rate", type=int, default=2500, help="journal flushes per second")
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--background", default="0,5,10,20,40,80", help="MB/s of random page writes")
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    journal_path, data_path = f"{args.dir}/journal", f"{args.dir}/data"
    data_size = 2 << 30
    journal = prewrite(journal_path, 64 << 20)
    data = prewrite(data_path, data_size)
    try:
        print(f"journal: 120 B append + fdatasync at {args.rate}/s for {args.seconds:.0f} s per row")
        print("background MB/s   flushes    p50 µs    p90 µs    p99 µs   p99.9 µs    max µs")
        for mb in (float(x) for x in args.background.split(",")):
            background = None
            if mb > 0:
                background = Background(data, data_size, mb)
                background.start()
                time.sleep(2)
            latencies = journal_flushes(journal, args.rate, args.seconds)
            if background:
                background.stop = True
                background.join()
                os.fdatasync(data)
            row = [percentile(latencies, p) for p in (0.5, 0.9, 0.99, 0.999)] + [latencies[-1]]
            print(f"{mb:15.0f} {len(latencies):9d}" + "".join(f"{v:10.0f}" for v in row))
        background = Background(data, data_size, 0)
        began = time.perf_counter()
        background.start()
        time.sleep(args.seconds)
        background.stop = True
        background.join()
        os.fdatasync(data)
        elapsed = time.perf_counter() - began
        print(f"random 4 KiB writes, unpaced, flushed once a second: {background.pages * 4096 / elapsed / 1e6:.0f} MB/s")
    finally:
        os.close(journal)
        os.close(data)
        os.unlink(journal_path)
        os.unlink(data_path)


if __name__ == "__main__":
    main()
