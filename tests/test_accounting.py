"""Memcg accounting from Python: the same workload under the series ("zsmalloc") and before it
("consumer"), exact counters and kernel file text, reparenting, and the error paths."""

import numpy as np
import numpy.typing as npt
import pytest

import zsrs


def setup(
    mode: str, nodes: tuple[int, ...] = (1, 4096)
) -> tuple[zsrs.Memory, zsrs.Cgroups, zsrs.Cgroup, zsrs.Cgroup, zsrs.Pool]:
    mem = zsrs.Memory(nodes=list(nodes))
    cgs = zsrs.Cgroups(mem, accounting=mode)
    a = cgs.create("/a")
    b = cgs.create("/a/b")
    pool = zsrs.Pool(mem, "zswap0", cgroups=cgs)
    return mem, cgs, a, b, pool


def test_series_mode_splits_a_spanning_slot_across_nodes() -> None:
    # Node 0 has one frame: the class-48 zspage's page 0 is on node 0, pages 1-2 on node 1.
    _, cgs, a, b, pool = setup("zsmalloc")
    assert pool.memcg_aware and pool.accounting == "zsmalloc"
    hs = pool.malloc_many(np.full(256, 40))
    pool.write(int(hs[85]), b"spans two nodes", cgroup=b)
    assert b.numa_stat()["zswap"] == [16, 32]
    assert b.numa_stat()["zswapped"] == [1365, 2731]
    text = b.read_file("memory.numa_stat")
    assert "zswap N0=16 N1=32\n" in text and "zswapped N0=1365 N1=2731\n" in text
    assert b.stat()["zswap"] == 48 and b.stat()["zswapped"] == 4096
    assert a.stat()["zswap"] == 48, "hierarchical"
    assert b.read_file("memory.zswap.current") == "48\n"
    assert pool.owner(int(hs[85])) == b
    assert pool.owner(int(hs[0])) is None
    vm0 = cgs.node_vmstat_dict(0)
    assert vm0["zswap"] == 1 and vm0["zswapped"] == 1, "node counters are in pages / objects"
    assert "\nzswap 1\n" in cgs.node_vmstat(0)
    pool.free_many(hs)
    assert b.numa_stat()["zswap"] == [0, 0] and b.stat()["zswapped"] == 0
    assert cgs.node_vmstat_dict(0)["zswap"] == 0


def run_workload(
    mode: str,
) -> tuple[npt.NDArray[np.int64], zsrs.Pool, zsrs.Cgroup, zsrs.Cgroup]:
    """The same seeded workload under either mode; returns what each cgroup reports."""
    _, _cgs, a, b, pool = setup(mode, nodes=(4096, 4096))
    rng = np.random.default_rng(11)
    sizes = zsrs.workloads.compressed_sizes(4000, seed=11)
    pages = rng.integers(0, 256, size=(4000, 4096), dtype=np.uint8)
    hs = pool.malloc_many(sizes[:2000], nid=0)
    pool.write_many(hs, pages[:2000], cgroup=a)
    hs2 = pool.malloc_many(sizes[2000:], nid=1)
    pool.write_many(hs2, pages[2000:], cgroup="/a/b")
    calls = pool.charge_calls()
    pool.free_many(hs[::2])
    pool.free_many(hs2[::2])
    before = (a.stat(), b.stat())
    assert pool.compact() > 0
    assert (a.stat(), b.stat()) == before, "compaction changes no memcg-wide total"
    assert pool.charge_calls() == calls + 2000, "only the frees took the charge path"
    out = np.zeros((1000, 4096), dtype=np.uint8)
    lens = pool.read_many(hs2[1::2], out)
    for k in range(0, 1000, 50):
        assert (
            out[k, : lens[k]].tobytes()
            == pages[2000 + 2 * k + 1, : sizes[2000 + 2 * k + 1]].tobytes()
        )
    pool.check_invariants()
    return sizes, pool, a, b


