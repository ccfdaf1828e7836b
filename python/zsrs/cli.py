"""The ``zsrs`` command line: ``experiments`` (the default job), ``demo``, ``classes``,
``replay``, ``nbd``."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import NoReturn

import numpy as np

from . import _zsrs, workloads


def _nonempty_classes(text: str) -> str:
    """The kernel's `classes` text without the rows of classes that hold nothing."""
    lines = text.splitlines(keepends=True)
    keep = [lines[0]]
    for line in lines[1:]:
        f = line.split()
        if not f or f[0] == "Total" or int(f[-5]) != 0:
            keep.append(line)
    return "".join(keep)


def _utilization(pool: _zsrs.Pool, page_size: int) -> str:
    s = pool.stats()
    used = s["pages_allocated"] * page_size
    req = s["bytes_requested"]
    ratio = used / req if req else float("nan")
    return (
        f"objects {s['objs_used']}  requested {req} B  pool {s['pages_allocated']} pages "
        f"({used} B)  used/requested {ratio:.4f}  utilization {req / used if used else 0:.1%}"
    )


def demo(args: argparse.Namespace) -> int:
    """Fill a pool on two NUMA nodes with lz4-compressed pages of a realistic mix, free a random
    half, compact, and show the kernel's `classes` table and the utilization at each step."""
    page_size = 4096
    mem = _zsrs.Memory(nodes=[1 << 16, 1 << 16], page_size=page_size)
    pool = _zsrs.Pool(mem, "demo", chain_size=args.chain, kernel=args.kernel)
    lz4 = _zsrs.Compressor("lz4")
    pages = workloads.mixture(args.pages, page_size, seed=args.seed)
    nonzero = np.flatnonzero(pages.any(axis=1))
    pages = pages[nonzero]
    comp = [lz4.compress(p) for p in pages]
    # Like zram: a compressed length at or above huge_class_size is stored raw.
    huge = np.array([len(c) >= pool.huge_class_size for c in comp])
    sizes = np.array(
        [page_size if h else len(c) for c, h in zip(comp, huge, strict=True)], dtype=np.int64
    )
    nids = np.arange(len(sizes)) % 2
    handles = np.empty(len(sizes), dtype=np.uint64)
    for nid in (0, 1):
        sel = np.flatnonzero(nids == nid)
        handles[sel] = pool.malloc_many(sizes[sel], nid=nid)
    for h, c, hg, p in zip(handles, comp, huge, pages, strict=True):
        pool.write(int(h), p.tobytes() if hg else c)
    print(
        f"zsrs demo: {len(pages)} non-zero pages of a mixed workload ({args.pages - len(pages)}"
        f" zero pages skipped), lz4, chain {pool.chain_size}, kernel {pool.kernel} profile,"
        f" 2 NUMA nodes, huge_class_size {pool.huge_class_size}"
    )
    print(
        f"compression ratio {len(pages) * page_size / sizes.sum():.2f}, "
        f"huge (stored raw) {int(huge.sum())}"
    )
    print("\n== after filling ==")
    print(_nonempty_classes(pool.read_file("classes")), end="")
    print(_utilization(pool, page_size))

    rng = np.random.default_rng(args.seed + 1)
    gone = rng.permutation(len(handles))[: len(handles) // 2]
    pool.free_many(handles[gone])
    keep = np.setdiff1d(np.arange(len(handles)), gone)
    print("\n== after freeing a random half ==")
    print(_nonempty_classes(pool.read_file("classes")), end="")
    print(_utilization(pool, page_size))
    print(f"freeable pages: {pool.compactable_pages()}")

    freed = pool.compact()
    print(f"\n== after compaction: {freed} pages freed ==")
    print(_nonempty_classes(pool.read_file("classes")), end="")
    print(_utilization(pool, page_size))
    for node in mem.node_stats():
        print(f"node {node['node']}: {node['used']} pages used")

    for k in keep:
        raw = pool.read(int(handles[k]))
        assert isinstance(raw, bytes)  # no `out`: the object's bytes
        page = raw if huge[k] else lz4.decompress(raw, page_size)
        if page != pages[k].tobytes():
            print(f"object {k} came back different", file=sys.stderr)
            return 1
    pool.check_invariants()
    print(f"verified: all {len(keep)} remaining pages decompress to their original bytes")
    return 0


def classes(args: argparse.Namespace) -> int:
    """Print the size-class geometry of a chain size / page size / kernel."""
    rows, huge = _zsrs.class_table(
        args.chain, args.page_size, kernel=args.kernel, class_delta=args.delta
    )
    reps = [r for r in rows if r["rep"] == r["index"]]
    print(f"# {len(rows)} classes, {len(reps)} distinct, huge_class_size {huge}")
    print(f"{'index':>5} {'size':>5} {'pages':>5} {'objs':>5} {'serves':>8} huge")
    for r in reps:
        run = [x["index"] for x in rows if x["rep"] == r["index"]]
        serves = str(run[0]) if len(run) == 1 else f"{run[0]}..{run[-1]}"
        print(
            f"{r['index']:>5} {r['size']:>5} {r['pages_per_zspage']:>5} "
            f"{r['objs_per_zspage']:>5} {serves:>8} {'yes' if r['huge'] else ''}"
        )
    return 0


class CliError(Exception):
    """A runtime failure the command line reports in one line (exit status 1)."""


def _read_slots(path: Path, page_size: int = 4096) -> list[int | None]:
    """Per-slot outcomes from a text file: a compressed length per line, `same …` for a
    same-filled slot, `huge N` for a page stored raw; `#` starts a comment. A line that is none
    of these, or a length outside 1..2 * page_size, is a CliError naming the line."""
    out: list[int | None] = []
    for no, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("same"):
            out.append(None)
            continue
        word = line.split()[-1]
        if not word.isdigit() or not 0 < int(word) <= 2 * page_size:
            raise CliError(
                f"{path}:{no}: expected a compressed length in 1..{2 * page_size},"
                f" got {line[:60]!r}"
            )
        out.append(int(word))
    return out


def replay(args: argparse.Namespace) -> int:
    """Replay what a kernel's zram stored — compressed lengths from a file, or the pages of a
    directory (files in name order, cut into pages, zero-padded) compressed here — and print the
    `classes` table and the `mm_stat` line zsrs computes, to compare with the kernel's."""
    path = Path(args.source)
    if not path.exists():
        raise CliError(f"{path}: no such file or directory")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file())
        data = b"".join(p.read_bytes() for p in files)
        n = -(-len(data) // args.page_size)
        zr = _zsrs.Zram(
            disksize=max(n, 1) * args.page_size,
            comp_algorithm=args.algorithm,
            kernel=args.kernel,
            chain_size=args.chain,
        )
        pages = np.zeros((n, args.page_size), dtype=np.uint8)
        pages.reshape(-1)[: len(data)] = np.frombuffer(data, dtype=np.uint8)
        zr.write_many(np.arange(n, dtype=np.uint64), pages)
        classes_text, mm = zr.classes(), zr.read_file("mm_stat")
    else:
        mm, classes_text, _ = _zsrs.replay(
            _read_slots(path, args.page_size),
            args.page_size,
            kernel=args.kernel,
            chain_size=args.chain,
        )
    print(classes_text, end="")
    print(f"\nmm_stat: {mm}", end="")
    return 0


def nbd(args: argparse.Namespace) -> int:
    """Serve a zram device over NBD until interrupted (Ctrl-C or SIGTERM)."""
    import signal
    import time

    def stop(_sig: int, _frame: FrameType | None) -> NoReturn:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)

    zr = _zsrs.Zram(disksize=args.disksize, comp_algorithm=args.algorithm, kernel=args.kernel)
    srv = zr.serve_nbd(args.host, args.port)
    print(f"serving zram {args.disksize} ({args.algorithm}) at {srv.url}; Ctrl-C stops", flush=True)
    try:
        while args.seconds is None or args.seconds > 0:
            time.sleep(1 if args.seconds is None else min(1, args.seconds))
            if args.seconds is not None:
                args.seconds -= 1
    except KeyboardInterrupt:
        pass
    finally:
        srv.stop()
    print(f"mm_stat: {zr.read_file('mm_stat')}", end="")
    return 0


