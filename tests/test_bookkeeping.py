"""An independent reference model of zsmalloc's bookkeeping, compared step by step with zsrs.

The model (tests/bookkeeping_model.py) is written from the kernel's rules (mm/zsmalloc.c:
insert_zspage, find_get_zspage, get_fullness_group, __zs_compact, as described in
docs/fidelity.md), not from zsrs's sources.
It covers two kernel eras:

* "current" (v6.4 and later, Linux 6.12): min-waste chain length (chain 8), 12 fullness groups,
  insertion always at the list head, malloc searches groups 10 down to 0, the v6.4 compaction
  (held destination = fullest, source = emptiest, sources drained until the destination is full).
* "legacy" (v5.17 - v6.3, Linux 6.1): used-percentage chain length (at most 4 pages), groups
  EMPTY/ALMOST_EMPTY/ALMOST_FULL/FULL, insertion second when emptier than the head, malloc
  searches ALMOST_FULL, ALMOST_EMPTY, EMPTY, and the v6.3 compaction loop.

Per zspage the model keeps `inuse`, the LIFO free list (a new zspage links 0 -> 1 -> ... -> N-1),
the slot of every live handle, its fullness group and its position in its class's lists. After
every operation the per-class list contents are compared with `Pool.zspages()`: zspage identity
(zsrs ids are bound to model zspages when they first appear), group, inuse and the free list in
head-first order, which encodes slot occupancy exactly. Pool counters, the return value of
`compact()` and the debugfs class rows are compared too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeAlias

from hypothesis import given, settings, target
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import zsrs
from bookkeeping_model import (
    ALMOST_EMPTY,
    ALMOST_FULL,
    DELTA,
    ERAS,
    FULL,
    MIN_SIZE,
    NCLASSES,
    PAGE,
    Model,
    ZsPage,
    build_classes,
    class_index,
    group_columns,
)

# --------------------------------------------------------------------------------------------
# Comparison with zsrs
# --------------------------------------------------------------------------------------------


class Checker:
    """Binds zsrs zspage ids to model zspages and compares class states."""

    def __init__(self, model: Model, pool: zsrs.Pool) -> None:
        self.model, self.pool = model, pool
        self.bound: dict[int, dict[int, ZsPage]] = {}  # class -> zsrs id -> live model zspage

    def check_class(self, idx: int) -> None:
        model = self.model.zspages(idx)
        got = self.pool.zspages(idx)
        want = [(z.fg, z.inuse, z.free_list()) for z in model]
        have = [(d["fullness"], d["inuse"], list(d["free_list"])) for d in got]
        assert have == want, f"class {idx}: zsrs {have} != model {want}"
        # zspage identity: a zsrs id stays with one model zspage for that zspage's whole life
        bound = self.bound.setdefault(idx, {})
        alive = {id(z) for z in model}
        for zid in [k for k, z in bound.items() if id(z) not in alive]:
            del bound[zid]
        for z, d in zip(model, got, strict=True):
            assert d["class"] == idx
            assert len(d["pages"]) == self.model.classes[idx].ppz
            if z.zid is None:
                assert d["id"] not in bound, f"class {idx}: new zspage at a live zspage's place"
                z.zid = d["id"]
                bound[z.zid] = z
            assert z.zid == d["id"], f"class {idx}: zspage order differs (ids {z.zid}, {d['id']})"

    def check_rows(self, idxs: Iterable[int]) -> None:
        rows = {r["class"]: r for r in self.pool.classes()}
        for idx in idxs:
            c = self.model.classes[idx]
            r = rows[idx]
            assert r["size"] == c.size and r["pages_per_zspage"] == c.ppz
            for col, g in group_columns(self.model.era):
                assert r[col] == len(c.lists[g]), (idx, col)
            assert r["obj_allocated"] == c.allocated, idx
            assert r["obj_used"] == c.used, idx
            assert r["pages_used"] == c.allocated // c.opz * c.ppz, idx
            assert r["freeable"] == c.can_compact(), idx

    def check_pool(self) -> None:
        s = self.pool.stats()
        assert s["pages_allocated"] == self.model.pages_allocated
        assert s["pages_compacted"] == self.model.pages_compacted
        assert s["objs_used"] == len(self.model.where)


def new_pool(era: str, name: str = "m") -> zsrs.Pool:
    kernel, chain = ERAS[era]
    pool = zsrs.Pool(zsrs.Memory(nodes=[1 << 16]), name, kernel=kernel)
    assert pool.chain_size == chain
    return pool


# --------------------------------------------------------------------------------------------
# Geometry tests
# --------------------------------------------------------------------------------------------


def test_geometry_matches_documented_totals() -> None:
    rep_of, info, hcs = build_classes("current", 8)
    assert (len(info), hcs) == (119, 3625)
    assert info[225] == (3632, 8, 9) and info[254] == (4096, 1, 1)
    assert info[7] == (144, 7, 199) and info[5] == (112, 7, 256) and info[49] == (816, 1, 5)
    assert rep_of[48] == 49 and all(rep_of[i] == 254 for i in range(226, 255))
    assert class_index(rep_of, 3624) == 225 and class_index(rep_of, 3625) == 254
    assert class_index(rep_of, 24) == 0 and class_index(rep_of, 25) == 1
    rep_of, info, hcs = build_classes("legacy", 4)
    assert (len(info), hcs) == (69, 3257)
    assert info[5] == (112, 2, 73)  # usedpc: 98 at 1 page, 99 at 2 (no strict gain at 3, 4)


def test_class_tables_match_zsrs() -> None:
    for era, (kernel, chain) in ERAS.items():
        rep_of, info, hcs = build_classes(era, chain)
        rows, zs_hcs = zsrs.class_table(chain, kernel=kernel)
        assert zs_hcs == hcs, era
        assert len(rows) == NCLASSES
        for r in rows:
            i = r["index"]
            _, ppz, opz = info[rep_of[i]]
            assert r["size"] == min(MIN_SIZE + i * DELTA, PAGE), (era, i)
            assert r["rep"] == rep_of[i], (era, i)
            assert (r["pages_per_zspage"], r["objs_per_zspage"]) == (ppz, opz), (era, i)
            assert r["huge"] == (ppz == 1 and opz == 1), (era, i)


def test_every_request_size_lands_in_the_model_class() -> None:
    for era in ERAS:
        model, pool = Model(era), new_pool(era)
        for length in range(1, PAGE + 1):
            model.malloc(length, pool.malloc(length))
        chk = Checker(model, pool)
        chk.check_rows(model.classes)
        chk.check_pool()


# --------------------------------------------------------------------------------------------
# Hand-derived scenarios (expectations worked out from the documents, not from the model)
# --------------------------------------------------------------------------------------------

CLASS_128 = 6  # a 120-byte request + 8-byte header: class 128, 1 page, 32 objects (both eras)


def four_full_zspages(era: str) -> tuple[Model, zsrs.Pool, list[int]]:
    """128 objects of class 128: handle k sits in zspage k // 32, slot k % 32 (a new zspage hands
    out slots 0, 1, 2, ... and full zspages are never allocated from)."""
    model, pool = Model(era), new_pool(era)
    handles = []
    for k in range(128):
        h = pool.malloc(120)
        model.malloc(120, h)
        pool.write(h, k.to_bytes(8, "little"))
        handles.append(h)
    return model, pool, handles


def state(pool: zsrs.Pool, idx: int = CLASS_128) -> list[tuple[Any, Any, Any, Any]]:
    return [(d["id"], d["fullness"], d["inuse"], d["free_list"]) for d in pool.zspages(idx)]


def test_hand_current_compaction_order() -> None:
    """Four zspages: Z0 30 objects (group 10), Z1 5 (group 2), Z2 20 (group 7), Z3 12 (group 4).

    can_compact = (128 - 67) // 32 = 1.  dst = Z0 (fullest), src = Z1 (emptiest): Z1's slots 3, 7
    fill Z0's free slots 9, 5; Z1 (3 left, group 1) goes back, full Z0 is put back and dropped.
    can_compact still 1: dst = Z2 (group 7), src = Z1: slots 11, 20, 31 go to Z2's slots 11, 10,
    9; Z1 is freed (1 page).  can_compact = (96 - 67) // 32 = 0: Z2 (23, group 8) is put back.
    """
    model, pool, h = four_full_zspages("current")
    ids = [d["id"] for d in pool.zspages(CLASS_128)][::-1]  # group 11 list is Z3, Z2, Z1, Z0
    z0, z1, z2, z3 = ids
    keep1 = [3, 7, 11, 20, 31]
    frees = [5, 9]  # Z0
    frees += [32 + s for s in range(32) if s not in keep1]  # Z1, increasing
    frees += [64 + s for s in range(12)]  # Z2 slots 0..11
    frees += [96 + s for s in range(31, 11, -1)]  # Z3 slots 31..12
    for k in frees:
        pool.free(h[k])
        model.free(h[k])
    z1_free = [s for s in range(31, -1, -1) if s not in keep1]
    assert state(pool) == [
        (z1, 2, 5, z1_free),
        (z3, 4, 12, list(range(12, 32))),
        (z2, 7, 20, list(range(11, -1, -1))),
        (z0, 10, 30, [9, 5]),
    ]
    assert pool.compact() == 1 and model.compact() == 1
    assert state(pool) == [
        (z3, 4, 12, list(range(12, 32))),
        (z2, 8, 23, list(range(8, -1, -1))),
        (z0, 11, 32, []),
    ]
    assert pool.stats()["pages_compacted"] == 1 and pool.stats()["pages_allocated"] == 3
    for k in keep1:  # the moved objects kept their bytes
        assert pool.read(h[32 + k])[:8] == (32 + k).to_bytes(8, "little")
    # Z1's slot 20 now lives in Z2's slot 10: freeing it pushes 10 (22/32 = 68 %: group 7)
    pool.free(h[32 + 20])
    model.free(h[32 + 20])
    assert state(pool)[1] == (z2, 7, 22, [10, *range(8, -1, -1)])
    chk = Checker(model, pool)
    chk.check_class(CLASS_128)
    chk.check_rows([CLASS_128])
    chk.check_pool()


def test_hand_legacy_compaction_order() -> None:
    """Same fills, legacy rules.  Frees in the order Z0, Z1, Z2, Z3 leave ALMOST_EMPTY =
    [Z3 (12), Z2 (20), Z1 (5)] (each arrives at 24 objects, not emptier than the head) and
    ALMOST_FULL = [Z0 (30)].

    src = Z3 (head of ALMOST_EMPTY, not the emptiest); can_compact = 1; dst = Z0: Z3's slots 0, 1
    fill Z0's slots 9, 5; Z0 is full before slot 2 moves, so it goes to FULL and dst = Z2 (head of
    ALMOST_EMPTY): Z3's slots 2..11 take Z2's slots 11..2.  Z3 is exhausted: Z2 (30) goes back to
    ALMOST_FULL and Z3 is freed.  Next src = Z1, can_compact = (96 - 67) // 32 = 0: Z1 goes back.
    """
    model, pool, h = four_full_zspages("legacy")
    ids = [d["id"] for d in pool.zspages(CLASS_128)][::-1]  # FULL list is Z3, Z2, Z1, Z0
    z0, z1, z2, z3 = ids
    keep1 = [3, 7, 11, 20, 31]
    frees = [5, 9]
    frees += [32 + s for s in range(32) if s not in keep1]
    frees += [64 + s for s in range(12)]
    frees += [96 + s for s in range(31, 11, -1)]
    for k in frees:
        pool.free(h[k])
        model.free(h[k])
    z1_free = [s for s in range(31, -1, -1) if s not in keep1]
    assert state(pool) == [
        (z3, ALMOST_EMPTY, 12, list(range(12, 32))),
        (z2, ALMOST_EMPTY, 20, list(range(11, -1, -1))),
        (z1, ALMOST_EMPTY, 5, z1_free),
        (z0, ALMOST_FULL, 30, [9, 5]),
    ]
    assert pool.compact() == 1 and model.compact() == 1
    assert state(pool) == [
        (z1, ALMOST_EMPTY, 5, z1_free),
        (z2, ALMOST_FULL, 30, [1, 0]),
        (z0, FULL, 32, []),
    ]
    assert pool.stats()["pages_compacted"] == 1 and pool.stats()["pages_allocated"] == 3
    for s in range(12):
        assert pool.read(h[96 + s])[:8] == (96 + s).to_bytes(8, "little")
    # Z3's slot 5 now lives in Z2's slot 8
    pool.free(h[96 + 5])
    model.free(h[96 + 5])
    assert state(pool)[1] == (z2, ALMOST_FULL, 29, [8, 1, 0])
    chk = Checker(model, pool)
    chk.check_class(CLASS_128)
    chk.check_rows([CLASS_128])
    chk.check_pool()


def test_hand_legacy_putback_goes_second() -> None:
    """Frees leave ALMOST_FULL = [A=Z0 (28), B=Z1 (30)] and ALMOST_EMPTY = [S=Z2 (1), T=Z3 (20)].
    Compaction: src = S, can_compact = 49 // 32 = 1, dst = A; S's one object moves to A (29) and
    S is exhausted.  A is put back emptier than the head B, so it goes second; S is freed.  Next
    src = T, can_compact = 17 // 32 = 0, T goes back.  A malloc then takes B (the AF head)."""
    model, pool, h = four_full_zspages("legacy")
    z0, z1, z2, z3 = [d["id"] for d in pool.zspages(CLASS_128)][::-1]
    frees = [32, 33]  # Z1 -> 30
    frees += [0, 1, 2, 3]  # Z0 -> 28, arrives in AF at 31 (head)
    frees += [96 + s for s in range(12)]  # Z3 -> 20
    frees += [64 + s for s in range(31)]  # Z2 -> 1 (slot 31 left)
    for k in frees:
        pool.free(h[k])
        model.free(h[k])
    assert [(i, f, n) for i, f, n, _ in state(pool)] == [
        (z2, ALMOST_EMPTY, 1),
        (z3, ALMOST_EMPTY, 20),
        (z0, ALMOST_FULL, 28),
        (z1, ALMOST_FULL, 30),
    ]
    assert pool.compact() == 1 and model.compact() == 1
    assert state(pool) == [
        (z3, ALMOST_EMPTY, 20, list(range(11, -1, -1))),
        (z1, ALMOST_FULL, 30, [1, 0]),
        (z0, ALMOST_FULL, 29, [2, 1, 0]),  # slot 31 of S took A's head slot 3
    ]
    x = pool.malloc(120)
    model.malloc(120, x)
    assert state(pool)[1] == (z1, ALMOST_FULL, 31, [0])
    chk = Checker(model, pool)
    chk.check_class(CLASS_128)
    chk.check_rows([CLASS_128])
    chk.check_pool()


