//! Compressors: the algorithms zram and zswap can be configured with, behind one trait.
//!
//! Each backend wraps a well-kept crate and is configured the way the kernel's zram backend of the
//! same name configures its library (drivers/block/zram/backend_*.c), so that compressed lengths,
//! and therefore zsmalloc size classes, match what Linux would store:
//! - `lz4`: the reference liblz4 `LZ4_compress_fast` at acceleration 1 (= `LZ4_compress_default`),
//!   which is what the kernel's lib/lz4 computes; verified length-for-length against the Linux
//!   6.12 W1 fixture.
//! - `lz4hc`: liblz4's `LZ4_compress_HC` at the kernel default level 9.
//! - `zstd`: libzstd at the kernel default level 3 (`zstd_default_clevel()`), one-shot with the
//!   source size known, content size in the frame header and no checksum.
//! - `deflate`: zlib raw deflate (no zlib header) with level `Z_DEFAULT_COMPRESSION` (6),
//!   windowBits 11 and memLevel 8 (the kernel's `MAX_MEM_LEVEL`), default strategy.
//!
//! lzo, lzo-rle and 842 are not offered. No crate implements lzo-rle (a kernel-only extension of
//! LZO1X); the LZO1X compressors on crates.io are GPL-2.0 ports (`lzo1x`, `rust-lzo`), which an
//! MIT/Apache crate cannot link, or differ from the kernel's `lzo1x_1_compress` (`lzokay-native`).
//!
//! Compressors only compress. Whether a page counts as incompressible (zram's huge class, zswap's
//! store-as-is) is the consumer's decision, made on the true compressed length returned here,
//! which may exceed the page size for random data.

mod backend_deflate;
mod backend_lz4;
mod backend_zstd;
mod pool;

#[cfg(test)]
mod fidelity_tests;
#[cfg(test)]
mod tests;

pub use backend_deflate::Deflate;
pub use backend_lz4::{Lz4, Lz4Hc};
pub use backend_zstd::Zstd;

use crate::error::{Result, ZsError};

/// A page compressor. Implementations are stateless from the caller's view and may be shared
/// between threads; any per-call context is pooled internally.
pub trait Compressor: Send + Sync {
    /// The kernel's name of the algorithm (what `comp_algorithm` or `compressor` would be set to).
    fn name(&self) -> &'static str;
    /// Compress `src` (one page) into `dst` (cleared first); returns the compressed length.
    fn compress(&self, src: &[u8], dst: &mut Vec<u8>) -> Result<usize>;
    /// Decompress `src` into exactly `dst.len()` bytes; error if the output length differs.
    fn decompress(&self, src: &[u8], dst: &mut [u8]) -> Result<()>;
}

/// Names accepted by [`by_name`], in the order the kernel's zram lists its backends.
const NAMES: &[&str] = &["lz4", "lz4hc", "zstd", "deflate"];

/// The algorithm names [`by_name`] accepts.
pub fn available() -> &'static [&'static str] {
    NAMES
}

/// The compressor called `name`, configured with the kernel's defaults for it.
pub fn by_name(name: &str) -> Result<Box<dyn Compressor>> {
    match name {
        "lz4" => Ok(Box::new(Lz4::default())),
        "lz4hc" => Ok(Box::new(Lz4Hc::default())),
        "zstd" => Ok(Box::new(Zstd::default())),
        "deflate" => Ok(Box::new(Deflate::default())),
        _ => Err(ZsError::Compression(format!(
            "unknown algorithm {name:?}; available: {}",
            NAMES.join(", ")
        ))),
    }
}

/// The error for a decompressed length other than the caller's buffer length.
fn length_mismatch(name: &str, got: usize, want: usize) -> ZsError {
    ZsError::Compression(format!("{name}: decompressed {got} bytes, expected {want}"))
}
