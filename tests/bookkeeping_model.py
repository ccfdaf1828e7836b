"""The reference model of zsmalloc's bookkeeping that tests/test_bookkeeping.py compares zsrs
with, step by step.

It is written from the kernel's rules (mm/zsmalloc.c: insert_zspage, find_get_zspage,
get_fullness_group, __zs_compact, as described in docs/fidelity.md), not from zsrs's sources, and
covers two kernel eras:

* "current" (v6.4 and later, Linux 6.12): min-waste chain length (chain 8), 12 fullness groups,
  insertion always at the list head, malloc searches groups 10 down to 0, the v6.4 compaction
  (held destination = fullest, source = emptiest, sources drained until the destination is full).
* "legacy" (v5.17 - v6.3, Linux 6.1): used-percentage chain length (at most 4 pages), groups
  EMPTY/ALMOST_EMPTY/ALMOST_FULL/FULL, insertion second when emptier than the head, malloc
  searches ALMOST_FULL, ALMOST_EMPTY, EMPTY, and the v6.3 compaction loop.

Per zspage the model keeps `inuse`, the LIFO free list (a new zspage links 0 -> 1 -> ... -> N-1),
the slot of every live handle, its fullness group and its position in its class's lists.
"""

from __future__ import annotations

from collections.abc import Iterable

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
    """v6.3+: power of two -> 1 page; else the i in 1..chain with the strictly smallest tail
    waste."""
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


def build_classes(era: str, chain: int) -> tuple[list[int], dict[int, tuple[int, int, int]], int]:
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

    def __init__(self, uid: int, opz: int) -> None:
        self.uid = uid
        self.inuse = 0
        self.free = list(range(opz - 1, -1, -1))  # stack: head (slot 0) is the last element
        self.fg: int | None = None  # fullness group while on a list; None while isolated
        self.slots: dict[int, int] = {}  # slot -> handle
        self.zid: int | None = None  # zsrs id, bound when first seen

    def free_list(self) -> list[int]:
        return self.free[::-1]


class SizeClass:
    def __init__(self, idx: int, size: int, ppz: int, opz: int, ngroups: int) -> None:
        self.idx, self.size, self.ppz, self.opz = idx, size, ppz, opz
        self.lists: list[list[ZsPage]] = [[] for _ in range(ngroups)]  # each head-first
        self.allocated = 0  # OBJ_ALLOCATED
        self.used = 0  # OBJ_USED

    def can_compact(self) -> int:
        if self.allocated <= self.used:
            return 0
        return (self.allocated - self.used) // self.opz * self.ppz


class Model:
    def __init__(self, era: str, chain: int | None = None) -> None:
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
        assert z.fg is not None
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

    def first_head(self, c: SizeClass, groups: Iterable[int]) -> ZsPage | None:
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
        search: Iterable[int]
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


def group_columns(era: str) -> list[tuple[str, int]]:
    if era == "current":
        names = ["10%", "20%", "30%", "40%", "50%", "60%", "70%", "80%", "90%", "99%", "100%"]
        return [(n, g) for g, n in enumerate(names, start=1)]
    return [("almost_full", ALMOST_FULL), ("almost_empty", ALMOST_EMPTY)]
