"""Type stubs of the native module: the public contract of zsrs's Rust core.

Every entry point checks its whole input before it changes anything: a bad value raises a
`ZsError` subclass, TypeError, ValueError or OverflowError (never a PanicException), and a
refused call leaves the state as it was. Batch calls take 2-D uint8 arrays in any memory layout
(C or Fortran order, transposed, sliced, negative strides), read and written in logical row
order; 1-D arrays of handles, slots, indices or sizes may have any stride. An `out` array that
is read-only is a TypeError, and one that shares memory with another array argument (or is in
use by another thread's call) a ValueError, both raised before any work is done.
"""

from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self, TypeAlias, final, overload

import numpy as np
import numpy.typing as npt

__all__ = [
    "Cgroup",
    "CgroupError",
    "Cgroups",
    "CompressionError",
    "Compressor",
    "InstructionCounter",
    "InvalidArgument",
    "InvalidHandle",
    "InvalidSize",
    "IoError",
    "KernelError",
    "LimitExceeded",
    "Machine",
    "Memory",
    "NbdServer",
    "ObjectTooLarge",
    "OutOfMemory",
    "Pool",
    "Process",
    "StoreResult",
    "Zram",
    "ZsError",
    "Zswap",
    "__version__",
    "class_table",
    "compressors",
    "fidelity_page",
    "replay",
]

__version__: str

class ZsError(Exception):
    errno: int
    errno_name: str

class InvalidHandle(ZsError): ...
class InvalidSize(ZsError): ...
class ObjectTooLarge(ZsError): ...
class OutOfMemory(ZsError): ...
class LimitExceeded(ZsError): ...
class CgroupError(ZsError): ...
class CompressionError(ZsError): ...
class InvalidArgument(ZsError): ...
class IoError(ZsError): ...
class KernelError(ZsError): ...

_Bytes: TypeAlias = bytes | bytearray | memoryview | npt.NDArray[np.uint8]
# A writable buffer of unsigned bytes (read-only ones are a TypeError).
_Out: TypeAlias = bytearray | memoryview | npt.NDArray[np.uint8]

@final
class InstructionCounter:
    """User-space instructions of this thread and the threads it starts, from the CPU's PMU
    (perf_event_open). Created disabled at 0; KernelError with errno ENOENT without a PMU."""
    def __new__(cls) -> Self: ...
    def enable(self) -> None: ...
    def disable(self) -> None: ...
    def reset(self) -> None: ...
    def read(self) -> int: ...

@final
class Memory:
    def __new__(cls, nodes: Sequence[int] = ..., page_size: int = 4096) -> Self: ...
    @property
    def page_size(self) -> int: ...
    @property
    def nr_nodes(self) -> int: ...
    def pfn_to_nid(self, pfn: int) -> int: ...
    def prefault(self, nid: int, pages: int) -> int:
        """Touches page buffers for up to `pages` frames of node `nid` ahead of use (so a timed
        region does not pay the host's first-touch faults); returns how many the node holds.
        At most the node's free frames; OutOfMemory beyond half the host's MemAvailable."""
    def node_stats(self) -> list[dict[str, int]]: ...

@final
class Cgroup:
    @property
    def path(self) -> str: ...
    @property
    def id(self) -> int: ...
    @property
    def online(self) -> bool: ...
    @property
    def parent(self) -> Cgroup | None: ...
    def read_file(self, name: str) -> str: ...
    def write_file(self, name: str, value: str) -> None: ...
    def stat(self) -> dict[str, int]: ...
    def numa_stat(self) -> dict[str, list[int]]: ...
    def events(self, local: bool = False) -> dict[str, int]: ...

