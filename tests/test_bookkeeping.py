"""An independent reference model of zsmalloc's bookkeeping, compared step by step with zsrs.

The model below is written from the kernel's rules (mm/zsmalloc.c: insert_zspage,
find_get_zspage, get_fullness_group, __zs_compact, as described in docs/fidelity.md), not from
zsrs's sources.
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

from hypothesis import given, settings, target
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import zsrs

PAGE = 4096
HANDLE = 8  # ZS_HANDLE_SIZE, added to every request before the class lookup
MIN_SIZE = 32  # ZS_MIN_ALLOC_SIZE
DELTA = 16  # ZS_SIZE_CLASS_DELTA
NCLASSES = 255  # ZS_SIZE_CLASSES

ERAS = {"current": ("6.12", 8), "legacy": ("6.1", 4)}  # era -> (zsrs kernel, chain size)

# current-era groups
RATIO_0, RATIO_10, RATIO_99, RATIO_100 = 0, 1, 10, 11
# legacy-era groups, in the kernel's enum order
EMPTY, ALMOST_EMPTY, ALMOST_FULL, FULL = 0, 1, 2, 3


# --------------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------------


def chain_len_current(size: int, chain: int) -> int:
    """v6.3+: power of two -> 1 page; else the i in 1..chain with the strictly smallest tail waste."""
    if size & (size - 1) == 0:
        return 1
    best, best_waste = 1, None
    for i in range(1, chain + 1):
        waste = (i * PAGE) % size
        if best_waste is None or waste < best_waste:
            best, best_waste = i, waste
    return best


def chain_len_legacy(size: int, chain: int = 4) -> int:
    """Before v6.3: the first i in 1..chain with a strictly larger integer used percentage."""
    best, best_used = 1, 0
    for i in range(1, chain + 1):
        zspage_size = i * PAGE
        waste = zspage_size % size
        used = (zspage_size - waste) * 100 // zspage_size
        if used > best_used:
            best, best_used = i, used
    return best


def build_classes(era: str, chain: int):
    """Class table built top-down with merging: (rep index per nominal index, {rep: (size, ppz,
    opz)}, huge_class_size)."""
    chain_len = chain_len_current if era == "current" else chain_len_legacy
    rep_of = [0] * NCLASSES
    info: dict[int, tuple[int, int, int]] = {}
    prev = None
    huge_class_size = 0
    for i in range(NCLASSES - 1, -1, -1):
        size = min(MIN_SIZE + i * DELTA, PAGE)
        ppz = chain_len(size, chain)
        opz = ppz * PAGE // size
        if ppz != 1 and opz != 1 and not huge_class_size:
            huge_class_size = size - (HANDLE - 1)
        if prev is not None and info[prev][1:] == (ppz, opz):
            rep_of[i] = prev
            continue
        info[i] = (size, ppz, opz)
        rep_of[i] = i
        prev = i
    return rep_of, info, huge_class_size


def class_index(rep_of: list[int], length: int) -> int:
    """Representative class of a zs_malloc(length) request."""
    size = length + HANDLE
    idx = 0 if size <= MIN_SIZE else -(-(size - MIN_SIZE) // DELTA)
    return rep_of[min(idx, NCLASSES - 1)]


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


class ZsPage:
    __slots__ = ("fg", "free", "inuse", "slots", "uid", "zid")

    def __init__(self, uid: int, opz: int):
        self.uid = uid
        self.inuse = 0
        self.free = list(range(opz - 1, -1, -1))  # stack: head (slot 0) is the last element
        self.fg = None  # fullness group while on a list; None while isolated
        self.slots: dict[int, int] = {}  # slot -> handle
        self.zid = None  # zsrs id, bound when first seen

    def free_list(self) -> list[int]:
        return self.free[::-1]


class SizeClass:
    def __init__(self, idx: int, size: int, ppz: int, opz: int, ngroups: int):
        self.idx, self.size, self.ppz, self.opz = idx, size, ppz, opz
        self.lists: list[list[ZsPage]] = [[] for _ in range(ngroups)]  # each head-first
        self.allocated = 0  # OBJ_ALLOCATED
        self.used = 0  # OBJ_USED

    def can_compact(self) -> int:
        if self.allocated <= self.used:
            return 0
        return (self.allocated - self.used) // self.opz * self.ppz


class Model:
    def __init__(self, era: str, chain: int | None = None):
        assert era in ERAS
        self.era = era
        self.chain = chain if chain is not None else ERAS[era][1]
        self.rep_of, info, self.huge_class_size = build_classes(era, self.chain)
        ngroups = 12 if era == "current" else 4
        self.classes = {i: SizeClass(i, *v, ngroups) for i, v in info.items()}
        self.where: dict[int, tuple[SizeClass, ZsPage, int]] = {}  # handle -> (class, zspage, slot)
        self.pages_allocated = 0
        self.pages_compacted = 0
        self.next_uid = 0
        self.second_insertions = 0  # coverage of the legacy insertion rule

    # ---- fullness lists ----

    def fullness(self, c: SizeClass, z: ZsPage) -> int:
        """current: 0 empty, 11 full, else 100*inuse/objs/10 + 1 (integer steps); legacy:
        ALMOST_EMPTY iff inuse <= 3*objs//4, full zspages on FULL."""
        if self.era == "current":
            if z.inuse == 0:
                return RATIO_0
            if z.inuse == c.opz:
                return RATIO_100
            return 100 * z.inuse // c.opz // 10 + 1
        if z.inuse == 0:
            return EMPTY
        if z.inuse == c.opz:
            return FULL
        return ALMOST_EMPTY if z.inuse <= 3 * c.opz // 4 else ALMOST_FULL

    def insert(self, c: SizeClass, z: ZsPage, fg: int) -> None:
        """current: always at the head; legacy: second if emptier than the head, else head."""
        lst = c.lists[fg]
        if self.era == "legacy" and lst and z.inuse < lst[0].inuse:
            lst.insert(1, z)  # emptier than the head: goes second
            self.second_insertions += 1
        else:
            lst.insert(0, z)
        z.fg = fg

    def remove(self, c: SizeClass, z: ZsPage) -> None:
        c.lists[z.fg].remove(z)
        z.fg = None

    def putback(self, c: SizeClass, z: ZsPage) -> int:
        fg = self.fullness(c, z)
        self.insert(c, z, fg)
        return fg

    def fix_fullness(self, c: SizeClass, z: ZsPage) -> int:
        """After alloc/free: move (remove, then insert) only if the group changed."""
        fg = self.fullness(c, z)
        if fg != z.fg:
            self.remove(c, z)
            self.insert(c, z, fg)
        return fg

    def free_zspage(self, c: SizeClass, z: ZsPage) -> None:
        assert z.inuse == 0
        self.remove(c, z)
        c.allocated -= c.opz
        self.pages_allocated -= c.ppz

    def first_head(self, c: SizeClass, groups) -> ZsPage | None:
        for g in groups:
            if c.lists[g]:
                return c.lists[g][0]
        return None

    # ---- object slots ----

    def obj_malloc(self, c: SizeClass, z: ZsPage, handle: int) -> None:
        """Pop the free-list head."""
        slot = z.free.pop()
        z.slots[slot] = handle
        z.inuse += 1
        self.where[handle] = (c, z, slot)

    def obj_free(self, z: ZsPage, slot: int) -> int:
        """Push the freed slot on the free-list head (LIFO)."""
        handle = z.slots.pop(slot)
        z.free.append(slot)
        z.inuse -= 1
        return handle

    # ---- API ----

    def malloc(self, length: int, handle: int) -> int:
        assert 1 <= length <= PAGE and handle not in self.where
        c = self.classes[class_index(self.rep_of, length)]
        # the list head of the first non-empty group in search order; FULL is never searched
        if self.era == "current":
            search = range(RATIO_99, RATIO_0 - 1, -1)
        else:
            search = (ALMOST_FULL, ALMOST_EMPTY, EMPTY)
        z = self.first_head(c, search)
        if z is not None:
            self.obj_malloc(c, z, handle)
            self.fix_fullness(c, z)
        else:  # a new zspage, inserted by its fullness after the first allocation
            z = ZsPage(self.next_uid, c.opz)
            self.next_uid += 1
            self.obj_malloc(c, z, handle)
            self.insert(c, z, self.fullness(c, z))
            self.pages_allocated += c.ppz
            c.allocated += c.opz
        c.used += 1
        return c.idx

    def free(self, handle: int) -> int:
        c, z, slot = self.where.pop(handle)
        c.used -= 1
        self.obj_free(z, slot)
        if self.fix_fullness(c, z) == 0:  # RATIO_0 / EMPTY: freed at once
            self.free_zspage(c, z)
        return c.idx

    def move_one(self, c: SizeClass, src: ZsPage, dst: ZsPage) -> None:
        """Move the live object with the lowest slot of src into dst's free-list head."""
        slot = min(src.slots)
        handle = self.obj_free(src, slot)
        self.obj_malloc(c, dst, handle)

    def compact(self) -> int:
        """Representative classes from the largest index down."""
        freed = 0
        for i in sorted(self.classes, reverse=True):
            c = self.classes[i]
            freed += self._compact_current(c) if self.era == "current" else self._compact_legacy(c)
        self.pages_compacted += freed
        return freed

    def _compact_current(self, c: SizeClass) -> int:
        """v6.4+: while can_compact: hold a destination (head of the first non-empty group 10
        down to 1), take a source (head of the first non-empty group 1 up to 10), move until the
        destination is full or the source empty, put the source back at its group's head or free
        it, drop the destination once full; put back any destination still held at the end."""
        freed = 0
        dst = None
        while c.can_compact():
            if dst is None:
                dst = self.first_head(c, range(RATIO_99, RATIO_0, -1))
                if dst is None:
                    break
                self.remove(c, dst)
            src = self.first_head(c, range(RATIO_10, RATIO_100))
            if src is None:
                break
            self.remove(c, src)
            while True:
                self.move_one(c, src, dst)
                if dst.inuse == c.opz or src.inuse == 0:
                    break
            if self.putback(c, src) == RATIO_0:
                self.free_zspage(c, src)
                freed += c.ppz
            if dst.inuse == c.opz:
                self.putback(c, dst)
                dst = None
        if dst is not None:
            self.putback(c, dst)
        return freed

    def _compact_legacy(self, c: SizeClass) -> int:
        """v6.3: take a source (head of ALMOST_EMPTY, else ALMOST_FULL), stop (putting it back)
        if can_compact is 0; take destinations (head of ALMOST_FULL, else ALMOST_EMPTY), moving
        objects while the source has some and the destination has room; a full destination is
        put back and the next taken; an exhausted source keeps its destination.  No destination:
        put the source back and stop.  Else put back the destination, then the source (freeing
        it if empty)."""
        freed = 0
        while True:
            src = self.first_head(c, (ALMOST_EMPTY, ALMOST_FULL))
            if src is None:
                break
            self.remove(c, src)
            if not c.can_compact():
                self.putback(c, src)
                break
            dst = None
            while True:
                dst = self.first_head(c, (ALMOST_FULL, ALMOST_EMPTY))
                if dst is None:
                    break
                self.remove(c, dst)
                # before each move: stop when the source is exhausted (keep this destination),
                # or when the destination is full (put it back and take the next one)
                while src.inuse and dst.inuse < c.opz:
                    self.move_one(c, src, dst)
                if src.inuse == 0:
                    break
                self.putback(c, dst)
            if dst is None:
                self.putback(c, src)
                break
            self.putback(c, dst)
            if self.putback(c, src) == EMPTY:
                self.free_zspage(c, src)
                freed += c.ppz
        return freed

    # ---- views ----

    def zspages(self, idx: int) -> list[ZsPage]:
        return [z for lst in self.classes[idx].lists for z in lst]

    def live(self) -> list[int]:
        return sorted(self.where)


