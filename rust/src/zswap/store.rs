//! The store path (`zswap_store` → `zswap_store_page` → `zswap_compress`, `mm/zswap.c` of
//! 7.0), for single pages, batches of independent pages and large folios.
//!
//! This file holds the kernel's per-folio and per-page rules over a small context
//! (`StoreCtx`); how a batch is cut into chunks, compressed on worker threads and given
//! scratch buffers is the batch executor's (`crate::batch::run_chunked`).
//!
//! Compression runs first, outside the entry lock, into one packed buffer; the rest — limit
//! checks, reject counters, zs_malloc, publication, charging, LRU — runs under the lock in the
//! kernel's order, so counters come out as if each page had been stored alone. The kernel checks
//! the limits before compressing; the observable difference is none, because compressing moves no
//! counter until the page reaches that step here too (injected compressor failures are consumed
//! only then).
//!
//! A store to a slot that holds an entry replaces it: the new entry is published, the old one is
//! freed (uncharged), then the new one is charged. A failed store frees whatever entries the
//! folio's slots held, so writeback can never overwrite newer data on disk.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::core::{State, Zswap};
use super::entry::Entry;
use super::shrink::ShrinkMemcg;
use super::stats::{gauge_add, inc};
use super::{FailPoint, RejectReason, StoreResult, SwapSlot};
use crate::batch;
use crate::error::{Errno, Result, ZsError};
use crate::memcg::{MemcgId, ObjcgId, ROOT_MEMCG};
use crate::zsmalloc::MallocWriteError;

/// Largest compressed-pages buffer a thread keeps between calls (bigger batches allocate their
/// own).
const KEEP_BUF: usize = 1 << 20;

/// Batches are compressed and stored this many pages at a time, so the compressed buffer stays
/// small and hot in cache instead of growing to the whole batch's size.
const STORE_CHUNK: usize = 256;

/// A page's compression: `Ok((offset in the packed buffer, dlen))` or the compressor's errno.
type Compressed = std::result::Result<(usize, usize), Errno>;

/// The compressed pages of a chunk or folio: the outputs back to back in `packed`, and per page
/// its place there or the compressor's errno. A batch's scratch buffer.
#[derive(Default)]
struct Compressions {
    packed: Vec<u8>,
    places: Vec<Compressed>,
}

impl Compressions {
    /// Page `k`'s compressed bytes, or the compressor's errno.
    fn page(&self, k: usize) -> std::result::Result<&[u8], Errno> {
        self.places[k].map(|(off, len)| &self.packed[off..off + len])
    }
}

/// Pages to store, each at its slot, with their compressions.
#[derive(Clone, Copy)]
struct Pages<'a> {
    slots: &'a [SwapSlot],
    /// `slots.len()` pages of PAGE_SIZE bytes.
    data: &'a [u8],
    comp: &'a Compressions,
    /// Index in `comp` of the first page.
    first: usize,
    page_size: usize,
}

impl<'a> Pages<'a> {
    /// Page `k`: its slot, its bytes, its compression.
    fn page(&self, k: usize) -> (SwapSlot, &'a [u8], std::result::Result<&'a [u8], Errno>) {
        let ps = self.page_size;
        (
            self.slots[k],
            &self.data[k * ps..(k + 1) * ps],
            self.comp.page(self.first + k),
        )
    }

    /// Page `k` alone, as an order-0 folio.
    fn folio_of(&self, k: usize) -> Pages<'a> {
        Pages {
            slots: &self.slots[k..k + 1],
            data: &self.data[k * self.page_size..(k + 1) * self.page_size],
            comp: self.comp,
            first: self.first + k,
            page_size: self.page_size,
        }
    }
}

/// What a store runs with, past the page itself: `zswap_store`'s folio memcg and node, and the
/// objcg it looks up for them (`get_obj_cgroup_from_folio`) with the memcg whose LRU the
/// entries join.
#[derive(Clone, Copy, Debug)]
struct StoreCtx {
    /// The folio's memcg as the caller names it (None: no cgroup).
    memcg: Option<MemcgId>,
    /// The folio's node.
    nid: usize,
    /// The objcg charged (None for the root memcg or without cgroups).
    objcg: Option<ObjcgId>,
    /// The objcg's memcg, whose (memcg, node) list the entries join (root without objcg).
    lru_memcg: MemcgId,
}

