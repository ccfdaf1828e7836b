//! lz4 and lz4hc through the `lz4` crate, which builds the reference C liblz4.
//!
//! The kernel's lib/lz4 is a port of the same reference code, and zram calls
//! `LZ4_compress_fast(..., acceleration 1)` for `lz4` and `LZ4_compress_HC(..., level 9)` for
//! `lz4hc` (backend_lz4.c, backend_lz4hc.c). Linking liblz4 itself, rather than a
//! reimplementation such as lz4_flex, is what makes the compressed lengths identical: the
//! LZ4 block format admits many encodings of one input and only the reference match finder picks
//! the kernel's. Decompression is `LZ4_decompress_safe`, which is bounded on hostile input.

use lz4::block::{self, CompressionMode};

use super::length_mismatch;
use super::Compressor;
use crate::error::{Result, ZsError};

/// The kernel's `LZ4_ACCELERATION_DEFAULT`.
pub const LZ4_DEFAULT_ACCELERATION: i32 = 1;
/// The kernel's `LZ4HC_DEFAULT_CLEVEL`.
pub const LZ4HC_DEFAULT_LEVEL: i32 = 9;

/// lz4 at a given acceleration (1 = the kernel's default and `LZ4_compress_default`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lz4 {
    acceleration: i32,
}

impl Lz4 {
    /// lz4 with `acceleration` >= 1, as zram's `algorithm_params level=` accepts it.
    pub fn new(acceleration: i32) -> Result<Self> {
        if acceleration < LZ4_DEFAULT_ACCELERATION {
            return Err(ZsError::Compression(format!(
                "lz4: invalid acceleration {acceleration}"
            )));
        }
        Ok(Self { acceleration })
    }
}

impl Default for Lz4 {
    fn default() -> Self {
        Self {
            acceleration: LZ4_DEFAULT_ACCELERATION,
        }
    }
}

impl Compressor for Lz4 {
    fn name(&self) -> &'static str {
        super::Algorithm::Lz4.name()
    }

    fn compress(&self, src: &[u8], dst: &mut Vec<u8>) -> Result<usize> {
        let mode = if self.acceleration == LZ4_DEFAULT_ACCELERATION {
            CompressionMode::DEFAULT
        } else {
            CompressionMode::FAST(self.acceleration)
        };
        compress_block("lz4", mode, src, dst)
    }

    fn decompress(&self, src: &[u8], dst: &mut [u8]) -> Result<()> {
        decompress_block("lz4", src, dst)
    }
}

/// lz4hc (the high-compression match finder, same block format as lz4) at a given level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lz4Hc {
    level: i32,
}

impl Lz4Hc {
    /// lz4hc at `level` 1..=12, the range zram accepts.
    pub fn new(level: i32) -> Result<Self> {
        if !(1..=12).contains(&level) {
            return Err(ZsError::Compression(format!(
                "lz4hc: invalid level {level}"
            )));
        }
        Ok(Self { level })
    }
}

impl Default for Lz4Hc {
    fn default() -> Self {
        Self {
            level: LZ4HC_DEFAULT_LEVEL,
        }
    }
}

impl Compressor for Lz4Hc {
    fn name(&self) -> &'static str {
        super::Algorithm::Lz4Hc.name()
    }

    fn compress(&self, src: &[u8], dst: &mut Vec<u8>) -> Result<usize> {
        compress_block(
            "lz4hc",
            CompressionMode::HIGHCOMPRESSION(self.level),
            src,
            dst,
        )
    }

    fn decompress(&self, src: &[u8], dst: &mut [u8]) -> Result<()> {
        decompress_block("lz4hc", src, dst)
    }
}

/// Compresses into a buffer of `LZ4_compressBound` bytes, so the library never runs out of room
/// and the true length is reported even when it exceeds the page (random data).
fn compress_block(
    name: &str,
    mode: CompressionMode,
    src: &[u8],
    dst: &mut Vec<u8>,
) -> Result<usize> {
    dst.clear();
    // liblz4 takes int lengths; the crate's own check casts first, so check here.
    if i32::try_from(src.len()).is_err() {
        return Err(ZsError::Compression(format!(
            "{name}: input of {} bytes is too large",
            src.len()
        )));
    }
    let bound = block::compress_bound(src.len())
        .map_err(|e| ZsError::Compression(format!("{name}: {e}")))?;
    dst.resize(bound, 0);
    let len = match block::compress_to_buffer(src, Some(mode), false, dst) {
        Ok(len) => len,
        Err(e) => {
            dst.clear();
            return Err(ZsError::Compression(format!("{name}: {e}")));
        }
    };
    dst.truncate(len);
    Ok(len)
}

/// Decompresses with the output capped at `dst.len()`, then insists on exactly that length.
fn decompress_block(name: &str, src: &[u8], dst: &mut [u8]) -> Result<()> {
    let (Ok(want), Ok(_)) = (i32::try_from(dst.len()), i32::try_from(src.len())) else {
        return Err(ZsError::Compression(format!("{name}: buffer too large")));
    };
    let got = block::decompress_to_buffer(src, Some(want), dst)
        .map_err(|e| ZsError::Compression(format!("{name}: {e}")))?;
    if got != dst.len() {
        return Err(length_mismatch(name, got, dst.len()));
    }
    Ok(())
}
