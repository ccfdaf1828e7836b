"""Hostile inputs for every public entry point of `_zsrs.pyi` (issue 11).

Each entry point gets arguments drawn from its valid values mixed with bad ones: wrong types,
negative numbers, 2**63, 2**64, huge values, NaN, wrong dtypes, wrong shapes, non-contiguous
layouts, read-only and aliased arrays. Every call must either work or raise a typed exception
(a `zsrs.ZsError` subclass, TypeError, ValueError or OverflowError) — never a PanicException, an
abort or a hang — and a refused call must leave the observable state (pool stats, mm_stat,
zswap debugfs, memory.stat, the machine's counters, …) exactly as it was.

`ZSRS_HOSTILE_REPORT=1` prints, per entry point, the inputs tried and how many were refused
cleanly (the rest were accepted and worked). `ZSRS_HOSTILE_EXAMPLES=N` changes the number of
examples per entry point (default 100: about 15 s on two cores).

Not drawn here, because another branch owns them: huge `Zswap(swap_slots=…)` (aborts today),
`Memory(nodes=…)` sums past 2**64 and `Memory(page_size=…)` outside 4K..64K; and disk sizes
between 2**32 and 2**50 bytes, which build a real slot table of that many pages as the kernel's
vzalloc does (slow by design, not an error).
"""

from __future__ import annotations

import collections
import faulthandler
import math
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zsrs

PAGE = 4096
TYPED = (zsrs.ZsError, TypeError, ValueError, OverflowError)
EXAMPLES = int(os.environ.get("ZSRS_HOSTILE_EXAMPLES", "100"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)

# name → [tried, refused cleanly, accepted]
TALLY: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0, 0])


def report() -> str:
    tried = sum(v[0] for v in TALLY.values())
    refused = sum(v[1] for v in TALLY.values())
    lines = [
        f"hostile inputs: {tried} tried, {refused} refused cleanly, {tried - refused} accepted",
        f"{'entry point':<30} {'tried':>6} {'refused':>8} {'accepted':>9}",
    ]
    for name in sorted(TALLY):
        t, r, a = TALLY[name]
        lines.append(f"{name:<30} {t:>6} {r:>8} {a:>9}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module", autouse=True)
def _watchdog_and_report(request: pytest.FixtureRequest) -> Iterator[None]:
    # A hang (a Rust loop that never returns, the GIL released or not) kills the run with the
    # stacks printed rather than blocking CI.
    faulthandler.dump_traceback_later(300, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()
    where = os.environ.get("ZSRS_HOSTILE_REPORT")
    if where == "1":
        capman = request.config.pluginmanager.getplugin("capturemanager")
        with capman.global_and_fixture_disabled():
            sys.stderr.write("\n" + report())
    elif where:
        with open(where, "w") as f:
            f.write(report())


def attempt(
    name: str, call: Callable[[], object], snapshot: Callable[[], object] | None = None
) -> bool:
    """Runs `call`; True if accepted. A typed refusal must leave `snapshot()` unchanged; any
    other exception (PanicException above all) fails the test."""
    before = snapshot() if snapshot else None
    TALLY[name][0] += 1
    try:
        call()
    except TYPED as e:
        TALLY[name][1] += 1
        # Not refusals of the input but the kernel's own run-time outcomes, which count what
        # happened as the kernel does: memory.reclaim returns -EAGAIN after reclaiming less
        # than asked, and an OOM (memory.max reached, memory exhausted) bumps the oom
        # counters of memory.events.
        partial = isinstance(e, zsrs.LimitExceeded | zsrs.OutOfMemory) or (
            isinstance(e, zsrs.KernelError) and e.errno_name == "EAGAIN"
        )
        if snapshot and not partial:
            after = snapshot()
            assert after == before, f"{name}: a refused call changed the state"
        return False
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt | SystemExit):
            raise
        pytest.fail(f"{name}: {type(e).__module__}.{type(e).__name__}: {e}")
    TALLY[name][2] += 1
    return True


# ------------------------------------------------------------------------- value pools

BAD_INTS = [
    -1,
    -(2**31),
    -(2**63),
    -(2**63) - 1,
    -(2**64),
    2**31,
    2**32,
    2**63 - 1,
    2**63,
    2**64 - 1,
    2**64,
    2**100,
]
BAD_OTHER = [
    math.nan,
    math.inf,
    -math.inf,
    1.5,
    -0.0,
    "",
    "x",
    "4096",
    "\0",
    "\n",
    None,
    b"",
    b"\x00" * 8,
    [],
    [1, 2],
    {},
    (),
    object(),
    True,
    np.float64(2.5),
    np.int64(-1),
    np.uint64(2**64 - 1),
    1j,
]
bad_int = st.one_of(st.sampled_from(BAD_INTS), st.integers(-(2**70), 2**70))
bad_any = st.one_of(bad_int, st.sampled_from(BAD_OTHER))