impl StoreCtx {
    /// Before the objcg lookup.
    fn new(memcg: Option<MemcgId>, nid: usize) -> Self {
        StoreCtx {
            memcg,
            nid,
            objcg: None,
            lru_memcg: ROOT_MEMCG,
        }
    }
}

/// Why a page was not stored: a reject (counted in its `reject_*` counter; the store fails
/// cleanly, as the kernel's `return false`) or an error of the simulation itself.
enum NotStored {
    Reject(RejectReason),
    Error(ZsError),
}

impl From<ZsError> for NotStored {
    fn from(e: ZsError) -> Self {
        NotStored::Error(e)
    }
}

/// The errno the kernel's crypto driver returns when the output does not fit PAGE_SIZE:
/// lz4/lz4hc return `-EINVAL` (`!out_len`), zstd and deflate `-ENOSPC` (their 6.15+ drivers).
impl Zswap {
    /// The whole batch is checked before anything is stored: one page per slot, a node that
    /// exists, and, with a swap device, slots that exist on it (a slot beyond the device could
    /// never be written back).
    fn check_pages(&self, slots: &[SwapSlot], pages: &[u8], nid: usize) -> Result<()> {
        let n_slots = slots.len();
        if n_slots.checked_mul(self.page_size) != Some(pages.len()) {
            return Err(ZsError::InvalidArgument(format!(
                "{} bytes of pages for {n_slots} slots of {} bytes",
                pages.len(),
                self.page_size
            )));
        }
        if let Some(b) = &self.backing {
            b.check_slots(slots)?;
        }
        self.mem.check_nid(nid)
    }

    fn check_memcg(&self, memcg: Option<MemcgId>) -> Result<()> {
        match (&self.cg, memcg) {
            // `parent` checks the id like `path` does, without building the path string.
            (Some(cg), Some(m)) => cg.parent(m).map(|_| ()),
            (None, Some(m)) if m != ROOT_MEMCG => Err(ZsError::InvalidArgument(
                "this zswap has no cgroups: store without a cgroup".into(),
            )),
            _ => Ok(()),
        }
    }

    /// The compressor's half of `zswap_compress`, for each page of `pages`, into `out`.
    fn compress_rows(&self, pages: &[u8], out: &mut Compressions) {
        let ps = self.page_size;
        let Compressions { packed, places } = out;
        packed.clear();
        places.clear();
        if pages.len() == ps {
            // One page: compress straight into `packed`, no staging copy.
            let r = match self.comp.compress(pages, packed) {
                Ok(n) if n > ps => Err(self.algorithm.overflow_errno()),
                Ok(n) => Ok((0, n)),
                Err(_) => Err(Errno::EINVAL),
            };
            places.push(r);
            return;
        }
        let mut buf = Vec::with_capacity(2 * ps);
        for page in pages.chunks_exact(ps) {
            let r = match self.comp.compress(page, &mut buf) {
                Ok(n) if n > ps => Err(self.algorithm.overflow_errno()),
                Ok(n) => {
                    let off = packed.len();
                    packed.extend_from_slice(&buf[..n]);
                    Ok((off, n))
                }
                Err(_) => Err(Errno::EINVAL),
            };
            places.push(r);
        }
    }

    /// Stores one page at `slot` (`swap_writeout`'s `zswap_store` of an order-0 folio).
    pub fn store(
        &self,
        slot: SwapSlot,
        page: &[u8],
        memcg: Option<MemcgId>,
        nid: usize,
    ) -> Result<StoreResult> {
        let mut last = None;
        self.store_each(&[slot], page, memcg, nid, |r| last = Some(r))?;
        last.ok_or_else(|| ZsError::InvalidArgument("no page stored".into()))
    }

    /// Stores independent pages (row k of `pages` at `slots[k]`), taking the entry lock once
    /// per chunk of 256 pages.
    pub fn store_many(
        &self,
        slots: &[SwapSlot],
        pages: &[u8],
        memcg: Option<MemcgId>,
        nid: usize,
    ) -> Result<Vec<StoreResult>> {
        let mut out = Vec::with_capacity(slots.len());
        self.store_each(slots, pages, memcg, nid, |r| out.push(r))?;
        Ok(out)
    }

