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

use std::fmt;
use std::str::FromStr;

use crate::error::{Errno, Result, ZsError};

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

/// The algorithms offered: the one table of their names, constructors and driver quirks that
/// zram (`comp_algorithm`, `recomp_algorithm`, `algorithm_params`), zswap (`compressor`) and the
/// Python bindings use. Parsed from the kernel's name with [`FromStr`], printed with
/// [`fmt::Display`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `lz4` (drivers/block/zram/backend_lz4.c).
    Lz4,
    /// `lz4hc` (backend_lz4hc.c).
    Lz4Hc,
    /// `zstd` (backend_zstd.c).
    Zstd,
    /// `deflate` (backend_deflate.c).
    Deflate,
}

impl Algorithm {
    /// Every algorithm, in the order the kernel's zram lists its backends (`backends[]` in
    /// drivers/block/zram/zcomp.c).
    pub const ALL: [Algorithm; 4] = [
        Algorithm::Lz4,
        Algorithm::Lz4Hc,
        Algorithm::Zstd,
        Algorithm::Deflate,
    ];

    /// The kernel's name of the algorithm.
    pub const fn name(self) -> &'static str {
        match self {
            Algorithm::Lz4 => "lz4",
            Algorithm::Lz4Hc => "lz4hc",
            Algorithm::Zstd => "zstd",
            Algorithm::Deflate => "deflate",
        }
    }

    /// The compressor configured with the kernel's defaults.
    pub fn compressor(self) -> Box<dyn Compressor> {
        match self {
            Algorithm::Lz4 => Box::new(Lz4::default()),
            Algorithm::Lz4Hc => Box::new(Lz4Hc::default()),
            Algorithm::Zstd => Box::new(Zstd::default()),
            Algorithm::Deflate => Box::new(Deflate::default()),
        }
    }

    /// The compressor at `level` (zram's `algorithm_params level=`): lz4's acceleration,
    /// lz4hc's and zstd's level, deflate's level 0..=9.
    pub fn with_level(self, level: i32) -> Result<Box<dyn Compressor>> {
        Ok(match self {
            Algorithm::Lz4 => Box::new(Lz4::new(level)?),
            Algorithm::Lz4Hc => Box::new(Lz4Hc::new(level)?),
            Algorithm::Zstd => Box::new(Zstd::new(level)?),
            Algorithm::Deflate => {
                Box::new(Deflate::new(u32::try_from(level).map_err(|_| {
                    ZsError::Compression(format!("deflate: invalid level {level}"))
                })?)?)
            }
        })
    }

    /// The errno the kernel's crypto driver returns when the output does not fit PAGE_SIZE:
    /// lz4/lz4hc return `-EINVAL` (`!out_len`), zstd and deflate `-ENOSPC` (their 6.15+
    /// drivers).
    pub fn overflow_errno(self) -> Errno {
        match self {
            Algorithm::Zstd | Algorithm::Deflate => Errno::ENOSPC,
            Algorithm::Lz4 | Algorithm::Lz4Hc => Errno::EINVAL,
        }
    }
}

impl FromStr for Algorithm {
    type Err = ZsError;

    fn from_str(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.name() == name)
            .ok_or_else(|| {
                ZsError::Compression(format!(
                    "unknown algorithm {name:?}; available: {}",
                    NAMES.join(", ")
                ))
            })
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// [`Algorithm::ALL`]'s names, for callers that list them.
const NAMES: [&str; Algorithm::ALL.len()] = {
    let mut names = [""; Algorithm::ALL.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = Algorithm::ALL[i].name();
        i += 1;
    }
    names
};

/// The algorithm names [`by_name`] accepts, in [`Algorithm::ALL`]'s order.
pub fn available() -> &'static [&'static str] {
    &NAMES
}

/// The compressor called `name`, configured with the kernel's defaults for it.
pub fn by_name(name: &str) -> Result<Box<dyn Compressor>> {
    Ok(name.parse::<Algorithm>()?.compressor())
}

/// The error for a decompressed length other than the caller's buffer length.
fn length_mismatch(name: &str, got: usize, want: usize) -> ZsError {
    ZsError::Compression(format!("{name}: decompressed {got} bytes, expected {want}"))
}
