"""The Python Pool: round trips, batch calls, every error path, the kernel's file format, and a
hypothesis state machine checking bytes and counters after every step."""

import threading

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import zsrs
from conftest import DATA


def test_round_trip_and_buffers(pool: zsrs.Pool) -> None:
    h = pool.malloc(1000, nid=1)
    data = bytes(range(256)) * 3 + b"x" * 232
    pool.write(h, data)
    assert pool.read(h) == data
    out = bytearray(1200)
    assert pool.read(h, out=out) == 1000
    assert bytes(out[:1000]) == data
    arr = np.zeros(1000, dtype=np.uint8)
    pool.read(h, out=arr)
    assert arr.tobytes() == data
    pool.write(h, memoryview(b"abc"))
    assert pool.read(h) == b"abc" + bytes(997)
    assert pool.object_len(h) == 1000
    pool.free(h)


def test_errors_are_typed_under_one_base(pool: zsrs.Pool, mem: zsrs.Memory) -> None:
    other = zsrs.Pool(mem, "other")
    with pytest.raises(zsrs.InvalidSize):
        pool.malloc(0)
    with pytest.raises(zsrs.ObjectTooLarge):
        pool.malloc(4097)
    with pytest.raises(zsrs.InvalidArgument):
        pool.malloc(10, nid=7)
    h = pool.malloc(100)
    with pytest.raises(zsrs.InvalidArgument):
        pool.write(h, b"x" * 101)
    with pytest.raises(zsrs.InvalidHandle):
        other.read(h)
    with pytest.raises(zsrs.InvalidHandle):
        pool.read(h + 1)
    with pytest.raises(zsrs.InvalidHandle):
        pool.free_many(np.array([h, h], dtype=np.uint64))
    pool.free(h)
    for call in (pool.free, pool.read, pool.object_len):
        with pytest.raises(zsrs.InvalidHandle):
            call(h)
    with pytest.raises(zsrs.ZsError):
        pool.write(h, b"")
    with pytest.raises(ValueError):
        pool.read(pool.malloc(50), out=bytearray(10))
    with pytest.raises(TypeError):
        pool.read(pool.malloc(50), out=b"immutable" * 10)  # type: ignore[call-overload]  # deliberately read-only
    with pytest.raises(zsrs.InvalidArgument):
        pool.migrate_page(10**9, 0)
    with pytest.raises(zsrs.InvalidArgument):
        zsrs.Pool(mem, "x", chain_size=0)
    with pytest.raises(zsrs.InvalidArgument):
        zsrs.Pool(mem, "x", kernel="4.19")
    with pytest.raises(zsrs.InvalidArgument):
        pool.read_file("nonexistent")
    with pytest.raises(zsrs.CompressionError):
        zsrs.Compressor("lzma")
    with pytest.raises(ValueError):
        pool.malloc_many(np.array([10, -1]))
    assert issubclass(zsrs.OutOfMemory, zsrs.ZsError)


def test_out_of_memory_leaves_nothing_behind() -> None:
    mem = zsrs.Memory(nodes=[3])
    pool = zsrs.Pool(mem, "small")
    with pytest.raises(zsrs.OutOfMemory):
        pool.malloc_many(np.full(4, 4096))
    assert pool.stats()["pages_allocated"] == 0
    assert mem.node_stats()[0]["used"] == 0
    hs = pool.malloc_many(np.full(3, 4096))
    with pytest.raises(zsrs.OutOfMemory):
        pool.malloc(4096)
    pool.free_many(hs)
    pool.check_invariants()


