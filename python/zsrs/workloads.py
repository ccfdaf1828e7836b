"""Page contents and object sizes with chosen compressibility, generated with numpy.

Every generator takes a ``seed`` and returns the same data for the same arguments, so that runs
and the two accounting modes of an experiment see identical input.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PAGE_SIZE = 4096

_WORDS = np.array(
    [
        b"the",
        b"of",
        b"and",
        b"to",
        b"in",
        b"is",
        b"page",
        b"memory",
        b"kernel",
        b"swap",
        b"cgroup",
        b"node",
        b"zspage",
        b"object",
        b"class",
        b"free",
        b"alloc",
        b"compress",
        b"return",
        b"struct",
        b"static",
        b"unsigned",
        b"long",
        b"int",
        b"if",
        b"else",
        b"for",
        b"while",
        b"lock",
        b"unlock",
        b"list",
        b"head",
        b"next",
        b"prev",
        b"count",
        b"size",
    ],
    dtype=object,
)


def zero(n: int, page_size: int = PAGE_SIZE) -> np.ndarray:
    """``n`` all-zero pages (zram's and the swap layer's same-filled case)."""
    return np.zeros((n, page_size), dtype=np.uint8)


def same_filled(n: int, page_size: int = PAGE_SIZE, seed: int = 0) -> np.ndarray:
    """``n`` pages each filled with one random 64-bit word repeated."""
    rng = np.random.default_rng(seed)
    words = rng.integers(0, 2**63, size=n, dtype=np.int64).astype(np.uint64)
    return np.repeat(words[:, None], page_size // 8, axis=1).view(np.uint8).reshape(n, page_size)


def random(n: int, page_size: int = PAGE_SIZE, seed: int = 0) -> np.ndarray:
    """``n`` pages of uniform random bytes (incompressible)."""
    return np.random.default_rng(seed).integers(0, 256, size=(n, page_size), dtype=np.uint8)


def text_like(n: int, page_size: int = PAGE_SIZE, seed: int = 0) -> np.ndarray:
    """``n`` pages of space-separated words drawn from a small Zipf-like vocabulary."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, page_size), dtype=np.uint8)
    p = 1.0 / np.arange(1, len(_WORDS) + 1)
    p /= p.sum()
    for i in range(n):
        words = rng.choice(_WORDS, size=page_size // 3, p=p)
        buf = b" ".join(words)[:page_size]
        out[i] = np.frombuffer(buf.ljust(page_size, b" "), dtype=np.uint8)
    return out


def partial_random(
    n: int, fill: float | np.ndarray, page_size: int = PAGE_SIZE, seed: int = 0
) -> np.ndarray:
    """Pages whose first ``fill`` fraction is random and the rest zero: the compressed length
    grows about linearly with ``fill`` (the fidelity workload W1 uses the same idea)."""
    rng = np.random.default_rng(seed)
    fills = np.broadcast_to(np.asarray(fill, dtype=float), (n,))
    out = np.zeros((n, page_size), dtype=np.uint8)
    for i, f in enumerate(fills):
        k = round(min(max(f, 0.0), 1.0) * page_size)
        out[i, :k] = rng.integers(0, 256, size=k, dtype=np.uint8)
    return out


def mixture(
    n: int, page_size: int = PAGE_SIZE, seed: int = 0, weights: Sequence[float] | None = None
) -> np.ndarray:
    """A mix like an anonymous-memory swap stream: zero pages, text, partly random pages with a
    spread of fill ratios, and incompressible pages. ``weights`` = (zero, text, partial, random)."""
    rng = np.random.default_rng(seed)
    w = np.asarray(weights if weights is not None else (0.1, 0.3, 0.45, 0.15), dtype=float)
    kinds = rng.choice(4, size=n, p=w / w.sum())
    out = np.zeros((n, page_size), dtype=np.uint8)
    idx = np.flatnonzero(kinds == 1)
    out[idx] = text_like(len(idx), page_size, seed + 1)
    idx = np.flatnonzero(kinds == 2)
    out[idx] = partial_random(len(idx), rng.beta(2.0, 3.0, size=len(idx)), page_size, seed + 2)
    idx = np.flatnonzero(kinds == 3)
    out[idx] = random(len(idx), page_size, seed + 3)
    return out


def compressed_sizes(n: int, seed: int = 0, page_size: int = PAGE_SIZE) -> np.ndarray:
    """Object sizes following a realistic compressed-page distribution without compressing:
    a lognormal body around 1.2 KiB (lz4 on anonymous memory), a tail of small objects, and
    about 12 % incompressible pages stored whole. int64 array, each in 1..page_size."""
    rng = np.random.default_rng(seed)
    body = rng.lognormal(mean=np.log(1200), sigma=0.6, size=n)
    small = rng.uniform(20, 300, size=n)
    kind = rng.random(n)
    sizes = np.where(kind < 0.12, page_size, np.where(kind < 0.22, small, body))
    return np.clip(np.rint(sizes), 1, page_size).astype(np.int64)
