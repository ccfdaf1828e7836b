//! The device: its configuration, lifecycle (`disksize` initialises, `reset` tears down), the
//! slot table, and the per-page store and load paths (`zram_write_page`, `zram_read_page`,
//! `zram_free_page`) that every public I/O call funnels into.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

use super::slot::{fill_page, same_filled, Slot, SlotInfo, HUGE, IDLE, INCOMPRESSIBLE};
use super::slot::{PP_SLOT, SAME, WB};
use super::stats::{BdStat, DebugStat, IoStat, MmStat, Stats};
use super::writeback::Backing;
use super::MAX_COMPS;
use crate::compress::{Algorithm, Compressor};
use crate::error::{Errno, Result, ZsError};
use crate::mem::Memory;
use crate::zsmalloc::{Pool, PoolConfig, PoolStats, Profile};

/// How a device is built (what `hot_add` and the kernel config decide).
#[derive(Debug, Clone)]
pub struct ZramConfig {
    /// Disk name, also the zsmalloc pool's name (`zram0`).
    pub name: String,
    /// Kernel era of the pool's bookkeeping.
    pub profile: Profile,
    /// Pages per zspage; `None` takes the profile's default.
    pub chain_size: Option<usize>,
    /// NUMA node of the pages being written (`page_to_nid`), where new zspages go first.
    pub nid: usize,
    /// The primary algorithm after creation and after `reset` (`CONFIG_ZRAM_DEF_COMP`).
    pub default_algorithm: Algorithm,
}

impl ZramConfig {
    /// `name` with the current kernel's pool and `lz4` as the default algorithm.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            profile: Profile::Current,
            chain_size: None,
            nid: 0,
            default_algorithm: Algorithm::Lz4,
        }
    }
}

/// Everything behind the device mutex.
pub(crate) struct State {
    pub page_size: usize,
    pub disksize: u64,
    pub pool: Option<Pool>,
    pub slots: Vec<Slot>,
    /// Configured algorithm names per priority (`comp_algs`).
    pub comp_algs: [Option<Algorithm>; MAX_COMPS],
    /// `algorithm_params level=` per priority.
    pub comp_levels: [Option<i32>; MAX_COMPS],
    /// Compressors created at init (`comps`).
    pub comps: [Option<Box<dyn Compressor>>; MAX_COMPS],
    pub num_active_comps: usize,
    pub huge_class_size: usize,
    pub limit_pages: u64,
    pub stats: Stats,
    pub backing: Option<Backing>,
    pub wb_limit_enable: bool,
    pub wb_limit: u64,
    pub openers: usize,
    /// Slots whose lock is held by a [`SlotHold`].
    pub held: HashSet<u64>,
    /// Compression output buffer, reused.
    pub cbuf: Vec<u8>,
    pub nid: usize,
}

/// A compressed RAM block device.
pub struct Zram {
    pub(crate) cfg: ZramConfig,
    pub(crate) mem: Arc<Memory>,
    pub(crate) state: Mutex<State>,
}

impl std::fmt::Debug for Zram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Zram")
            .field("name", &self.cfg.name)
            .field("disksize", &self.disksize())
            .finish()
    }
}

/// The device held open (like an opener of `/dev/zramN`): `reset` fails with `EBUSY` meanwhile.
#[derive(Debug)]
pub struct OpenGuard {
    dev: Arc<Zram>,
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.dev.lock().openers -= 1;
    }
}

/// A slot's lock held from outside (for as long as the value lives): a `swap_slot_free_notify`
/// meanwhile cannot take it and counts `miss_free` instead of freeing the slot.
#[derive(Debug)]
pub struct SlotHold<'a> {
    dev: &'a Zram,
    index: u64,
}

impl Drop for SlotHold<'_> {
    fn drop(&mut self) {
        self.dev.lock().held.remove(&self.index);
    }
}

pub(crate) fn errno(e: Errno, msg: impl Into<String>) -> ZsError {
    ZsError::Errno(e, msg.into())
}

/// The compressor for `alg`, at `level` when `algorithm_params` set one.
pub(super) fn make_compressor(alg: Algorithm, level: Option<i32>) -> Result<Box<dyn Compressor>> {
    match level {
        None => Ok(alg.compressor()),
        Some(level) => alg.with_level(level),
    }
}

