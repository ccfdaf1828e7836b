"""zsrs: Linux's compressed-memory stack (zsmalloc, memcg accounting, zswap, zram) in user space.

The allocator and its consumers run in Rust (``zsrs._zsrs``); this package re-exports them and
adds numpy workload generators, the command line, reports and plots.
"""

from . import nbd, workloads
from ._zsrs import (
    Cgroup,
    CgroupError,
    Cgroups,
    CompressionError,
    Compressor,
    InvalidArgument,
    InvalidHandle,
    InvalidSize,
    IoError,
    KernelError,
    LimitExceeded,
    Memory,
    NbdServer,
    ObjectTooLarge,
    OutOfMemory,
    Pool,
    Zram,
    ZsError,
    __version__,
    class_table,
    compressors,
    fidelity_page,
    replay,
)

__all__ = [
    "Cgroup",
    "CgroupError",
    "Cgroups",
    "CompressionError",
    "Compressor",
    "InvalidArgument",
    "InvalidHandle",
    "InvalidSize",
    "IoError",
    "KernelError",
    "LimitExceeded",
    "Memory",
    "NbdServer",
    "ObjectTooLarge",
    "OutOfMemory",
    "Pool",
    "Zram",
    "ZsError",
    "__version__",
    "class_table",
    "compressors",
    "fidelity_page",
    "nbd",
    "replay",
    "workloads",
]
