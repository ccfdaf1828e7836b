//! The store path (`zswap_store` → `zswap_store_page` → `zswap_compress`), for single pages,
//! batches of independent pages and large folios.
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

use std::cell::RefCell;
use std::sync::atomic::Ordering::Relaxed;

use super::core::{workers, State, Zswap, PARALLEL_MIN_PAGES};
use super::entry::Entry;
use super::shrink::ShrinkMemcg;
use super::stats::{gauge_add, inc};
use super::{FailPoint, RejectReason, StoreResult, SwapSlot};
use crate::error::{Errno, Result, ZsError};
use crate::memcg::{MemcgId, ObjcgId, ROOT_MEMCG};
use crate::zsmalloc::MallocWriteError;

thread_local! {
    /// Compressed pages of the store in flight on this thread, kept between calls so that a
    /// page-at-a-time store allocates nothing for them.
    static STORE_BUF: RefCell<(Vec<u8>, Vec<Compressed>)> =
        const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Largest scratch buffer a thread keeps between calls (bigger batches allocate their own).
const KEEP_BUF: usize = 1 << 20;

/// Sends the "a worker panicked" marker (chunk `usize::MAX`) when dropped by a panic.
struct PanicSignal<'a, T: Default>(&'a std::sync::mpsc::Sender<(usize, T)>);

impl<T: Default> Drop for PanicSignal<'_, T> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = self.0.send((usize::MAX, T::default()));
        }
    }
}

/// Batches are compressed and stored this many pages at a time, so the compressed buffer stays
/// small and hot in cache instead of growing to the whole batch's size.
const STORE_CHUNK: usize = 256;

/// A page's compression: `Ok((offset in the packed buffer, dlen))` or the compressor's errno.
type Compressed = std::result::Result<(usize, usize), Errno>;

