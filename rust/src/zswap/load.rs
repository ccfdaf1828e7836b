//! Load (`zswap_load`, exclusive since 6.18) and invalidate (`zswap_invalidate`).
//!
//! Load looks the entries up under the entry lock, then decompresses outside it, straight from
//! the pool's frame under the pool lock (`Pool::read_with`, like `zs_obj_read_begin`; a raw copy
//! for entries of length PAGE_SIZE), then, on success, erases and frees the entry and counts
//! `zswpin` on the entry's objcg's current memcg. A decompression failure counts
//! `decompress_fail`, keeps the entry and returns `-EIO`. A miss is `-ENOENT` for the caller,
//! who then reads the disk and records a disk swapin (`zswap_folio_swapin`).

use std::cell::RefCell;

use super::core::Zswap;
use super::stats::inc;
use super::{FailPoint, SwapSlot};
use crate::error::{Errno, Result, ZsError};
use crate::memcg::{MemcgId, ROOT_MEMCG};

thread_local! {
    /// The slots a load found and a spanning object's bytes while it is decompressed: kept
    /// between calls so that loads allocate nothing for them.
    static LOAD_BUF: RefCell<(Vec<Found>, Vec<u8>)> =
        const { RefCell::new((Vec::new(), Vec::new())) };
}

/// A slot found by a load: (row, entry id, handle).
type Found = (usize, u32, u64);

/// Largest scratch buffer a thread keeps between calls (bigger batches allocate their own).
pub(crate) const KEEP_BUF: usize = 1 << 20;

/// The outcome of loading one slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadStatus {
    /// Loaded; the entry is gone.
    Loaded,
    /// Not in zswap (`-ENOENT`).
    Absent,
    /// Decompression failed (`-EIO`); the entry stays.
    Failed,
}

impl Zswap {
    /// Loads `slot` into `out` (one page): Ok(true) when loaded, Ok(false) when absent, and
    /// `Errno::EIO` on a decompression failure.
    pub fn load(&self, slot: SwapSlot, out: &mut [u8]) -> Result<bool> {
        let mut status = [LoadStatus::Absent];
        self.load_into(&[slot], out, &mut status)?;
        match status[0] {
            LoadStatus::Loaded => Ok(true),
            LoadStatus::Absent => Ok(false),
            LoadStatus::Failed => Err(ZsError::errno_msg(
                Errno::EIO,
                format!(
                    "decompression error from zswap ({}:{})",
                    slot.ty, slot.offset
                ),
            )),
        }
    }

    /// Loads `slots[k]` into row k of `out`, taking the entry lock twice per batch. Rows of
    /// absent or failed slots are left untouched.
    pub fn load_many(&self, slots: &[SwapSlot], out: &mut [u8]) -> Result<Vec<LoadStatus>> {
        let mut status = vec![LoadStatus::Absent; slots.len()];
        self.load_into(slots, out, &mut status)?;
        Ok(status)
    }

