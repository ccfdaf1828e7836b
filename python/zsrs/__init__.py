"""zsrs: Linux's compressed-memory stack (zsmalloc, memcg accounting, zswap, zram) in user space.

The allocator and its consumers run in Rust (``zsrs._zsrs``); this package re-exports them and
adds numpy workload generators, the command line, reports and plots.
"""

from . import workloads
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
    LimitExceeded,
    Memory,
    ObjectTooLarge,
    OutOfMemory,
    Pool,
    ZsError,
    __version__,
    class_table,
    compressors,
    fidelity_page,
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
    "LimitExceeded",
    "Memory",
    "ObjectTooLarge",
    "OutOfMemory",
    "Pool",
    "ZsError",
    "__version__",
    "class_table",
    "compressors",
    "fidelity_page",
    "workloads",
]