    /// `store_many` handing each result to `sink`, so that a single store allocates nothing.
    ///
    /// The batch runs in chunks of `STORE_CHUNK` pages (`batch::run_chunked`): each chunk is
    /// compressed, then its pages are stored in order under one hold of the entry lock. A large
    /// batch compresses on every core, as the kernel compresses on every CPU that swaps, while
    /// the stores stay on this thread in page order — so limit checks, allocation order and
    /// counters are exactly the one-thread ones (injected failures, which must hit exact
    /// passes, keep the batch on one thread).
    fn store_each(
        &self,
        slots: &[SwapSlot],
        pages: &[u8],
        memcg: Option<MemcgId>,
        nid: usize,
        mut sink: impl FnMut(StoreResult),
    ) -> Result<()> {
        self.check_pages(slots, pages, nid)?;
        self.check_memcg(memcg)?;
        let ps = self.page_size;
        let ctx = StoreCtx::new(memcg, nid);
        batch::run_chunked(
            slots.len(),
            STORE_CHUNK,
            batch::threads_for(slots.len(), self.faults_idle()),
            |comp: &Compressions| comp.packed.capacity() <= KEEP_BUF,
            |r, comp| self.compress_rows(&pages[r.start * ps..r.end * ps], comp),
            |r, comp| {
                let chunk = Pages {
                    slots: &slots[r.clone()],
                    data: &pages[r.start * ps..r.end * ps],
                    comp,
                    first: 0,
                    page_size: ps,
                };
                // One hold of the entry lock for the chunk; each page is its own folio.
                let mut st = self.lock();
                for k in 0..chunk.slots.len() {
                    sink(self.zswap_store(&mut st, ctx, chunk.folio_of(k))?);
                }
                Ok(())
            },
        )?;
        self.maybe_run_worker()
    }

    /// Stores a large folio of `pages.len() / PAGE_SIZE` pages at consecutive slots from `first`:
    /// all or nothing (6.13+).
    pub fn store_folio(
        &self,
        first: SwapSlot,
        pages: &[u8],
        memcg: Option<MemcgId>,
        nid: usize,
    ) -> Result<StoreResult> {
        let n = pages.len() / self.page_size;
        if first.offset.checked_add(n as u64).is_none() {
            return Err(ZsError::InvalidArgument(format!(
                "a folio of {n} pages from slot {} passes the last swap offset",
                first.offset
            )));
        }
        let slots: Vec<SwapSlot> = (0..n as u64).map(|i| first.offset_by(i)).collect();
        self.check_pages(&slots, pages, nid)?;
        self.check_memcg(memcg)?;
        let mut comp = Compressions {
            packed: Vec::new(),
            places: Vec::with_capacity(n),
        };
        self.compress_rows(pages, &mut comp);
        let folio = Pages {
            slots: &slots,
            data: pages,
            comp: &comp,
            first: 0,
            page_size: self.page_size,
        };
        let r = self.zswap_store(&mut self.lock(), StoreCtx::new(memcg, nid), folio)?;
        self.maybe_run_worker()?;
        Ok(r)
    }

    pub(crate) fn maybe_run_worker(&self) -> Result<()> {
        if self.sync_worker && self.worker_queued.load(Relaxed) {
            self.run_shrink_worker()?;
        }
        Ok(())
    }

    /// `zswap_store` (mm/zswap.c) of one folio, its pages compressed already: the folio is
    /// stored whole, or — disabled, over a limit, a page refused — not at all, and then the
    /// entries its slots held before are freed too (`check_old`), so that writeback can never
    /// overwrite newer data on disk.
    fn zswap_store(&self, st: &mut State, ctx: StoreCtx, folio: Pages<'_>) -> Result<StoreResult> {
        let result = if self.enabled() {
            self.zswap_store_enabled(st, ctx, folio)?
        } else {
            StoreResult {
                reject: Some(RejectReason::Disabled),
                length: 0,
            }
        };
        // check_old:
        if !result.stored() {
            for &slot in folio.slots {
                if let Some(id) = st.entries.erase(slot) {
                    self.entry_free(st, id);
                }
            }
        }
        Ok(result)
    }