@final
class Cgroups:
    def __new__(
        cls, memory: Memory, accounting: str = "zsmalloc", hugetlb_accounting: bool = False
    ) -> Self: ...
    @property
    def accounting(self) -> str: ...
    @property
    def root(self) -> Cgroup: ...
    def create(self, path: str) -> Cgroup:
        """Creates the cgroup at an absolute `path` ("//" and a trailing "/" resolve as in the
        VFS). CgroupError for a missing parent, an existing cgroup, "." or "..", a NUL or a
        newline (cgroup_mkdir's EINVAL), or a name over 255 bytes / a path over 4095
        (ENAMETOOLONG)."""
    def remove(self, path: str) -> None: ...
    def __getitem__(self, path: str, /) -> Cgroup: ...
    def paths(self) -> list[str]: ...
    def node_vmstat(self, nid: int) -> str: ...
    def node_vmstat_dict(self, nid: int) -> dict[str, int]: ...
    def set_op_counting(self, on: bool) -> None:
        """Turns the counting of `op_counts` on or off (off at creation)."""
    def op_counts(self) -> dict[str, int]:
        """The accounting work done while counting was on (deterministic for a workload): stat
        updates per level (memcg, lruvec, node), events, page-counter and objcg charges and
        uncharges, objcg gets and puts, tree-lock acquisitions."""

@final
class Pool:
    def __new__(
        cls,
        memory: Memory,
        name: str = "zsrs",
        chain_size: int | None = None,
        *,
        kernel: str = "6.12",
        class_delta: int | None = None,
        chain_rule: str | None = None,
        cgroups: Cgroups | None = None,
        accounting: str | None = None,
        memcg_aware: bool | None = None,
        stat_items: tuple[str, str] = ...,  # ("zswap", "zswapped")
    ) -> Self: ...
    @property
    def name(self) -> str: ...
    @property
    def huge_class_size(self) -> int: ...
    @property
    def kernel(self) -> str: ...
    @property
    def chain_size(self) -> int: ...
    @property
    def memcg_aware(self) -> bool: ...
    @property
    def accounting(self) -> str | None: ...
    def malloc(self, size: int, nid: int = 0) -> int: ...
    def free(self, handle: int) -> None: ...
    def write(self, handle: int, data: _Bytes, cgroup: Cgroup | str | None = None) -> None: ...
    @overload
    def read(self, handle: int, out: None = None, cgroup: Cgroup | str | None = None) -> bytes:
        """Reads the object: returns its bytes."""
    @overload
    def read(self, handle: int, out: _Out, cgroup: Cgroup | str | None = None) -> int:
        """Reads the object into the writable buffer `out` (zero-padded); returns its length."""
    def object_len(self, handle: int) -> int: ...
    def owner(self, handle: int) -> Cgroup | None: ...
    def charge_calls(self) -> int: ...
    def malloc_many(self, sizes: npt.NDArray[np.int64], nid: int = 0) -> npt.NDArray[np.uint64]: ...
    def write_many(
        self,
        handles: npt.NDArray[np.uint64],
        pages: npt.NDArray[np.uint8],
        cgroup: Cgroup | str | None = None,
    ) -> None: ...
    def read_many(
        self, handles: npt.NDArray[np.uint64], out: npt.NDArray[np.uint8]
    ) -> npt.NDArray[np.uint32]:
        """Reads object k into row k of `out` (any layout, zero-padded); returns the lengths."""
    def free_many(self, handles: npt.NDArray[np.uint64]) -> None: ...
    def compact(self) -> int: ...
    def compactable_pages(self) -> int: ...
    def migrate_page(self, pfn: int, to_node: int) -> int: ...
    def pages(self) -> list[tuple[int, int]]: ...
    def stats(self) -> dict[str, int]: ...
    def classes(self) -> list[dict[str, int]]: ...
    def read_file(self, name: str) -> str: ...
    def zspages(self, class_index: int) -> list[dict[str, Any]]: ...
    def check_invariants(self) -> None: ...

@final
class Compressor:
    def __new__(cls, name: str) -> Self: ...
    @property
    def name(self) -> str: ...
    def compress(self, data: _Bytes) -> bytes: ...
    def decompress(self, data: _Bytes, size: int) -> bytes:
        """Decompresses into exactly `size` bytes, at most a page of the largest kernel page
        size (65536): a larger `size` is InvalidArgument, raised before allocating."""
    def compressed_lengths(self, pages: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint32]: ...

