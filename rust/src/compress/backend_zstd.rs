//! zstd through the `zstd` crate, which builds the reference C libzstd.
//!
//! zram's backend (backend_zstd.c) compresses one page with `zstd_compress_cctx` using
//! `zstd_get_params(level, PAGE_SIZE)`, level defaulting to `zstd_default_clevel()` = 3; zswap's
//! crypto zstd (crypto/zstd.c) also uses level 3. The crate's bulk API compresses with the source
//! size known, so libzstd derives the same size-adapted parameters; the frame carries the content
//! size and no checksum, as the kernel's default frame parameters do. The kernel ships its own
//! import of libzstd, so lengths can differ from Linux by the odd byte between library versions:
//! unlike lz4, this backend is not fidelity-tested.

use zstd::bulk::{Compressor as ZstdCompressor, Decompressor as ZstdDecompressor};

use super::pool::Pool;
use super::{length_mismatch, Compressor};
use crate::error::{Result, ZsError};

/// The kernel's default zstd level (`ZSTD_CLEVEL_DEFAULT`).
pub const ZSTD_DEFAULT_LEVEL: i32 = 3;

/// zstd at a given level, with pooled compression and decompression contexts.
pub struct Zstd {
    level: i32,
    cctxs: Pool<ZstdCompressor<'static>>,
    dctxs: Pool<ZstdDecompressor<'static>>,
}

impl Zstd {
    /// zstd at `level` (libzstd's range, negative levels included).
    pub fn new(level: i32) -> Result<Self> {
        let range = zstd::compression_level_range();
        if !range.contains(&level) {
            return Err(ZsError::Compression(format!(
                "zstd: invalid level {level} (valid {}..={})",
                range.start(),
                range.end()
            )));
        }
        Ok(Self {
            level,
            cctxs: Pool::default(),
            dctxs: Pool::default(),
        })
    }
}

impl Default for Zstd {
    fn default() -> Self {
        Self {
            level: ZSTD_DEFAULT_LEVEL,
            cctxs: Pool::default(),
            dctxs: Pool::default(),
        }
    }
}

fn zstd_err(e: std::io::Error) -> ZsError {
    ZsError::Compression(format!("zstd: {e}"))
}

impl Compressor for Zstd {
    fn name(&self) -> &'static str {
        super::Algorithm::Zstd.name()
    }

    fn compress(&self, src: &[u8], dst: &mut Vec<u8>) -> Result<usize> {
        dst.clear();
        // The crate writes into the Vec's spare capacity; reserving the bound means the output
        // always fits and the true length is reported.
        dst.reserve(zstd::compress_bound(src.len()));
        self.cctxs.with(
            || ZstdCompressor::new(self.level).map_err(zstd_err),
            |cctx| cctx.compress_to_buffer(src, dst).map_err(zstd_err),
        )
    }

    fn decompress(&self, src: &[u8], dst: &mut [u8]) -> Result<()> {
        let got = self.dctxs.with(
            || ZstdDecompressor::new().map_err(zstd_err),
            |dctx| dctx.decompress_to_buffer(src, dst).map_err(zstd_err),
        )?;
        if got != dst.len() {
            return Err(length_mismatch("zstd", got, dst.len()));
        }
        Ok(())
    }
}
