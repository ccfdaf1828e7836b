"""The seed's five experiments (PERFORMANCE section of the patch series' cover letter), run in
both accounting modes on the same workloads, plus per-node attribution of zswap memory.

Each experiment runs the same seeded workload under the series ("zsmalloc": per-memcg-lruvec
accounting in zsmalloc) and under the pre-series kernel ("consumer": zswap charges compressed
lengths memcg-wide). Two costs are reported for the timed region of each experiment:

- **work**, deterministic: what the region did (faults, zswap stores, loads, rejects and
  writebacks, disk reads and writes, pages compressed and decompressed) and the accounting
  operations the series changes (stat updates per level, charges, uncharges, objcg gets and puts,
  lock acquisitions). Every trial of a mode must count exactly the same, or the run fails.
- **time**, secondary: CPU time of the region in fresh worker processes, a discarded warm-up,
  randomised order, the median of the log ratios of trial pairs with a bootstrap 95 % CI, and an
  A-vs-A control (pre-series against itself) in every row; a row whose CI contains 0 or is wider
  than ±1 % prints "not resolved". Experiments 4 and 5 time interleaved blocks of reads in one
  process (≥ 1 000 rounds).

Sizes are the seed's (2 GB in a 1 GB cgroup) times `scale`.
"""

from __future__ import annotations

import math
import multiprocessing
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import _zsrs, workloads

PAGE = 4096
SEED_PAGES = (2 << 30) // PAGE  # the seed's 2 GB working set
MODES = ("zsmalloc", "consumer")
WEIGHTS = (0.1, 0.5, 0.35, 0.05)  # zero, text, partly random, random: "quite compressible"
# memory.stat events of the experiment's cgroup that count the region's work.
EVENTS = ("pgfault", "pgmajfault", "zswpout", "zswpin", "zswpwb", "pswpin", "pswpout")
RESOLVE_PCT = 1.0  # a time figure is "resolved" when its CI excludes 0 and is within ±1 %


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

    def __post_init__(self) -> None:
        self.mem = _zsrs.Memory(nodes=[self.node_pages] * self.nodes)
        self.cgs = _zsrs.Cgroups(self.mem, accounting=self.mode)
        self.zswap = _zsrs.Zswap(
            self.mem,
            self.cgs,
            swapfile=self.tmp / f"swap-{self.mode}-{id(self)}.img",
            swap_slots=self.node_pages * self.nodes,
            shrinker_enabled=True,
            max_pool_percent=50,
        )
        self.machine = _zsrs.Machine(self.mem, self.cgs, zswap=self.zswap)

    def work(self, cgroups: list[Any]) -> dict[str, int]:
        """Counters of everything the rig has done so far (see the module header)."""
        w: dict[str, int] = {}
        w.update({f"sim.{k}": int(v) for k, v in self.machine.stats().items()})
        dbg = self.zswap.debugfs()
        for k in ("stored_pages", "written_back_pages", "reject_compress_fail",
                  "reject_compress_poor", "reject_alloc_fail", "reject_reclaim_fail",
                  "pool_limit_hit", "stored_incompressible_pages"):
            if k in dbg:
                w[f"zswap.{k}"] = int(dbg[k])
        for cg in cgroups:
            st = cg.stat()
            for k in EVENTS:
                w[f"events.{k}"] = w.get(f"events.{k}", 0) + int(st.get(k, 0))
        w.update({f"memcg.{k}": int(v) for k, v in self.cgs.op_counts().items()})
        w.update({f"zsmalloc.{k}": int(v) for k, v in self.zswap.pool_ops().items()})
        return w


def _delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items()}


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


Region = Callable[[], None]


