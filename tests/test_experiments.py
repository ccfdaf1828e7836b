"""The experiments (the main job) at a tiny scale: deterministic work in both modes, the time
statistics (CIs, the A-vs-A control, "not resolved"), exact per-node attribution under the
series and none before it, JSON and the plot."""

import json
import math
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import zsrs.experiments as ex


@pytest.fixture(scope="module")
def res() -> dict[str, Any]:
    return ex.run(scale=1 / 1024, trials=2, processes=2, progress=False)


def test_every_row_has_deterministic_work_and_a_control(res: dict[str, Any]) -> None:
    assert [e["id"] for e in res["experiments"]] == ["1", "2", "3", "4", "5"]
    for e in res["experiments"][:3]:
        s, p = e["work"]["series"], e["work"]["pre"]
        # The same trace: the same faults in both modes (swap traffic differs a little, as the
        # modes charge different amounts against memory.max) ...
        assert s["sim.faults"] == p["sim.faults"] > 0
        for k in ("sim.swapout_zswap", "events.zswpout", "events.zswpin"):
            assert s[k] > 0 and p[k] > 0, (e["id"], k)
        # ... but the series moves zswap statistics to the lruvec level.
        assert s["memcg.lruvec_stat_updates"] > p["memcg.lruvec_stat_updates"]
        assert e["work"]["control"] == p
        assert e["pairs"] == 4
        assert len(e["cpu_seconds"]["series"]) == 4
    # Every experiment loads from zswap, not only from disk.
    for e in res["experiments"][:3]:
        assert e["work"]["series"]["sim.swapin_zswap"] > 0, e["id"]
    table = ex.format_table(res)
    assert "A-vs-A" in table and table.count("reading:") == 5


def test_attribution_is_exact_under_the_series_only(res: dict[str, Any]) -> None:
    series, before = res["attribution"]["zsmalloc"], res["attribution"]["consumer"]
    assert sum(v["true"] for v in series.values()) > 0
    assert all(v["reported"] == v["true"] for v in series.values()), series
    assert all(v["reported"] is None for v in before.values())
    assert ex.format_table(res).count("exact") == 2


def test_ci_and_resolution_rules() -> None:
    rng = random.Random(1)
    tight = [math.log(1.02) + 0.0001 * (i % 3) for i in range(50)]
    d, lo, hi = ex.ratio_ci(tight, rng)
    assert 1.9 < d < 2.2 and lo > 0 and ex.resolved((d, lo, hi))
    noisy = [(-1) ** i * 0.1 for i in range(50)]
    assert not ex.resolved(ex.ratio_ci(noisy, rng))
    assert not ex.resolved(ex.ratio_ci([0.01], rng))  # one pair: no CI


def test_nondeterministic_work_fails_loudly() -> None:
    with pytest.raises(RuntimeError, match="different work"):
        ex._check_deterministic("1", "series", [{"a": 1}, {"a": 2}])


def test_cli_json_and_plot(tmp_path: Path) -> None:
    png = tmp_path / "out.png"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "zsrs",
            "experiments",
            "--scale",
            "0.001",
            "--trials",
            "1",
            "--processes",
            "2",
            "--json",
            "--quiet",
            "--plot",
            str(png),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    res = json.loads(out)
    assert res["trials"] == 1 and len(res["experiments"]) == 5
    assert png.stat().st_size > 10_000


def test_instructions_of_a_region_repeat_exactly_under_callgrind() -> None:
    # The smallest run: experiment 1 at 256 pages, twice in each mode.
    res = ex.instructions(scale=1 / 8192, repeats=2, keys=("1",), progress=False)
    e = res["experiments"][0]
    for mode in ("zsmalloc", "consumer"):
        ir = e["modes"][mode]["instructions"]
        # Repeatable within 0.01 % (what varies is libc's memcpy on buffers Python aligned).
        assert min(ir) > 100_000 and (max(ir) - min(ir)) / min(ir) <= 1e-4, (mode, ir)
        assert 0 < e["modes"][mode]["mem_instructions"][0] < ir[0]
    assert "Δ without mem*" in ex.format_instructions(res)