    /// `zswap_store` from `get_obj_cgroup_from_folio` to `obj_cgroup_put` and the shrink
    /// work queued when the pool is full.
    fn zswap_store_enabled(
        &self,
        st: &mut State,
        mut ctx: StoreCtx,
        folio: Pages<'_>,
    ) -> Result<StoreResult> {
        // The objcg with its memcg (the LRU's) and whether it may zswap
        // (`obj_cgroup_may_zswap`), looked up under one tree lock.
        let objcg = match (&self.cg, ctx.memcg.unwrap_or(ROOT_MEMCG)) {
            // The root has no objcg: nothing to look up.
            (Some(_), ROOT_MEMCG) | (None, _) => None,
            (Some(cg), m) => cg.get_objcg_may_zswap(m)?,
        };
        let mut may_zswap = true;
        if let Some((o, m, may)) = objcg {
            (ctx.objcg, ctx.lru_memcg, may_zswap) = (Some(o), m, may);
        }
        let r = self.store_folio_pages(st, &ctx, may_zswap, folio);
        // count_objcg_events(ZSWPOUT) for a stored folio, then obj_cgroup_put (one tree lock).
        let n = folio.slots.len() as u64;
        let stored = matches!(&r, Ok(r) if r.stored());
        match (&self.cg, &self.items, ctx.objcg) {
            (Some(cg), Some(items), Some(o)) if stored => {
                cg.count_objcg_event_put(o, items.zswpout, n)?
            }
            (Some(cg), _, Some(o)) => cg.objcg_put(o)?,
            _ if stored => self.count_objcg_event(None, |i| i.zswpout, n),
            _ => {}
        }
        let r = r?;
        if !r.stored() && self.reached_full() {
            // queue_work(shrink_wq, &zswap_shrink_work)
            self.worker_queued.store(true, Relaxed);
        }
        Ok(r)
    }

    /// `zswap_store`'s checks and page loop: a memcg over its zswap limit shrinks first and is
    /// refused unless that wrote something back, then the global limit, then
    /// `zswap_store_page` for each page until one is refused.
    fn store_folio_pages(
        &self,
        st: &mut State,
        ctx: &StoreCtx,
        may_zswap: bool,
        folio: Pages<'_>,
    ) -> Result<StoreResult> {
        let reject = |r| {
            Ok(StoreResult {
                reject: Some(r),
                length: 0,
            })
        };
        if ctx.objcg.is_some()
            && !may_zswap
            && !matches!(
                self.shrink_memcg_locked(st, ctx.lru_memcg)?,
                ShrinkMemcg::Written(_)
            )
        {
            return reject(RejectReason::ZswapMax);
        }
        if self.check_limits() {
            return reject(RejectReason::PoolLimit);
        }
        let mut length = 0;
        for k in 0..folio.slots.len() {
            let (slot, page, comp) = folio.page(k);
            match self.store_page(st, ctx, slot, page, comp) {
                Ok(len) => length = len,
                Err(NotStored::Reject(reason)) => return reject(reason),
                Err(NotStored::Error(e)) => return Err(e),
            }
        }
        Ok(StoreResult {
            reject: None,
            length,
        })
    }

    /// `zswap_store_page` (mm/zswap.c): allocate the entry, `zswap_compress` (take the
    /// compressor's output, `zs_malloc`, write), publish the entry in the index (`xa_store`),
    /// free the entry it replaces, charge, count and link it on its LRU. Returns the bytes
    /// stored.
    ///
    /// With no entry to replace (the common case) malloc, charge and write run back to back
    /// under one pool lock; with an old entry the kernel's order — publish, free the old
    /// entry, then charge — is kept, since the objcg's byte stock makes memory.current depend
    /// on it.
    fn store_page(
        &self,
        st: &mut State,
        ctx: &StoreCtx,
        slot: SwapSlot,
        page: &[u8],
        comp: std::result::Result<&[u8], Errno>,
    ) -> std::result::Result<usize, NotStored> {
        // zswap_entry_cache_alloc
        if self.take_fault(FailPoint::EntryAlloc) {
            return Err(self.reject(&self.ctr.reject_kmemcache_fail, RejectReason::KmemcacheFail));
        }
        let data = self.compressed_data(ctx, page, comp)?;
        let dlen = data.len();
        let write_now = st.entries.lookup(slot).is_none() && !self.fault_pending(FailPoint::Xarray);
        let handle = self.zs_malloc(ctx, data, write_now)?;
        // xa_store
        if !write_now && self.take_fault(FailPoint::Xarray) {
            inc(&self.ctr.reject_alloc_fail);
            self.pool.free(handle)?;
            return Err(NotStored::Reject(RejectReason::AllocFail));
        }
        let entry = Entry::new(
            slot,
            handle,
            dlen as u32,
            ctx.objcg,
            ctx.lru_memcg,
            ctx.nid as u32,
        );
        let (id, old) = st.entries.store(entry);
        if let Some(old) = old {
            self.entry_free(st, old);
        }
        if !write_now {
            // Charge (in the pool, as its accounting mode says) and write.
            let owner = self.cg.as_ref().map(|_| ctx.memcg.unwrap_or(ROOT_MEMCG));
            if let Err(e) = self.pool.write_owned(handle, data, owner) {
                st.entries.erase(slot);
                st.entries.release(id);
                self.pool.free(handle)?;
                return Err(e.into());
            }
        }
        self.stored(st, id, dlen);
        Ok(dlen)
    }

