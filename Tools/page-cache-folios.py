#!/usr/bin/env python3
"""How large the page-cache folios holding a file are (Linux, root: reads /proc/kpageflags).

    sudo python3 Tools/page-cache-folios.py DATA_DIR/data.mdb

Maps the file read-only, touches every page (a minor fault maps the cached folio; an uncached page
is read in, so run it on a warm cache), takes each page's frame from /proc/self/pagemap and its
compound-page flags from /proc/kpageflags, and prints how many pages sit in folios of each size.
Used for docs/VIEWS.md ("Ingest at 10M: what the writer spends", 2026-12-04): LMDB's commit writes
contiguous dirty pages with one pwritev, so ext4 caches them in large folios, and a later 4 KiB
overwrite of one page walks the whole folio's buffer heads.
"""
import collections
import mmap
import os
import struct
import sys

PAGE = 4096
COMPOUND_HEAD, COMPOUND_TAIL = 1 << 15, 1 << 16


def main(path: str) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    pages = os.fstat(descriptor).st_size // PAGE
    if pages == 0:
        sys.exit(f"{path} is empty")
    mapping = mmap.mmap(descriptor, pages * PAGE, mmap.MAP_SHARED, mmap.PROT_READ)
    for page in range(pages):
        _ = mapping[page * PAGE]
    real = os.path.realpath(path)
    start = None
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split()
            low, high = (int(x, 16) for x in fields[0].split("-"))
            if fields[-1] == real and high - low == pages * PAGE:
                start = low
    if start is None:
        sys.exit("could not find the mapping in /proc/self/maps")
    sizes = collections.Counter()
    run = 0
    present = 0
    with open("/proc/self/pagemap", "rb") as pagemap, open("/proc/kpageflags", "rb") as kpageflags:
        for page in range(pages):
            pagemap.seek(((start // PAGE) + page) * 8)
            (entry,) = struct.unpack("<Q", pagemap.read(8))
            if not (entry >> 63) & 1:
                continue
            present += 1
            frame = entry & ((1 << 55) - 1)
            if frame == 0:
                sys.exit("page frames read as 0: run as root")
            kpageflags.seek(frame * 8)
            (flags,) = struct.unpack("<Q", kpageflags.read(8))
            if flags & COMPOUND_TAIL and run:
                run += 1
                continue
            if run:
                sizes[run] += 1
            run = 1
    if run:
        sizes[run] += 1
    total = sum(size * count for size, count in sizes.items())
    print(f"{path}: {pages} pages, {present} mapped")
    for size in sorted(sizes):
        share = 100 * size * sizes[size] / max(total, 1)
        print(f"  folios of {size * 4:5d} KiB: {sizes[size]:8d}  ({share:5.1f}% of pages)")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
