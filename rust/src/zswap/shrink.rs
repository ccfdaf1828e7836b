//! Writeback and everything that drives it: the LRU walk with the second chance,
//! memcg-targeted reclaim (`shrink_memcg`), the memcg- and NUMA-aware shrinker, and the global
//! shrink worker.
//!
//! Walk (`shrink_memcg_cb` under `list_lru_walk_one`): take the head of the (memcg, node) list;
//! a referenced entry loses the bit and rotates to the tail; otherwise it rotates and writeback
//! is tried — success counts `written_back_pages`, failure `reject_reclaim_fail`, and `-EEXIST`
//! (the slot is in the swap cache, i.e. hot) stops a shrinker walk. Each visited entry costs one
//! unit of `nr_to_walk`.
//!
//! Writeback (`zswap_writeback_entry`): claim the slot in the swap cache (`-EEXIST` if taken),
//! decompress (`-EIO`, `decompress_fail`, entry kept), write the page to the device, erase and
//! free the entry, count `zswpwb` (objcg) and `pswpout`, release the swap-cache claim. The write
//! happens before the erase (the kernel submits it after) so that a failed write loses nothing.
//!
//! Dead memcgs: lists of offline memcgs are spliced into the nearest online ancestor's lists
//! before any walk or count (lazily, since the hierarchy does not notify zswap).

use std::sync::atomic::Ordering::Relaxed;

use super::core::{State, Zswap};
use super::stats::inc;
use super::SwapSlot;
use crate::error::{Errno, Result, ZsError};
use crate::memcg::{MemcgId, ROOT_MEMCG};

/// `MAX_RECLAIM_RETRIES`.
const MAX_RECLAIM_RETRIES: u32 = 16;

/// The result of `shrink_memcg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShrinkMemcg {
    /// At least one entry was written back (returns 0): how many.
    Written(u64),
    /// Entries were scanned but none written back (`-EAGAIN`).
    Again,
    /// Writeback disabled, memcg offline, or nothing to scan (`-ENOENT`).
    NoEntry,
}

impl ShrinkMemcg {
    /// The kernel's return value: 0, -EAGAIN or -ENOENT.
    pub fn code(self) -> i32 {
        match self {
            ShrinkMemcg::Written(_) => 0,
            ShrinkMemcg::Again => -Errno::EAGAIN.code(),
            ShrinkMemcg::NoEntry => -Errno::ENOENT.code(),
        }
    }
}

/// The result of one shrinker scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ScanResult {
    /// Entries written back (freed).
    pub freed: u64,
    /// Entries visited (`sc->nr_scanned`).
    pub scanned: u64,
    /// SHRINK_STOP: disabled, nothing freed, or a hot page met.
    pub stop: bool,
}

/// Why a writeback attempt failed (the kernel's -EEXIST / -ENOMEM / -EIO).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WbError {
    /// The slot is in the swap cache (hot), or its device is gone.
    Exist,
    /// No swap-cache folio (no backing device), or the entry changed.
    NoMem,
    /// Decompression or device write failed.
    Io,
}

impl WbError {
    fn errno(self) -> Errno {
        match self {
            WbError::Exist => Errno::EBUSY,
            WbError::NoMem => Errno::ENOMEM,
            WbError::Io => Errno::EIO,
        }
    }
}

/// `mult_frac(x, n, d)` without overflow.
fn mult_frac(x: u64, n: u64, d: u64) -> u64 {
    let (q, r) = (x / d, x % d);
    q * n + r * n / d
}

impl Zswap {
    /// Splices the LRU lists of offline memcgs into their nearest online ancestor's.
    pub(super) fn sync_reparent(&self, st: &mut State) {
        let Some(cg) = &self.cg else { return };
        for m in st.entries.lru_memcgs() {
            if let Ok(false) = cg.is_online(m) {
                let to = cg.online_ancestor(m).unwrap_or(ROOT_MEMCG);
                st.entries.reparent(m, to);
            }
        }
    }

    /// `zswap_writeback_entry` for live entry `id`.
    fn writeback_entry(&self, st: &mut State, id: u32) -> std::result::Result<(), WbError> {
        let e = st.entries.get(id).clone();
        let dev = self.backing.as_ref().ok_or(WbError::NoMem)?;
        if !dev.swapcache_add(e.slot).map_err(|_| WbError::Exist)? {
            return Err(WbError::Exist);
        }
        let result = self.writeback_claimed(st, id, &e.slot, e.handle, e.length as usize, e.objcg);
        dev.swapcache_del(e.slot);
        result
    }