def experiments(args: argparse.Namespace) -> int:
    """The seed's five experiments in both accounting modes (the main job)."""
    import json

    from . import experiments as ex

    if args.metric == "callgrind":
        cg = ex.instructions(
            scale=args.scale or 1 / 2048, repeats=args.repeats, progress=not args.quiet
        )
        print(json.dumps(cg, indent=2) if args.json else ex.format_instructions(cg))
        return 0
    args.scale = args.scale or 1 / 16
    secs, mib = ex.estimate(args.scale, args.trials, args.processes)
    if not args.quiet:
        print(
            f"estimated: about {secs:.0f} s and {mib:.0f} MiB of memory "
            f"(scale {args.scale:g}, {args.processes} processes x {args.trials} trials)",
            file=sys.stderr,
        )
    res = ex.run(
        scale=args.scale,
        trials=args.trials,
        progress=not args.quiet,
        plot=args.plot,
        processes=args.processes,
        seed=args.seed,
    )
    if args.json:
        print(json.dumps(res, indent=2, default=str))
    else:
        print(ex.format_table(res))
        if args.plot:
            print(f"\nplot written to {args.plot}")
    return 0


def _int_in(lo: int, hi: int | None = None, what: str = "an integer") -> Callable[[str], int]:
    """An argparse type: an int in [lo, hi] (no upper bound when hi is None)."""

    def parse(text: str) -> int:
        try:
            v = int(text, 0)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if v < lo or (hi is not None and v > hi):
            rng = f">= {lo}" if hi is None else f"in {lo}..{hi}"
            raise argparse.ArgumentTypeError(f"{what} must be {rng}, got {v}")
        return v

    return parse