impl Zram {
    /// A device that is not initialised yet (write `disksize` to initialise it).
    pub fn new(mem: Arc<Memory>, cfg: ZramConfig) -> Result<Self> {
        mem.check_nid(cfg.nid)?;
        let mut comp_algs: [Option<Algorithm>; MAX_COMPS] = Default::default();
        comp_algs[0] = Some(cfg.default_algorithm);
        let state = State {
            page_size: mem.page_size(),
            disksize: 0,
            pool: None,
            slots: Vec::new(),
            comp_algs,
            comp_levels: [None; MAX_COMPS],
            comps: Default::default(),
            num_active_comps: 0,
            huge_class_size: 0,
            limit_pages: 0,
            stats: Stats::default(),
            backing: None,
            wb_limit_enable: false,
            wb_limit: 0,
            openers: 0,
            held: HashSet::new(),
            cbuf: Vec::new(),
            nid: cfg.nid,
        };
        Ok(Self {
            cfg,
            mem,
            state: Mutex::new(state),
        })
    }

    /// A device initialised with `disksize` bytes and `algorithm`, in one call.
    pub fn with_disksize(
        mem: Arc<Memory>,
        cfg: ZramConfig,
        disksize: u64,
        algorithm: &str,
    ) -> Result<Self> {
        let dev = Self::new(mem, cfg)?;
        dev.set_comp_algorithm(algorithm)?;
        dev.set_disksize(disksize)?;
        Ok(dev)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The device's name.
    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    /// Bytes per page (of the simulated memory).
    pub fn page_size(&self) -> usize {
        self.mem.page_size()
    }

    /// The simulated memory the pool allocates from.
    pub fn memory(&self) -> &Arc<Memory> {
        &self.mem
    }

    /// Device size in bytes; 0 when not initialised.
    pub fn disksize(&self) -> u64 {
        self.lock().disksize
    }

    /// Number of page slots.
    pub fn nr_pages(&self) -> u64 {
        self.lock().slots.len() as u64
    }

    /// `initstate`.
    pub fn is_initialized(&self) -> bool {
        self.lock().disksize != 0
    }

    /// `huge_class_size` of the pool (0 before the first initialisation).
    pub fn huge_class_size(&self) -> usize {
        self.lock().huge_class_size
    }

    /// Selects the primary algorithm (`comp_algorithm`); `EBUSY` once initialised.
    pub fn set_comp_algorithm(&self, name: &str) -> Result<()> {
        self.store_algorithm(0, name)
    }

    pub(super) fn store_algorithm(&self, prio: usize, name: &str) -> Result<()> {
        if name.len() >= super::MAX_ALGO_NAME {
            return Err(errno(Errno::E2BIG, "algorithm name too long"));
        }
        let name = super::parse::chomp(name);
        let Ok(alg) = name.parse::<Algorithm>() else {
            return Err(errno(Errno::EINVAL, format!("unknown algorithm {name:?}")));
        };
        let mut st = self.lock();
        if st.disksize != 0 {
            return Err(errno(
                Errno::EBUSY,
                "can't change algorithm for initialized device",
            ));
        }
        st.comp_algs[prio] = Some(alg);
        Ok(())
    }

    /// Initialises the device (`disksize` store): rounds up to pages, creates the pool, the slot
    /// table and one compressor per configured priority.
    pub fn set_disksize(&self, disksize: u64) -> Result<()> {
        if disksize == 0 {
            return Err(errno(Errno::EINVAL, "disksize must not be 0"));
        }
        let mut st = self.lock();
        if st.disksize != 0 {
            return Err(errno(
                Errno::EBUSY,
                "cannot change disksize for initialized device",
            ));
        }
        let ps = st.page_size as u64;
        // PAGE_ALIGN wraps a size within a page of 2^64 to 0, and the kernel's slot table of 0
        // entries then fails (`zram_meta_alloc`): ENOMEM, and the device stays uninitialised.
        let disksize = disksize
            .checked_next_multiple_of(ps)
            .ok_or_else(|| errno(Errno::ENOMEM, "disksize too large"))?;
        let nr = usize::try_from(disksize / ps)
            .map_err(|_| errno(Errno::ENOMEM, "disksize too large"))?;
        // The slot table is the kernel's vzalloc: a size it cannot get is -ENOMEM, not an abort.
        let mut slots: Vec<Slot> = Vec::new();
        slots
            .try_reserve_exact(nr)
            .map_err(|_| errno(Errno::ENOMEM, "cannot allocate the slot table"))?;
        slots.resize(nr, Slot::default());
        let mut pcfg = PoolConfig::new(&self.cfg.name);
        pcfg.profile = self.cfg.profile;
        pcfg.chain_size = self.cfg.chain_size;
        let pool = Pool::new(self.mem.clone(), pcfg)?;
        let mut comps: [Option<Box<dyn Compressor>>; MAX_COMPS] = Default::default();
        let mut active = 0;
        for (prio, comp) in comps.iter_mut().enumerate() {
            if let Some(alg) = st.comp_algs[prio] {
                *comp = Some(make_compressor(alg, st.comp_levels[prio])?);
                active += 1;
            }
        }
        st.huge_class_size = pool.huge_class_size();
        st.pool = Some(pool);
        st.slots = slots;
        st.comps = comps;
        st.num_active_comps = active;
        st.disksize = disksize;
        Ok(())
    }

    /// `reset`: `EBUSY` while open; otherwise frees every slot and the pool, zeroes the stats,
    /// drops the backing device and the algorithms (back to the default), `mem_limit` and
    /// `disksize` to 0. `writeback_limit` and `writeback_limit_enable` survive, as in the kernel.
    pub fn reset(&self) -> Result<()> {
        let mut st = self.lock();
        if st.openers > 0 {
            return Err(errno(Errno::EBUSY, "device is open"));
        }
        st.limit_pages = 0;
        // `zram_meta_free`: every slot is freed before the pool is destroyed, so the pool's
        // frames go back to memory.
        for i in 0..st.slots.len() {
            st.free_slot(i);
        }
        st.slots = Vec::new();
        st.pool = None;
        st.disksize = 0;
        st.comps = Default::default();
        st.num_active_comps = 0;
        st.comp_algs = Default::default();
        st.comp_algs[0] = Some(self.cfg.default_algorithm);
        st.comp_levels = [None; MAX_COMPS];
        st.stats = Stats::default();
        st.backing = None;
        Ok(())
    }

    /// Holds the device open until the guard is dropped (`reset` then fails with `EBUSY`).
    pub fn open(self: &Arc<Self>) -> OpenGuard {
        self.lock().openers += 1;
        OpenGuard { dev: self.clone() }
    }

    /// Holds slot `index`'s lock (see [`SlotHold`]).
    pub fn hold_slot(&self, index: u64) -> Result<SlotHold<'_>> {
        let mut st = self.lock();
        st.check_index(index)?;
        st.held.insert(index);
        Ok(SlotHold { dev: self, index })
    }