@final
class NbdServer:
    @property
    def url(self) -> str | None: ...
    @property
    def port(self) -> int | None: ...
    @property
    def connections(self) -> int: ...
    @property
    def active(self) -> int: ...
    def stop(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        t: type[BaseException] | None,
        v: BaseException | None,
        tb: TracebackType | None,
    ) -> bool: ...

@final
class Zram:
    def __new__(
        cls,
        disksize: int | str | None = None,
        comp_algorithm: str = "lz4",
        *,
        memory: Memory | None = None,
        name: str = "zram0",
        kernel: str = "6.12",
        chain_size: int | None = None,
        nid: int = 0,
    ) -> Self:
        """`disksize` is bytes (an int >= 0) or a memparse string such as "256M"; a negative
        int is a ValueError, one of 2**64 or more an OverflowError, another type a TypeError."""
    @property
    def disksize(self) -> int: ...
    @property
    def nr_pages(self) -> int: ...
    @property
    def huge_class_size(self) -> int: ...
    def write(self, index: int, page: _Bytes) -> None: ...
    @overload
    def read(self, index: int, out: None = None) -> bytes:
        """Reads slot `index`: returns its bytes."""
    @overload
    def read(self, index: int, out: _Out) -> None:
        """Reads slot `index` into the writable buffer `out`."""
    def write_at(self, offset: int, data: _Bytes) -> None: ...
    def read_at(self, offset: int, length: int) -> bytes:
        """Reads `length` bytes at `offset`; a range beyond the device is KernelError (EINVAL),
        raised before any buffer is allocated."""
    def write_many(self, indices: npt.NDArray[np.uint64], pages: npt.NDArray[np.uint8]) -> None: ...
    def read_many(self, indices: npt.NDArray[np.uint64], out: npt.NDArray[np.uint8]) -> None:
        """Reads slot `indices[k]` into row k of `out`, a (len(indices), page_size) uint8 array
        of any layout."""
    def discard(self, index: int, count: int = 1) -> int: ...
    def compact(self) -> int: ...
    def reset(self) -> None: ...
    def read_file(self, name: str) -> str: ...
    def write_file(self, name: str, value: str) -> None: ...
    def mm_stat(self) -> dict[str, int]: ...
    def io_stat(self) -> dict[str, int]: ...
    def bd_stat(self) -> dict[str, int]: ...
    def classes(self) -> str: ...
    def serve_nbd(
        self,
        host: str = "127.0.0.1",
        port: int = 10809,
        *,
        export_name: str = "zram0",
        idle_timeout: float = 60.0,
        handshake_timeout: float = 10.0,
        request_timeout: float = 30.0,
        write_timeout: float = 30.0,
        max_options: int = 64,
        buffer_budget: int = 134217728,
        buffer_wait: float = 1.0,
        max_connections: int = 16,
    ) -> NbdServer: ...

def compressors() -> list[str]: ...
def class_table(
    chain_size: int | None = None,
    page_size: int = 4096,
    *,
    kernel: str = "6.12",
    class_delta: int | None = None,
    chain_rule: str | None = None,
) -> tuple[list[dict[str, Any]], int]: ...
def fidelity_page(i: int, page_size: int = 4096) -> bytes:
    """Page `i` of the fidelity workload W1. `page_size` (here, in `class_table` and in
    `replay`) must be a kernel PAGE_SIZE, a power of two in 4096..65536 (InvalidArgument)."""