    /// The bytes `zswap_compress` stores for a page: its compressed output, or — incompressible,
    /// 6.18+ — the page as-is, unless writeback is disabled for the memcg (then a reject).
    fn compressed_data<'a>(
        &self,
        ctx: &StoreCtx,
        page: &'a [u8],
        comp: std::result::Result<&'a [u8], Errno>,
    ) -> std::result::Result<&'a [u8], NotStored> {
        let comp = if self.take_fault(FailPoint::CompressEinval) {
            Err(Errno::EINVAL)
        } else if self.take_fault(FailPoint::CompressEnospc) {
            Err(Errno::ENOSPC)
        } else {
            comp
        };
        match comp {
            Ok(out) if !out.is_empty() && out.len() < self.page_size => Ok(out),
            _ if self.writeback_enabled(ctx.memcg)? => Ok(page),
            Err(Errno::ENOSPC) => {
                Err(self.reject(&self.ctr.reject_compress_poor, RejectReason::CompressPoor))
            }
            _ => Err(self.reject(&self.ctr.reject_compress_fail, RejectReason::CompressFail)),
        }
    }

    /// `zs_malloc` for `data` on the page's node; with `write`, the charge and the write
    /// (`zs_obj_write`) too, under the same pool lock.
    fn zs_malloc(
        &self,
        ctx: &StoreCtx,
        data: &[u8],
        write: bool,
    ) -> std::result::Result<u64, NotStored> {
        if self.take_fault(FailPoint::ZsMalloc) {
            return Err(
                self.malloc_failed(ZsError::OutOfMemory("injected zs_malloc failure".into()))
            );
        }
        if write {
            // The store's own objcg: the one `write_owned(.., owner)` would look up.
            match self.pool.malloc_write_objcg(data, ctx.nid, ctx.objcg) {
                Ok(h) => Ok(h),
                Err(MallocWriteError::Malloc(e)) => Err(self.malloc_failed(e)),
                Err(MallocWriteError::Write(e)) => Err(NotStored::Error(e)),
            }
        } else {
            self.pool
                .malloc(data.len(), ctx.nid)
                .map_err(|e| self.malloc_failed(e))
        }
    }

    /// Counts a reject.
    fn reject(&self, counter: &AtomicU64, reason: RejectReason) -> NotStored {
        inc(counter);
        NotStored::Reject(reason)
    }

    /// The reject (or error) for a failed zs_malloc.
    fn malloc_failed(&self, e: ZsError) -> NotStored {
        match e {
            ZsError::ObjectTooLarge(..) => {
                self.reject(&self.ctr.reject_compress_poor, RejectReason::CompressPoor)
            }
            ZsError::OutOfMemory(_) => {
                self.reject(&self.ctr.reject_alloc_fail, RejectReason::AllocFail)
            }
            e => NotStored::Error(e),
        }
    }

    /// Counts a published, charged entry and links it on its LRU.
    fn stored(&self, st: &mut State, id: u32, dlen: usize) {
        gauge_add(&self.ctr.stored_pages, 1);
        if dlen == self.page_size {
            gauge_add(&self.ctr.stored_incompressible_pages, 1);
        }
        st.entries.lru_add_tail(id);
    }
}
