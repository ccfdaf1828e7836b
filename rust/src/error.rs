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
}

/// Result with [`ZsError`].
pub type Result<T> = std::result::Result<T, ZsError>;

impl From<std::io::Error> for ZsError {
    fn from(e: std::io::Error) -> Self {
        ZsError::Io(e.to_string())
    }
}