# --------------------------------------------------------------------------------------------
# Random sequences
# --------------------------------------------------------------------------------------------

HOT_SIZES = [100, 120, 500, 700, 1000, 2000, 3000]
sizes = st.one_of(st.sampled_from(HOT_SIZES), st.integers(1, PAGE))


class BookkeepingMachine(RuleBasedStateMachine):
    ERA = "current"

    def __init__(self) -> None:
        super().__init__()
        self.model = Model(self.ERA)
        self.pool = new_pool(self.ERA)
        self.chk = Checker(self.model, self.pool)
        self.touched: set[int] = set()

    @initialize(hot=st.lists(st.sampled_from(HOT_SIZES), min_size=1, max_size=3, unique=True))
    def choose_hot_sizes(self, hot: list[int]) -> None:
        """Each run concentrates on a few classes so that their lists get long."""
        self.hot = hot

    def _after(self, idx: int) -> None:
        self.touched.add(idx)
        self.chk.check_class(idx)

    @rule(size=sizes)
    def malloc(self, size: int) -> None:
        h = self.pool.malloc(size)
        self._after(self.model.malloc(size, h))

    @rule(pick=st.integers(0, 2), n=st.integers(1, 40))
    def malloc_burst(self, pick: int, n: int) -> None:
        size = self.hot[pick % len(self.hot)]
        for _ in range(n):
            h = self.pool.malloc(size)
            self._after(self.model.malloc(size, h))

    @rule(pick=st.integers(0, 1 << 20))
    def free(self, pick: int) -> None:
        live = self.model.live()
        if live:
            h = live[pick % len(live)]
            self.pool.free(h)
            self._after(self.model.free(h))

    @rule(picks=st.lists(st.integers(0, 1 << 20), min_size=1, max_size=40))
    def free_burst(self, picks: list[int]) -> None:
        for pick in picks:
            live = self.model.live()
            if not live:
                return
            h = live[pick % len(live)]
            self.pool.free(h)
            self._after(self.model.free(h))

    @rule(step=st.integers(2, 5), offset=st.integers(0, 4))
    def free_stride(self, step: int, offset: int) -> None:
        """Hollow out many zspages at once: free every step-th live handle."""
        for h in self.model.live()[offset::step]:
            self.pool.free(h)
            self._after(self.model.free(h))

    @rule(cpick=st.integers(0, 1 << 20), pos=st.integers(0, 3), n=st.integers(1, 8))
    def free_in_zspage(self, cpick: int, pos: int, n: int) -> None:
        """Free the lowest-slot objects of one zspage near the front of its class's lists (this
        makes list heads emptier than the zspages behind them)."""
        busy = sorted(i for i, c in self.model.classes.items() if c.used)
        if not busy:
            return
        zspages = self.model.zspages(busy[cpick % len(busy)])
        z = zspages[min(pos, len(zspages) - 1)]
        for slot in sorted(z.slots)[:n]:
            h = z.slots[slot]
            self.pool.free(h)
            self._after(self.model.free(h))

    @rule()
    def compact(self) -> None:
        assert self.pool.compact() == self.model.compact()
        for idx in self.touched:
            self.chk.check_class(idx)

    def teardown(self) -> None:
        target(self.model.pages_compacted, label="pages compacted")
        target(self.model.second_insertions, label="legacy second insertions")

    @invariant()
    def counters_agree(self) -> None:
        self.chk.check_pool()
        self.chk.check_rows(self.touched)