    /// `compact`: runs zsmalloc compaction; returns the pages freed. `EINVAL` if not initialised.
    pub fn compact(&self) -> Result<u64> {
        let st = self.lock();
        match &st.pool {
            Some(p) => Ok(p.compact()),
            None => Err(errno(Errno::EINVAL, "device not initialized")),
        }
    }

    /// Sets `mem_limit` in bytes (rounded up to pages; 0 = none). Lowering it frees nothing.
    /// `PAGE_ALIGN(limit) >> PAGE_SHIFT`: within a page of 2^64 the alignment wraps to 0, so a
    /// saturated `memparse` ("16E") means no limit, as on Linux.
    pub fn set_mem_limit(&self, bytes: u64) {
        let mut st = self.lock();
        let ps = st.page_size as u64;
        st.limit_pages = bytes.checked_next_multiple_of(ps).unwrap_or(0) / ps;
    }

    /// `mem_used_max` store of `0`: the peak becomes the current pool size.
    pub fn reset_mem_used_max(&self) {
        let mut st = self.lock();
        if let Some(p) = &st.pool {
            st.stats.max_used_pages = p.total_pages();
        }
    }

    /// `mm_stat` as values.
    pub fn mm_stat(&self) -> MmStat {
        let st = self.lock();
        let ps = st.page_size as u64;
        let (used, compacted) = match &st.pool {
            Some(p) => {
                let s = p.stats();
                (s.pages_allocated, s.pages_compacted)
            }
            None => (0, 0),
        };
        MmStat {
            orig_data_size: st.stats.pages_stored * ps,
            compr_data_size: st.stats.compr_data_size,
            mem_used_total: used * ps,
            mem_limit: st.limit_pages * ps,
            mem_used_max: st.stats.max_used_pages * ps,
            same_pages: st.stats.same_pages,
            pages_compacted: compacted,
            huge_pages: st.stats.huge_pages,
            huge_pages_since: st.stats.huge_pages_since,
        }
    }

