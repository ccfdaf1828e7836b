//! zswap's debugfs counters (`/sys/kernel/debug/zswap/`), in the kernel's names and file order.
//!
//! The cumulative counters are plain event counts; `stored_pages` and
//! `stored_incompressible_pages` are gauges kept in step with the entries; `pool_total_size` is
//! computed on read from the pool's pages (`zswap_total_pages() * PAGE_SIZE`). Every file reads
//! as the decimal value and a newline (`"%llu\n"`).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

/// The debugfs files in creation order (7.0).
pub const DEBUGFS_FILES: [&str; 11] = [
    "pool_limit_hit",
    "reject_reclaim_fail",
    "reject_alloc_fail",
    "reject_kmemcache_fail",
    "reject_compress_fail",
    "reject_compress_poor",
    "decompress_fail",
    "written_back_pages",
    "pool_total_size",
    "stored_pages",
    "stored_incompressible_pages",
];

/// The counters behind the files.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub pool_limit_hit: AtomicU64,
    pub reject_reclaim_fail: AtomicU64,
    pub reject_alloc_fail: AtomicU64,
    pub reject_kmemcache_fail: AtomicU64,
    pub reject_compress_fail: AtomicU64,
    pub reject_compress_poor: AtomicU64,
    pub decompress_fail: AtomicU64,
    pub written_back_pages: AtomicU64,
    pub stored_pages: AtomicI64,
    pub stored_incompressible_pages: AtomicI64,
}

/// Moves a gauge that only the holder of the entry lock writes: a plain load and store, not an
/// atomic read-modify-write (readers see the old or the new value, never a torn one).
pub(crate) fn gauge_add(g: &AtomicI64, delta: i64) {
    g.store(g.load(Relaxed) + delta, Relaxed);
}

/// Increments a cumulative counter.
pub(crate) fn inc(c: &AtomicU64) {
    c.fetch_add(1, Relaxed);
}

impl Counters {
    /// Values in file order; `pool_total_size` is passed in (bytes).
    pub fn values(&self, pool_total_size: u64) -> [(&'static str, u64); 11] {
        let g = |a: &AtomicI64| a.load(Relaxed).max(0) as u64;
        let c = |a: &AtomicU64| a.load(Relaxed);
        let v = [
            c(&self.pool_limit_hit),
            c(&self.reject_reclaim_fail),
            c(&self.reject_alloc_fail),
            c(&self.reject_kmemcache_fail),
            c(&self.reject_compress_fail),
            c(&self.reject_compress_poor),
            c(&self.decompress_fail),
            c(&self.written_back_pages),
            pool_total_size,
            g(&self.stored_pages),
            g(&self.stored_incompressible_pages),
        ];
        let mut out = [("", 0u64); 11];
        for (k, (name, val)) in DEBUGFS_FILES.iter().zip(v).enumerate() {
            out[k] = (name, val);
        }
        out
    }
}
