//! zsrs: Linux's compressed-memory stack — zsmalloc with per-memcg-lruvec accounting, and its
//! consumers zswap and zram — as a user-space library.
//!
//! Layers, bottom to top (each uses only those below it): `mem` (NUMA nodes of page frames),
//! `zsmalloc` (the allocator), `compress` (the kernel's compressors, from their reference
//! libraries), `pagegen` (the fidelity pages), `zswap` (the compressed swap cache and
//! a swap layer with real backing files), `zram` (the compressed block
//! device), `nbd` (an NBD server for zram devices). The `py` module, built only with the
//! `python` feature, is the sole place that knows about Python.
//!
//! The public API is the layer modules and their re-exports; the error types are at the root
//! ([`ZsError`], [`Errno`], [`Result`]), as is [`memparse`], the kernel's size parser every
//! layer shares. Helpers below the layers (`claim`: exclusive backing files; `sync`: the
//! poison-tolerant lock; `parse`: the kernel's number parsers) are private.
// The core is safe Rust: every module below is compiled with forbid(unsafe_code); only the
// binding layer, whose glue pyo3 generates, is exempt.
#[forbid(unsafe_code)]
mod batch;
#[forbid(unsafe_code)]
mod claim;
#[forbid(unsafe_code)]
pub mod compress;
#[forbid(unsafe_code)]
mod error;
#[forbid(unsafe_code)]
pub mod hwcount;
#[forbid(unsafe_code)]
pub mod mem;
#[forbid(unsafe_code)]
pub mod memcg;
#[forbid(unsafe_code)]
pub mod nbd;
#[forbid(unsafe_code)]
pub mod pagegen;
#[forbid(unsafe_code)]
mod parse;
#[forbid(unsafe_code)]
pub mod sim;
#[forbid(unsafe_code)]
mod sync;
#[forbid(unsafe_code)]
pub mod zram;
#[forbid(unsafe_code)]
pub mod zsmalloc;
#[forbid(unsafe_code)]
pub mod zswap;

#[cfg(feature = "python")]
mod py;

pub use error::{Errno, Result, ZsError};
pub use parse::memparse;
