"""Issue 11 (items 1, 5, 9, 11): every entry point validates its whole input before changing
anything, and a bad input is a typed Python exception — never a PanicException, an abort or a
scrambled result.

1. numpy layout: Fortran-ordered, transposed, strided, read-only and aliased arrays.
5. caller-sized allocations: huge sizes are refused before anything is allocated.
9. a refused call changes nothing (Process.write/access out of range).
11. cgroup names, the command line's bad arguments, Zram(disksize=…) messages.
"""

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

import zsrs

PAGE = 4096
TYPED = (zsrs.ZsError, TypeError, ValueError, OverflowError)


def pages(n: int, seed: int = 0, cols: int = PAGE) -> npt.NDArray[np.uint8]:
    """n distinct, compressible pages (every row different from every other)."""
    rng = np.random.default_rng(seed)
    p = np.zeros((n, cols), np.uint8)
    p[:, : cols // 4] = rng.integers(0, 256, (n, cols // 4), dtype=np.uint8)
    p[:, -8:] = np.arange(n, dtype=np.uint64).view(np.uint8).reshape(n, 8)
    return p


def layouts(x: npt.NDArray[np.uint8]) -> dict[str, npt.NDArray[np.uint8]]:
    """The same logical rows in several memory layouts."""
    f = np.asfortranarray(x)
    t = np.ascontiguousarray(x.T).T  # a transposed view: Fortran order
    wide = np.zeros((x.shape[0], x.shape[1] * 2), np.uint8)
    wide[:, ::2] = x
    strided = wide[:, ::2]  # column stride 2
    rev = np.ascontiguousarray(x[::-1])[::-1]  # negative row stride
    return {"fortran": f, "transposed": t, "strided": strided, "reversed": rev}


def out_layouts(shape: tuple[int, int]) -> dict[str, npt.NDArray[np.uint8]]:
    """Writable zeroed arrays of `shape` in several layouts."""
    n, c = shape
    return {
        "c": np.zeros(shape, np.uint8),
        "fortran": np.zeros(shape, np.uint8, order="F"),
        "strided": np.zeros((n, c * 2), np.uint8)[:, ::2],
        "reversed": np.zeros(shape, np.uint8)[::-1],
    }


def read_only(x: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    y = np.array(x)
    y.flags.writeable = False
    return y


# ---------------------------------------------------------------- 1. numpy layout


@pytest.mark.parametrize("layout", ["fortran", "transposed", "strided", "reversed"])
def test_pool_batches_read_and_write_rows_in_logical_order(layout: str) -> None:
    pool = zsrs.Pool(zsrs.Memory(nodes=[4096]))
    x = pages(6, cols=256)
    h = pool.malloc_many(np.full(6, 256, np.int64))
    pool.write_many(h, layouts(x)[layout])
    for name, out in out_layouts(x.shape).items():
        lens = pool.read_many(h, out)
        assert (lens == 256).all()
        np.testing.assert_array_equal(out, x, err_msg=f"in {layout}, out {name}")
    # 1-D handles of any stride
    h2 = np.zeros(12, np.uint64)
    h2[::2] = h
    out = np.zeros_like(x)
    pool.read_many(h2[::2], out)
    np.testing.assert_array_equal(out, x)
    pool.free_many(h2[::2])
    assert pool.stats()["objs_used"] == 0


@pytest.mark.parametrize("layout", ["fortran", "transposed", "strided", "reversed"])
def test_zram_batches_in_any_layout(layout: str) -> None:
    zr = zsrs.Zram(disksize="1M")
    x = pages(8)
    idx = np.arange(8, dtype=np.uint64)
    zr.write_many(idx, layouts(x)[layout])
    for name, out in out_layouts(x.shape).items():
        zr.read_many(idx, out)
        np.testing.assert_array_equal(out, x, err_msg=f"in {layout}, out {name}")


@pytest.mark.parametrize("layout", ["fortran", "transposed", "strided", "reversed"])
def test_zswap_batches_in_any_layout(layout: str) -> None:
    zs = zsrs.Zswap(zsrs.Memory(nodes=[1 << 14]))
    x = pages(8)
    slots = np.arange(8, dtype=np.uint64)
    assert zs.store_many(slots, layouts(x)[layout]).all()
    out = out_layouts(x.shape)[layout if layout != "transposed" else "fortran"]
    assert zs.load_many(slots, out).all()
    np.testing.assert_array_equal(out, x)


def test_compressed_lengths_in_any_layout() -> None:
    c = zsrs.Compressor("lz4")
    x = pages(8)
    want = c.compressed_lengths(x)
    assert list(want) == [len(c.compress(r.tobytes())) for r in x]
    for name, v in layouts(x).items():
        np.testing.assert_array_equal(c.compressed_lengths(v), want, err_msg=name)


@pytest.mark.parametrize("layout", ["fortran", "transposed", "strided", "reversed"])
def test_process_batches_in_any_layout(layout: str) -> None:
    mem = zsrs.Memory(nodes=[4096])
    cgs = zsrs.Cgroups(mem)
    m = zsrs.Machine(mem, cgs)
    p = m.spawn(cgs.create("/g"))
    x = pages(8)
    base = p.mmap(layouts(x)[layout])
    np.testing.assert_array_equal(p.read(base, 8), x)
    assert p.verify(base, layouts(x)[layout]) == []
    y = pages(8, seed=5)
    p.write(base, layouts(y)[layout])
    np.testing.assert_array_equal(p.read(base, 8), y)


def test_exclusive_loads_refuse_a_bad_out_before_loading() -> None:
    zs = zsrs.Zswap(zsrs.Memory(nodes=[1 << 14]))
    x = pages(4)
    slots = np.arange(4, dtype=np.uint64)
    assert zs.store_many(slots, x).all()
    before = zs.debugfs()
    for bad in (
        read_only(np.zeros((4, PAGE), np.uint8)),
        np.zeros((4, PAGE), np.float32),
        np.zeros((4, PAGE + 1), np.uint8),
        np.zeros((3, PAGE), np.uint8),
        np.zeros(4 * PAGE, np.uint8),
        [[0] * PAGE] * 4,
        np.broadcast_to(np.zeros(PAGE, np.uint8), (4, PAGE)),
    ):
        with pytest.raises((TypeError, ValueError)):
            zs.load_many(slots, bad)  # type: ignore[arg-type]  # deliberately wrong
        assert zs.debugfs() == before
        assert all(int(s) in zs for s in slots)
    out = np.zeros((4, PAGE), np.uint8)
    assert zs.load_many(slots, out).all()
    np.testing.assert_array_equal(out, x)


def test_read_only_and_aliased_outs_are_type_or_value_errors() -> None:
    pool = zsrs.Pool(zsrs.Memory(nodes=[4096]))
    h = pool.malloc_many(np.full(4, 64, np.int64))
    pool.write_many(h, pages(4, cols=64))
    with pytest.raises(TypeError):
        pool.read_many(h, read_only(np.zeros((4, 64), np.uint8)))
    # handles inside out's own memory: copied first, so the read is still right
    buf = np.zeros((4, 64), np.uint8)
    buf.view(np.uint64)[:, 0] = h
    lens = pool.read_many(buf.view(np.uint64)[:, 0], buf)
    assert (lens == 64).all()
    np.testing.assert_array_equal(buf, pages(4, cols=64))
    zr = zsrs.Zram(disksize="64K")
    with pytest.raises(TypeError):
        zr.read_many(np.arange(2, dtype=np.uint64), read_only(np.zeros((2, PAGE), np.uint8)))
    with pytest.raises(TypeError):
        zr.read(0, read_only(np.zeros(PAGE, np.uint8)))
    with pytest.raises(TypeError):
        zr.read(0, bytes(PAGE))  # type: ignore[call-overload]  # deliberately read-only
    with pytest.raises(ValueError):
        zr.read(0, bytearray(10))


def test_dtype_and_ndim_errors_are_typed() -> None:
    pool = zsrs.Pool(zsrs.Memory(nodes=[4096]))
    h = pool.malloc_many(np.full(2, 64, np.int64))
    with pytest.raises(TypeError, match="uint8"):
        pool.write_many(h, np.zeros((2, 64), np.float64))
    with pytest.raises(TypeError, match="uint64"):
        pool.write_many(h.astype(np.int64), np.zeros((2, 64), np.uint8))
    with pytest.raises(ValueError, match="2-D"):
        pool.write_many(h, np.zeros(128, np.uint8))
    with pytest.raises(TypeError):
        pool.write_many(h, [[0] * 64] * 2)  # type: ignore[arg-type]  # deliberately wrong
    with pytest.raises(TypeError):
        zsrs.Compressor("lz4").compressed_lengths(np.zeros((2, 64), np.int8))


def test_bytes_like_inputs_of_any_layout() -> None:
    pool = zsrs.Pool(zsrs.Memory(nodes=[4096]))
    h = pool.malloc(128)
    raw = bytes(range(256))
    pool.write(h, memoryview(raw)[::2])  # a non-contiguous memoryview
    assert pool.read(h) == raw[::2]
    f = np.asfortranarray(np.arange(128, dtype=np.uint8).reshape(8, 16))
    pool.write(h, f)
    assert pool.read(h) == f.tobytes(order="C")
    out = np.zeros(256, np.uint8)
    assert pool.read(h, out[::2]) == 128  # a strided out
    np.testing.assert_array_equal(out[::2], np.frombuffer(f.tobytes(order="C"), np.uint8))
    assert not out[1::2].any()
    with pytest.raises(TypeError):
        pool.write(h, np.zeros(16, np.float64))


# ------------------------------------------------------ 5. caller-sized allocations

HUGE_CALLS = {
    "decompress": "zsrs.Compressor('lz4').decompress(b'\\x00', 2**40)",
    "decompress_2_63": "zsrs.Compressor('lz4').decompress(b'\\x00', 2**63)",
    "zram_read_at": "zsrs.Zram(disksize='1M').read_at(0, 2**40)",
    "zram_read_at_2_63": "zsrs.Zram(disksize='1M').read_at(0, 2**63)",
    "zram_read_at_2_64m1": "zsrs.Zram(disksize='1M').read_at(2**64 - 1, 2**64 - 1)",
    "process_read": (
        "mem = zsrs.Memory(nodes=[64]); cgs = zsrs.Cgroups(mem);"
        " p = zsrs.Machine(mem, cgs).spawn(cgs.create('/g')); p.read(0, 2**40)"
    ),
    "process_read_overflow": (
        "mem = zsrs.Memory(nodes=[64]); cgs = zsrs.Cgroups(mem);"
        " p = zsrs.Machine(mem, cgs).spawn(cgs.create('/g'));"
        " p.mmap(np.zeros((2, 4096), np.uint8)); p.read(2**64 - 1, 2)"
    ),
    "fidelity_page": "zsrs.fidelity_page(0, 2**40)",
    "fidelity_page_small": "zsrs.fidelity_page(0, 0)",
    "replay": "zsrs.replay([100, None], page_size=2**40)",
    "class_table": "zsrs.class_table(page_size=2**40)",
    "class_table_odd": "zsrs.class_table(page_size=5000)",
}


@pytest.mark.parametrize("name", sorted(HUGE_CALLS))
def test_huge_sizes_are_typed_errors_in_a_subprocess(name: str) -> None:
    # A subprocess, so that an abort (SIGABRT from the allocator) or a hang fails the test
    # instead of killing the suite.
    code = textwrap.dedent(
        f"""
        import numpy as np, zsrs
        try:
            {HUGE_CALLS[name]}
        except (zsrs.ZsError, TypeError, ValueError, OverflowError, MemoryError) as e:
            print("typed", type(e).__name__)
        except BaseException as e:
            print("untyped", type(e).__module__, type(e).__name__)
        else:
            print("accepted")
        """
    )
    r = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, f"exit {r.returncode}: {r.stderr[-500:]}"
    assert r.stdout.startswith("typed"), r.stdout + r.stderr[-500:]


def test_decompress_of_a_page_still_works() -> None:
    c = zsrs.Compressor("lz4")
    x = pages(1)[0].tobytes()
    assert c.decompress(c.compress(x), PAGE) == x
    big = bytes(65536)
    assert c.decompress(c.compress(big), 65536) == big


# -------------------------------------------------------- 9. refused calls change nothing


def _process() -> tuple[zsrs.Machine, zsrs.Process]:
    mem = zsrs.Memory(nodes=[4096])
    cgs = zsrs.Cgroups(mem)
    m = zsrs.Machine(mem, cgs)
    return m, m.spawn(cgs.create("/g"))


def test_process_write_out_of_range_leaves_the_pages_unchanged() -> None:
    m, p = _process()
    x = pages(8)
    base = p.mmap(x)
    stats = m.stats()
    for start, rows in ((base, 9), (base + 1, 8), (2**64 - 1, 2), (2**63, 1)):
        with pytest.raises(zsrs.InvalidArgument):
            p.write(start, pages(rows, seed=9))
        np.testing.assert_array_equal(p.read(base, 8), x)
    with pytest.raises(ValueError):
        p.write(base, np.zeros((2, PAGE - 1), np.uint8))
    np.testing.assert_array_equal(p.read(base, 8), x)
    assert m.stats()["faults"] == stats["faults"]


def test_access_out_of_range_or_wrapping_is_refused_before_touching() -> None:
    m, p = _process()
    base = p.mmap(pages(8))
    m.reclaim("/g", 8 * PAGE)
    before = m.stats()
    placement = p.placement()
    for trace, b in (
        (np.array([0, 1, 8], np.uint64), base),  # the last page is unmapped
        (np.array([1], np.uint64), 2**64 - 1),  # wraps around to page 0
        (np.array([2**64 - 1], np.uint64), 1),
    ):
        with pytest.raises(zsrs.InvalidArgument):
            p.access(trace, base=b)
        assert m.stats() == before
        assert p.placement() == placement
    assert p.access(np.arange(8, dtype=np.uint64), base=base) == 8


def test_verify_and_read_out_of_range_are_refused() -> None:
    _, p = _process()
    base = p.mmap(pages(4))
    with pytest.raises(zsrs.InvalidArgument):
        p.read(base + 2, 3)
    with pytest.raises(zsrs.InvalidArgument):
        p.verify(base + 1, pages(4))
    with pytest.raises(OverflowError):
        p.read(-1, 1)


# -------------------------------------------------------------------------- 11. odds


@pytest.mark.parametrize(
    "path",
    ["/a\nb", "/a\0b", "/" + "x" * 256, "/" + "x" * 100_000, "/..", "/.", "/a/../b", "a", ""],
)
def test_bad_cgroup_names_are_refused(path: str) -> None:
    cgs = zsrs.Cgroups(zsrs.Memory(nodes=[64]))
    cgs.create("/a")
    with pytest.raises(zsrs.CgroupError):
        cgs.create(path)
    assert cgs.paths() == ["/", "/a"]
    with pytest.raises(zsrs.CgroupError):
        cgs[path]


def test_cgroup_paths_resolve_like_the_vfs() -> None:
    # mkdir(2) resolves "//" and a trailing "/" like any path: the cgroup is "/a/b".
    cgs = zsrs.Cgroups(zsrs.Memory(nodes=[64]))
    cgs.create("/a")
    assert cgs.create("/a//b/").path == "/a/b"
    assert cgs["/a/b"] == cgs["//a///b//"]
    assert cgs.create("/" + "x" * 255).path == "/" + "x" * 255


def test_zram_disksize_messages() -> None:
    for bad, exc in (
        (-1, ValueError),
        (2**64, OverflowError),
        ("abc", ValueError),
        (1.5, TypeError),
        (None, None),
        ([1], TypeError),
    ):
        if exc is None:
            assert zsrs.Zram(disksize=bad).disksize == 0  # type: ignore[arg-type]
            continue
        with pytest.raises(exc, match="disksize"):
            zsrs.Zram(disksize=bad)  # type: ignore[arg-type]  # deliberately wrong
    assert zsrs.Zram(disksize="1M").disksize == 1 << 20
    assert zsrs.Zram(disksize=1 << 20).disksize == 1 << 20


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zsrs", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    "args, code",
    [
        (["replay", "/nonexistent/sizes.txt"], 1),
        (["replay", "--page-size", "0", "x"], 2),
        (["replay", "--page-size", "5000", "x"], 2),
        (["classes", "--page-size", str(2**40)], 2),
        (["demo", "--pages", "-5"], 2),
        (["nbd", "--port", "70000"], 2),
        (["nbd", "--disksize", "abc"], 2),
        (["nbd", "--disksize", "-1"], 2),
        (["experiments", "--trials", "0"], 2),
        (["--scale", "-1"], 2),
        (["--scale", "nan"], 2),
        (["classes", "--chain", "0"], 2),
        (["classes", "--kernel", "abc"], 2),
        (["bogus"], 2),
    ],
)
def test_cli_bad_arguments_are_one_line_without_traceback(args: list[str], code: int) -> None:
    r = cli(*args)
    assert r.returncode == code, r.stderr
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "error" in r.stderr


@pytest.mark.parametrize("content", ["12\nfoo bar\n", "0\n", "99999999999999999999999\n", "\xff"])
def test_cli_replay_of_a_bad_file(tmp_path: Path, content: str) -> None:
    f = tmp_path / "sizes.txt"
    f.write_text(content, encoding="latin-1")
    r = cli("replay", str(f))
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_a_cgroup_argument_of_the_wrong_type_says_what_it_wants() -> None:
    mem = zsrs.Memory(nodes=[64])
    cgs = zsrs.Cgroups(mem)
    with pytest.raises(TypeError, match="cgroup must be a Cgroup or a path"):
        zsrs.Machine(mem, cgs).spawn(5)  # type: ignore[arg-type]  # deliberately wrong
    with pytest.raises(TypeError, match="cgroup must be a Cgroup or a path"):
        zsrs.Zswap(mem, cgs).store(0, bytes(PAGE), cgroup=b"/")  # type: ignore[arg-type]  # deliberately wrong


# -------------------------------------------------------- 8. sizes that would wrap


@pytest.mark.parametrize(
    "nodes, page_size",
    [
        ([2**64 - 1, 2], 4096),  # the bases wrapped: PFN 0 handed out twice
        ([2**63, 2**63], 4096),  # the total wrapped to 0: every zswap store hit the limit
        ([2**41], 4096),  # past MAX_PHYSMEM_BITS
        ([1] * 1025, 4096),  # past MAX_NUMNODES
        ([64], 2**40),
        ([64], 2048),
    ],
)
def test_memory_sizes_that_would_wrap_are_refused(nodes: list[int], page_size: int) -> None:
    with pytest.raises(zsrs.InvalidArgument):
        zsrs.Memory(nodes=nodes, page_size=page_size)
