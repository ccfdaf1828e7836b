"""The seed's five experiments (PERFORMANCE section of the patch series' cover letter), run in
both accounting modes on the same workloads, plus per-node attribution of zswap memory.

Each experiment runs the same seeded workload under the series ("zsmalloc": per-memcg-lruvec
accounting in zsmalloc) and under the pre-series kernel ("consumer": zswap charges compressed
lengths memcg-wide), `trials` times each, interleaved, and reports the series' change in run time
(+ = regression) with its standard deviation over trial pairs — the shape of the seed's table.
Sizes are the seed's (2 GB in a 1 GB cgroup) times `scale`.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import _zsrs, workloads

PAGE = 4096
SEED_PAGES = (2 << 30) // PAGE  # the seed's 2 GB working set
MODES = ("zsmalloc", "consumer")
WEIGHTS = (0.1, 0.5, 0.35, 0.05)  # zero, text, partly random, random: "quite compressible"


@dataclass
class Rig:
    """A machine with zswap and a swap file, under one accounting mode."""

    mode: str
    nodes: int
    node_pages: int
    tmp: Path
    mem: _zsrs.Memory = field(init=False)
    cgs: _zsrs.Cgroups = field(init=False)
    zswap: _zsrs.Zswap = field(init=False)
    machine: _zsrs.Machine = field(init=False)

    def __post_init__(self):
        self.mem = _zsrs.Memory(nodes=[self.node_pages] * self.nodes)
        self.cgs = _zsrs.Cgroups(self.mem, accounting=self.mode)
        self.zswap = _zsrs.Zswap(
            self.mem,
            self.cgs,
            swapfile=self.tmp / f"swap-{self.mode}.img",
            swap_slots=self.node_pages * self.nodes,
            shrinker_enabled=True,
            max_pool_percent=50,
        )
        self.machine = _zsrs.Machine(self.mem, self.cgs, zswap=self.zswap)


class Progress:
    """A one-line progress bar on stderr (silent when stderr is not a terminal and quiet)."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.done, self.enabled, self.t0 = total, 0, enabled, time.monotonic()

    def step(self, what: str) -> None:
        self.done += 1
        if not self.enabled:
            return
        width = 30
        fill = width * self.done // self.total
        el = time.monotonic() - self.t0
        sys.stderr.write(
            f"\r[{'#' * fill}{'.' * (width - fill)}] {self.done}/{self.total} {el:5.1f}s {what:<40}"
        )
        if self.done == self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def exp1_churn(rig: Rig, pages: np.ndarray, passes: int = 2) -> float:
    """Node-bound workload churning memory: the working set is twice memory.max."""
    g = rig.cgs.create("/exp1")
    g.write_file("memory.max", str(len(pages) // 2 * PAGE))
    p = rig.machine.spawn(g, mems=[0])

    def run():
        base = p.mmap(pages)
        trace = np.arange(base, base + len(pages), dtype=np.uint64)
        for _ in range(passes):
            p.access(trace)

    return _timed(run)


def exp2_writeback(rig: Rig, pages: np.ndarray) -> float:
    """Writeback under zswap pressure: memory.zswap.max far below what gets swapped."""
    g = rig.cgs.create("/exp2")
    g.write_file("memory.max", str(len(pages) // 2 * PAGE))
    g.write_file("memory.zswap.max", str(len(pages) // 16 * PAGE))
    p = rig.machine.spawn(g, mems=[0])

    def run():
        base = p.mmap(pages)
        p.access(np.arange(base, base + len(pages), dtype=np.uint64))

    return _timed(run)


def exp3_two_nodes(rig: Rig, pages: np.ndarray, samples: list | None = None) -> float:
    """One cgroup, two workloads each bound to a different NUMA node."""
    g = rig.cgs.create("/exp3")
    g.write_file("memory.max", str(len(pages) // 2 * PAGE))
    procs = [rig.machine.spawn(g, mems=[n]) for n in (0, 1)]
    half = len(pages) // 2
    chunks = 8

    def run():
        bases = [None, None]
        for c in range(chunks):
            for k, p in enumerate(procs):
                part = pages[k * half :][:half][c * half // chunks : (c + 1) * half // chunks]
                b = p.mmap(part)
                bases[k] = b if bases[k] is None else bases[k]
            if samples is not None:
                samples.append((c, rig.zswap.placement()[0], g.numa_stat().get("zswap")))
        for k, p in enumerate(procs):
            p.access(np.arange(bases[k], bases[k] + half, dtype=np.uint64))

    return _timed(run)


def attribution(rig: Rig, path: str = "/exp3") -> dict:
    """Per node: the true bytes of the cgroup's compressed objects (from the pool's layout)
    and what memory.numa_stat reports (None where the mode has no per-node zswap line)."""
    true, _ = rig.zswap.placement()
    reported = rig.cgs[path].numa_stat().get("zswap")
    return {
        n: {
            "true": int(true.get((path, n), 0)),
            "reported": None if reported is None else int(reported[n]),
        }
        for n in range(rig.nodes)
    }


def stat_reads(rig: Rig, file: str, reads: int, ncg: int = 100) -> float:
    """Experiments 4 and 5: read a stat file `reads` times over `ncg` populated cgroups."""
    rng = np.random.default_rng(4)
    cgs = [rig.cgs.create(f"/r{i}") for i in range(ncg)]
    page_rows = workloads.mixture(64, seed=4, weights=WEIGHTS)
    # Each cgroup's pages reach zswap the kernel's way: a process bound to one node, reclaimed.
    for cg in cgs:
        p = rig.machine.spawn(cg, mems=[int(rng.integers(0, rig.nodes))])
        p.mmap(page_rows)
        rig.machine.reclaim(cg, len(page_rows) * PAGE)
    return _timed(lambda: [cgs[i % ncg].read_file(file) for i in range(reads)])


def run(scale: float = 1 / 16, trials: int = 5, progress: bool = True, plot: str | None = None):
    """Runs the five experiments in both modes; returns the results as plain data."""
    n = max(256, int(SEED_PAGES * scale)) // 2 * 2
    node_pages = n * 3 // 2 + 4096
    reads = max(1000, int(10000 * min(1.0, scale * 16)))
    data = {
        "churn": workloads.mixture(n, seed=1, weights=WEIGHTS),
        "wb": workloads.mixture(n // 2, seed=2, weights=WEIGHTS),
        "nodes": workloads.mixture(n, seed=3, weights=WEIGHTS),
    }
    experiments = [
        (
            "1",
            f"node-bound churn: {n} pages in a {n // 2}-page cgroup, 2 passes",
            lambda r: exp1_churn(r, data["churn"]),
        ),
        (
            "2",
            "writeback with zswap pressure (zswap.max = 1/16 of the set)",
            lambda r: exp2_writeback(r, data["wb"]),
        ),
        (
            "3",
            "1 cgroup, 2 workloads bound to different NUMA nodes",
            lambda r: exp3_two_nodes(r, data["nodes"]),
        ),
        (
            "4",
            f"read memory.stat {reads}x, 100 cgroups, 2 nodes",
            lambda r: stat_reads(r, "memory.stat", reads),
        ),
        (
            "5",
            f"read memory.numa_stat {reads}x, 100 cgroups, 2 nodes",
            lambda r: stat_reads(r, "memory.numa_stat", reads),
        ),
    ]
    bar = Progress(len(experiments) * trials * len(MODES), progress)
    results: dict[str, Any] = {
        "scale": scale,
        "pages": n,
        "trials": trials,
        "experiments": [],
        "attribution": {},
    }
    with tempfile.TemporaryDirectory(prefix="zsrs-exp-") as d:
        tmp = Path(d)
        for key, title, fn in experiments:
            times: dict[str, list[Any]] = {m: [] for m in MODES}
            for t in range(trials):
                for m in MODES if t % 2 == 0 else MODES[::-1]:
                    rig = Rig(m, 2, node_pages, tmp)
                    times[m].append(fn(rig))
                    if key == "3" and t == 0:
                        results["attribution"][m] = attribution(rig)
                    bar.step(f"exp {key} {m} trial {t + 1}")
                    del rig
            deltas = [100 * (s / c - 1) for s, c in zip(times["zsmalloc"], times["consumer"])]
            results["experiments"].append(
                {
                    "id": key,
                    "title": title,
                    "seconds": times,
                    "delta_pct": statistics.mean(deltas),
                    "delta_sd": statistics.stdev(deltas) if len(deltas) > 1 else 0.0,
                }
            )
        if plot:
            _plot(results, node_pages, tmp, plot, data["nodes"])
    return results


def format_table(res: dict) -> str:
    """The seed's table: series vs pre-series, then experiment 3's per-node attribution."""
    head = (
        "zsrs experiments: series (zsmalloc accounting) vs pre-series (consumer accounting), "
        f"{res['trials']} trials, scale {res['scale']:g} ({res['pages']} pages)"
    )
    out = [
        head,
        "",
        f"{'#':<2} {'experiment':<66} {'series vs pre-series':>24}",
    ]
    for e in res["experiments"]:
        d, sd = e["delta_pct"], e["delta_sd"]
        word = "regression" if d > 0 else "gain"
        out.append(f"{e['id']:<2} {e['title']:<66} {abs(d):>6.3f}% {word:<10} ± {sd:.3f}%")
    out += ["", "experiment 3: zswap bytes of /exp3 per node, true placement vs memory.numa_stat"]
    for mode, att in res["attribution"].items():
        name = "series" if mode == "zsmalloc" else "pre-series"
        cells = []
        for n, v in att.items():
            rep = "no per-node line" if v["reported"] is None else str(v["reported"])
            exact = (
                ""
                if v["reported"] is None
                else (" exact" if v["reported"] == v["true"] else " OFF")
            )
            cells.append(f"N{n}: true {v['true']} reported {rep}{exact}")
        out.append(f"  {name:<10} " + "; ".join(cells))
    return "\n".join(out)


def _plot(results: dict, node_pages: int, tmp: Path, path: str, pages: np.ndarray) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rig = Rig("zsmalloc", 2, node_pages, tmp)
    samples: list = []
    exp3_two_nodes(rig, pages, samples)
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5))
    xs = [s[0] + 1 for s in samples]
    for n in (0, 1):
        a.plot(
            xs,
            [s[1].get(("/exp3", n), 0) / 1e6 for s in samples],
            "o-",
            label=f"/exp3 node {n}: true",
        )
        a.plot(xs, [s[2][n] / 1e6 for s in samples], "x--", label=f"/exp3 node {n}: numa_stat")
    a.set_xlabel("workload step (both processes map 1/8 of their set)")
    a.set_ylabel("zswap MB")
    a.set_title("experiment 3: per-node zswap memory of one cgroup (series)")
    a.legend(fontsize=8)
    rows = [ln.split() for ln in rig.zswap.classes().splitlines()[1:] if ln.strip()]
    rows = [r for r in rows if r[0] != "Total" and int(r[-5]) > 0]
    sizes = [int(r[1]) for r in rows]
    frag = [100 * (1 - int(r[-4]) / int(r[-5])) for r in rows]
    b.bar(sizes, frag, width=14)
    b.set_xlabel("size class (bytes)")
    b.set_ylabel("free slots (% of allocated)")
    b.set_title("zsmalloc class fragmentation after experiment 3")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    results["plot"] = path
