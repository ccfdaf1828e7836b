"""zswap from Python: stores and exclusive loads, reject reasons, incompressible pages, limits,
writeback through a real swap file, debugfs text, batches and threads, in both modes."""

import threading
from pathlib import Path
from typing import TypeAlias

import numpy as np
import pytest

import zsrs

PAGE = 4096

# mode, memory, cgroups, the cgroup /g, zswap
Rig: TypeAlias = tuple[str, zsrs.Memory, zsrs.Cgroups, zsrs.Cgroup, zsrs.Zswap]


@pytest.fixture(params=["zsmalloc", "consumer"])
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Rig:
    mem = zsrs.Memory(nodes=[1 << 14, 1 << 14])
    cgs = zsrs.Cgroups(mem, accounting=request.param)
    g = cgs.create("/g")
    zs = zsrs.Zswap(mem, cgs, swapfile=tmp_path / "swap.img", swap_slots=1 << 14)
    return request.param, mem, cgs, g, zs


def test_store_load_invalidate_and_counters(rig: Rig) -> None:
    mode, _, _, g, zs = rig
    page = zsrs.workloads.text_like(1, seed=1)[0].tobytes()
    r = zs.store(7, page, cgroup=g, nid=1)
    assert r and r.reason is None and 0 < r.length < PAGE
    assert 7 in zs
    assert zs.read_file("stored_pages") == "1\n"
    assert g.stat()["zswpout"] == 1
    zswap_bytes = g.stat()["zswap"]
    if mode == "consumer":
        assert zswap_bytes == r.length
        assert "zswap" not in g.numa_stat()
    else:
        assert zswap_bytes >= r.length + 8  # the slot: header and class rounding included
        assert sum(g.numa_stat()["zswap"]) == zswap_bytes
    assert zs.load(7) == page
    assert 7 not in zs, "loads are exclusive"
    assert zs.load(7) is None
    assert g.stat()["zswpin"] == 1 and g.stat()["zswap"] == 0
    zs.store(8, page, cgroup="/g")
    assert zs.invalidate(8) and not zs.invalidate(8)
    assert zs.debugfs()["stored_pages"] == 0
    zs.check_invariants()


def test_reject_reasons_and_incompressible_pages(rig: Rig) -> None:
    _, _, _, g, zs = rig
    rnd = np.random.default_rng(0).integers(0, 256, PAGE, dtype=np.uint8).tobytes()
    r = zs.store(1, rnd, cgroup=g)
    assert r and r.length == PAGE, "kept as-is while writeback is possible"
    assert zs.debugfs()["stored_incompressible_pages"] == 1
    g.write_file("memory.zswap.writeback", "0")
    r = zs.store(2, rnd, cgroup=g)
    assert not r and r.reason == "reject_compress_fail"
    g.write_file("memory.zswap.writeback", "1")
    g.write_file("memory.zswap.max", "0")
    r = zs.store(3, b"\x01" * PAGE, cgroup=g)
    assert not r and r.reason == "zswap_max"
    zs.write_file("parameters/enabled", "N")
    assert zs.read_file("parameters/enabled") == "N\n"
    assert zs.store(4, b"\x01" * PAGE).reason == "disabled"
    with pytest.raises(zsrs.CompressionError):
        zsrs.Zswap(zsrs.Memory(nodes=[64]), compressor="lzma")
    with pytest.raises(zsrs.KernelError):
        zs.read_file("no_such_counter")


def test_writeback_goes_to_the_swap_file_and_reads_back(rig: Rig) -> None:
    _, _, _, g, zs = rig
    pages = zsrs.workloads.mixture(64, seed=3, weights=(0, 1, 0, 0))
    assert zs.store_many(np.arange(64, dtype=np.uint64), pages, cgroup=g).all()
    g.write_file("memory.zswap.max", "0")
    written = 0
    for _ in range(200):
        if zs.shrink_memcg(g) == 0:
            written += 1
    assert written > 0 and g.stat()["zswpwb"] == written
    assert zs.debugfs()["written_back_pages"] == written
    assert zs.debugfs()["stored_pages"] == 64 - written


def test_batches_and_threads(rig: Rig) -> None:
    _, _, _, g, zs = rig
    n = 400
    pages = zsrs.workloads.mixture(4 * n, seed=5, weights=(0, 0.6, 0.4, 0))
    errors = []

    def worker(t: int) -> None:
        try:
            sl = np.arange(t * n, (t + 1) * n, dtype=np.uint64)
            ok = zs.store_many(sl, pages[t * n : (t + 1) * n], cgroup=g, nid=t % 2)
            out = np.zeros((n, PAGE), dtype=np.uint8)
            hit = zs.load_many(sl, out)
            assert (hit == ok).all()
            assert (out[hit] == pages[t * n : (t + 1) * n][hit]).all()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert zs.debugfs()["stored_pages"] == 0
    zs.check_invariants()