def test_batch_calls_round_trip_and_match_single_calls(pool: zsrs.Pool) -> None:
    rng = np.random.default_rng(3)
    sizes = rng.integers(1, 4097, size=2000)
    pages = rng.integers(0, 256, size=(2000, 4096), dtype=np.uint8)
    hs = pool.malloc_many(sizes, nid=1)
    assert hs.dtype == np.uint64 and len(set(hs.tolist())) == 2000
    pool.write_many(hs, pages)
    out = np.full((2000, 4096), 0xFF, dtype=np.uint8)
    lens = pool.read_many(hs, out)
    assert (lens == sizes).all()
    for k in range(0, 2000, 97):
        assert out[k, : sizes[k]].tobytes() == pages[k, : sizes[k]].tobytes()
        assert not out[k, sizes[k] :].any()
        assert pool.read(int(hs[k])) == pages[k, : sizes[k]].tobytes()
    assert pool.stats()["objs_used"] == 2000
    assert pool.stats()["bytes_requested"] == int(sizes.sum())
    pool.free_many(hs)
    assert pool.stats()["pages_allocated"] == 0


def test_classes_file_is_the_kernels_for_the_kernels_workload() -> None:
    lengths = []
    for line in (DATA / "linux-6.12-zram-w1.sizes.txt").read_text().splitlines():
        if line and not line.startswith(("#", "same")):
            lengths.append(int(line.split()[-1]))
    pool = zsrs.Pool(zsrs.Memory(nodes=[1 << 15]), "zram0")
    pool.malloc_many(np.array(lengths))
    assert pool.stats()["pages_allocated"] == 10764
    assert pool.read_file("classes") == (DATA / "linux-6.12-zram-w1.classes.txt").read_text()
    rows = {r["class"]: r for r in pool.classes()}
    assert rows[254]["100%"] == 2483 and rows[254]["obj_used"] == 2483
    assert rows[1] == {
        "class": 1,
        "size": 48,
        "10%": 0,
        "20%": 0,
        "30%": 1,
        "40%": 0,
        "50%": 0,
        "60%": 0,
        "70%": 0,
        "80%": 0,
        "90%": 0,
        "99%": 0,
        "100%": 0,
        "obj_allocated": 256,
        "obj_used": 64,
        "pages_used": 3,
        "pages_per_zspage": 3,
        "freeable": 0,
    }


@pytest.mark.parametrize(
    "chain,distinct,huge",
    [
        (4, 69, 3257),
        (5, 86, 3401),
        (6, 94, 3497),
        (7, 110, 3577),
        (8, 119, 3625),
        (9, 136, 3673),
        (10, 141, 3705),
        (11, 153, 3737),
        (12, 159, 3769),
        (13, 173, 3785),
        (14, 179, 3801),
        (15, 186, 3833),
        (16, 192, 3833),
    ],
)
def test_class_tables_for_every_chain(chain: int, distinct: int, huge: int) -> None:
    rows, hcs = zsrs.class_table(chain)
    assert len(rows) == 255
    assert sum(r["rep"] == r["index"] for r in rows) == distinct
    assert hcs == huge
    pool = zsrs.Pool(zsrs.Memory(nodes=[16]), "t", chain_size=chain)
    assert pool.huge_class_size == huge
    assert len(pool.classes()) == distinct


def test_legacy_profile() -> None:
    pool = zsrs.Pool(zsrs.Memory(nodes=[4096]), "old", kernel="6.1")
    assert (pool.kernel, pool.chain_size, pool.huge_class_size) == ("6.1", 4, 3257)
    assert set(pool.classes()[0]) >= {"almost_full", "almost_empty"}
    assert pool.read_file("classes").startswith(" class  size almost_full almost_empty ")


def test_compaction_and_migration_keep_bytes(mem: zsrs.Memory) -> None:
    pool = zsrs.Pool(mem, "cm")
    rng = np.random.default_rng(5)
    sizes = zsrs.workloads.compressed_sizes(3000, seed=5)
    pages = rng.integers(0, 256, size=(3000, 4096), dtype=np.uint8)
    hs = pool.malloc_many(sizes, nid=0)
    pool.write_many(hs, pages)
    drop = rng.permutation(3000)[:1500]
    pool.free_many(hs[drop])
    keep = np.setdiff1d(np.arange(3000), drop)
    before = pool.stats()["pages_allocated"]
    freed = pool.compact()
    assert freed > 0
    assert pool.stats()["pages_allocated"] == before - freed
    assert pool.stats()["pages_compacted"] == freed
    for pfn, nid in pool.pages()[::3]:
        assert nid == 0
        assert mem.pfn_to_nid(pool.migrate_page(pfn, 1)) == 1
    out = np.zeros((len(keep), 4096), dtype=np.uint8)
    lens = pool.read_many(hs[keep], out)
    for row, k in enumerate(keep):
        assert out[row, : lens[row]].tobytes() == pages[k, : sizes[k]].tobytes()
    pool.check_invariants()


