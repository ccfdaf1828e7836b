//! Load (`zswap_load`, exclusive since 6.18) and invalidate (`zswap_invalidate`).
//!
//! A load holds the entry lock from lookup to erase, as the kernel's folio lock keeps the slot
//! for its zswap_load: it decompresses straight from the pool's buffer and frees the object in
//! the same pool call (`Pool::read_free_each`, like `zs_obj_read_begin` … `zs_free`; a raw copy
//! for entries of length PAGE_SIZE), counting `zswpin` on the entry's objcg's current memcg
//! before the free, then erases and releases the entry. A batch takes the locks once per
//! `LOAD_CHUNK` (64) slots, reading them all before freeing them; a batch of at least 512
//! slots takes them once per `PAR_LOAD_CHUNK` (1024) and, when a hold finds 512 entries,
//! decompresses on every core (`Pool::read_free_parallel`), counting and freeing on the
//! caller's thread in slot order. A decompression failure counts `decompress_fail`, keeps the
//! entry and returns `-EIO`. A miss is `-ENOENT` for the caller, who then reads the disk and
//! records a disk swapin (`zswap_folio_swapin`).
//!
//! `Zswap::zswap_load` follows the kernel's `zswap_load` (`mm/zswap.c` of 7.0) for the slots of
//! one hold; the holds, the thread count and the scratch buffers come from the batch executor
//! (`crate::batch`), and the parallel decompressions from `Pool::read_free_parallel`, which
//! runs them on it too.

use super::core::{State, Zswap};
use super::stats::inc;
use super::{FailPoint, SwapSlot};
use crate::batch;
use crate::error::{Errno, Result, ZsError};
use crate::memcg::{MemcgId, ObjcgId, ROOT_MEMCG};
use crate::zsmalloc::READ_FREE_BATCH;

/// A slot a load found: its row in the hold, its entry, and the entry's objcg.
#[derive(Clone, Copy)]
struct Found {
    row: usize,
    id: u32,
    objcg: Option<ObjcgId>,
}

/// What one hold of the entry lock found, a load batch's scratch buffer: the entries (and
/// their zsmalloc handles, in the same order), and the rows of slots listed a second time.
#[derive(Default)]
struct Holds {
    found: Vec<Found>,
    handles: Vec<u64>,
    dups: Vec<usize>,
}

/// Slots loaded under one hold of the entry lock: one `read_free_each` batch. (`read_each`
/// also serves longer holds: it counts zswpin at the end of every `READ_FREE_BATCH`, before
/// the pool frees that batch's objects, which hold the objcgs.)
const LOAD_CHUNK: usize = READ_FREE_BATCH;

/// Slots per hold in a batch of at least 512; a hold that finds 512 entries or more
/// decompresses on every core, a sparser one on the caller's thread.
const PAR_LOAD_CHUNK: usize = 1024;

/// zswpin of consecutive loads of one objcg, counted with one call.
#[derive(Default)]
struct ZswpinRun {
    objcg: Option<ObjcgId>,
    n: u64,
}

impl ZswpinRun {
    fn add(&mut self, zs: &Zswap, objcg: Option<ObjcgId>) {
        if self.n > 0 && self.objcg != objcg {
            self.flush(zs);
        }
        self.objcg = objcg;
        self.n += 1;
    }