    /// `io_stat` as values.
    pub fn io_stat(&self) -> IoStat {
        let s = self.lock().stats;
        IoStat {
            failed_reads: s.failed_reads,
            failed_writes: s.failed_writes,
            notify_free: s.notify_free,
        }
    }

    /// `bd_stat` as values (4 KiB units).
    pub fn bd_stat(&self) -> BdStat {
        let st = self.lock();
        let k = (st.page_size / 4096).max(1) as u64;
        BdStat {
            bd_count: st.stats.bd_count * k,
            bd_reads: st.stats.bd_reads * k,
            bd_writes: st.stats.bd_writes * k,
        }
    }

    /// `debug_stat` as values.
    pub fn debug_stat(&self) -> DebugStat {
        DebugStat {
            miss_free: self.lock().stats.miss_free,
        }
    }

    /// The pool's debugfs `classes` file; `EINVAL` if not initialised.
    pub fn classes_text(&self) -> Result<String> {
        let st = self.lock();
        st.pool_ref().map(|p| p.classes_text())
    }

    /// The pool's counters; `EINVAL` if not initialised.
    pub fn pool_stats(&self) -> Result<PoolStats> {
        let st = self.lock();
        st.pool_ref().map(|p| p.stats())
    }

    /// Checks the device against its layout: the pool's own invariants, one pool object per
    /// slot that holds one (not same-filled, not written back), and each such object as long
    /// as the slot says. Returns the first mismatch.
    pub fn check_invariants(&self) -> Result<()> {
        let st = self.lock();
        let Some(pool) = st.pool.as_ref() else {
            return Ok(());
        };
        let bad = |m: String| Err(errno(Errno::EINVAL, format!("zram invariant: {m}")));
        if let Err(m) = pool.check_invariants() {
            return bad(m);
        }
        let mut objects = 0u64;
        for (i, s) in st.slots.iter().enumerate() {
            if s.size == 0 || s.has(super::slot::SAME) || s.has(super::slot::WB) {
                continue;
            }
            objects += 1;
            if pool.object_len(s.handle)? != s.size as usize {
                return bad(format!("slot {i}: object length differs from {}", s.size));
            }
        }
        if objects != pool.stats().objs_used {
            return bad(format!(
                "{objects} slots hold objects, the pool has {}",
                pool.stats().objs_used
            ));
        }
        Ok(())
    }

    /// What slot `index` holds.
    pub fn slot_info(&self, index: u64) -> Result<SlotInfo> {
        let st = self.lock();
        st.check_index(index)?;
        Ok(SlotInfo::of(&st.slots[index as usize]))
    }
}

impl State {
    pub fn pool_ref(&self) -> Result<&Pool> {
        self.pool
            .as_ref()
            .ok_or_else(|| errno(Errno::EINVAL, "device not initialized"))
    }

    pub fn check_init(&self) -> Result<()> {
        self.pool_ref().map(|_| ())
    }

    /// I/O outside the device (or on a device of size 0) is refused by the block layer.
    pub fn check_index(&self, index: u64) -> Result<()> {
        if index < self.slots.len() as u64 {
            Ok(())
        } else {
            Err(errno(
                Errno::EINVAL,
                format!(
                    "page {index} is beyond the device ({} pages)",
                    self.slots.len()
                ),
            ))
        }
    }

    /// `zram_free_page`.
    pub fn free_slot(&mut self, index: usize) {
        let s = &mut self.slots[index];
        s.clear(IDLE | INCOMPRESSIBLE | PP_SLOT);
        s.prio = 0;
        if s.has(HUGE) {
            s.clear(HUGE);
            self.stats.huge_pages -= 1;
        }
        if s.has(WB) {
            s.clear(WB);
            if let Some(b) = &mut self.backing {
                b.free_block(s.handle);
            }
            self.stats.bd_count -= 1;
        } else if s.has(SAME) {
            s.clear(SAME);
            self.stats.same_pages -= 1;
        } else {
            if s.handle == 0 {
                return;
            }
            if let Some(p) = &self.pool {
                // The handle came from this pool and is freed only here.
                let _ = p.free(s.handle);
            }
            self.stats.compr_data_size -= u64::from(s.size);
        }
        self.stats.pages_stored -= 1;
        s.handle = 0;
        s.size = 0;
    }