/// The errno the kernel's crypto driver returns when the output does not fit PAGE_SIZE:
/// lz4/lz4hc return `-EINVAL` (`!out_len`), zstd and deflate `-ENOSPC` (their 6.15+ drivers).
fn overflow_errno(name: &str) -> Errno {
    match name {
        "zstd" | "deflate" => Errno::ENOSPC,
        _ => Errno::EINVAL,
    }
}

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

    /// Compresses each page, appending the outputs to `packed` (no zeroing, no page rows) and
    /// their places or errors to `out`.
    fn compress_rows(&self, pages: &[u8], packed: &mut Vec<u8>, out: &mut Vec<Compressed>) {
        let ps = self.page_size;
        out.clear();
        if pages.len() == ps && packed.is_empty() {
            // One page: compress straight into `packed`, no staging copy.
            let r = match self.comp.compress(pages, packed) {
                Ok(n) if n > ps => Err(overflow_errno(self.comp.name())),
                Ok(n) => Ok((0, n)),
                Err(_) => Err(Errno::EINVAL),
            };
            out.push(r);
            return;
        }
        let mut buf = Vec::with_capacity(2 * ps);
        for page in pages.chunks_exact(ps) {
            let r = match self.comp.compress(page, &mut buf) {
                Ok(n) if n > ps => Err(overflow_errno(self.comp.name())),
                Ok(n) => {
                    let off = packed.len();
                    packed.extend_from_slice(&buf[..n]);
                    Ok((off, n))
                }
                Err(_) => Err(Errno::EINVAL),
            };
            out.push(r);
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
        if slots.len() >= PARALLEL_MIN_PAGES && self.faults_idle() {
            let threads = workers();
            // False when the system starts no thread: then the batch goes the one-thread way.
            if threads > 1 && self.store_pipelined(slots, pages, memcg, nid, threads, &mut sink)? {
                return self.maybe_run_worker();
            }
        }
        let (mut rows, mut comp) = STORE_BUF.with(|b| std::mem::take(&mut *b.borrow_mut()));
        let ps = self.page_size;
        let mut result = Ok(());
        for (chunk_slots, chunk) in slots
            .chunks(STORE_CHUNK)
            .zip(pages.chunks(STORE_CHUNK * ps))
        {
            rows.clear();
            self.compress_rows(chunk, &mut rows, &mut comp);
            result = self.store_compressed(chunk_slots, chunk, &rows, &comp, memcg, nid, &mut sink);
            if result.is_err() {
                break;
            }
        }
        if rows.capacity() <= KEEP_BUF {
            STORE_BUF.with(|b| *b.borrow_mut() = (rows, comp));
        }
        result?;
        self.maybe_run_worker()
    }

    /// Stores a chunk of compressed pages in order under one hold of the entry lock.
    #[allow(clippy::too_many_arguments)]
    fn store_compressed(
        &self,
        slots: &[SwapSlot],
        pages: &[u8],
        rows: &[u8],
        comp: &[Compressed],
        memcg: Option<MemcgId>,
        nid: usize,
        sink: &mut impl FnMut(StoreResult),
    ) -> Result<()> {
        let ps = self.page_size;
        let mut st = self.lock();
        for (k, &slot) in slots.iter().enumerate() {
            let page = &pages[k * ps..(k + 1) * ps];
            let r =
                self.store_folio_locked(&mut st, &[slot], page, rows, &comp[k..k + 1], memcg, nid)?;
            sink(r);
        }
        Ok(())
    }

    /// A large batch as a pipeline, as the kernel compresses on every CPU that swaps: worker
    /// threads compress chunks of `STORE_CHUNK` pages, and this thread stores the chunks in
    /// page order as they arrive. Everything after compression — limit checks, allocation
    /// order, counters — is therefore exactly the one-thread order. Workers take chunks by
    /// ticket, and a ticket for chunk `c` is issued only once chunk `c - 2 × threads` is stored,
    /// so at most that many compressed chunks exist at any time, whatever the batch size.
    /// Returns false, having done nothing, when the system starts no worker thread.
    fn store_pipelined(
        &self,
        slots: &[SwapSlot],
        pages: &[u8],
        memcg: Option<MemcgId>,
        nid: usize,
        threads: usize,
        sink: &mut impl FnMut(StoreResult),
    ) -> Result<bool> {
        use std::sync::{mpsc, Mutex};

        type Chunk = (Vec<u8>, Vec<Compressed>);
        let ps = self.page_size;
        let n_chunks = slots.len().div_ceil(STORE_CHUNK);
        let window = 2 * threads;
        let stop = std::sync::atomic::AtomicBool::new(false);
        let spare: Mutex<Vec<Chunk>> = Mutex::new(Vec::new());
        let (ticket_tx, ticket_rx) = mpsc::channel::<usize>();
        let tickets = Mutex::new(ticket_rx);
        let (done_tx, done_rx) = mpsc::channel::<(usize, Chunk)>();
        for c in 0..window.min(n_chunks) {
            // The receiver lives until the end of this call.
            let _ = ticket_tx.send(c);
        }
        std::thread::scope(|s| {
            let mut started = 0;
            for _ in 0..threads {
                let done_tx = done_tx.clone();
                let (tickets, spare) = (&tickets, &spare);
                let stop = &stop;
                let worker = std::thread::Builder::new().spawn_scoped(s, move || {
                    // A worker that panics says so, so that this thread stops waiting for its
                    // chunk (the scope then passes the panic on).
                    let _signal = PanicSignal(&done_tx);
                    loop {
                        // Ends when the ticket sender is gone: the batch is done or failed.
                        let Ok(c) = tickets.lock().unwrap_or_else(|e| e.into_inner()).recv() else {
                            break;
                        };
                        if stop.load(Relaxed) {
                            break;
                        }
                        let (mut rows, mut comp) = spare
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .pop()
                            .unwrap_or_default();
                        rows.clear();
                        let end = ((c + 1) * STORE_CHUNK * ps).min(pages.len());
                        self.compress_rows(&pages[c * STORE_CHUNK * ps..end], &mut rows, &mut comp);
                        if done_tx.send((c, (rows, comp))).is_err() {
                            break;
                        }
                    }
                });
                started += usize::from(worker.is_ok());
            }
            drop(done_tx);
            if started == 0 {
                // Nothing was compressed or stored: the caller stores the batch itself.
                drop(ticket_tx);
                return Ok(false);
            }
            // Chunks that arrived ahead of their turn (at most `window` of them).
            let mut early: Vec<Option<Chunk>> = (0..n_chunks).map(|_| None).collect();
            let mut want = 0;
            let mut result = Ok(());
            'recv: while want < n_chunks {
                let Ok((c, chunk)) = done_rx.recv() else {
                    break;
                };
                if c == usize::MAX {
                    break;
                }
                early[c] = Some(chunk);
                while let Some((rows, comp)) = early.get_mut(want).and_then(Option::take) {
                    let range = want * STORE_CHUNK..((want + 1) * STORE_CHUNK).min(slots.len());
                    result = self.store_compressed(
                        &slots[range.clone()],
                        &pages[range.start * ps..range.end * ps],
                        &rows,
                        &comp,
                        memcg,
                        nid,
                        sink,
                    );
                    spare
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((rows, comp));
                    if result.is_err() {
                        break 'recv;
                    }
                    if want + window < n_chunks {
                        let _ = ticket_tx.send(want + window);
                    }
                    want += 1;
                }
            }
            // No more tickets: idle workers stop; busy ones finish their chunk and stop.
            stop.store(true, Relaxed);
            drop(ticket_tx);
            result.map(|()| true)
        })
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
        let (mut rows, mut comp) = (Vec::new(), Vec::with_capacity(n));
        self.compress_rows(pages, &mut rows, &mut comp);
        let r = {
            let mut st = self.lock();
            self.store_folio_locked(&mut st, &slots, pages, &rows, &comp, memcg, nid)?
        };
        self.maybe_run_worker()?;
        Ok(r)
    }

    pub(crate) fn maybe_run_worker(&self) -> Result<()> {
        if self.sync_worker && self.worker_queued.load(Relaxed) {
            self.run_shrink_worker()?;
        }
        Ok(())
    }

    /// `zswap_store` of one folio whose pages are `pages` (compressed as `comp` into `rows`).
    #[allow(clippy::too_many_arguments)]
    fn store_folio_locked(
        &self,
        st: &mut State,
        slots: &[SwapSlot],
        pages: &[u8],
        rows: &[u8],
        comp: &[Compressed],
        memcg: Option<MemcgId>,
        nid: usize,
    ) -> Result<StoreResult> {
        let result = if !self.enabled() {
            StoreResult {
                reject: Some(RejectReason::Disabled),
                length: 0,
            }
        } else {
            // The objcg with its memcg (the LRU's) and whether that may zswap, looked up under
            // one tree lock.
            let objcg = match (&self.cg, memcg.unwrap_or(ROOT_MEMCG)) {
                // The root has no objcg: nothing to look up.
                (Some(_), ROOT_MEMCG) | (None, _) => None,
                (Some(cg), m) => cg.get_objcg_may_zswap(m)?,
            };
            let r = self.store_pages(st, slots, pages, rows, comp, objcg, memcg, nid);
            // zswpout for a stored folio, then the store's objcg reference goes (one tree lock).
            let n = slots.len() as u64;
            let stored = matches!(&r, Ok(r) if r.stored());
            match (&self.cg, &self.items, objcg) {
                (Some(cg), Some(items), Some((o, _, _))) if stored => {
                    cg.count_objcg_event_put(o, items.zswpout, n)?
                }
                (Some(cg), _, Some((o, _, _))) => cg.objcg_put(o)?,
                _ if stored => self.count_objcg_event(None, |i| i.zswpout, n),
                _ => {}
            }
            let r = r?;
            if !r.stored() && self.reached_full() {
                self.worker_queued.store(true, Relaxed);
            }
            r
        };
        if !result.stored() {
            for &slot in slots {
                if let Some(id) = st.entries.erase(slot) {
                    self.entry_free(st, id);
                }
            }
        }
        Ok(result)
    }

    #[allow(clippy::too_many_arguments)]
    fn store_pages(
        &self,
        st: &mut State,
        slots: &[SwapSlot],
        pages: &[u8],
        rows: &[u8],
        comp: &[Compressed],
        objcg: Option<(ObjcgId, MemcgId, bool)>,
        memcg: Option<MemcgId>,
        nid: usize,
    ) -> Result<StoreResult> {
        let reject = |r| {
            Ok(StoreResult {
                reject: Some(r),
                length: 0,
            })
        };
        let mut lru_memcg = ROOT_MEMCG;
        if let Some((_, m, may_zswap)) = objcg {
            lru_memcg = m;
            if !may_zswap
                && !matches!(
                    self.shrink_memcg_locked(st, lru_memcg)?,
                    ShrinkMemcg::Written(_)
                )
            {
                return reject(RejectReason::ZswapMax);
            }
        }
        let objcg = objcg.map(|(o, _, _)| o);
        if self.check_limits() {
            return reject(RejectReason::PoolLimit);
        }
        let ps = self.page_size;
        let mut length = 0;
        for (k, &slot) in slots.iter().enumerate() {
            let page = &pages[k * ps..(k + 1) * ps];
            let (out, c) = match comp[k] {
                Ok((off, len)) => (&rows[off..off + len], Ok(len)),
                Err(e) => (&rows[..0], Err(e)),
            };
            let r = self.store_page(st, slot, page, out, c, objcg, lru_memcg, memcg, nid)?;
            match r {
                Ok(len) => length = len,
                Err(reason) => return reject(reason),
            }
        }
        Ok(StoreResult {
            reject: None,
            length,
        })
    }

    /// `zswap_store_page`: Ok(Ok(length)) when stored, Ok(Err(reason)) when refused.
    #[allow(clippy::too_many_arguments)]
    fn store_page(
        &self,
        st: &mut State,
        slot: SwapSlot,
        page: &[u8],
        row: &[u8],
        comp: std::result::Result<usize, Errno>,
        objcg: Option<ObjcgId>,
        lru_memcg: MemcgId,
        memcg: Option<MemcgId>,
        nid: usize,
    ) -> Result<std::result::Result<usize, RejectReason>> {
        let ps = self.page_size;
        if self.take_fault(FailPoint::EntryAlloc) {
            inc(&self.ctr.reject_kmemcache_fail);
            return Ok(Err(RejectReason::KmemcacheFail));
        }
        let comp = if self.take_fault(FailPoint::CompressEinval) {
            Err(Errno::EINVAL)
        } else if self.take_fault(FailPoint::CompressEnospc) {
            Err(Errno::ENOSPC)
        } else {
            comp
        };
        let data = match comp {
            Ok(n) if n > 0 && n < ps => &row[..n],
            _ => {
                // Incompressible (6.18+): kept as-is unless writeback is disabled for the memcg.
                if !self.writeback_enabled(memcg)? {
                    let err = comp.err().unwrap_or(Errno::EINVAL);
                    if err == Errno::ENOSPC {
                        inc(&self.ctr.reject_compress_poor);
                        return Ok(Err(RejectReason::CompressPoor));
                    }
                    inc(&self.ctr.reject_compress_fail);
                    return Ok(Err(RejectReason::CompressFail));
                }
                page
            }
        };
        let dlen = data.len();
        let owner = self.cg.as_ref().map(|_| memcg.unwrap_or(ROOT_MEMCG));
        // Fast path, the common case: no entry to replace and no injected index failure, so
        // malloc, charge and write may run back to back under one pool lock. (With an old entry
        // the kernel's order — publish, free the old entry, then charge — must be kept, since
        // the objcg's byte stock makes memory.current depend on it.)
        if st.entries.lookup(slot).is_none() && !self.fault_pending(FailPoint::Xarray) {
            let handle = if self.take_fault(FailPoint::ZsMalloc) {
                Err(MallocWriteError::Malloc(ZsError::OutOfMemory(
                    "injected zs_malloc failure".into(),
                )))
            } else {
                // The store's own objcg: the one `write_owned(.., owner)` would look up.
                self.pool.malloc_write_objcg(data, nid, objcg)
            };
            let handle = match handle {
                Ok(h) => h,
                Err(MallocWriteError::Malloc(e)) => return self.malloc_failed(e),
                Err(MallocWriteError::Write(e)) => return Err(e),
            };
            let entry = Entry::new(slot, handle, dlen as u32, objcg, lru_memcg, nid as u32);
            let (id, _) = st.entries.store(entry);
            self.stored(st, id, dlen);
            return Ok(Ok(dlen));
        }
        let handle = if self.take_fault(FailPoint::ZsMalloc) {
            Err(ZsError::OutOfMemory("injected zs_malloc failure".into()))
        } else {
            self.pool.malloc(dlen, nid)
        };
        let handle = match handle {
            Ok(h) => h,
            Err(e) => return self.malloc_failed(e),
        };
        if self.take_fault(FailPoint::Xarray) {
            inc(&self.ctr.reject_alloc_fail);
            self.pool.free(handle)?;
            return Ok(Err(RejectReason::AllocFail));
        }
        let entry = Entry::new(slot, handle, dlen as u32, objcg, lru_memcg, nid as u32);
        let (id, old) = st.entries.store(entry);
        if let Some(old) = old {
            self.entry_free(st, old);
        }
        // Charge (in the pool, as its accounting mode says) and write.
        if let Err(e) = self.pool.write_owned(handle, data, owner) {
            st.entries.erase(slot);
            st.entries.release(id);
            self.pool.free(handle)?;
            return Err(e);
        }
        self.stored(st, id, dlen);
        Ok(Ok(dlen))
    }

    /// The reject (or error) for a failed zs_malloc.
    fn malloc_failed(&self, e: ZsError) -> Result<std::result::Result<usize, RejectReason>> {
        match e {
            ZsError::ObjectTooLarge(..) => {
                inc(&self.ctr.reject_compress_poor);
                Ok(Err(RejectReason::CompressPoor))
            }
            ZsError::OutOfMemory(_) => {
                inc(&self.ctr.reject_alloc_fail);
                Ok(Err(RejectReason::AllocFail))
            }
            e => Err(e),
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