    fn flush(&mut self, zs: &Zswap) {
        if self.n > 0 {
            zs.count_objcg_event(self.objcg, |i| i.zswpin, self.n);
            self.n = 0;
        }
    }
}

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

    /// Loads `slots[k]` into row k of `out`, taking the entry lock once per 64 slots (1024 for
    /// a batch of 512 or more, decompressed on every core). Rows of
    /// absent or failed slots are left untouched.
    pub fn load_many(&self, slots: &[SwapSlot], out: &mut [u8]) -> Result<Vec<LoadStatus>> {
        let mut status = vec![LoadStatus::Absent; slots.len()];
        self.load_into(slots, out, &mut status)?;
        Ok(status)
    }

    /// `load_many` into the caller's `status` (all `Absent` on entry), so that a single load
    /// allocates nothing: the slots in holds of the entry lock, `LOAD_CHUNK` (64) slots each,
    /// or `PAR_LOAD_CHUNK` (1024) for a batch large enough to decompress on every core, as the
    /// kernel's swap-ins run on every CPU that faults (injected failures need the one-thread
    /// order of decompressions).
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
        // zswap_never_enabled()
        if !self.ever_enabled() {
            return Ok(());
        }
        let threads = batch::threads_for(slots.len(), self.faults_idle());
        let per_hold = if threads > 1 {
            PAR_LOAD_CHUNK
        } else {
            LOAD_CHUNK
        };
        batch::with_scratch(
            |_: &Holds| true,
            |holds| {
                let chunks = slots
                    .chunks(per_hold)
                    .zip(out.chunks_mut(per_hold * ps))
                    .zip(status.chunks_mut(per_hold));
                for ((slots, out), status) in chunks {
                    self.zswap_load(&mut self.lock(), holds, slots, out, status, threads)?;
                }
                Ok(())
            },
        )
    }

    /// `zswap_load` (mm/zswap.c) of the slots of one hold of the entry lock: `xa_load` each
    /// slot (absent: `-ENOENT`, the row stays as it is); `zswap_decompress` each entry found,
    /// counting `zswpin` on its objcg's memcg (a failure: `-EIO`, the entry stays); then
    /// `xa_erase` and `zswap_entry_free` for each entry loaded (the load is exclusive). The
    /// pool frees the loaded objects in the same call that reads them (`zs_free` after
    /// `zs_obj_read_end`), the rest of `zswap_entry_free` follows here.
    fn zswap_load(
        &self,
        st: &mut State,
        holds: &mut Holds,
        slots: &[SwapSlot],
        out: &mut [u8],
        status: &mut [LoadStatus],
        threads: usize,
    ) -> Result<()> {
        let Holds {
            found,
            handles,
            dups,
        } = holds;
        found.clear();
        handles.clear();
        dups.clear();
        // xa_load; an entry already claimed is a slot listed again in this hold.
        for (row, &slot) in slots.iter().enumerate() {
            if let Some(id) = st.entries.lookup(slot) {
                let e = st.entries.get_mut(id);
                if !std::mem::replace(&mut e.claimed, true) {
                    found.push(Found {
                        row,
                        id,
                        objcg: e.objcg,
                    });
                    handles.push(e.handle);
                } else {
                    dups.push(row);
                }
            }
        }
        // zswap_decompress and ZSWPIN, then zs_free. Threads only for enough work: a mostly
        // absent hold, or a short tail, decompresses here.
        let result = if threads > 1 && found.len() >= batch::PARALLEL_MIN {
            self.read_parallel(found, handles, out, status, threads)
        } else {
            self.read_each(found, handles, out, status)
        };
        // A slot listed again in the hold: gone if its first turn loaded it (the load is
        // exclusive), failed again if that turn failed — never `Absent` while the entry
        // stays, which would send the caller to a stale disk page.
        for &k in dups.iter() {
            let first = found
                .iter()
                .find(|f| slots[f.row] == slots[k])
                .map(|f| f.row);
            if first.is_some_and(|j| status[j] == LoadStatus::Failed) {
                status[k] = LoadStatus::Failed;
            }
        }
        // xa_erase, zswap_entry_free (the object is freed already).
        for f in found.iter() {
            if status[f.row] == LoadStatus::Loaded {
                st.entries.erase(slots[f.row]);
                self.entry_forget(st, f.id);
            } else {
                st.entries.get_mut(f.id).claimed = false;
            }
        }
        result
    }

    /// The reads of one hold, on this thread: decompress each found slot into its row, count
    /// zswpin per run of one objcg before the pool frees the objects (which hold the objcgs).
    fn read_each(
        &self,
        found: &[Found],
        handles: &[u64],
        out: &mut [u8],
        status: &mut [LoadStatus],
    ) -> Result<()> {
        let ps = self.page_size;
        let mut run = ZswpinRun::default();
        let last = found.len().wrapping_sub(1);
        self.pool.read_free_each(handles, |i, src| {
            let Found { row, objcg, .. } = found[i];
            let ok = self.decompress(src, &mut out[row * ps..(row + 1) * ps]);
            if ok {
                run.add(self, objcg);
            }
            // The pool frees each READ_FREE_BATCH after reading it: count before that.
            if i == last || i % READ_FREE_BATCH == READ_FREE_BATCH - 1 {
                run.flush(self);
            }
            status[row] = if ok {
                LoadStatus::Loaded
            } else {
                LoadStatus::Failed
            };
            ok
        })
    }

    /// `read_each` with the decompressions spread over `threads` threads; the counting, in
    /// slot order, and the frees stay on this thread.
    fn read_parallel(
        &self,
        found: &[Found],
        handles: &[u64],
        out: &mut [u8],
        status: &mut [LoadStatus],
        threads: usize,
    ) -> Result<()> {
        let ps = self.page_size;
        let mut rows: Vec<Option<&mut [u8]>> = out.chunks_mut(ps).map(Some).collect();
        let mut outs: Vec<&mut [u8]> = found.iter().filter_map(|f| rows[f.row].take()).collect();
        let oks = self.pool.read_free_parallel(
            handles,
            &mut outs,
            threads,
            |src, dst| self.decompress(src, dst),
            |oks| {
                let mut run = ZswpinRun::default();
                for (f, _) in found.iter().zip(oks).filter(|(_, &ok)| ok) {
                    run.add(self, f.objcg);
                }
                run.flush(self);
            },
        )?;
        for (f, ok) in found.iter().zip(oks) {
            status[f.row] = if ok {
                LoadStatus::Loaded
            } else {
                LoadStatus::Failed
            };
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