def slot_size(n: int) -> int:
    rows, _ = zsrs.class_table(8)
    idx = min(len(rows) - 1, max(0, -(-(n + 8 - 32) // 16)))
    size: int = rows[rows[idx]["rep"]]["size"]
    return size


def test_same_workload_under_both_modes() -> None:
    sizes, pool, a, b = run_workload("zsmalloc")
    live_b = sizes[2000:][1::2]
    assert b.stat()["zswap"] == sum(slot_size(int(n)) for n in live_b)
    assert b.stat()["zswapped"] == 4096 * len(live_b)
    assert sum(b.numa_stat()["zswap"]) == b.stat()["zswap"]
    assert a.stat()["zswap"] == sum(slot_size(int(n)) for n in sizes[1::2])

    sizes, pool, a, b = run_workload("consumer")
    assert b.stat()["zswap"] == int(sizes[2000:][1::2].sum()), "the compressed length"
    assert b.stat()["zswapped"] == 4096 * 1000
    assert "zswap" not in b.numa_stat()
    assert "zswap" not in b.read_file("memory.numa_stat")
    assert not pool.memcg_aware and pool.accounting == "consumer"


def test_limits_and_files_round_trip() -> None:
    _, cgs, a, b, _pool = setup("zsmalloc")
    b.write_file("memory.zswap.max", "10K")
    assert b.read_file("memory.zswap.max") == "8192\n"
    b.write_file("memory.max", "1G")
    assert b.read_file("memory.max") == f"{1 << 30}\n"
    b.write_file("memory.max", "max")
    assert b.read_file("memory.max") == "max\n"
    assert set(cgs.paths()) >= {"/", "/a", "/a/b"}
    assert cgs["/a/b"] == b and b.parent == a and a.parent == cgs.root
    with pytest.raises(zsrs.CgroupError):
        cgs.create("/a")
    with pytest.raises(zsrs.CgroupError):
        cgs.remove("/a")  # has a child
    with pytest.raises(zsrs.CgroupError):
        cgs["/nope"]
    with pytest.raises(zsrs.ZsError):
        b.write_file("memory.max", "lots")


def test_reparenting_keeps_parent_totals_and_later_frees_land_there() -> None:
    _, cgs, a, b, pool = setup("zsmalloc", nodes=(4096, 4096))
    h = pool.malloc(1000, nid=1)
    pool.write(h, b"x" * 1000, cgroup=b)
    before = a.read_file("memory.stat")
    cgs.remove("/a/b")
    assert not b.online
    assert a.read_file("memory.stat") == before
    assert pool.owner(h) == a
    pool.free(h)
    assert a.stat()["zswap"] == 0 and a.numa_stat()["zswapped"] == [0, 0]


def test_accounting_errors() -> None:
    mem = zsrs.Memory(nodes=[64])
    plain = zsrs.Pool(mem, "zram0")
    h = plain.malloc(100)
    with pytest.raises(zsrs.InvalidArgument):
        plain.write(h, b"x", cgroup="/a")
    with pytest.raises(zsrs.InvalidArgument):
        zsrs.Pool(mem, "x", memcg_aware=True)
    cgs = zsrs.Cgroups(mem)
    other = zsrs.Cgroups(mem).create("/o")
    pool = zsrs.Pool(mem, "z", cgroups=cgs)
    h = pool.malloc(100)
    with pytest.raises(zsrs.CgroupError):
        pool.write(h, b"x", cgroup=other)
    with pytest.raises(zsrs.CgroupError):
        pool.write(h, b"x", cgroup="/missing")
    with pytest.raises(zsrs.InvalidArgument):
        zsrs.Pool(mem, "z", cgroups=cgs, accounting="consumer")
    with pytest.raises(zsrs.InvalidArgument):
        zsrs.Pool(mem, "z", cgroups=cgs, memcg_aware=False)
    with pytest.raises(zsrs.InvalidArgument):
        zsrs.Cgroups(mem, accounting="neither")
    c = cgs.create("/c")
    pool.write(h, b"x", cgroup=c)
    with pytest.raises(zsrs.CgroupError):
        pool.write(h, b"y", cgroup=cgs.create("/d"))


def test_reads_on_behalf_of_a_cgroup_see_only_its_objects() -> None:
    _, _, a, b, pool = setup("zsmalloc", nodes=(4096, 4096))
    ha = pool.malloc(100)
    pool.write(ha, b"a" * 100, cgroup=a)
    hb = pool.malloc(100)
    pool.write(hb, b"b" * 100, cgroup=b)
    assert pool.read(hb, cgroup=b) == b"b" * 100
    with pytest.raises(zsrs.CgroupError):
        pool.read(ha, cgroup=b)
    with pytest.raises(zsrs.CgroupError):
        pool.read(hb, cgroup="/a")
