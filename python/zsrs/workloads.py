"""Page contents and object sizes with chosen compressibility, generated with numpy.

Every generator takes a ``seed`` and returns the same data for the same arguments, so that runs
and the two accounting modes of an experiment see identical input.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

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


def _corpus(rng: np.random.Generator, nbytes: int) -> np.ndarray:
    """At least ``nbytes`` of space-separated words drawn from a small Zipf-like vocabulary."""
    p = 1.0 / np.arange(1, len(_WORDS) + 1)
    p /= p.sum()
    words = _WORDS[rng.choice(len(_WORDS), size=nbytes // 2 + 1, p=p)]
    return np.frombuffer(b" ".join(words.tolist()), dtype=np.uint8)[:nbytes].copy()


_CORPUS_BYTES = 1 << 20


class _TextStream:
    """Text pages, one after another: each page is a window of one 1 MiB corpus of Zipf-drawn
    words (generated from the seed) at a random offset. Pages are compressed one at a time, so
    sharing a corpus changes nothing about their compressibility, and a page costs one copy."""

    def __init__(self, seed: int, page_size: int):
        self.rng = np.random.default_rng(seed)
        self.corpus = _corpus(self.rng, max(_CORPUS_BYTES, 4 * page_size))
        self.windows = np.lib.stride_tricks.sliding_window_view(self.corpus, page_size)

    def take(self, n: int) -> np.ndarray:
        return self.windows[self.rng.integers(0, len(self.windows), size=n)]


def text_like(n: int, page_size: int = PAGE_SIZE, seed: int = 0) -> np.ndarray:
    """``n`` pages of space-separated words drawn from a small Zipf-like vocabulary."""
    return _TextStream(seed, page_size).take(n)


def _partial_pages(rng: np.random.Generator, fills: np.ndarray, page_size: int) -> np.ndarray:
    out = np.zeros((len(fills), page_size), dtype=np.uint8)
    for i, f in enumerate(fills):
        k = round(min(max(float(f), 0.0), 1.0) * page_size)
        out[i, :k] = rng.integers(0, 256, size=k, dtype=np.uint8)
    return out


def partial_random(
    n: int, fill: float | np.ndarray, page_size: int = PAGE_SIZE, seed: int = 0
) -> np.ndarray:
    """Pages whose first ``fill`` fraction is random and the rest zero: the compressed length
    grows about linearly with ``fill`` (the fidelity workload W1 uses the same idea)."""
    fills = np.broadcast_to(np.asarray(fill, dtype=float), (n,))
    return _partial_pages(np.random.default_rng(seed), fills, page_size)


MIXTURE_WEIGHTS = (0.1, 0.3, 0.45, 0.15)


def mixture_chunks(
    n: int,
    page_size: int = PAGE_SIZE,
    seed: int = 0,
    weights: Sequence[float] | None = None,
    chunk: int = 8192,
) -> Iterator[np.ndarray]:
    """:func:`mixture`, ``chunk`` pages at a time: the chunks, concatenated, are exactly
    ``mixture(n, page_size, seed, weights)``, whatever ``chunk`` is, so a large working set can
    be generated and consumed with the memory of one chunk."""
    if chunk < 1:
        raise ValueError(f"chunk must be positive, got {chunk}")
    rng = np.random.default_rng(seed)
    w = np.asarray(weights if weights is not None else MIXTURE_WEIGHTS, dtype=float)
    kinds = rng.choice(4, size=n, p=w / w.sum())
    fills = rng.beta(2.0, 3.0, size=int(np.count_nonzero(kinds == 2)))
    text = _TextStream(seed + 1, page_size)
    partial = np.random.default_rng(seed + 2)
    rand = np.random.default_rng(seed + 3)
    used_fills = 0
    for a in range(0, n, chunk):
        k = kinds[a : a + chunk]
        out = np.zeros((len(k), page_size), dtype=np.uint8)
        idx = np.flatnonzero(k == 1)
        out[idx] = text.take(len(idx))
        idx = np.flatnonzero(k == 2)
        out[idx] = _partial_pages(partial, fills[used_fills : used_fills + len(idx)], page_size)
        used_fills += len(idx)
        idx = np.flatnonzero(k == 3)
        # Whole rows of uint8 draws: a row is a multiple of 4 bytes, so no draw is split between
        # chunks and the stream is the one a single call would give.
        out[idx] = rand.integers(0, 256, size=(len(idx), page_size), dtype=np.uint8)
        yield out


def mixture(
    n: int, page_size: int = PAGE_SIZE, seed: int = 0, weights: Sequence[float] | None = None
) -> np.ndarray:
    """A mix like an anonymous-memory swap stream: zero pages, text, partly random pages with a
    spread of fill ratios, and incompressible pages. ``weights`` = (zero, text, partial, random)."""
    if n == 0:
        return np.zeros((0, page_size), dtype=np.uint8)
    return np.concatenate(list(mixture_chunks(n, page_size, seed, weights, chunk=max(1, n))))


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