@pytest.mark.parametrize("chunk", [1, 7, 64, 100_000])
def test_streamed_working_sets_are_the_whole_mixture(chunk: int) -> None:
    # The chunks of mixture_chunks, whatever their size, are exactly mixture(): an experiment
    # that streams its 2 GB set runs on the same pages as one that holds it.
    import numpy as np

    from zsrs import workloads

    for n, ps, seed in ((300, 4096, 3), (41, 16384, 0)):
        whole = workloads.mixture(n, ps, seed, ex.WEIGHTS)
        parts = list(workloads.mixture_chunks(n, ps, seed, ex.WEIGHTS, chunk=chunk))
        assert all(len(p) <= chunk for p in parts)
        assert np.array_equal(np.concatenate(parts), whole)
    # All four kinds occur, in the weights' proportions (a broken stream loses a kind).
    pages = workloads.mixture(2000, seed=1, weights=ex.WEIGHTS)
    zero = ~pages.any(axis=1)
    text = (pages[:, :64] >= ord(" ")).all(axis=1) & (pages[:, :64] <= ord("z")).all(axis=1)
    assert 150 < zero.sum() < 250 and 900 < text.sum() < 1100


def test_a_working_set_file_streams_back_byte_for_byte(tmp_path: Path) -> None:
    import numpy as np

    from zsrs import workloads

    n = ex.CHUNK * 2 + 5
    pages = ex.write_pages(tmp_path / "p.pages", n, 2)
    got = np.concatenate(list(pages.chunks()))
    assert np.array_equal(got, workloads.mixture(n, seed=2, weights=ex.WEIGHTS))
    assert np.array_equal(
        np.concatenate(list(pages.chunks(3, ex.CHUNK + 9))), got[3 : ex.CHUNK + 9]
    )
    assert pages.prefix(10).n == 10 and pages.prefix(n + 1).n == n


def test_prefault_prepares_frames_without_changing_the_books() -> None:
    import zsrs

    mem = zsrs.Memory(nodes=[64, 8])
    assert mem.prefault(0, 16) == 16
    assert mem.prefault(1, 100) == 8  # at most the node's free frames
    assert [s["used"] for s in mem.node_stats()] == [0, 0]
    with pytest.raises(zsrs.OutOfMemory):
        zsrs.Memory(nodes=[1 << 40]).prefault(0, 1 << 40)  # refused before allocating
    with pytest.raises(zsrs.InvalidArgument):
        mem.prefault(5, 1)


class _FakePmu:
    """A stand-in for zsrs.InstructionCounter on machines with a PMU: counts one instruction
    per nanosecond while enabled (this machine has none; the real one is a thin binding)."""

    def __init__(self) -> None:
        self.total, self.since = 0, None

    def enable(self) -> None:
        import time

        self.since = time.perf_counter_ns()  # type: ignore[assignment]

    def disable(self) -> None:
        import time

        assert self.since is not None
        self.total += time.perf_counter_ns() - self.since
        self.since = None

    def reset(self) -> None:
        self.total = 0

    def read(self) -> int:
        return self.total


def test_instructions_from_a_pmu_are_reported_where_one_exists(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import zsrs

    try:
        zsrs.InstructionCounter()
    except zsrs.ZsError as err:
        assert err.errno_name in ("ENOENT", "EACCES", "EPERM", "ENODEV")
    monkeypatch.setattr(ex, "instruction_counter", _FakePmu)
    res = ex.run(scale=1 / 4096, trials=1, processes=2, progress=False)
    for e in res["experiments"]:
        d, lo, hi = e["instructions_delta_pct"]
        assert lo <= d <= hi
        assert e["instructions_control_pct"] is not None
    assert "instructions (PMU):" in ex.format_table(res)
    assert "no PMU" not in ex.format_table(res)


def test_without_a_pmu_the_table_says_where_instructions_come_from(res: dict[str, Any]) -> None:
    pmu = ex.instruction_counter() is not None
    assert all((e["instructions_delta_pct"] is not None) == pmu for e in res["experiments"])
    assert ("--metric callgrind" in ex.format_table(res)) != pmu
