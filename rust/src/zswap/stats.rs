//! zswap's debugfs counters (`/sys/kernel/debug/zswap/`), in the kernel's names and file order.
//!
//! The cumulative counters are plain event counts; `stored_pages` and
//! `stored_incompressible_pages` are gauges kept in step with the entries; `pool_total_size` is
//! computed on read from the pool's pages (`zswap_total_pages() * PAGE_SIZE`). Every file reads
//! as the decimal value and a newline (`"%llu\n"`).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

/// A debugfs file: its name and its value from the counters and `pool_total_size` (bytes).
type DebugfsFile = (&'static str, fn(&Counters, u64) -> u64);

/// The debugfs files in creation order (7.0, `zswap_debugfs_init`): the one table the names
/// ([`DEBUGFS_FILES`]) and the values ([`Counters::values`]) come from.
const DEBUGFS: [DebugfsFile; 11] = [
    ("pool_limit_hit", |c, _| count(&c.pool_limit_hit)),
    ("reject_reclaim_fail", |c, _| count(&c.reject_reclaim_fail)),
    ("reject_alloc_fail", |c, _| count(&c.reject_alloc_fail)),
    ("reject_kmemcache_fail", |c, _| {
        count(&c.reject_kmemcache_fail)
    }),
    ("reject_compress_fail", |c, _| {
        count(&c.reject_compress_fail)
    }),
    ("reject_compress_poor", |c, _| {
        count(&c.reject_compress_poor)
    }),
    ("decompress_fail", |c, _| count(&c.decompress_fail)),
    ("written_back_pages", |c, _| count(&c.written_back_pages)),
    ("pool_total_size", |_, pool_total_size| pool_total_size),
    ("stored_pages", |c, _| gauge(&c.stored_pages)),
    ("stored_incompressible_pages", |c, _| {
        gauge(&c.stored_incompressible_pages)
    }),
];

/// The debugfs file names in creation order (7.0).
pub const DEBUGFS_FILES: [&str; DEBUGFS.len()] = {
    let mut names = [""; DEBUGFS.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = DEBUGFS[i].0;
        i += 1;
    }
    names
};

fn count(c: &AtomicU64) -> u64 {
    c.load(Relaxed)
}

fn gauge(g: &AtomicI64) -> u64 {
    g.load(Relaxed).max(0) as u64
}

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
pub(super) fn gauge_add(g: &AtomicI64, delta: i64) {
    g.store(g.load(Relaxed) + delta, Relaxed);
}

/// Increments a cumulative counter.
pub(super) fn inc(c: &AtomicU64) {
    c.fetch_add(1, Relaxed);
}

impl Counters {
    /// Values in file order; `pool_total_size` is passed in (bytes).
    pub fn values(&self, pool_total_size: u64) -> [(&'static str, u64); DEBUGFS.len()] {
        DEBUGFS.map(|(name, value)| (name, value(self, pool_total_size)))
    }
}
