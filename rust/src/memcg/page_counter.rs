//! Page counters (memory.current / memory.max / memory.peak) and the kernel's limit parsing.
//!
//! A counter counts whole pages. Charging is hierarchical and done by the caller walking the
//! ancestor chain (see `Cgroups::try_charge_chain`): each level is charged optimistically with an
//! atomic add and rolled back if that level went over its max, as `page_counter_try_charge` does.
//! Limits are stored in pages; `PAGE_COUNTER_MAX` (LONG_MAX / PAGE_SIZE) means "max".

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::error::{Result, ZsError};
use crate::parse::memparse;

/// `PAGE_COUNTER_MAX` for a page size: the value read back as "max".
pub fn page_counter_max(page_size: u64) -> u64 {
    i64::MAX as u64 / page_size
}

/// One level's page counter.
#[derive(Debug)]
pub(super) struct PageCounter {
    usage: AtomicU64,
    max: AtomicU64,
    watermark: AtomicU64,
    failcnt: AtomicU64,
}

impl PageCounter {
    /// An empty counter with no limit.
    pub(crate) fn new(max: u64) -> Self {
        PageCounter {
            usage: AtomicU64::new(0),
            max: AtomicU64::new(max),
            watermark: AtomicU64::new(0),
            failcnt: AtomicU64::new(0),
        }
    }

    /// Pages charged.
    pub(super) fn usage(&self) -> u64 {
        self.usage.load(Relaxed)
    }

    /// Limit in pages.
    pub(crate) fn max(&self) -> u64 {
        self.max.load(Relaxed)
    }

    /// Sets the limit; never reclaims (the simulation layer does that).
    pub(super) fn set_max(&self, pages: u64) {
        self.max.store(pages, Relaxed);
    }

    /// Highest usage seen (memory.peak).
    pub(crate) fn watermark(&self) -> u64 {
        self.watermark.load(Relaxed)
    }

    /// Times a try-charge failed at this level.
    pub(super) fn failcnt(&self) -> u64 {
        self.failcnt.load(Relaxed)
    }

    /// Adds `nr` if the result stays within max; false (and nothing charged) otherwise.
    pub(crate) fn try_charge(&self, nr: u64) -> bool {
        let new = self.usage.fetch_add(nr, Relaxed).wrapping_add(nr);
        if new > self.max() {
            self.usage.fetch_sub(nr, Relaxed);
            self.failcnt.fetch_add(1, Relaxed);
            return false;
        }
        self.watermark.fetch_max(new, Relaxed);
        true
    }

    /// Adds `nr` regardless of max (a forced charge).
    pub(crate) fn charge(&self, nr: u64) {
        let new = self.usage.fetch_add(nr, Relaxed).wrapping_add(nr);
        self.watermark.fetch_max(new, Relaxed);
    }

    /// Removes `nr`, clamping at 0 as the kernel does after its underflow warning.
    pub(crate) fn uncharge(&self, nr: u64) {
        let _ = self
            .usage
            .fetch_update(Relaxed, Relaxed, |u| Some(u.saturating_sub(nr)));
    }
}

/// The kernel's `page_counter_memparse` after `strstrip`: "max" or a memparse byte count that
/// must use the whole string, rounded down to pages and capped at PAGE_COUNTER_MAX.
pub fn page_counter_memparse(buf: &str, page_size: u64) -> Result<u64> {
    let buf = buf.trim();
    let max = page_counter_max(page_size);
    if buf == "max" {
        return Ok(max);
    }
    let (bytes, rest) = memparse(buf);
    if !rest.is_empty() {
        return Err(ZsError::InvalidArgument(format!(
            "invalid memory size {buf:?} (EINVAL)"
        )));
    }
    Ok((bytes / page_size).min(max))
}

/// Text of a tunable stored in pages: "max" or bytes (`seq_puts_memcg_tunable`).
pub fn tunable_text(pages: u64, page_size: u64) -> String {
    if pages == page_counter_max(page_size) {
        "max\n".to_string()
    } else {
        format!("{}\n", pages * page_size)
    }
}
