//! zswap: the compressed cache in front of swap, as Linux 7.0 runs it, over this crate's
//! zsmalloc pool and memcg hierarchy; plus a small swap layer (zeromap, real backing files).
//!
//! Design, following `mm/zswap.c` (7.0) and `mm/page_io.c`:
//! - **Entries** (`entry.rs`) are keyed by swap slot (type, offset) and linked on one memcg- and
//!   NUMA-aware LRU, a list per (memcg, node) with a `referenced` bit for the second chance.
//! - **Store** (`store.rs`): zswap disabled → reject; `memory.zswap.max` reached → one
//!   `shrink_memcg` of the storing folio's own memcg, proceed iff it wrote something back
//!   (7.0 behaviour, unchanged since 6.8); global limit with the `reached_full` hysteresis; then per
//!   page: entry, compression into a PAGE_SIZE buffer, the 6.18+ incompressible rule (error, 0 or
//!   ≥ PAGE_SIZE bytes → kept as-is when writeback is effectively enabled, rejected otherwise),
//!   `zs_malloc` on the page's node, publication (an old entry of the slot is freed first), charge.
//!   A failed store frees whatever the slots held (check_old) and queues the global shrink worker
//!   while the pool is full.
//! - **Charging** is the pool's: `Pool::write_owned` charges the compressed length memcg-wide
//!   (`consumer` accounting, pre-series) or `class.size` per lruvec (`zsmalloc`, the series);
//!   zswap never charges itself. zswpin/zswpout/zswpwb go to the entry's objcg's current memcg.
//! - **Load** (`load.rs`) is exclusive: a successful load frees the entry; a decompression failure
//!   counts `decompress_fail` and keeps it. Invalidate frees without events.
//! - **Writeback, shrinker, worker** (`shrink.rs`): the LRU walk, `shrink_memcg`, the shrinker's
//!   count (disk-swapin protection, compression-ratio scaling) and scan, the global worker that
//!   round-robins online memcgs until the pool is at or below the accept threshold. Writeback
//!   decompresses into the backing device of `swapfile.rs`.
//! - **Swap layer** (`swap.rs`): zero-filled pages go to the device's zeromap and never reach
//!   zswap; failed stores go to disk unless writeback is disabled (then "activate").
//!
//! Locking: one lock (`sync::Lock`) guards entries and LRU lists (the kernel's xarray +
//! list_lru locks); the pool and the cgroups have their own locks, always taken after it.
//! Compression runs outside it, so threads compress in parallel (a large batch compresses on
//! every core); stores take it once per chunk of 256 pages. A load holds it from lookup to
//! erase, 64 slots at a time, as the kernel's folio lock keeps the slot for its zswap_load,
//! and decompresses under the pool lock straight from the object's bytes (a batch of 512 or
//! more: 1024 slots at a time, decompressed on every core when a hold finds 512 entries). Writeback runs under
//! it, so a reader never sees a slot that is neither in zswap nor on disk.
//!
//! Invariants (checked by `Zswap::check_invariants`): `stored_pages` = live entries;
//! `stored_incompressible_pages` = live entries of length PAGE_SIZE; every live entry is on exactly
//! its (memcg, node) list and owns one live pool object of exactly `length` bytes.

mod core;
mod entry;
mod load;
mod shrink;
mod stats;
mod store;
mod swap;
mod swapfile;

#[cfg(test)]
mod tests;

pub use self::core::{Zswap, ZswapConfig};
pub use load::LoadStatus;
pub use shrink::{ScanResult, ShrinkMemcg};
pub use stats::DEBUGFS_FILES;
pub use swap::{Swap, Swapin, Writeout};
pub use swapfile::{SwapDevices, MAX_SWAP_SLOTS};

/// A swap slot: swap type (device) and page offset (`swp_entry_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SwapSlot {
    /// Swap type: the index of the swap device.
    pub ty: u32,
    /// Page offset within the device.
    pub offset: u64,
}

impl SwapSlot {
    /// The slot at `offset` of swap type `ty`.
    pub fn new(ty: u32, offset: u64) -> Self {
        SwapSlot { ty, offset }
    }

    /// The slot `n` pages further on the same device.
    pub fn offset_by(self, n: u64) -> Self {
        SwapSlot {
            ty: self.ty,
            offset: self.offset + n,
        }
    }
}

impl From<u64> for SwapSlot {
    /// A plain slot number on swap type 0.
    fn from(offset: u64) -> Self {
        SwapSlot { ty: 0, offset }
    }
}

/// Why a store was refused; each maps to the kernel's counter (or to none).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// zswap is disabled (no counter).
    Disabled,
    /// memory.zswap.max reached and `shrink_memcg` wrote nothing back (no counter).
    ZswapMax,
    /// Global pool at or over max_pool_percent, or still above the accept threshold
    /// (`pool_limit_hit` only when at or over the max at this attempt).
    PoolLimit,
    /// Entry metadata allocation failed (`reject_kmemcache_fail`).
    KmemcacheFail,
    /// Compression error / 0 / ≥ PAGE_SIZE bytes with writeback disabled (`reject_compress_fail`).
    CompressFail,
    /// `-ENOSPC` from the compressor (writeback disabled) or zs_malloc (`reject_compress_poor`).
    CompressPoor,
    /// zs_malloc or index allocation failed (`reject_alloc_fail`).
    AllocFail,
}

impl RejectReason {
    /// Short name: the debugfs counter it moves, or a descriptive name when it moves none.
    pub fn name(self) -> &'static str {
        match self {
            RejectReason::Disabled => "disabled",
            RejectReason::ZswapMax => "zswap_max",
            RejectReason::PoolLimit => "pool_limit_hit",
            RejectReason::KmemcacheFail => "reject_kmemcache_fail",
            RejectReason::CompressFail => "reject_compress_fail",
            RejectReason::CompressPoor => "reject_compress_poor",
            RejectReason::AllocFail => "reject_alloc_fail",
        }
    }
}

/// The outcome of one store (a page, or a whole large folio).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreResult {
    /// Why it was refused; None when stored.
    pub reject: Option<RejectReason>,
    /// Bytes stored per page (the last page for a folio); 0 when refused.
    pub length: usize,
}

impl StoreResult {
    /// Whether the page (folio) is now in zswap.
    pub fn stored(&self) -> bool {
        self.reject.is_none()
    }

    /// Whether it was kept as-is (length == PAGE_SIZE).
    pub fn incompressible(&self, page_size: usize) -> bool {
        self.stored() && self.length == page_size
    }
}

/// Failure injection points, for the reject paths real memory rarely reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailPoint {
    /// `zswap_entry_cache_alloc` fails → `reject_kmemcache_fail`.
    EntryAlloc,
    /// The compressor returns `-EINVAL`.
    CompressEinval,
    /// The compressor returns `-ENOSPC`.
    CompressEnospc,
    /// `zs_malloc` fails with `-ENOMEM` → `reject_alloc_fail`.
    ZsMalloc,
    /// The xarray store fails with `-ENOMEM` → `reject_alloc_fail`.
    Xarray,
    /// Decompression fails (load → `-EIO`, writeback → `-EIO`) → `decompress_fail`.
    Decompress,
}

impl FailPoint {
    pub(crate) const COUNT: usize = 6;
}