    /// `load_many` into the caller's `status` (all `Absent` on entry), so that a single load
    /// allocates nothing.
    fn load_into(
        &self,
        slots: &[SwapSlot],
        out: &mut [u8],
        status: &mut [LoadStatus],
    ) -> Result<()> {
        let ps = self.page_size;
        if out.len() != slots.len() * ps {
            return Err(ZsError::InvalidArgument(format!(
                "{} bytes of output for {} slots of {ps} bytes",
                out.len(),
                slots.len()
            )));
        }
        if !self.ever_enabled() {
            return Ok(());
        }
        // (row, entry id, handle) of the slots found.
        let (mut found, mut scratch) = LOAD_BUF.with(|b| std::mem::take(&mut *b.borrow_mut()));
        found.clear();
        {
            let st = self.lock();
            for (k, &slot) in slots.iter().enumerate() {
                if let Some(id) = st.entries.lookup(slot) {
                    found.push((k, id, st.entries.get(id).handle));
                }
            }
        }
        // Decompressed straight from the pool's frame (a copy only for objects spanning two),
        // outside the entry lock. An entry written back and freed meanwhile — impossible in
        // the kernel, which holds the folio — fails to resolve its handle: the page is on
        // disk now, so the slot reads as absent.
        for &(k, _, handle) in &found {
            let row = &mut out[k * ps..(k + 1) * ps];
            status[k] = match self
                .pool
                .read_with(handle, &mut scratch, |src| self.decompress(src, row))
            {
                Ok(true) => LoadStatus::Loaded,
                Ok(false) => LoadStatus::Failed,
                Err(ZsError::InvalidHandle(_)) => LoadStatus::Absent,
                Err(e) => return Err(e),
            };
        }
        let mut st = self.lock();
        for &(k, id, handle) in &found {
            if status[k] != LoadStatus::Loaded {
                continue;
            }
            // The caller holds the slot (the kernel's folio lock); check anyway that the entry
            // read is still the one published, and free only that one.
            let same =
                st.entries.lookup(slots[k]) == Some(id) && st.entries.get(id).handle == handle;
            if same {
                let objcg = st.entries.get(id).objcg;
                self.count_objcg_event(objcg, |i| i.zswpin, 1);
                st.entries.erase(slots[k]);
                self.entry_free(&mut st, id);
            }
        }
        drop(st);
        if scratch.capacity() <= KEEP_BUF && found.capacity() <= KEEP_BUF {
            LOAD_BUF.with(|b| *b.borrow_mut() = (found, scratch));
        }
        Ok(())
    }

    /// `zswap_decompress`: raw copy for PAGE_SIZE entries; false (and `decompress_fail`) on
    /// failure or a wrong output length.
    pub(crate) fn decompress(&self, src: &[u8], dst: &mut [u8]) -> bool {
        let ok = if self.take_fault(FailPoint::Decompress) {
            false
        } else if src.len() == self.page_size {
            dst.copy_from_slice(src);
            true
        } else {
            self.comp.decompress(src, dst).is_ok()
        };
        if !ok {
            inc(&self.ctr.decompress_fail);
        }
        ok
    }

    /// Frees `slot`'s entry, if any, with the full uncharge and no event; returns whether there
    /// was one.
    pub fn invalidate(&self, slot: SwapSlot) -> bool {
        let mut st = self.lock();
        match st.entries.erase(slot) {
            Some(id) => {
                self.entry_free(&mut st, id);
                true
            }
            None => false,
        }
    }

    /// Invalidates every entry of swap type `ty` (what swapoff's `try_to_unuse` leaves done);
    /// returns how many there were.
    pub fn swapoff(&self, ty: u32) -> usize {
        let mut st = self.lock();
        let ids: Vec<u32> = st
            .entries
            .ids()
            .into_iter()
            .filter(|&id| st.entries.get(id).slot.ty == ty)
            .collect();
        for &id in &ids {
            let slot = st.entries.get(id).slot;
            st.entries.erase(slot);
            self.entry_free(&mut st, id);
        }
        ids.len()
    }

    /// `zswap_folio_swapin`: a page of `memcg` on `nid` was read from disk; protects that many
    /// entries of the lruvec from the next shrinker count.
    pub fn record_disk_swapin(&self, memcg: Option<MemcgId>, nid: usize) {
        let mut st = self.lock();
        *st.disk_swapins
            .entry((memcg.unwrap_or(ROOT_MEMCG), nid as u32))
            .or_default() += 1;
    }

    /// The lruvec's `nr_disk_swapins`.
    pub fn nr_disk_swapins(&self, memcg: Option<MemcgId>, nid: usize) -> u64 {
        let st = self.lock();
        st.disk_swapins
            .get(&(memcg.unwrap_or(ROOT_MEMCG), nid as u32))
            .copied()
            .unwrap_or(0)
    }
}