    fn writeback_claimed(
        &self,
        st: &mut State,
        id: u32,
        slot: &SwapSlot,
        handle: u64,
        len: usize,
        objcg: Option<u32>,
    ) -> std::result::Result<(), WbError> {
        let dev = self.backing.as_ref().ok_or(WbError::NoMem)?;
        let ps = self.page_size;
        let mut src = vec![0u8; ps];
        let mut page = vec![0u8; ps];
        self.pool
            .read_into(handle, &mut src)
            .map_err(|_| WbError::NoMem)?;
        if !self.decompress(&src[..len], &mut page) {
            return Err(WbError::Io);
        }
        dev.write_page(*slot, &page).map_err(|_| WbError::Io)?;
        st.entries.erase(*slot);
        self.count_objcg_event(objcg, |i| i.zswpwb, 1);
        // The written page is accounted like any swap-out (`count_swpout_vm_event`).
        self.count_objcg_event(objcg, |i| i.pswpout, 1);
        self.entry_free(st, id);
        Ok(())
    }

    /// Writes `slot`'s entry back now, outside any LRU walk (no counter but the writeback's own).
    pub fn writeback_slot(&self, slot: SwapSlot) -> Result<()> {
        let mut st = self.lock();
        let id = st
            .entries
            .lookup(slot)
            .ok_or_else(|| ZsError::errno_msg(Errno::ENOENT, "slot not in zswap"))?;
        self.writeback_entry(&mut st, id)
            .map_err(|e| ZsError::errno_msg(e.errno(), format!("zswap writeback failed: {e:?}")))?;
        inc(&self.ctr.written_back_pages);
        Ok(())
    }

    /// `list_lru_walk_one` with `shrink_memcg_cb`: returns (written back, stopped on a hot page).
    fn walk_one(
        &self,
        st: &mut State,
        memcg: MemcgId,
        nid: u32,
        nr_to_walk: &mut u64,
        stop_on_eexist: bool,
    ) -> (u64, bool) {
        let mut freed = 0;
        while *nr_to_walk > 0 {
            let Some(id) = st.entries.lru_head(memcg, nid) else {
                break;
            };
            *nr_to_walk -= 1;
            st.entries.lru_rotate(id);
            if std::mem::replace(&mut st.entries.get_mut(id).referenced, false) {
                continue;
            }
            match self.writeback_entry(st, id) {
                Ok(()) => {
                    inc(&self.ctr.written_back_pages);
                    freed += 1;
                }
                Err(e) => {
                    inc(&self.ctr.reject_reclaim_fail);
                    if e == WbError::Exist && stop_on_eexist {
                        return (freed, true);
                    }
                }
            }
        }
        (freed, false)
    }

    fn online(&self, memcg: MemcgId) -> Result<bool> {
        match &self.cg {
            Some(cg) => cg.is_online(memcg),
            None => Ok(true),
        }
    }

    pub(super) fn shrink_memcg_locked(
        &self,
        st: &mut State,
        memcg: MemcgId,
    ) -> Result<ShrinkMemcg> {
        // An offline memcg first: its files (memory.zswap.writeback) are gone.
        if !self.online(memcg)? || !self.writeback_enabled(Some(memcg))? {
            return Ok(ShrinkMemcg::NoEntry);
        }
        self.sync_reparent(st);
        let (mut scanned, mut shrunk) = (0, 0);
        for nid in 0..self.mem.nr_nodes() as u32 {
            let mut nr = self.walk_per_node;
            shrunk += self.walk_one(st, memcg, nid, &mut nr, false).0;
            scanned += self.walk_per_node - nr;
        }
        Ok(if scanned == 0 {
            ShrinkMemcg::NoEntry
        } else if shrunk > 0 {
            ShrinkMemcg::Written(shrunk)
        } else {
            ShrinkMemcg::Again
        })
    }

    /// `shrink_memcg`: one walk step of `memcg`'s list on every node (None means root).
    pub fn shrink_memcg(&self, memcg: Option<MemcgId>) -> Result<ShrinkMemcg> {
        let mut st = self.lock();
        self.shrink_memcg_locked(&mut st, memcg.unwrap_or(ROOT_MEMCG))
    }