    /// `zram_can_store_page`: records the peak, then checks the limit.
    fn can_store_page(&mut self, pool_pages: u64) -> bool {
        self.stats.max_used_pages = self.stats.max_used_pages.max(pool_pages);
        self.limit_pages == 0 || pool_pages <= self.limit_pages
    }

    /// `zram_write_page` (the caller counts `failed_writes` and marks the access).
    pub fn write_page(&mut self, index: usize, page: &[u8]) -> Result<()> {
        if let Some(fill) = same_filled(page) {
            self.free_slot(index);
            let s = &mut self.slots[index];
            s.set(SAME);
            s.handle = fill;
            self.stats.same_pages += 1;
            self.stats.pages_stored += 1;
            return Ok(());
        }
        let comp = self.comps[0]
            .as_ref()
            .ok_or_else(|| errno(Errno::EINVAL, "device not initialized"))?;
        let mut buf = std::mem::take(&mut self.cbuf);
        let res = match comp.compress(page, &mut buf) {
            Ok(n) => self.store_compressed(index, page, &buf[..n]),
            Err(e) => Err(e),
        };
        self.cbuf = buf;
        res
    }

    /// Allocates the new object, checks `mem_limit`, writes it, and only then frees the old
    /// slot content and installs the new one.
    fn store_compressed(&mut self, index: usize, page: &[u8], data: &[u8]) -> Result<()> {
        let huge = data.len() >= self.huge_class_size;
        let src = if huge { page } else { data };
        let pool = self.pool_ref()?;
        let handle = pool.malloc(src.len(), self.nid)?;
        let pages = pool.total_pages();
        if !self.can_store_page(pages) {
            let pool = self.pool_ref()?;
            pool.free(handle)?;
            return Err(ZsError::LimitExceeded(format!(
                "zram mem_limit: pool would use {pages} pages, limit {}",
                self.limit_pages
            )));
        }
        self.pool_ref()?.write(handle, src)?;
        self.free_slot(index);
        let s = &mut self.slots[index];
        s.handle = handle;
        s.size = src.len() as u32;
        if huge {
            s.set(HUGE);
            self.stats.huge_pages += 1;
            self.stats.huge_pages_since += 1;
        }
        self.stats.compr_data_size += src.len() as u64;
        self.stats.pages_stored += 1;
        Ok(())
    }

    /// Loads a slot's stored object into `out` (a page): `zram_read_from_zspool` without the
    /// backing device.
    pub fn read_from_pool(&mut self, index: usize, out: &mut [u8]) -> Result<()> {
        let s = self.slots[index];
        if s.has(SAME) || s.handle == 0 {
            fill_page(out, s.handle);
            return Ok(());
        }
        let mut buf = std::mem::take(&mut self.cbuf);
        let Some(pool) = self.pool.as_ref() else {
            self.cbuf = buf;
            return Err(errno(Errno::EINVAL, "device not initialized"));
        };
        if s.has(HUGE) {
            let res = pool.read_into(s.handle, out).map(|_| ());
            self.cbuf = buf;
            return res;
        }
        buf.resize(s.size as usize, 0);
        let res = pool.read_into(s.handle, &mut buf).and_then(|_| {
            let comp = self.comps[s.prio as usize].as_ref().ok_or_else(|| {
                ZsError::Compression(format!("no algorithm at priority {}", s.prio))
            })?;
            comp.decompress(&buf, out)
        });
        self.cbuf = buf;
        res
    }

    /// `zram_read_page` (the caller counts `failed_reads` and marks the access).
    pub fn read_page(&mut self, index: usize, out: &mut [u8]) -> Result<()> {
        let s = self.slots[index];
        if s.has(WB) {
            self.stats.bd_reads += 1;
            let b = self
                .backing
                .as_mut()
                .ok_or_else(|| errno(Errno::EIO, "written-back slot without backing device"))?;
            return b.read_block(s.handle, out);
        }
        self.read_from_pool(index, out)
    }
}