def replay(
    slots: Sequence[int | None],
    page_size: int = 4096,
    kernel: str = "6.12",
    chain_size: int | None = None,
) -> tuple[str, str, dict[str, int]]: ...
@final
class Zswap:
    def __new__(
        cls,
        memory: Memory,
        cgroups: Cgroups | None = None,
        compressor: str = "lz4",
        *,
        accounting: str | None = None,
        swapfile: str | Any | None = None,
        swap_slots: int = ...,
        max_pool_percent: int = 20,
        accept_threshold_percent: int = 90,
        shrinker_enabled: bool = False,
        enabled: bool = True,
        pool_name: str = "zswap0",
    ) -> Self:
        """`swapfile` is claimed exclusively (a file another Zswap, zram device or process
        holds is `KernelError` EBUSY and is left untouched), then emptied and sized to
        `swap_slots` pages (1..=2**40). Stores to slots beyond it are refused. Once a
        `Machine` swaps to this zswap, the machine owns its entries: `store*`, `load*` and
        `invalidate` raise EBUSY; statistics stay readable."""
    @property
    def compressor(self) -> str: ...
    def store(
        self, slot: int, page: _Bytes, cgroup: Cgroup | str | None = None, nid: int = 0
    ) -> StoreResult: ...
    def store_many(
        self,
        slots: npt.NDArray[np.uint64],
        pages: npt.NDArray[np.uint8],
        cgroup: Cgroup | str | None = None,
        nid: int = 0,
    ) -> npt.NDArray[np.bool_]: ...
    def load(self, slot: int) -> bytes | None: ...
    def load_many(
        self, slots: npt.NDArray[np.uint64], out: npt.NDArray[np.uint8]
    ) -> npt.NDArray[np.bool_]:
        """Loads (exclusively) `slots[k]` into row k of `out` (any layout); a bad `out` is
        refused before anything is loaded, so no page is lost."""
    def invalidate(self, slot: int) -> bool: ...
    def __contains__(self, slot: int, /) -> bool: ...
    def shrink_memcg(self, cgroup: Cgroup | str | None = None) -> int: ...
    def run_shrink_worker(self) -> int: ...
    def debugfs(self) -> dict[str, int]: ...
    def read_file(self, name: str) -> str: ...
    def write_file(self, name: str, value: str) -> None: ...
    def classes(self) -> str: ...
    def pool_ops(self) -> dict[str, int]:
        """The pool's work so far: `pool_locks` (lock acquisitions) and `charge_calls`."""
    def placement(self) -> tuple[dict[tuple[str, int], int], list[int]]: ...
    def check_invariants(self) -> None: ...

@final
class StoreResult:
    @property
    def stored(self) -> bool: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def length(self) -> int: ...
    def __bool__(self) -> bool: ...

@final
class Process:
    @property
    def pid(self) -> int: ...
    def mmap(self, pages: npt.NDArray[np.uint8]) -> int: ...
    def access(self, trace: npt.NDArray[np.uint64], base: int = 0) -> int:
        """Touches pages `trace + base` in order; returns the major faults. A page that is not
        mapped, or a page number that overflows with `base`, is InvalidArgument (SIGSEGV),
        raised before any page is touched."""
    def read(self, start: int, count: int) -> npt.NDArray[np.uint8]:
        """Pages `start..start+count` as a (count, PAGE_SIZE) array; the whole range must be
        mapped (InvalidArgument otherwise, checked before allocating)."""
    def verify(self, start: int, expected: npt.NDArray[np.uint8]) -> list[int]: ...
    def write(self, start: int, pages: npt.NDArray[np.uint8]) -> None:
        """Overwrites pages from `start` with the rows of `pages` (any layout); a range not all
        mapped is InvalidArgument and rows not PAGE_SIZE long a ValueError, and then no page
        changes."""
    def placement(self) -> list[tuple[int, bool]]: ...
    def set_mems(self, mems: Sequence[int]) -> None: ...
    def exit(self) -> None: ...

@final
class Machine:
    def __new__(
        cls,
        memory: Memory,
        cgroups: Cgroups,
        zswap: Zswap | None = None,
        swap_slots: int = ...,
    ) -> Self: ...
    def spawn(self, cgroup: Cgroup | str, mems: Sequence[int] = ...) -> Process: ...
    def reclaim(self, cgroup: Cgroup | str, amount: int | str) -> int: ...
    def set_min_free_kbytes(self, kbytes: int) -> None:
        """`vm.min_free_kbytes` (0 turns kswapd off); above INT_MAX is KernelError (EINVAL),
        as the sysctl refuses it."""
    def stats(self) -> dict[str, int]: ...