def arg(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A valid value or a hostile one. As a direct argument of an entry point, the test picks
    which: mostly one hostile argument among valid ones, so that each argument's check is
    reached with the others passing theirs."""
    s = st.one_of(valid, bad_any)
    s.valid, s.bad = valid, bad_any  # type: ignore[attr-defined]
    return s


def rows_of(n: int, cols: int, seed: int = 0) -> npt.NDArray[np.uint8]:
    rng = np.random.default_rng(seed)
    p = np.zeros((n, cols), np.uint8)
    p[:, : cols // 8] = rng.integers(0, 256, (n, cols // 8), dtype=np.uint8)
    return p


def _layout(x: npt.NDArray[Any], how: str) -> npt.NDArray[Any]:
    if how == "c":
        return np.ascontiguousarray(x)
    if how == "fortran":
        return np.asfortranarray(x)
    if how == "strided":
        w = np.zeros((x.shape[0], x.shape[1] * 2), x.dtype)
        w[:, ::2] = x
        return w[:, ::2]
    if how == "reversed":
        return np.ascontiguousarray(x[::-1])[::-1]
    if how == "readonly":
        y = np.array(x)
        y.flags.writeable = False
        return y
    raise AssertionError(how)


LAYOUTS = ["c", "fortran", "strided", "reversed", "readonly"]


@st.composite
def pages_arg(draw: st.DrawFn, rows: int, cols: int, huge: bool = True) -> Any:
    """A 2-D input: the right shape in any layout, or a hostile array or value."""
    kind = draw(
        st.sampled_from(
            ["good", "good", "dtype", "ndim", "shape", "empty", "list", "broadcast", "any"]
        )
    )
    x = rows_of(rows, cols, draw(st.integers(0, 3)))
    if kind == "good":
        return _layout(x, draw(st.sampled_from(LAYOUTS)))
    if kind == "dtype":
        dt = draw(st.sampled_from([np.float32, np.float64, np.int8, np.uint16, np.int64, bool]))
        return x.astype(dt)
    if kind == "ndim":
        return draw(st.sampled_from([x.reshape(-1), x.reshape(rows, cols, 1), np.uint8(0)]))
    if kind == "shape":
        r = draw(st.sampled_from([rows + 1, max(rows - 1, 0), rows]))
        c = draw(st.sampled_from([cols + 1, cols - 1, cols * 2, 1]))
        return _layout(rows_of(r, c), draw(st.sampled_from(LAYOUTS)))
    if kind == "empty":
        return np.zeros((0, cols), np.uint8)
    if kind == "list":
        return x.tolist()
    if kind == "broadcast":
        n = draw(st.sampled_from([rows, 10**6] if huge else [rows, rows + 1]))
        return np.broadcast_to(x[0], (n, cols))
    return draw(bad_any)


@st.composite
def out_arg(draw: st.DrawFn, rows: int, cols: int) -> Any:
    """A 2-D `out`: writable in any layout, or read-only, wrong dtype/shape, bytes, …"""
    kind = draw(st.sampled_from(["good", "good", "readonly", "dtype", "shape", "bytes", "any"]))
    if kind == "good":
        how = draw(st.sampled_from(["c", "fortran", "strided", "reversed"]))
        return _layout(np.zeros((rows, cols), np.uint8), how)
    if kind == "readonly":
        return _layout(np.zeros((rows, cols), np.uint8), "readonly")
    if kind == "dtype":
        return np.zeros((rows, cols), draw(st.sampled_from([np.float32, np.int8, np.uint64])))
    if kind == "shape":
        return np.zeros(
            draw(st.sampled_from([(rows + 1, cols), (rows, cols - 1), (rows,)])), np.uint8
        )
    if kind == "bytes":
        return bytes(rows * cols)
    return draw(bad_any)


@st.composite
def vec_arg(
    draw: st.DrawFn, dtype: Any, values: st.SearchStrategy[Any], n: int | None = None
) -> Any:
    """A 1-D input of `dtype` (any stride), or of another dtype, 2-D, a list, …; mostly of
    length `n` when given (the rows of the other argument)."""
    size = st.sampled_from([n, n, n + 1]) if n is not None else st.integers(0, 6)
    k = draw(size)
    v = np.array(draw(st.lists(values, min_size=k, max_size=k)), dtype=dtype)
    kind = draw(
        st.sampled_from(["good", "good", "strided", "reversed", "dtype", "2d", "list", "any"])
    )
    if kind == "good":
        return v
    if kind == "strided":
        w = np.zeros(len(v) * 3, dtype)
        w[::3] = v
        return w[::3]
    if kind == "reversed":
        return v[::-1].copy()[::-1]
    if kind == "dtype":
        return v.astype(
            draw(st.sampled_from([np.float64, np.int32, np.uint8, np.int64, np.uint64]))
        )
    if kind == "2d":
        return v.reshape(1, -1)
    if kind == "list":
        return v.tolist()
    return draw(bad_any)


@st.composite
def bytes_arg(draw: st.DrawFn, n: int) -> Any:
    kind = draw(st.sampled_from(["bytes", "bytearray", "strided", "np", "npdtype", "any"]))
    b = draw(st.binary(min_size=0, max_size=n))
    if kind == "bytes":
        return b
    if kind == "bytearray":
        return bytearray(b)
    if kind == "strided":
        return memoryview(b * 2)[::2]
    if kind == "np":
        b = b.ljust(-(-max(len(b), 1) // 8) * 8, b"\0")
        return _layout(np.frombuffer(b, np.uint8).reshape(-1, 8), "fortran")
    if kind == "npdtype":
        return np.zeros(max(len(b) // 8, 1), np.float64)
    return draw(bad_any)


# ------------------------------------------------------------------------------- the world


class World:
    """One object of every kind, with a little state, and a snapshot of what a refused call
    must not change."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.mem = zsrs.Memory(nodes=[1 << 14, 1 << 14])
        self.cgs = zsrs.Cgroups(self.mem)
        self.g = self.cgs.create("/g")
        self.files_cg = self.cgs.create("/files")  # the one whose limits hostile writes change
        self.other_g = zsrs.Cgroups(zsrs.Memory(nodes=[64])).create("/g")
        self.pool = zsrs.Pool(self.mem, "hostile", cgroups=self.cgs)
        self.h = self.pool.malloc_many(np.full(4, 100, np.int64))
        self.pool.write_many(self.h, rows_of(4, 100), cgroup="/g")
        self.spare = self.pool.malloc_many(np.full(8, 64, np.int64))  # the ones frees may take
        self.comp = zsrs.Compressor("lz4")
        self.zram = zsrs.Zram(disksize="1M")
        self.zram.write_many(np.arange(4, dtype=np.uint64), rows_of(4, PAGE))
        self.zswap = zsrs.Zswap(self.mem, self.cgs)
        self.zswap.store_many(np.arange(4, dtype=np.uint64), rows_of(4, PAGE), cgroup="/g")
        self.machine = zsrs.Machine(self.mem, self.cgs)
        self.proc = self.machine.spawn("/g")
        self.base = self.proc.mmap(rows_of(8, PAGE))

    def snapshot(self) -> tuple[object, ...]:
        return (
            self.pool.stats(),
            self.pool.read_file("classes"),
            self.zram.mm_stat(),
            self.zram.read_file("disksize"),
            self.zswap.debugfs(),
            [int(s) in self.zswap for s in range(8)],
            self.machine.stats(),
            self.proc.placement(),
            self.cgs.paths(),
            self.g.read_file("memory.stat"),
            self.g.read_file("memory.max"),
            self.files_cg.read_file("memory.max"),
            self.files_cg.read_file("memory.zswap.max"),
            self.mem.node_stats(),
        )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(tmp_path_factory.mktemp("hostile"))


def cgroup_arg(w: World) -> st.SearchStrategy[Any]:
    return arg(st.sampled_from(["/g", "/", "/nope", "g//", w.g, w.other_g, w.cgs.root]))


FILE_VALUES = st.one_of(
    st.sampled_from(
        ["0", "max", "-1", "1M", "4096", "99999999999999999999999", "", "\n", "abc", "1\0"]
    ),
    st.text(max_size=12),
)
small = st.integers(0, 16)


# --------------------------------------------------------------------- the entry points
# name → (function of the world and the drawn args, [strategies of the args as a function
# of the world]). Calls that make new objects have nothing to snapshot; the rest compare the
# world before and after a refusal.

# (call, strategies of its arguments) by entry point name
Entry: TypeAlias = tuple[Callable[..., object], Callable[[World], list[Any]]]
ENTRY: dict[str, Entry] = {
    # module functions
    "compressors": (lambda w, a: zsrs.compressors(a), lambda w: [bad_any]),  # type: ignore[call-arg]
    "class_table": (
        lambda w, c, p, k, d, r: zsrs.class_table(c, p, kernel=k, class_delta=d, chain_rule=r),
        lambda w: [
            arg(st.sampled_from([None, 1, 4, 8, 64, 65])),
            arg(st.sampled_from([4096, 16384, 65536, 2048, 5000, 2**40])),
            arg(st.sampled_from(["6.12", "6.1", "5.0", "x"])),
            arg(st.sampled_from([None, 16, 7, 0, 8])),
            arg(st.sampled_from([None, "min-waste", "bogus"])),
        ],
    ),
    "fidelity_page": (
        lambda w, i, p: zsrs.fidelity_page(i, p),
        lambda w: [arg(small), arg(st.sampled_from([4096, 65536, 0, 1, 2**40, 2**63]))],
    ),
    "replay": (
        lambda w, s, p, k, c: zsrs.replay(s, p, k, c),
        lambda w: [
            arg(st.lists(st.one_of(st.none(), st.integers(-5, 10000), bad_int), max_size=6)),
            arg(st.sampled_from([4096, 8192, 0, 3, 2**40])),
            arg(st.sampled_from(["6.12", "6.1", "x"])),
            arg(st.sampled_from([None, 4, 0, 100])),
        ],
    ),
    # constructors
    "Memory": (
        lambda w, n, p: zsrs.Memory(nodes=n, page_size=p),
        lambda w: [
            arg(
                st.lists(
                    st.one_of(
                        st.integers(0, 1 << 20),
                        # Sums and bases that used to wrap: PFN 0 handed out twice.
                        st.sampled_from([2**63, 2**64 - 1, 2**41, 2**40]),
                        bad_int,
                    ),
                    max_size=3,
                )
            ),
            arg(st.sampled_from([4096, 65536, 262144, 0, 1000, -4096, 2048, 2**19, 2**40])),
        ],
    ),
    "Cgroups": (
        lambda w, m, a, h: zsrs.Cgroups(m, a, h),
        lambda w: [
            arg(st.just(w.mem)),
            arg(st.sampled_from(["zsmalloc", "consumer", "x"])),
            arg(st.booleans()),
        ],
    ),
    "Pool": (
        lambda w, m, n, c, k, d, r, cg, acc, aware: zsrs.Pool(
            m,
            n,
            c,
            kernel=k,
            class_delta=d,
            chain_rule=r,
            cgroups=cg,
            accounting=acc,
            memcg_aware=aware,
        ),
        lambda w: [
            arg(st.just(w.mem)),
            arg(st.sampled_from(["p", "", "\0"])),
            arg(st.sampled_from([None, 4, 0, 65])),
            arg(st.sampled_from(["6.12", "6.1", "x"])),
            arg(st.sampled_from([None, 16, 7])),
            arg(st.sampled_from([None, "min-waste", "x"])),
            arg(st.sampled_from([None, w.cgs])),
            arg(st.sampled_from([None, "zsmalloc", "consumer", "x"])),
            arg(st.sampled_from([None, True, False])),
        ],
    ),
    "Compressor": (
        lambda w, n: zsrs.Compressor(n),
        lambda w: [arg(st.sampled_from([*zsrs.compressors(), "", "lz5"]))],
    ),
    "Zram": (
        lambda w, d, a, k, c, n: zsrs.Zram(d, a, memory=w.mem, kernel=k, chain_size=c, nid=n),
        lambda w: [
            st.one_of(
                st.sampled_from(
                    [
                        None,
                        4096,
                        "64K",
                        "1M",
                        0,
                        -1,
                        "abc",
                        "-1",
                        "1E",
                        2**63,
                        2**64 - 1,
                        2**64,
                        1.5,
                        b"1M",
                    ]
                ),
                st.sampled_from(BAD_OTHER),
            ),
            arg(st.sampled_from(["lz4", "zstd", "nope"])),
            arg(st.sampled_from(["6.12", "6.1", "x"])),
            arg(st.sampled_from([None, 4, 0, 65])),
            arg(st.sampled_from([0, 1, 2])),
        ],
    ),
    "Zswap.swapfile": (
        lambda w, n: zsrs.Zswap(w.mem, swapfile=w.tmp / "hostile-swap.img", swap_slots=n),
        lambda w: [
            arg(st.sampled_from([1, 64, 0, 2**40 + 1, 2**50, 2**52, 2**62, 2**64 - 1])),
        ],
    ),
    "Zswap": (
        lambda w, m, cg, c, mpp, atp, en, pn: zsrs.Zswap(
            m, cg, c, max_pool_percent=mpp, accept_threshold_percent=atp, enabled=en, pool_name=pn
        ),
        lambda w: [
            arg(st.just(w.mem)),
            arg(st.sampled_from([None, w.cgs])),
            arg(st.sampled_from(["lz4", "zstd", "nope"])),
            arg(st.sampled_from([0, 20, 100, 101])),
            arg(st.sampled_from([0, 90, 100, 101])),
            arg(st.booleans()),
            arg(st.sampled_from(["z", ""])),
        ],
    ),
    "Machine": (
        lambda w, m, cg, s: zsrs.Machine(m, cg, None, s),
        lambda w: [arg(st.just(w.mem)), arg(st.just(w.cgs)), arg(st.sampled_from([0, 1, 1 << 20]))],
    ),
    # Memory, Cgroups, Cgroup
    "InstructionCounter": (lambda w: zsrs.InstructionCounter().read(), lambda w: []),
    "Memory.prefault": (
        lambda w, n, p: w.mem.prefault(n, p),
        lambda w: [
            arg(st.sampled_from([0, 1, 2, -1, 2**64])),
            arg(st.sampled_from([0, 5, 1 << 14, 2**40, 2**63, -1])),
        ],
    ),
    "Memory.pfn_to_nid": (
        lambda w, p: w.mem.pfn_to_nid(p),
        lambda w: [arg(st.integers(0, 1 << 16))],
    ),
    "Cgroups.create": (
        lambda w, p: w.cgs.create(p),
        lambda w: [
            arg(
                st.one_of(
                    st.sampled_from(
                        [
                            "/a\nb",
                            "/a\0b",
                            "/" + "x" * 256,
                            "/" + "y" * 100_000,
                            "/..",
                            "/.",
                            "/g/../h",
                            "rel",
                            "",
                            "/",
                            "/g",
                            "/nope/x",
                        ]
                    ),
                    st.text(max_size=8).map(lambda s: "/h/" + s),
                )
            )
        ],
    ),
    "Cgroups.remove": (
        lambda w, p: w.cgs.remove(p),
        lambda w: [arg(st.sampled_from(["/", "/g", "/nope", "/a\nb", "/" + "x" * 300, "", "rel"]))],
    ),
    "Cgroups.__getitem__": (
        lambda w, p: w.cgs[p],
        lambda w: [
            arg(st.one_of(st.sampled_from(["/", "/g", "/nope", "/a\0b"]), st.text(max_size=8)))
        ],
    ),
    "Cgroups.node_vmstat": (
        lambda w, n: w.cgs.node_vmstat(n),
        lambda w: [arg(st.sampled_from([0, 1, 2]))],
    ),
    "Cgroups.node_vmstat_dict": (
        lambda w, n: w.cgs.node_vmstat_dict(n),
        lambda w: [arg(st.sampled_from([0, 1, 2]))],
    ),
    "Cgroup.read_file": (
        lambda w, n: w.g.read_file(n),
        lambda w: [arg(st.sampled_from(["memory.stat", "memory.max", "memory.nope", "", "../x"]))],
    ),
    "Cgroup.write_file": (
        lambda w, n, v: w.files_cg.write_file(n, v),
        lambda w: [
            arg(
                st.sampled_from(
                    ["memory.max", "memory.zswap.max", "memory.zswap.writeback", "memory.stat", "x"]
                )
            ),
            arg(FILE_VALUES),
        ],
    ),
    "Cgroup.events": (lambda w, loc: w.g.events(loc), lambda w: [arg(st.booleans())]),
    # Pool
    "Pool.malloc": (
        lambda w, s, n: w.pool.malloc(s, n),
        lambda w: [arg(st.sampled_from([1, 100, 4096, 0, 4097])), arg(st.sampled_from([0, 1, 2]))],
    ),
    "Pool.free": (
        lambda w, h: w.pool.free(h),
        lambda w: [arg(st.sampled_from([0, 1, int(w.h[0]) + 1, *map(int, w.spare)]))],
    ),
    "Pool.write": (
        lambda w, h, d, cg: w.pool.write(h, d, cg),
        lambda w: [arg(st.sampled_from([int(w.h[1]), 0])), bytes_arg(100), cgroup_arg(w)],
    ),
    "Pool.read": (
        lambda w, h, o, cg: w.pool.read(h, o, cg),
        lambda w: [
            arg(st.sampled_from([int(w.h[2]), 0])),
            st.one_of(
                st.none(),
                st.sampled_from([bytearray(100), bytearray(10), b"x" * 100]),
                out_arg(1, 100),
            ),
            st.one_of(st.none(), cgroup_arg(w)),
        ],
    ),
    "Pool.object_len": (
        lambda w, h: w.pool.object_len(h),
        lambda w: [arg(st.sampled_from([int(w.h[3]), 0]))],
    ),
    "Pool.owner": (
        lambda w, h: w.pool.owner(h),
        lambda w: [arg(st.sampled_from([int(w.h[3]), 0]))],
    ),
    "Pool.malloc_many": (
        lambda w, s, n: w.pool.malloc_many(s, n),
        lambda w: [
            vec_arg(np.int64, st.sampled_from([1, 64, 4096, 0, -1, 4097])),
            arg(st.sampled_from([0, 1, 5])),
        ],
    ),
    "Pool.write_many": (
        lambda w, h, p, cg: w.pool.write_many(h, p, cg),
        lambda w: [
            vec_arg(np.uint64, st.sampled_from([int(x) for x in w.h] * 3 + [0, 2**64 - 1]), n=2),
            pages_arg(2, 100),
            st.one_of(st.none(), cgroup_arg(w)),
        ],
    ),
    "Pool.read_many": (
        lambda w, h, o: w.pool.read_many(h, o),
        lambda w: [
            vec_arg(np.uint64, st.sampled_from([int(x) for x in w.h] + [0]), n=2),
            out_arg(2, 100),
        ],
    ),
    "Pool.free_many": (
        lambda w, h: w.pool.free_many(h),
        lambda w: [vec_arg(np.uint64, st.sampled_from([0, 1, 2**64 - 1, *map(int, w.spare)]))],
    ),
    "Pool.migrate_page": (
        lambda w, p, n: w.pool.migrate_page(p, n),
        lambda w: [
            arg(st.sampled_from([0, w.pool.pages()[0][0]])),
            arg(st.sampled_from([0, 1, 2])),
        ],
    ),
    "Pool.read_file": (
        lambda w, n: w.pool.read_file(n),
        lambda w: [arg(st.sampled_from(["classes", "x", ""]))],
    ),
    "Pool.zspages": (
        lambda w, c: w.pool.zspages(c),
        lambda w: [arg(st.sampled_from([0, 10, 254, 255]))],
    ),
    # Compressor
    "Compressor.compress": (lambda w, d: w.comp.compress(d), lambda w: [bytes_arg(PAGE)]),
    "Compressor.decompress": (
        lambda w, d, s: w.comp.decompress(d, s),
        lambda w: [
            st.one_of(st.just(w.comp.compress(bytes(PAGE))), bytes_arg(64)),
            arg(st.sampled_from([PAGE, 0, 1, 65536, 65537, 2**40])),
        ],
    ),
    "Compressor.compressed_lengths": (
        lambda w, p: w.comp.compressed_lengths(p),
        lambda w: [pages_arg(3, PAGE, huge=False)],
    ),
    # Zram
    "Zram.write": (
        lambda w, i, p: w.zram.write(i, p),
        lambda w: [
            arg(st.sampled_from([4, 255, 256])),
            st.one_of(st.just(bytes(PAGE)), bytes_arg(PAGE + 1)),
        ],
    ),
    "Zram.read": (
        lambda w, i, o: w.zram.read(i, o),
        lambda w: [
            arg(st.sampled_from([0, 255, 256])),
            st.one_of(
                st.none(),
                st.sampled_from([bytearray(PAGE), bytearray(1), bytes(PAGE)]),
                out_arg(1, PAGE),
            ),
        ],
    ),
    "Zram.write_at": (
        lambda w, o, d: w.zram.write_at(o, d),
        lambda w: [
            arg(st.sampled_from([5 * PAGE, 5 * PAGE + 1, (1 << 20) - 1, 1 << 20])),
            bytes_arg(PAGE),
        ],
    ),
    "Zram.read_at": (
        lambda w, o, n: w.zram.read_at(o, n),
        lambda w: [
            arg(st.sampled_from([0, 1, (1 << 20) - 1, 1 << 20])),
            arg(st.sampled_from([0, 1, PAGE, 1 << 20, 2**40])),
        ],
    ),
    "Zram.write_many": (
        lambda w, i, p: w.zram.write_many(i, p),
        lambda w: [
            vec_arg(np.uint64, st.sampled_from([8, 9, 255, 256, 2**64 - 1]), n=2),
            pages_arg(2, PAGE),
        ],
    ),
    "Zram.read_many": (
        lambda w, i, o: w.zram.read_many(i, o),
        lambda w: [
            vec_arg(np.uint64, st.sampled_from([0, 1, 256, 2**64 - 1]), n=2),
            out_arg(2, PAGE),
        ],
    ),
    "Zram.discard": (
        lambda w, i, c: w.zram.discard(i, c),
        lambda w: [arg(st.sampled_from([200, 255, 256])), arg(st.sampled_from([0, 1, 2]))],
    ),
    "Zram.read_file": (
        lambda w, n: w.zram.read_file(n),
        lambda w: [arg(st.sampled_from(["mm_stat", "io_stat", "disksize", "x", ""]))],
    ),
    "Zram.write_file": (
        lambda w, n, v: w.zram.write_file(n, v),
        lambda w: [
            arg(
                st.sampled_from(
                    [
                        "disksize",
                        "mem_limit",
                        "comp_algorithm",
                        "idle",
                        "writeback",
                        "recompress",
                        "max_comp_streams",
                        "x",
                    ]
                )
            ),
            arg(FILE_VALUES),
        ],
    ),
    "Zram.serve_nbd": (
        lambda w, h, p: w.zram.serve_nbd(h, p).stop(),
        lambda w: [
            st.one_of(st.just("127.0.0.1"), st.sampled_from([None, 5, b"127.0.0.1"])),
            st.sampled_from([-1, 65536, 2**64, "x", None, 1.5]),
        ],
    ),
    # Zswap
    "Zswap.store": (
        lambda w, s, p, cg, n: w.zswap.store(s, p, cg, n),
        lambda w: [
            arg(st.sampled_from([100, 2**64 - 1])),
            st.one_of(st.just(bytes(PAGE)), bytes_arg(PAGE + 1)),
            st.one_of(st.none(), cgroup_arg(w)),
            arg(st.sampled_from([0, 1, 2])),
        ],
    ),
    "Zswap.store_many": (
        lambda w, s, p, cg, n: w.zswap.store_many(s, p, cg, n),
        lambda w: [
            vec_arg(np.uint64, st.sampled_from([200, 201, 2**64 - 1]), n=2),
            pages_arg(2, PAGE),
            st.one_of(st.none(), cgroup_arg(w)),
            arg(st.sampled_from([0, 1, 2])),
        ],
    ),
    "Zswap.load": (
        lambda w, s: w.zswap.load(s),
        lambda w: [arg(st.sampled_from([1000, 2**64 - 1]))],
    ),
    "Zswap.load_many": (
        lambda w, s, o: w.zswap.load_many(s, o),
        lambda w: [vec_arg(np.uint64, st.sampled_from([0, 1, 2, 3]), n=2), out_arg(2, PAGE)],
    ),
    "Zswap.invalidate": (
        lambda w, s: w.zswap.invalidate(s),
        lambda w: [arg(st.sampled_from([1000, 2**64 - 1]))],
    ),
    "Zswap.__contains__": (lambda w, s: s in w.zswap, lambda w: [arg(st.sampled_from([0, 1000]))]),
    "Zswap.shrink_memcg": (
        lambda w, cg: w.zswap.shrink_memcg(cg),
        lambda w: [st.one_of(cgroup_arg(w))],
    ),
    "Zswap.read_file": (
        lambda w, n: w.zswap.read_file(n),
        lambda w: [
            arg(st.sampled_from(["stored_pages", "parameters/enabled", "parameters/x", "x", ""]))
        ],
    ),
    "Zswap.write_file": (
        lambda w, n, v: w.zswap.write_file(n, v),
        lambda w: [
            arg(
                st.sampled_from(
                    [
                        "parameters/max_pool_percent",
                        "parameters/enabled",
                        "parameters/compressor",
                        "parameters/x",
                        "stored_pages",
                    ]
                )
            ),
            arg(FILE_VALUES),
        ],
    ),
    # Machine, Process
    "Machine.spawn": (
        lambda w, cg, m: w.machine.spawn(cg, m),
        lambda w: [
            cgroup_arg(w),
            arg(st.lists(st.one_of(st.sampled_from([0, 1, 2]), bad_int), max_size=3)),
        ],
    ),
    "Machine.reclaim": (
        lambda w, cg, a: w.machine.reclaim(cg, a),
        lambda w: [
            cgroup_arg(w),
            arg(st.sampled_from([0, PAGE, "4K", "1M", -1, "abc", 2**64 - 1, 2**64, 1.5])),
        ],
    ),
    "Machine.set_min_free_kbytes": (
        lambda w, k: w.machine.set_min_free_kbytes(k),
        lambda w: [arg(st.sampled_from([0, 2**31, 2**54, 2**64 - 1]))],
    ),
    "Process.mmap": (lambda w, p: w.proc.mmap(p), lambda w: [pages_arg(2, PAGE, huge=False)]),
    "Process.access": (
        lambda w, t, b: w.proc.access(t, b),
        lambda w: [
            vec_arg(np.uint64, st.sampled_from([0, 1, 7, 8, 2**63, 2**64 - 1])),
            arg(st.sampled_from([0, w.base, 7, 2**64 - 1])),
        ],
    ),
    "Process.read": (
        lambda w, s, c: w.proc.read(s, c),
        lambda w: [
            arg(st.sampled_from([w.base, 7, 8, 2**64 - 1])),
            arg(st.sampled_from([0, 1, 8, 9, 2**40, 2**61])),
        ],
    ),
    "Process.verify": (
        lambda w, s, e: w.proc.verify(s, e),
        lambda w: [arg(st.sampled_from([w.base, 7, 2**64 - 1])), pages_arg(2, PAGE)],
    ),
    "Process.write": (
        lambda w, s, p: w.proc.write(s, p),
        lambda w: [arg(st.sampled_from([w.base, 7, 2**64 - 1])), pages_arg(2, PAGE)],
    ),
    "Process.set_mems": (
        lambda w, m: w.proc.set_mems(m),
        lambda w: [arg(st.lists(st.one_of(st.sampled_from([0, 1, 2]), bad_int), max_size=3))],
    ),
    "Process.exit": (lambda w, a: w.proc.exit(a), lambda w: [bad_any]),
}

# Calls that build new objects: nothing of the world to compare after a refusal.
MAKERS = {
    "compressors",
    "class_table",
    "fidelity_page",
    "replay",
    "Memory",
    "Cgroups",
    "Pool",
    "Compressor",
    "Zram",
    "Zswap",
    "Zswap.swapfile",
    "Machine",
}


@pytest.mark.parametrize("name", sorted(ENTRY))
def test_hostile_inputs(world: World, name: str) -> None:
    fn, strategies = ENTRY[name]
    specs = strategies(world)

    @SETTINGS
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        # Which argument is hostile: one of them (most often), none, or any mix.
        k = data.draw(st.integers(-2, len(specs) - 1), label="hostile argument")
        args = []
        for i, s in enumerate(specs):
            if hasattr(s, "valid") and k != -2:
                s = s.bad if i == k else s.valid
            args.append(data.draw(s, label=f"arg {i}"))
        attempt(name, lambda: fn(world, *args), None if name in MAKERS else world.snapshot)

    run()


# ------------------------------------------------------------------------ aliasing


@SETTINGS
@given(which=st.sampled_from(["pool", "zram", "zswap"]), view=st.sampled_from(["u64col", "row"]))
def test_inputs_that_alias_out(world: World, which: str, view: str) -> None:
    """An index array that is a view of `out`'s own memory: read before `out` is written, so
    the call works (or is refused cleanly) and nothing is lost."""
    n, cols = (2, 104) if which == "pool" else (2, PAGE)
    out = np.zeros((n, cols), np.uint8)
    idx = out.view(np.uint64)[:, 0] if view == "u64col" else out[0, :16].view(np.uint64)[:n]
    if which == "pool":
        idx[:] = world.h[:n]

        def call() -> None:
            world.pool.read_many(idx, out)
    elif which == "zram":
        idx[:] = [0, 1]

        def call() -> None:
            world.zram.read_many(idx, out)
    else:
        idx[:] = [500, 501]  # absent slots: a load of nothing, and nothing lost

        def call() -> None:
            world.zswap.load_many(idx, out)

    attempt(f"alias.{which}", call, world.snapshot)


def test_out_in_use_by_another_thread_is_refused_or_served(world: World) -> None:
    """Two threads reading into the same `out` at once: the second may be refused (ValueError:
    the array is borrowed) but never panics."""
    import threading

    out = np.zeros((64, PAGE), np.uint8)
    idx = np.zeros(64, np.uint64)
    errors: list[BaseException] = []

    def reader() -> None:
        for _ in range(20):
            try:
                world.zram.read_many(idx, out)
            except ValueError:
                pass
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

    ts = [threading.Thread(target=reader) for _ in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors
