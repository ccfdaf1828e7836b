"""Memory follows what lives: a removed cgroup and an exited process are freed (the kernel frees
an offline memcg once nothing references it), and a removed cgroup's object reports nothing."""

import numpy as np
import pytest

import zsrs

PAGE = 4096


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


def test_cgroup_and_process_churn_does_not_grow_memory() -> None:
    mem = zsrs.Memory(nodes=[1 << 16, 1 << 16])
    cgs = zsrs.Cgroups(mem)
    m = zsrs.Machine(mem, cgs)
    cgs.create("/p")
    page = np.full((1, PAGE), 7, np.uint8)
    for _ in range(2000):  # warm-up: allocator arenas, id tables
        cgs.create("/p/c")
        cgs.remove("/p/c")
    before = rss_mib()
    for _ in range(100_000):
        cgs.create("/p/c")
        cgs.remove("/p/c")
    for _ in range(20_000):
        p = m.spawn("/p")
        p.mmap(page)
        p.exit()
    grown = rss_mib() - before
    # Before: about 2.8 KiB per removed cgroup (its stat arrays) -- 280 MiB here.
    assert grown < 12, f"{grown:.1f} MiB"


def test_a_removed_cgroups_object_reads_nothing_and_its_charges_stay_with_the_parent() -> None:
    mem = zsrs.Memory(nodes=[4096])
    cgs = zsrs.Cgroups(mem)
    zs = zsrs.Zswap(mem, cgs)
    a, b = cgs.create("/a"), cgs.create("/a/b")
    assert zs.store(1, bytes(range(256)) * 16, b)
    charged = b.stat()["zswap"]
    cgs.remove("/a/b")
    assert not b.online
    for read in (b.stat, b.numa_stat, lambda: b.read_file("memory.stat"), lambda: b.path):
        with pytest.raises(zsrs.CgroupError, match="ENOENT"):
            read()
    assert "removed" in repr(b)
    assert b.parent is not None
    assert b.parent.path == "/a"
    assert a.stat()["zswap"] == charged
    assert zs.load(1) is not None
    assert a.stat()["zswap"] == 0
