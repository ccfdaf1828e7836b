"""The simulated kernel from Python: swap events counted once, cgroups of other hierarchies
refused, processes keeping a cgroup populated, and bad sizes as Python errors."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import zsrs

PAGE = 4096


def machine(
    tmp_path: Path, **zswap: Any
) -> tuple[zsrs.Memory, zsrs.Cgroups, zsrs.Zswap, zsrs.Machine]:
    mem = zsrs.Memory(nodes=[8192])
    cgs = zsrs.Cgroups(mem)
    zs = zsrs.Zswap(mem, cgs, swapfile=tmp_path / "swap.img", swap_slots=8192, **zswap)
    return mem, cgs, zs, zsrs.Machine(mem, cgs, zswap=zs)


def test_disk_swap_events_are_counted_once(tmp_path: Path) -> None:
    _, cgs, _, m = machine(tmp_path)
    g = cgs.create("/g")
    g.write_file("memory.zswap.max", "0")  # every store refused: straight to the swap file
    p = m.spawn(g)
    pages = zsrs.workloads.text_like(64, seed=2)
    base = p.mmap(pages)
    m.reclaim(g, 32 * PAGE)
    assert m.stats()["swapout_disk"] == 32
    assert g.stat()["pswpout"] == 32 and g.stat()["zswpout"] == 0
    assert p.verify(base, pages) == []
    assert m.stats()["swapin_disk"] == 32
    assert g.stat()["pswpin"] == 32
    assert int(g.read_file("memory.swap.current")) == 0
    assert int(g.read_file("memory.swap.peak")) == 32 * PAGE


def test_other_hierarchies_and_populated_cgroups_are_refused(tmp_path: Path) -> None:
    mem, cgs, _, m = machine(tmp_path)
    cgs.create("/a")
    stranger = zsrs.Cgroups(zsrs.Memory(nodes=[64])).create("/a")
    with pytest.raises(zsrs.CgroupError):
        zsrs.Zswap(mem, cgs).store(1, b"\x01" * PAGE, cgroup=stranger)
    with pytest.raises(zsrs.CgroupError):
        m.spawn(stranger)
    p = m.spawn("/a")
    with pytest.raises(zsrs.CgroupError):
        cgs.remove("/a")
    p.exit()
    cgs.remove("/a")
    with pytest.raises(ValueError):
        m.spawn(cgs.create("/b")).read(0, 2**61)
    with pytest.raises(zsrs.ZsError):
        m.spawn("/b").access(np.array([5], dtype=np.uint64))