    /// `zswap_shrinker_count` for (memcg, node); consumes the lruvec's disk-swapin protection.
    pub fn shrinker_count(&self, memcg: Option<MemcgId>, nid: usize) -> Result<u64> {
        let m = memcg.unwrap_or(ROOT_MEMCG);
        self.mem.check_nid(nid)?;
        if !self.shrinker_enabled() || !self.writeback_enabled(Some(m))? {
            return Ok(0);
        }
        let (nr_backing, nr_stored) = match (&self.cg, &self.items) {
            (Some(cg), Some(it)) => {
                let backing = cg.memcg_state(m, it.zswap)?.max(0) as u64 / self.page_size as u64;
                let mut stored = cg.memcg_state(m, it.zswapped)?.max(0) as u64;
                if it.zswapped_in_bytes {
                    stored /= self.page_size as u64;
                }
                (backing, stored)
            }
            _ => (self.total_pages(), self.stored_pages()),
        };
        if nr_stored == 0 {
            return Ok(0);
        }
        let mut st = self.lock();
        self.sync_reparent(&mut st);
        let mut freeable = st.entries.lru_len(m, nid as u32);
        if freeable == 0 {
            return Ok(0);
        }
        let swapins = st.disk_swapins.entry((m, nid as u32)).or_default();
        let remain = swapins.saturating_sub(freeable);
        freeable -= *swapins - remain;
        *swapins = remain;
        if freeable == 0 {
            return Ok(0);
        }
        Ok(mult_frac(freeable, nr_backing, nr_stored))
    }

    /// `zswap_shrinker_scan` for (memcg, node), visiting up to `nr_to_scan` entries.
    pub fn shrinker_scan(
        &self,
        memcg: Option<MemcgId>,
        nid: usize,
        nr_to_scan: u64,
    ) -> Result<ScanResult> {
        let m = memcg.unwrap_or(ROOT_MEMCG);
        self.mem.check_nid(nid)?;
        if !self.shrinker_enabled() || !self.writeback_enabled(Some(m))? {
            return Ok(ScanResult {
                stop: true,
                ..Default::default()
            });
        }
        let mut st = self.lock();
        self.sync_reparent(&mut st);
        let mut nr = nr_to_scan;
        let (freed, hot) = self.walk_one(&mut st, m, nid as u32, &mut nr, true);
        Ok(ScanResult {
            freed,
            scanned: nr_to_scan - nr,
            stop: hot || freed == 0,
        })
    }

    /// Whether a failed store queued the global shrink worker and it has not run yet.
    pub fn shrink_worker_pending(&self) -> bool {
        self.worker_queued.load(Relaxed)
    }

    /// Online memcgs in `mem_cgroup_iter` order (pre-order from root).
    fn memcg_preorder(&self) -> Result<Vec<MemcgId>> {
        let Some(cg) = &self.cg else {
            return Ok(vec![ROOT_MEMCG]);
        };
        let mut out = Vec::new();
        let mut stack = vec![ROOT_MEMCG];
        while let Some(m) = stack.pop() {
            out.push(m);
            let mut ch = cg.children(m)?;
            ch.reverse();
            stack.extend(ch);
        }
        Ok(out)
    }

    /// `shrink_worker`: round-robin `shrink_memcg` over online memcgs until the pool is at or
    /// below the accept threshold or 16 failures; returns the entries written back.
    pub fn run_shrink_worker(&self) -> Result<u64> {
        let mut cursor = self.worker.lock().unwrap_or_else(|e| e.into_inner());
        self.worker_queued.store(false, Relaxed);
        let thr = self.accept_thr_pages();
        let (mut failures, mut attempts, mut written) = (0u32, 0u32, 0u64);
        loop {
            let order = self.memcg_preorder()?;
            let next = match *cursor {
                None => order.first().copied(),
                Some(c) => match order.iter().position(|&m| m == c) {
                    Some(p) => order.get(p + 1).copied(),
                    None => order.first().copied(),
                },
            };
            *cursor = next;
            match next {
                None => {
                    if attempts == 0 {
                        failures += 1;
                        if failures == MAX_RECLAIM_RETRIES {
                            break;
                        }
                    }
                    attempts = 0;
                }
                Some(m) => {
                    let ret = self.shrink_memcg(Some(m))?;
                    if ret != ShrinkMemcg::NoEntry {
                        attempts += 1;
                        match ret {
                            ShrinkMemcg::Written(n) => written += n,
                            _ => {
                                failures += 1;
                                if failures == MAX_RECLAIM_RETRIES {
                                    break;
                                }
                            }
                        }
                    }
                }
            }
            if self.total_pages() <= thr {
                break;
            }
        }
        Ok(written)
    }
}
