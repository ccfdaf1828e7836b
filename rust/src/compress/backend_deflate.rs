//! deflate through `flate2` on the C zlib (`libz-sys`), configured like the kernel's.
//!
//! zram's backend_deflate.c (and crypto/deflate.c, used by zswap) run zlib with level
//! `Z_DEFAULT_COMPRESSION` (zlib's 6), method `Z_DEFLATED`, windowBits -11 (raw deflate, no zlib
//! header or checksum, 2 KiB window) and memLevel `MAX_MEM_LEVEL`, which is 8 in the kernel's
//! include/linux/zconf.h (9 in upstream zlib), default strategy; compression resets the stream and
//! finishes in one call, decompression must reach the stream end. flate2 passes memLevel 8 and
//! lets us choose the window, so every parameter matches. flate2's pure-Rust default backend
//! (miniz_oxide) cannot use a 2 KiB window, hence the C zlib backend. The kernel's zlib is an
//! older fork, so lengths are close to but not guaranteed identical with Linux's.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::pool::Pool;
use super::{length_mismatch, Compressor};
use crate::error::{Result, ZsError};

/// zlib's meaning of `Z_DEFAULT_COMPRESSION`, the kernel's default level.
pub const DEFLATE_DEFAULT_LEVEL: u32 = 6;
/// The kernel's `DEFLATE_DEF_WINBITS` (used negated: raw deflate).
pub const DEFLATE_WINDOW_BITS: u8 = 11;

/// Raw deflate at a given level, with pooled zlib streams.
pub struct Deflate {
    level: u32,
    cstreams: Pool<Compress>,
    dstreams: Pool<Decompress>,
}

impl Deflate {
    /// Deflate at `level` 0..=9.
    pub fn new(level: u32) -> Result<Self> {
        if level > 9 {
            return Err(ZsError::Compression(format!(
                "deflate: invalid level {level}"
            )));
        }
        Ok(Self {
            level,
            cstreams: Pool::default(),
            dstreams: Pool::default(),
        })
    }
}

impl Default for Deflate {
    fn default() -> Self {
        Self {
            level: DEFLATE_DEFAULT_LEVEL,
            cstreams: Pool::default(),
            dstreams: Pool::default(),
        }
    }
}

fn deflate_err(what: impl std::fmt::Display) -> ZsError {
    ZsError::Compression(format!("deflate: {what}"))
}

/// zlib's conservative `deflateBound` for non-default window or memory settings.
fn deflate_bound(len: usize) -> usize {
    len + len.div_ceil(8) + len.div_ceil(64) + 5
}

impl Compressor for Deflate {
    fn name(&self) -> &'static str {
        super::Algorithm::Deflate.name()
    }

    fn compress(&self, src: &[u8], dst: &mut Vec<u8>) -> Result<usize> {
        dst.clear();
        dst.reserve(deflate_bound(src.len()));
        self.cstreams.with(
            || {
                Ok(Compress::new_with_window_bits(
                    Compression::new(self.level),
                    false,
                    DEFLATE_WINDOW_BITS,
                ))
            },
            |stream| {
                stream.reset();
                // The bound makes one call enough; the loop only guards against zlib wanting
                // more room than it promised, and fails cleanly if it makes no progress.
                loop {
                    let consumed = stream.total_in() as usize;
                    let before = stream.total_out();
                    let status = stream
                        .compress_vec(&src[consumed..], dst, FlushCompress::Finish)
                        .map_err(deflate_err)?;
                    match status {
                        Status::StreamEnd => return Ok(dst.len()),
                        _ if stream.total_out() == before && dst.len() < dst.capacity() => {
                            return Err(deflate_err("compressor made no progress"));
                        }
                        _ => dst.reserve(src.len().max(64)),
                    }
                }
            },
        )
    }

    fn decompress(&self, src: &[u8], dst: &mut [u8]) -> Result<()> {
        self.dstreams.with(
            || Ok(Decompress::new_with_window_bits(false, DEFLATE_WINDOW_BITS)),
            |stream| {
                stream.reset(false);
                let status = stream
                    .decompress(src, dst, FlushDecompress::Finish)
                    .map_err(deflate_err)?;
                let got = stream.total_out() as usize;
                // Not reaching the end means the stream is truncated or wants more room than the
                // page: either way it is not a page.
                if status != Status::StreamEnd {
                    return Err(deflate_err(format!(
                        "stream did not end within {} bytes (got {got})",
                        dst.len()
                    )));
                }
                if got != dst.len() {
                    return Err(length_mismatch("deflate", got, dst.len()));
                }
                Ok(())
            },
        )
    }
}
