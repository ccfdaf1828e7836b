//! Post-processing selection (`zram_pp_ctl`), shared by writeback and recompression: selected
//! slots get `PP_SLOT` and go into buckets of 64 bytes of object size; processing takes the
//! highest bucket first and, within a bucket, the most recently placed slot first (the kernel
//! adds at the list head). A slot that is accessed or freed after selection loses `PP_SLOT` and
//! is skipped. `PP_SLOT` is cleared on every slot when the selection is released.

use super::device::State;
use super::slot::PP_SLOT;

/// Bytes of object size per bucket (`PP_BUCKET_SIZE_RANGE`).
const BUCKET_RANGE: usize = 64;

/// The buckets of one post-processing run.
pub(super) struct PpCtl {
    buckets: Vec<Vec<usize>>,
}

impl PpCtl {
    /// `init_pp_ctl`: `PAGE_SIZE / 64 + 1` empty buckets.
    pub fn new(page_size: usize) -> Self {
        Self {
            buckets: vec![Vec::new(); page_size / BUCKET_RANGE + 1],
        }
    }

    /// `place_pp_slot`. A slot already selected in this run is not placed twice (the kernel
    /// would list it twice, but the second entry finds `PP_SLOT` cleared and is skipped).
    pub fn place(&mut self, st: &mut State, index: usize) {
        let s = &mut st.slots[index];
        if s.has(PP_SLOT) {
            return;
        }
        let bid = (s.size as usize / BUCKET_RANGE).min(self.buckets.len() - 1);
        self.buckets[bid].push(index);
        s.set(PP_SLOT);
    }

    /// `select_pp_slot`: the next slot to process, removed from the selection.
    pub fn select(&mut self) -> Option<usize> {
        self.buckets.iter_mut().rev().find_map(|b| b.pop())
    }

    /// `release_pp_slot` for one slot.
    pub fn release_slot(st: &mut State, index: usize) {
        st.slots[index].clear(PP_SLOT);
    }

    /// `release_pp_ctl`: clears `PP_SLOT` on every slot still selected.
    pub fn release(mut self, st: &mut State) {
        while let Some(i) = self.select() {
            Self::release_slot(st, i);
        }
    }
}