def _page_size(text: str) -> int:
    """An argparse type: a kernel PAGE_SIZE, a power of two in 4096..65536."""
    v = _int_in(4096, 65536, "the page size")(text)
    if v & (v - 1):
        raise argparse.ArgumentTypeError(f"the page size must be a power of two, got {v}")
    return v


def _scale(text: str) -> float:
    """An argparse type: a fraction in (0, 1]."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < v <= 1:
        raise argparse.ArgumentTypeError(f"the scale must be in (0, 1], got {text}")
    return v


_SIZE = re.compile(r"(0[xX][0-9a-fA-F]+|[0-9]+)([kKmMgGtTpPeE]?)")
_SHIFT = {"": 0, "K": 10, "M": 20, "G": 30, "T": 40, "P": 50, "E": 60}


def _disksize(text: str) -> str:
    """An argparse type: bytes, or a number with a K/M/G/T/P/E suffix ("256M"), above zero and
    below 2**64 bytes."""
    m = _SIZE.fullmatch(text.strip())
    if not m:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a size (bytes, or a number with a K/M/G/T suffix such as 256M)"
        )
    num = m[1]
    if num[:2] in ("0x", "0X"):
        n = int(num, 16)
    elif num.startswith("0") and len(num) > 1:
        # Like the kernel's memparse: a leading 0 makes an octal number.
        if set(num) - set("01234567"):
            raise argparse.ArgumentTypeError(f"{text!r} is not an octal number")
        n = int(num, 8)
    else:
        n = int(num)
    n <<= _SHIFT[m[2].upper()]
    if not 0 < n < 1 << 64:
        raise argparse.ArgumentTypeError(
            f"the disk size must be above 0 and below 2**64, got {text}"
        )
    return text.strip()


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error: `zsrs CMD: error: …` on stderr, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def main(argv: list[str] | None = None) -> int:
    p = _Parser(prog="zsrs", description=__doc__)
    sub = p.add_subparsers(dest="cmd")

    e = sub.add_parser("experiments", help="the seed's five experiments, both accounting modes")
    e.add_argument(
        "--scale",
        type=_scale,
        default=None,
        help="fraction of the seed's sizes (1 = 2 GB in a 1 GB cgroup); default 1/16, or 1/2048 "
        "with --metric callgrind",
    )
    e.add_argument(
        "--trials", type=_int_in(1, what="trials"), default=1, help="rounds per worker process"
    )
    e.add_argument(
        "--processes",
        type=_int_in(1, 64, "processes"),
        default=5,
        help="fresh worker processes per experiment (each: a warm-up, then the rounds)",
    )
    e.add_argument("--seed", type=_int_in(0, what="the seed"), default=1, help="order and CIs")
    e.add_argument(
        "--metric",
        choices=("time", "callgrind"),
        default="time",
        help="time (work counts and CPU time, the default) or callgrind (instructions of each "
        "timed region under valgrind, at --scale 1/2048 unless given)",
    )
    e.add_argument("--repeats", type=_int_in(1, 20, "repeats"), default=2, help="callgrind runs")
    e.add_argument("--json", action="store_true", help="print the results as JSON")
    e.add_argument("--plot", metavar="PNG", help="draw per-node zswap memory and fragmentation")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.set_defaults(func=experiments)

    d = sub.add_parser("demo", help="fill, free half, compact: the classes table at each step")
    d.add_argument("--pages", type=_int_in(1, 1 << 20, "pages"), default=20000)
    d.add_argument("--seed", type=_int_in(0, what="the seed"), default=1)
    d.add_argument("--chain", type=_int_in(1, 64, "the chain size"), default=None)
    d.add_argument("--kernel", default="6.12")
    d.set_defaults(func=demo)

    c = sub.add_parser("classes", help="print the size-class table")
    c.add_argument("--chain", type=_int_in(1, 64, "the chain size"), default=None)
    c.add_argument("--page-size", type=_page_size, default=4096)
    c.add_argument("--delta", type=_int_in(8, 65536, "the class delta"), default=None)
    c.add_argument("--kernel", default="6.12")
    c.set_defaults(func=classes)

    r = sub.add_parser("replay", help="replay zram slots, print `classes` and `mm_stat`")
    r.add_argument("source", help="file of compressed lengths (one per line) or directory of pages")
    r.add_argument("--algorithm", default="lz4", help="compressor for a directory of pages")
    r.add_argument("--chain", type=_int_in(1, 64, "the chain size"), default=None)
    r.add_argument("--page-size", type=_page_size, default=4096)
    r.add_argument("--kernel", default="6.12")
    r.set_defaults(func=replay)

    n = sub.add_parser("nbd", help="serve a zram device over NBD on loopback")
    n.add_argument("--disksize", type=_disksize, default="256M")
    n.add_argument("--algorithm", default="lz4")
    n.add_argument("--kernel", default="6.12")
    n.add_argument("--host", default="127.0.0.1")
    n.add_argument("--port", type=_int_in(0, 65535, "the port"), default=10809)
    n.add_argument(
        "--seconds", type=_int_in(0, what="seconds"), default=None, help="stop after this long"
    )
    n.set_defaults(func=nbd)

    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        # The main job is the default: `zsrs --scale 1 --plot out.png` runs the experiments.
        argv = ["experiments", *argv]
    args = p.parse_args(argv)
    if args.cmd is None:
        p.print_usage(sys.stderr)
        return 2
    try:
        rc: int = args.func(args)
        return rc
    except BrokenPipeError:
        # The reader (`| head`) went away: stop quietly, like a well-behaved filter.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (_zsrs.ZsError, CliError, OSError, ValueError, ArithmeticError, MemoryError) as e:
        # One line, no traceback: 2 for an argument the core refused (a usage error argparse
        # could not see, such as an unknown --kernel), 1 for a failure at run time.
        msg = (str(e) or type(e).__name__).splitlines()[0]
        print(f"zsrs {args.cmd}: error: {msg}", file=sys.stderr)
        return 2 if isinstance(e, _zsrs.InvalidArgument) else 1


if __name__ == "__main__":
    sys.exit(main())