class LegacyBookkeepingMachine(BookkeepingMachine):
    ERA = "legacy"


_settings = settings(max_examples=80, stateful_step_count=40, deadline=None)
BookkeepingMachine.TestCase.settings = _settings
LegacyBookkeepingMachine.TestCase.settings = _settings
test_current_random_sequences = BookkeepingMachine.TestCase
test_legacy_random_sequences = LegacyBookkeepingMachine.TestCase


Trim: TypeAlias = tuple[int, int, bool]  # (list position, objects, highest slots first)
NEAR_FULL_SIZES = [500, 700, 1000, 3000]  # 8, 17, 4, 4 objects per zspage in both eras
trims = st.lists(
    st.tuples(st.integers(0, 7), st.integers(1, 4), st.booleans()), min_size=1, max_size=12
)
near_full_ops = st.lists(
    st.one_of(
        st.tuples(st.just("trim"), trims),
        st.tuples(st.just("malloc"), st.integers(1, 3)),
        st.tuples(st.just("compact"), st.none()),
    ),
    max_size=8,
)


def run_near_full(
    era: str, size: int, nfull: int, first: list[Trim], ops: list[tuple[str, Any]]
) -> None:
    """Start from nfull full zspages of one class, trim a few objects from zspages near the
    list fronts, compact, then more trims, small mallocs and compactions.  List heads often end
    up a little emptier than the zspages behind them while the class has less than a zspage of
    free slots, which is when legacy putbacks go second."""
    model, pool = Model(era), new_pool(era)
    chk = Checker(model, pool)
    idx = class_index(model.rep_of, size)
    for _ in range(nfull * model.classes[idx].opz):
        model.malloc(size, pool.malloc(size))
    chk.check_class(idx)

    def trim(pos: int, n: int, high: bool) -> None:
        zspages = model.zspages(idx)
        if not zspages:
            return
        z = zspages[min(pos, len(zspages) - 1)]
        slots = sorted(z.slots, reverse=high)[:n]
        for slot in slots:
            h = z.slots[slot]
            pool.free(h)
            model.free(h)
            chk.check_class(idx)

    for t in first:
        trim(*t)
    for kind, arg in [("compact", None), *ops, ("compact", None)]:
        if kind == "trim":
            for t in arg:
                trim(*t)
        elif kind == "malloc":
            for _ in range(arg):
                model.malloc(size, pool.malloc(size))
                chk.check_class(idx)
        else:
            assert pool.compact() == model.compact()
            chk.check_class(idx)
        chk.check_pool()
    chk.check_rows([idx])
    target(model.second_insertions, label="legacy second insertions")


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(NEAR_FULL_SIZES), st.integers(1, 8), trims, near_full_ops)
def test_legacy_near_full_lists(
    size: int, nfull: int, first: list[Trim], ops: list[tuple[str, Any]]
) -> None:
    run_near_full("legacy", size, nfull, first, ops)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(NEAR_FULL_SIZES), st.integers(1, 8), trims, near_full_ops)
def test_current_near_full_lists(
    size: int, nfull: int, first: list[Trim], ops: list[tuple[str, Any]]
) -> None:
    run_near_full("current", size, nfull, first, ops)
