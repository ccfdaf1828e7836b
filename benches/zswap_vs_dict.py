"""Batch store of 100 000 pages into zswap vs a plain Python dict of python-lz4-compressed pages:
time and memory, measured in the same run (goals: zswap >= 5x faster, <= 0.7x the memory).

Memory counts what each holds for the pages: zswap's pool pages (pool_total_size: the zspages,
fragmentation included) plus its per-entry metadata estimate; the dict's compressed bytes objects
(sys.getsizeof: header and payload) plus the dict itself and its int keys.

It also times bare lz4 over the same pages on one thread (zsrs.Compressor.compressed_lengths)
and prints the ceiling that sets on the speed-up: the dict's time over bare compression spread
perfectly over every core, with zswap itself costing nothing.

    .venv/bin/python benches/zswap_vs_dict.py [--pages 100000]   (installs nothing: needs `lz4`)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

import zsrs

try:
    import lz4.block
except ImportError:  # pragma: no cover - a benchmark prerequisite
    raise SystemExit("this benchmark compares against python-lz4: pip install lz4") from None

# Per stored page, zswap keeps an entry (slot key, handle, length, objcg, LRU links): about 64
# bytes in the kernel's struct zswap_entry plus the xarray slot; zsrs's is of the same order.
ENTRY_BYTES = 64


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pages", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    n = args.pages
    pages = zsrs.workloads.mixture(n, seed=9, weights=(0.0, 0.5, 0.4, 0.1))
    slots = np.arange(n, dtype=np.uint64)
    z_times, d_times, c_times = [], [], []
    bare = zsrs.Compressor("lz4")
    for _ in range(args.rounds):
        mem = zsrs.Memory(nodes=[n * 2])
        zs = zsrs.Zswap(mem, max_pool_percent=100)
        t = time.perf_counter()
        stored = zs.store_many(slots, pages)
        z_times.append(time.perf_counter() - t)
        assert stored.all()
        t = time.perf_counter()
        d = {i: lz4.block.compress(pages[i], store_size=False) for i in range(n)}
        d_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        bare.compressed_lengths(pages)
        c_times.append(time.perf_counter() - t)
    z_mem = zs.debugfs()["pool_total_size"] + ENTRY_BYTES * n
    d_mem = sum(sys.getsizeof(v) for v in d.values()) + sys.getsizeof(d) + 28 * n
    out = np.zeros((1000, 4096), dtype=np.uint8)
    zs.load_many(slots[:1000], out)
    assert (out == pages[:1000]).all()
    zt, dt = statistics.median(z_times), statistics.median(d_times)
    ct = statistics.median(c_times)
    cores = os.cpu_count() or 1
    print(f"{n} pages (mixed workload), median of {args.rounds}:")
    print(f"  python dict of lz4.block.compress   {dt:7.3f} s   {d_mem / 1e6:8.1f} MB")
    print(f"  zsrs Zswap.store_many (lz4)         {zt:7.3f} s   {z_mem / 1e6:8.1f} MB")
    print(f"  bare lz4, one thread                {ct:7.3f} s")
    print(f"  ceiling on {cores} cores: {dt / (ct / cores):.2f}x (dict / (bare lz4 / cores))")
    print(f"  speed-up {dt / zt:.2f}x (goal >= 5), memory {z_mem / d_mem:.3f}x (goal <= 0.7)")


if __name__ == "__main__":
    main()
