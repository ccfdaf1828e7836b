//! Handle values: which pool, which cell, which use of that cell.
//!
//! In the kernel a handle is the address of a slab-allocated word; a freed handle's memory can
//! be reused, and a caller that keeps one is a kernel bug. Here handles come from Python, so
//! a stale, forged or foreign handle must never validate for another object — not even after
//! billions of operations. A handle is 64 bits:
//!
//! | bits   | field | meaning |
//! |--------|-------|---------|
//! | 40..64 | tag   | the pool: 24 bits, never reused in the process (a pool past the last tag is refused) |
//! | 28..40 | gen   | the cell's use: 12 bits; a cell whose generation is spent is retired, never reused |
//! | 0..28  | cell  | index in the pool's cell table (at most 2^28 cells per pool) |
//!
//! So a handle names exactly one (pool, cell, use) in the life of the process: tags are handed
//! out once, and a cell is reused only with a new generation until the generations run out,
//! after which it stays retired (one unused 20-byte cell per 4096 frees of that cell).

use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::{Result, ZsError};

const CELL_BITS: u32 = 28;
const GEN_BITS: u32 = 12;
const GEN_SHIFT: u32 = CELL_BITS;
const TAG_SHIFT: u32 = CELL_BITS + GEN_BITS;

/// Cells a pool can ever create (retired ones included).
pub(super) const MAX_CELLS: u32 = 1 << CELL_BITS;
/// The last generation of a cell; a cell freed at this generation is retired.
pub(super) const LAST_GEN: u16 = (1 << GEN_BITS) - 1;
/// The last pool tag (24 bits; 0 is never a tag).
const LAST_TAG: u32 = (1 << (64 - TAG_SHIFT)) - 1;

/// Hands out pool tags once each, `1..=last`.
#[derive(Debug)]
pub(super) struct TagSpace {
    next: AtomicU32,
    last: u32,
}

impl TagSpace {
    pub(crate) const fn new(last: u32) -> Self {
        Self {
            next: AtomicU32::new(1),
            last,
        }
    }

    /// A tag no pool of this process had before, or ENOMEM when all were used.
    pub(crate) fn take(&self) -> Result<u32> {
        let last = self.last;
        self.next
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                (t <= last).then_some(t + 1)
            })
            .map_err(|_| {
                ZsError::OutOfMemory(format!(
                    "every pool tag ({last}) was used by this process: handles of a new pool \
                     could be mistaken for an old pool's"
                ))
            })
    }
}

/// The tags of every pool of the process.
pub(super) static POOL_TAGS: TagSpace = TagSpace::new(LAST_TAG);

/// A handle's three fields.
pub(super) fn encode(tag: u32, cell: u32, gen: u16) -> u64 {
    debug_assert!(tag <= LAST_TAG && cell < MAX_CELLS && gen <= LAST_GEN);
    (u64::from(tag) << TAG_SHIFT) | (u64::from(gen) << GEN_SHIFT) | u64::from(cell)
}

/// `(tag, cell, gen)` of a handle value (any u64: fields are masked, nothing else is implied).
pub(super) fn decode(handle: u64) -> (u32, u32, u16) {
    (
        (handle >> TAG_SHIFT) as u32,
        (handle & u64::from(MAX_CELLS - 1)) as u32,
        ((handle >> GEN_SHIFT) & u64::from(LAST_GEN)) as u16,
    )
}

/// The cell of a handle this pool issued.
pub(super) fn cell_of(handle: u64) -> u32 {
    decode(handle).1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_at_their_extremes() {
        for &(t, c, g) in &[
            (1, 0, 0),
            (LAST_TAG, MAX_CELLS - 1, LAST_GEN),
            (77, 12345, 17),
        ] {
            assert_eq!(decode(encode(t, c, g)), (t, c, g));
        }
        // Different fields never give the same value.
        assert_ne!(encode(1, 0, 1), encode(1, 1, 0));
        assert_ne!(encode(2, 0, 0), encode(1, 0, 0));
    }

    #[test]
    fn a_tag_space_hands_out_each_tag_once_then_refuses() {
        let s = TagSpace::new(3);
        assert_eq!(
            (s.take().unwrap(), s.take().unwrap(), s.take().unwrap()),
            (1, 2, 3)
        );
        for _ in 0..5 {
            let e = s.take().unwrap_err();
            assert_eq!(e.errno(), crate::error::Errno::ENOMEM);
        }
    }
}