def test_threads_share_a_pool_without_losing_anything(pool: zsrs.Pool) -> None:
    errors: list[object] = []

    def worker(seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            for _ in range(20):
                sizes = rng.integers(1, 4097, size=200)
                pages = rng.integers(0, 256, size=(200, 4096), dtype=np.uint8)
                hs = pool.malloc_many(sizes, nid=seed % 2)
                pool.write_many(hs, pages)
                out = np.zeros_like(pages)
                pool.read_many(hs, out)
                for k in range(200):
                    if out[k, : sizes[k]].tobytes() != pages[k, : sizes[k]].tobytes():
                        errors.append((seed, k))
                pool.free_many(hs)
        except Exception as e:  # noqa: BLE001 - surfaced below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert pool.stats()["objs_used"] == 0
    pool.check_invariants()


class PoolMachine(RuleBasedStateMachine):
    """Random malloc/write/free/compact/migrate against a dict model."""

    def __init__(self) -> None:
        super().__init__()
        self.mem = zsrs.Memory(nodes=[2000, 2000, 2000])
        self.pool = zsrs.Pool(self.mem, "hyp")
        self.model: dict[int, bytes] = {}
        self.freed: list[int] = []

    @rule(size=st.integers(1, 4096), nid=st.integers(0, 2))
    def malloc(self, size: int, nid: int) -> None:
        self.model[self.pool.malloc(size, nid)] = bytes(size)

    @precondition(lambda self: self.model)
    @rule(k=st.integers(0, 10**6), seed=st.integers(0, 2**32 - 1))
    def write(self, k: int, seed: int) -> None:
        h = sorted(self.model)[k % len(self.model)]
        data = np.random.default_rng(seed).integers(0, 256, len(self.model[h]), np.uint8)
        self.pool.write(h, data.tobytes())
        self.model[h] = data.tobytes()

    @precondition(lambda self: self.model)
    @rule(k=st.integers(0, 10**6))
    def free(self, k: int) -> None:
        h = sorted(self.model)[k % len(self.model)]
        self.pool.free(h)
        del self.model[h]
        self.freed.append(h)

    @precondition(lambda self: self.freed)
    @rule(k=st.integers(0, 10**6))
    def stale_handle_is_refused(self, k: int) -> None:
        h = self.freed[k % len(self.freed)]
        with pytest.raises(zsrs.InvalidHandle):
            self.pool.read(h)
        with pytest.raises(zsrs.InvalidHandle):
            self.pool.free(h)

    @rule()
    def compact(self) -> None:
        before = self.pool.stats()["pages_allocated"]
        freed = self.pool.compact()
        assert self.pool.stats()["pages_allocated"] == before - freed
        assert self.pool.compactable_pages() == 0

    @rule(k=st.integers(0, 10**6), nid=st.integers(0, 2))
    def migrate(self, k: int, nid: int) -> None:
        pages = self.pool.pages()
        if pages:
            new = self.pool.migrate_page(pages[k % len(pages)][0], nid)
            assert self.mem.pfn_to_nid(new) == nid

    @invariant()
    def every_byte_and_counter(self) -> None:
        self.pool.check_invariants()
        for h, data in self.model.items():
            assert self.pool.read(h) == data
        s = self.pool.stats()
        assert s["objs_used"] == len(self.model)
        assert s["bytes_requested"] == sum(len(d) for d in self.model.values())
        used = sum(n["used"] for n in self.mem.node_stats())
        assert used == s["pages_allocated"]


PoolMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=40, deadline=None)
test_pool_state_machine = PoolMachine.TestCase
