//! The crate's one error type. Every fallible core call returns it; the binding layer maps each
//! variant to a Python exception class under `zsrs.ZsError`, so no error crosses FFI as a panic.

use thiserror::Error;

/// Errors of every zsrs layer.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ZsError {
    /// A handle that is freed, forged, or belongs to another pool.
    #[error("invalid handle {0:#x}: not a live object of this pool")]
    InvalidHandle(u64),
    /// A size of 0 bytes (the kernel's -EINVAL).
    #[error("invalid size {0}: objects must be 1..={1} bytes")]
    InvalidSize(usize, usize),
    /// A request larger than the largest class (the kernel's -ENOSPC).
    #[error("object of {0} bytes is too large (max {1})")]
    ObjectTooLarge(usize, usize),
    /// Simulated physical memory is exhausted on every allowed node (the kernel's -ENOMEM).
    #[error("out of memory: {0}")]
    OutOfMemory(String),
    /// A limit (memory.max, zswap.max, mem_limit, pool limit) refused the operation.
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    /// Unknown, duplicate or busy cgroup, or a bad cgroup file write.
    #[error("cgroup error: {0}")]
    Cgroup(String),
    /// A compressor failed or was asked for by an unknown name.
    #[error("compression error: {0}")]
    Compression(String),
    /// A bad argument: unknown node, wrong buffer length, bad setting.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// An I/O error of a backing file.
    #[error("i/o error: {0}")]
    Io(String),
    /// A kernel interface (sysfs attribute, block request) refused with this errno.
    #[error("{name}: {1}", name = .0.name())]
    Errno(Errno, String),
}

/// The kernel errnos that zsrs's sysfs-like files and block devices return.
#[allow(clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Errno {
    /// Operation not permitted.
    EPERM = 1,
    /// No such file (an unknown attribute name).
    ENOENT = 2,
    /// I/O error.
    EIO = 5,
    /// Argument list too long.
    E2BIG = 7,
    /// Try again.
    EAGAIN = 11,
    /// Out of memory.
    ENOMEM = 12,
    /// Permission denied (reading a write-only attribute or writing a read-only one).
    EACCES = 13,
    /// Block device required.
    ENOTBLK = 15,
    /// Device or resource busy.
    EBUSY = 16,
    /// No such device.
    ENODEV = 19,
    /// Invalid argument.
    EINVAL = 22,
    /// No space left on device.
    ENOSPC = 28,
    /// Result out of range.
    ERANGE = 34,
}

impl Errno {
    /// The positive errno value (Linux numbering).
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The symbolic name, e.g. `"EBUSY"`.
    pub fn name(self) -> &'static str {
        match self {
            Errno::EPERM => "EPERM",
            Errno::ENOENT => "ENOENT",
            Errno::EIO => "EIO",
            Errno::E2BIG => "E2BIG",
            Errno::EAGAIN => "EAGAIN",
            Errno::ENOMEM => "ENOMEM",
            Errno::EACCES => "EACCES",
            Errno::ENOTBLK => "ENOTBLK",
            Errno::EBUSY => "EBUSY",
            Errno::ENODEV => "ENODEV",
            Errno::EINVAL => "EINVAL",
            Errno::ENOSPC => "ENOSPC",
            Errno::ERANGE => "ERANGE",
        }
    }
}

impl ZsError {
    /// The errno the kernel would return for this error.
    pub fn errno(&self) -> Errno {
        match self {
            ZsError::InvalidHandle(_) | ZsError::InvalidSize(..) => Errno::EINVAL,
            ZsError::ObjectTooLarge(..) => Errno::ENOSPC,
            ZsError::OutOfMemory(_) | ZsError::LimitExceeded(_) => Errno::ENOMEM,
            ZsError::Cgroup(_) | ZsError::InvalidArgument(_) => Errno::EINVAL,
            ZsError::Compression(_) | ZsError::Io(_) => Errno::EIO,
            ZsError::Errno(e, _) => *e,
        }
    }

    /// Shorthand for [`ZsError::Errno`].
    pub fn errno_msg(errno: Errno, msg: impl Into<String>) -> Self {
        ZsError::Errno(errno, msg.into())
    }
}

/// Result with [`ZsError`].
pub type Result<T> = std::result::Result<T, ZsError>;

impl From<std::io::Error> for ZsError {
    fn from(e: std::io::Error) -> Self {
        ZsError::Io(e.to_string())
    }
}