def exp1_churn(rig: Rig, pages: np.ndarray, passes: int = 2) -> tuple[Region, list[Any]]:
    """Node-bound churn: a working set twice memory.max, touched `passes` times after mapping,
    so pages go out to zswap and come back (stores, loads and frees on every pass)."""
    g = rig.cgs.create("/exp1")
    g.write_file("memory.max", str(len(pages) // 2 * PAGE))
    p = rig.machine.spawn(g, mems=[0])

    def run() -> None:
        base = p.mmap(pages)
        trace = np.arange(base, base + len(pages), dtype=np.uint64)
        for _ in range(passes):
            p.access(trace)

    return run, [g]


def exp2_writeback(rig: Rig, pages: np.ndarray) -> tuple[Region, list[Any]]:
    """Writeback under zswap pressure (memory.zswap.max 1/16 of the set), then every page
    faulted back: stores, writebacks, and loads from zswap and from disk."""
    g = rig.cgs.create("/exp2")
    g.write_file("memory.max", str(len(pages) // 2 * PAGE))
    g.write_file("memory.zswap.max", str(len(pages) // 16 * PAGE))
    p = rig.machine.spawn(g, mems=[0])

    def run() -> None:
        base = p.mmap(pages)
        trace = np.arange(base, base + len(pages), dtype=np.uint64)
        p.access(trace)
        p.access(trace[::-1].copy())

    return run, [g]


def exp3_two_nodes(
    rig: Rig, pages: np.ndarray, samples: list[Any] | None = None
) -> tuple[Region, list[Any]]:
    """One cgroup, two workloads bound to different NUMA nodes, mapped in steps and then
    re-accessed: objects on both nodes are stored, loaded and freed."""
    g = rig.cgs.create("/exp3")
    # Three quarters of the set fit: the rest is swapped, and much of it stays in zswap, so the
    # re-reads load from zswap on both nodes (at one half the shrinker writes nearly all back).
    g.write_file("memory.max", str(len(pages) * 3 // 4 * PAGE))
    procs = [rig.machine.spawn(g, mems=[n]) for n in (0, 1)]
    half = len(pages) // 2
    chunks = 8

    def run() -> None:
        bases: list[int | None] = [None, None]
        for c in range(chunks):
            for k, p in enumerate(procs):
                part = pages[k * half :][:half][c * half // chunks : (c + 1) * half // chunks]
                b = p.mmap(part)
                bases[k] = b if bases[k] is None else bases[k]
            if samples is not None:
                samples.append((c, rig.zswap.placement()[0], g.numa_stat().get("zswap")))
        for _ in range(2):
            for k, p in enumerate(procs):
                b0 = bases[k]
                assert b0 is not None
                p.access(np.arange(b0, b0 + half, dtype=np.uint64))

    return run, [g]


def attribution(rig: Rig, path: str = "/exp3") -> dict[int, dict[str, int | None]]:
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


def populate_for_reads(rig: Rig, ncg: int = 100) -> list[Any]:
    """Experiments 4 and 5: `ncg` cgroups, each with 64 pages swapped to zswap by a process
    bound to one node (reclaimed the kernel's way)."""
    rng = np.random.default_rng(4)
    cgs = [rig.cgs.create(f"/r{i}") for i in range(ncg)]
    page_rows = workloads.mixture(64, seed=4, weights=WEIGHTS)
    for cg in cgs:
        p = rig.machine.spawn(cg, mems=[int(rng.integers(0, rig.nodes))])
        p.mmap(page_rows)
        rig.machine.reclaim(cg, len(page_rows) * PAGE)
    return cgs


# ------------------------------------------------------------------------------ statistics


def ratio_ci(
    log_ratios: list[float], rng: random.Random, n_boot: int = 2000
) -> tuple[float, float, float]:
    """Median of log ratios as a % change, with its bootstrap 95 % CI (percentile method)."""
    x = np.asarray(log_ratios, dtype=float)
    med = float(np.median(x))
    if len(x) < 2:
        return 100 * math.expm1(med), float("nan"), float("nan")
    gen = np.random.default_rng(rng.randrange(2**32))
    boots = np.median(gen.choice(x, size=(n_boot, len(x)), replace=True), axis=1)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return 100 * math.expm1(med), 100 * math.expm1(float(lo)), 100 * math.expm1(float(hi))


def resolved(ci: tuple[float, float, float]) -> bool:
    """A change is resolved when its CI excludes 0 and is no wider than ±1 %."""
    _, lo, hi = ci
    if math.isnan(lo):
        return False
    return (lo > 0 or hi < 0) and (hi - lo) / 2 <= RESOLVE_PCT


# ---------------------------------------------------------------------------- the workers


@dataclass
class Setup:
    """Everything a worker process needs to run one experiment (sent to it once)."""

    key: str
    pages: np.ndarray | None
    node_pages: int
    reads: int


def _prepare(setup: Setup, rig: Rig) -> tuple[Region, list[Any]]:
    assert setup.pages is not None
    if setup.key == "1":
        return exp1_churn(rig, setup.pages)
    if setup.key == "2":
        return exp2_writeback(rig, setup.pages)
    return exp3_two_nodes(rig, setup.pages)


def _one_trial(setup: Setup, mode: str, tmp: Path) -> dict[str, Any]:
    """One timed region on a fresh rig: CPU and wall seconds, and the region's work."""
    rig = Rig(mode, 2, setup.node_pages, tmp)
    region, cgroups = _prepare(setup, rig)
    before = rig.work(cgroups)
    c0, w0 = time.process_time(), time.perf_counter()
    region()
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    out: dict[str, Any] = {
        "cpu": cpu,
        "wall": wall,
        "work": _delta(rig.work(cgroups), before),
    }
    if setup.key == "3":
        out["attribution"] = attribution(rig)
    return out


def _worker_block(setup: Setup, trials: int, seed: int) -> list[dict[str, Any]]:
    """In a fresh process: a discarded warm-up of each arm, then `trials` rounds of the three
    arms (series, pre-series, pre-series again for the A-vs-A control) in random order."""
    rng = random.Random(seed)
    arms = [("series", "zsmalloc"), ("pre", "consumer"), ("control", "consumer")]
    out = []
    with tempfile.TemporaryDirectory(prefix="zsrs-exp-") as d:
        tmp = Path(d)
        for _, mode in arms[:2]:
            _one_trial(setup, mode, tmp)  # warm-up: caches, allocator, page tables
        for _ in range(trials):
            order = arms[:]
            rng.shuffle(order)
            row: dict[str, Any] = {}
            for arm, mode in order:
                row[arm] = _one_trial(setup, mode, tmp)
            out.append(row)
    return out


def _reads_block(setup: Setup, file: str, rounds: int, seed: int) -> dict[str, Any]:
    """Experiments 4 and 5 in one process: three populated rigs (series, pre-series twice) and
    `rounds` interleaved blocks of reads, each block timed, in a random order per round."""
    rng = random.Random(seed)
    per_block = max(1, setup.reads // rounds)
    with tempfile.TemporaryDirectory(prefix="zsrs-exp-") as d:
        tmp = Path(d)
        arms = {
            "series": Rig("zsmalloc", 2, setup.node_pages, tmp),
            "pre": Rig("consumer", 2, setup.node_pages, tmp),
            "control": Rig("consumer", 2, setup.node_pages, tmp),
        }
        groups = {a: populate_for_reads(r) for a, r in arms.items()}
        before = {a: r.work(groups[a]) for a, r in arms.items()}
        times: dict[str, list[int]] = {a: [] for a in arms}
        names = list(arms)
        ncg = len(groups["series"])
        for a in names:  # warm-up
            for i in range(per_block):
                groups[a][i % ncg].read_file(file)
        for r in range(rounds):
            rng.shuffle(names)
            for a in names:
                cg = groups[a]
                t0 = time.perf_counter_ns()
                for i in range(per_block):
                    cg[(r * per_block + i) % ncg].read_file(file)
                times[a].append(time.perf_counter_ns() - t0)
        work = {a: _delta(arms[a].work(groups[a]), before[a]) for a in arms}
    return {"times": times, "work": work, "reads": rounds * per_block}


def _pool(processes: int) -> Any:
    return multiprocessing.get_context("fork").Pool(1, maxtasksperchild=1)


def _in_fresh_processes(fn: Callable[..., Any], jobs: list[tuple[Any, ...]]) -> list[Any]:
    """Runs each job in a fresh process, one at a time (runs must not compete for the CPU)."""
    out = []
    for args in jobs:
        with _pool(1) as p:
            out.append(p.apply(fn, args))
    return out


def _check_deterministic(key: str, arm: str, works: list[dict[str, int]]) -> dict[str, int]:
    first = works[0]
    for i, w in enumerate(works[1:], 2):
        if w != first:
            diff = {k: (first.get(k), w.get(k)) for k in set(first) | set(w)
                    if first.get(k) != w.get(k)}
            raise RuntimeError(
                f"experiment {key}, {arm}: trial {i} did different work than trial 1: {diff}"
            )
    return first


def estimate(scale: float, trials: int, processes: int) -> tuple[float, float]:
    """(seconds, MiB) a run should need: calibrated on this machine at scale 1/16."""
    n = max(256, int(SEED_PAGES * scale))
    runs = processes * (2 + 3 * trials)
    seconds = 4 + runs * 3 * (n / 32768) * 0.25 + 20 * processes * 0.1
    mib = (2.5 * n * PAGE + 4 * (n * 3 // 2 + 4096) * 2 * 64) / 2**20 + 150
    return seconds, mib


def run(
    scale: float = 1 / 16,
    trials: int = 2,
    progress: bool = True,
    plot: str | None = None,
    processes: int = 5,
    seed: int = 1,
) -> dict[str, Any]:
    """Runs the five experiments in both modes; returns the results as plain data.

    Each of experiments 1–3 runs in `processes` fresh processes, each doing a warm-up and
    `trials` rounds of (series, pre-series, pre-series control) in random order; experiments 4–5
    time interleaved blocks of reads in one process per `processes`, 1 000 rounds in all."""
    n = max(256, int(SEED_PAGES * scale)) // 2 * 2
    node_pages = n * 3 // 2 + 4096
    reads = max(1000, int(10000 * min(1.0, scale * 16)))
    data = {
        "1": workloads.mixture(n, seed=1, weights=WEIGHTS),
        "2": workloads.mixture(n // 2, seed=2, weights=WEIGHTS),
        "3": workloads.mixture(n, seed=3, weights=WEIGHTS),
    }
    titles = {
        "1": f"node-bound churn: {n} pages in a {n // 2}-page cgroup, 2 passes",
        "2": f"writeback with zswap pressure (zswap.max = 1/16), {n // 2} pages, read back",
        "3": f"1 cgroup, 2 workloads bound to different NUMA nodes, {n} pages, re-read",
        "4": f"read memory.stat {reads}x, 100 cgroups, 2 nodes",
        "5": f"read memory.numa_stat {reads}x, 100 cgroups, 2 nodes",
    }
    exercises = {
        "1": "stores, loads and frees of zswap objects on one node; charges and uncharges",
        "2": "stores, writeback to disk, loads from zswap and from disk",
        "3": "stores, loads and frees on two nodes; per-node attribution",
        "4": "memory.stat rendering of 100 populated cgroups",
        "5": "memory.numa_stat rendering of 100 populated cgroups",
    }
    bar = Progress(3 * processes + 2, progress)
    rng = random.Random(seed)
    results: dict[str, Any] = {
        "scale": scale,
        "pages": n,
        "trials": trials,
        "processes": processes,
        "experiments": [],
        "attribution": {},
    }
    for key in ("1", "2", "3"):
        setup = Setup(key, data[key], node_pages, reads)
        blocks = []
        for b in range(processes):
            blocks += _in_fresh_processes(
                _worker_block, [(setup, trials, rng.randrange(2**31))]
            )[0]
            bar.step(f"exp {key} process {b + 1}/{processes}")
        rows = blocks
        work = {
            arm: _check_deterministic(key, arm, [r[arm]["work"] for r in rows])
            for arm in ("series", "pre", "control")
        }
        _check_deterministic(key, "pre vs control", [work["pre"], work["control"]])
        ab = [math.log(r["series"]["cpu"] / r["pre"]["cpu"]) for r in rows]
        aa = [math.log(r["control"]["cpu"] / r["pre"]["cpu"]) for r in rows]
        if key == "3":
            results["attribution"] = {
                "zsmalloc": rows[0]["series"]["attribution"],
                "consumer": rows[0]["pre"]["attribution"],
            }
        results["experiments"].append(
            _row(key, titles[key], exercises[key], work, ab, aa, rng, {
                "cpu_seconds": {a: [r[a]["cpu"] for r in rows] for a in ("series", "pre", "control")},
                "wall_seconds": {a: [r[a]["wall"] for r in rows] for a in ("series", "pre", "control")},
            })
        )
    for key, file in (("4", "memory.stat"), ("5", "memory.numa_stat")):
        setup = Setup(key, None, node_pages, reads)
        rounds = 1000
        res = _in_fresh_processes(_reads_block, [(setup, file, rounds, rng.randrange(2**31))])[0]
        t = res["times"]
        ab = [math.log(s / p) for s, p in zip(t["series"], t["pre"])]
        aa = [math.log(c / p) for c, p in zip(t["control"], t["pre"])]
        work = res["work"]
        _check_deterministic(key, "pre vs control", [work["pre"], work["control"]])
        results["experiments"].append(
            _row(key, titles[key], exercises[key], work, ab, aa, rng, {
                "block_ns": t, "reads": res["reads"],
            })
        )
        bar.step(f"exp {key}")
    if plot:
        with tempfile.TemporaryDirectory(prefix="zsrs-exp-") as d:
            _plot(results, node_pages, Path(d), plot, data["3"])
    return results


ACCOUNTING_KEYS = (
    "memcg.memcg_stat_updates",
    "memcg.lruvec_stat_updates",
    "memcg.node_stat_updates",
    "memcg.page_counter_charges",
    "memcg.page_counter_uncharges",
    "memcg.objcg_charges",
    "memcg.objcg_uncharges",
    "memcg.objcg_gets",
    "memcg.objcg_puts",
    "memcg.memcg_tree_locks",
    "zsmalloc.pool_locks",
)


def _row(
    key: str,
    title: str,
    exercises: str,
    work: dict[str, dict[str, int]],
    ab: list[float],
    aa: list[float],
    rng: random.Random,
    raw: dict[str, Any],
) -> dict[str, Any]:
    series, pre = work["series"], work["pre"]
    ops_s = sum(series.get(k, 0) for k in ACCOUNTING_KEYS)
    ops_p = sum(pre.get(k, 0) for k in ACCOUNTING_KEYS)
    differs = {
        k: (pre.get(k, 0), series.get(k, 0))
        for k in sorted(set(series) | set(pre))
        if series.get(k, 0) != pre.get(k, 0)
    }
    time_ci = ratio_ci(ab, rng)
    control_ci = ratio_ci(aa, rng)
    return {
        "id": key,
        "title": title,
        "exercises": exercises,
        "work": work,
        "work_differs": differs,
        "accounting_ops": {"series": ops_s, "pre": ops_p},
        "work_delta_pct": 100 * (ops_s / ops_p - 1) if ops_p else float("nan"),
        "time_delta_pct": time_ci,
        "time_resolved": resolved(time_ci),
        "control_delta_pct": control_ci,
        "control_resolved": resolved(control_ci),
        "pairs": len(ab),
        **raw,
    }


def _fmt_ci(ci: tuple[float, float, float], ok: bool) -> str:
    d, lo, hi = ci
    if math.isnan(lo):
        return f"{d:+.2f}%"
    text = f"{d:+.2f}% [{lo:+.2f}, {hi:+.2f}]"
    return text if ok else text + " not resolved"


def _reading(e: dict[str, Any]) -> str:
    parts = []
    w = e["work_delta_pct"]
    top = sorted(
        ((k, p, s) for k, (p, s) in e["work_differs"].items() if k in ACCOUNTING_KEYS),
        key=lambda x: -abs(x[2] - x[1]),
    )[:3]
    if top:
        expl = ", ".join(f"{k.split('.')[1]} {p}→{s}" for k, p, s in top)
        parts.append(f"{w:+.1f}% accounting operations ({expl})")
    else:
        parts.append("same accounting operations")
    if e["time_resolved"]:
        parts.append(f"time {e['time_delta_pct'][0]:+.2f}%")
    else:
        parts.append("time within noise")
    return "; ".join(parts)


def format_table(res: dict[str, Any]) -> str:
    """Per experiment: the deterministic work change, the time change with its CI, the A-vs-A
    control, and a one-line reading; then experiment 3's per-node attribution."""
    head = (
        "zsrs experiments: series (zsmalloc accounting) vs pre-series (consumer accounting), "
        f"scale {res['scale']:g} ({res['pages']} pages), {res['processes']} processes x "
        f"{res['trials']} trials"
    )
    out = [head, ""]
    out.append(
        f"{'#':<2} {'experiment':<72} {'work Δ':>8}  {'time Δ [95% CI]':<34} {'A-vs-A [95% CI]':<34}"
    )
    for e in res["experiments"]:
        out.append(
            f"{e['id']:<2} {e['title']:<72} {e['work_delta_pct']:>+7.2f}%  "
            f"{_fmt_ci(e['time_delta_pct'], e['time_resolved']):<34} "
            f"{_fmt_ci(e['control_delta_pct'], e['control_resolved']):<34}"
        )
        out.append(f"   exercises: {e['exercises']}")
        out.append(f"   reading: {_reading(e)}")
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


def _plot(
    results: dict[str, Any], node_pages: int, tmp: Path, path: str, pages: np.ndarray
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rig = Rig("zsmalloc", 2, node_pages, tmp)
    samples: list[Any] = []
    region, _ = exp3_two_nodes(rig, pages, samples)
    region()
    fig, (c, a, b) = plt.subplots(1, 3, figsize=(18, 4.5))
    # The time changes with their 95 % CIs, series vs pre-series and the A-vs-A control.
    for k, e in enumerate(results["experiments"]):
        for off, key, color in ((-0.15, "time_delta_pct", "C0"), (0.15, "control_delta_pct", "C7")):
            d, lo, hi = e[key]
            if not math.isnan(lo):
                c.errorbar([k + off], [d], yerr=[[d - lo], [hi - d]], fmt="o", color=color,
                           label=("series vs pre-series" if key == "time_delta_pct" else
                                  "A-vs-A control") if k == 0 else None)
    c.axhline(0, color="k", lw=0.5)
    c.set_xticks(range(len(results["experiments"])))
    c.set_xticklabels([f"exp {e['id']}" for e in results["experiments"]])
    c.set_ylabel("CPU time change (%), median of log ratios, 95 % CI")
    c.set_title("cost of the series (time)")
    c.legend(fontsize=8)
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


# ---------------------------------------------------------------------- instructions (callgrind)

# The pyo3 entry points each experiment's timed region calls, and only it (its set-up calls
# others): collection is on exactly while one of them runs, so one process per count suffices,
# Python's own work between calls is left out, and every instruction of zsrs (and of the libc
# calls it makes) in the region is counted.
REGION_METHODS = {
    "1": ("*PyProcess::__pymethod_mmap__", "*PyProcess::__pymethod_access__"),
    "2": ("*PyProcess::__pymethod_mmap__", "*PyProcess::__pymethod_access__"),
    "3": ("*PyProcess::__pymethod_mmap__", "*PyProcess::__pymethod_access__"),
    "4": ("*PyCgroup::__pymethod_read_file__",),
    "5": ("*PyCgroup::__pymethod_read_file__",),
}
MEM_FUNCS = ("memcpy", "memmove", "memset")


def _sizes(scale: float) -> tuple[int, int, int]:
    n = max(256, int(SEED_PAGES * scale)) // 2 * 2
    return n, n * 3 // 2 + 4096, max(1000, int(10000 * min(1.0, scale * 16)))


def _cg_entry(key: str, mode: str, scale: float) -> None:
    """One process under callgrind: set up experiment `key` in `mode` and run its region."""
    n, node_pages, reads = _sizes(scale)
    pages = {
        "1": lambda: workloads.mixture(n, seed=1, weights=WEIGHTS),
        "2": lambda: workloads.mixture(n // 2, seed=2, weights=WEIGHTS),
        "3": lambda: workloads.mixture(n, seed=3, weights=WEIGHTS),
    }
    with tempfile.TemporaryDirectory(prefix="zsrs-cg-") as d:
        rig = Rig(mode, 2, node_pages, Path(d))
        if key in pages:
            region, _ = _prepare(Setup(key, pages[key](), node_pages, reads), rig)
        else:
            groups = populate_for_reads(rig)
            file = "memory.stat" if key == "4" else "memory.numa_stat"

            def region() -> None:
                for i in range(reads):
                    groups[i % len(groups)].read_file(file)

        region()


def _callgrind_count(key: str, mode: str, scale: float, out: Path) -> tuple[int, int]:
    """(instructions, of which memcpy/memmove/memset) of one region, in one process."""
    import os
    import subprocess

    cmd = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        "--collect-atstart=no",
        *[f"--toggle-collect={t}" for t in REGION_METHODS[key]],
        sys.executable,
        "-c",
        f"from zsrs.experiments import _cg_entry; _cg_entry({key!r}, {mode!r}, {scale!r})",
    ]
    env = dict(os.environ, PYTHONHASHSEED="0")
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    total = 0
    for line in out.read_text().splitlines():
        if line.startswith("summary:") or line.startswith("totals:"):
            total = int(line.split()[1])
    ann = subprocess.run(
        ["callgrind_annotate", "--threshold=100", str(out)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    mem = 0
    for line in ann.splitlines():
        parts = line.split()
        if len(parts) >= 2 and any(f in line for f in MEM_FUNCS) and parts[0][0].isdigit():
            mem += int(parts[0].replace(",", ""))
    return total, mem


def instructions(
    scale: float = 1 / 2048,
    repeats: int = 2,
    keys: tuple[str, ...] = ("1", "2", "3", "4", "5"),
    progress: bool = True,
) -> dict[str, Any]:
    """Instructions of each experiment's timed region in both modes, counted by callgrind,
    `repeats` times to show the spread; with and without libc's memcpy/memmove/memset."""
    import shutil

    if shutil.which("valgrind") is None or shutil.which("callgrind_annotate") is None:
        raise RuntimeError("--metric callgrind needs valgrind (Debian: apt-get install valgrind)")
    bar = Progress(len(keys) * len(MODES) * repeats, progress)
    rows = []
    with tempfile.TemporaryDirectory(prefix="zsrs-cg-") as d:
        for key in keys:
            per_mode: dict[str, Any] = {}
            for mode in MODES:
                counts = []
                for r in range(repeats):
                    counts.append(
                        _callgrind_count(key, mode, scale, Path(d) / f"cg.{key}.{mode}.{r}")
                    )
                    bar.step(f"exp {key} {mode} {r + 1}")
                ir = [c[0] for c in counts]
                per_mode[mode] = {
                    "instructions": ir,
                    "mem_instructions": [c[1] for c in counts],
                    "spread_pct": 100 * (max(ir) - min(ir)) / max(1, min(ir)),
                }
            s, p = per_mode["zsmalloc"], per_mode["consumer"]

            def med(v: list[int]) -> float:
                return float(np.median(v))

            rows.append(
                {
                    "id": key,
                    "modes": per_mode,
                    "delta_pct": 100 * (med(s["instructions"]) / med(p["instructions"]) - 1),
                    "delta_pct_without_mem": 100
                    * (
                        (med(s["instructions"]) - med(s["mem_instructions"]))
                        / (med(p["instructions"]) - med(p["mem_instructions"]))
                        - 1
                    ),
                }
            )
    return {"scale": scale, "repeats": repeats, "experiments": rows}


def format_instructions(res: dict[str, Any]) -> str:
    out = [
        f"zsrs experiments, instructions of each timed region (callgrind), scale {res['scale']:g}, "
        f"{res['repeats']} repeats",
        "",
        f"{'#':<2} {'series':>14} {'pre-series':>14} {'Δ':>9} {'Δ without mem*':>15} {'spread':>9}",
    ]
    for e in res["experiments"]:
        s, p = e["modes"]["zsmalloc"], e["modes"]["consumer"]
        spread = max(s["spread_pct"], p["spread_pct"])
        out.append(
            f"{e['id']:<2} {int(np.median(s['instructions'])):>14,} "
            f"{int(np.median(p['instructions'])):>14,} {e['delta_pct']:>+8.3f}% "
            f"{e['delta_pct_without_mem']:>+14.3f}% {spread:>8.4f}%"
        )
    return "\n".join(out)