# --------------------------------------------------------------------------------------------
# Comparison with zsrs
# --------------------------------------------------------------------------------------------


def group_columns(era: str) -> list[tuple[str, int]]:
    if era == "current":
        names = ["10%", "20%", "30%", "40%", "50%", "60%", "70%", "80%", "90%", "99%", "100%"]
        return [(n, g) for g, n in enumerate(names, start=1)]
    return [("almost_full", ALMOST_FULL), ("almost_empty", ALMOST_EMPTY)]


class Checker:
    """Binds zsrs zspage ids to model zspages and compares class states."""

    def __init__(self, model: Model, pool: zsrs.Pool):
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

    def check_rows(self, idxs) -> None:
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


def test_geometry_matches_documented_totals():
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


def test_class_tables_match_zsrs():
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


def test_every_request_size_lands_in_the_model_class():
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


def four_full_zspages(era: str):
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


def state(pool: zsrs.Pool, idx: int = CLASS_128):
    return [(d["id"], d["fullness"], d["inuse"], d["free_list"]) for d in pool.zspages(idx)]


def test_hand_current_compaction_order():
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


def test_hand_legacy_compaction_order():
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


def test_hand_legacy_putback_goes_second():
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

    def __init__(self):
        super().__init__()
        self.model = Model(self.ERA)
        self.pool = new_pool(self.ERA)
        self.chk = Checker(self.model, self.pool)
        self.touched: set[int] = set()

    @initialize(hot=st.lists(st.sampled_from(HOT_SIZES), min_size=1, max_size=3, unique=True))
    def choose_hot_sizes(self, hot):
        """Each run concentrates on a few classes so that their lists get long."""
        self.hot = hot

    def _after(self, idx: int) -> None:
        self.touched.add(idx)
        self.chk.check_class(idx)

    @rule(size=sizes)
    def malloc(self, size):
        h = self.pool.malloc(size)
        self._after(self.model.malloc(size, h))

    @rule(pick=st.integers(0, 2), n=st.integers(1, 40))
    def malloc_burst(self, pick, n):
        size = self.hot[pick % len(self.hot)]
        for _ in range(n):
            h = self.pool.malloc(size)
            self._after(self.model.malloc(size, h))

    @rule(pick=st.integers(0, 1 << 20))
    def free(self, pick):
        live = self.model.live()
        if live:
            h = live[pick % len(live)]
            self.pool.free(h)
            self._after(self.model.free(h))

    @rule(picks=st.lists(st.integers(0, 1 << 20), min_size=1, max_size=40))
    def free_burst(self, picks):
        for pick in picks:
            live = self.model.live()
            if not live:
                return
            h = live[pick % len(live)]
            self.pool.free(h)
            self._after(self.model.free(h))

    @rule(step=st.integers(2, 5), offset=st.integers(0, 4))
    def free_stride(self, step, offset):
        """Hollow out many zspages at once: free every step-th live handle."""
        for h in self.model.live()[offset::step]:
            self.pool.free(h)
            self._after(self.model.free(h))

    @rule(cpick=st.integers(0, 1 << 20), pos=st.integers(0, 3), n=st.integers(1, 8))
    def free_in_zspage(self, cpick, pos, n):
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
    def compact(self):
        assert self.pool.compact() == self.model.compact()
        for idx in self.touched:
            self.chk.check_class(idx)

    def teardown(self):
        target(self.model.pages_compacted, label="pages compacted")
        target(self.model.second_insertions, label="legacy second insertions")

    @invariant()
    def counters_agree(self):
        self.chk.check_pool()
        self.chk.check_rows(self.touched)


class LegacyBookkeepingMachine(BookkeepingMachine):
    ERA = "legacy"


_settings = settings(max_examples=80, stateful_step_count=40, deadline=None)
BookkeepingMachine.TestCase.settings = _settings
LegacyBookkeepingMachine.TestCase.settings = _settings
test_current_random_sequences = BookkeepingMachine.TestCase
test_legacy_random_sequences = LegacyBookkeepingMachine.TestCase


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


def run_near_full(era: str, size: int, nfull: int, first: list, ops: list) -> None:
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
def test_legacy_near_full_lists(size, nfull, first, ops):
    run_near_full("legacy", size, nfull, first, ops)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(NEAR_FULL_SIZES), st.integers(1, 8), trims, near_full_ops)
def test_current_near_full_lists(size, nfull, first, ops):
    run_near_full("current", size, nfull, first, ops)
