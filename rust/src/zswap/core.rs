//! The `Zswap` instance: its pool and compressor, module parameters, the global pool limit with
//! the `reached_full` hysteresis, entry freeing, debugfs files and invariants.
//!
//! Global limit (7.0 `zswap_check_limits`, once per store attempt, before compression):
//! `max = totalram × max_pool_percent / 100`, `thr = max × accept_threshold_percent / 100`, both in
//! pages; `cur` is the pool's zsmalloc pages (fragmentation included). `cur ≥ max` counts
//! `pool_limit_hit` and sets `reached_full`; otherwise `reached_full` is cleared once `cur ≤ thr`.
//! The store is refused while `reached_full` holds.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use crate::sync::{Lock, LockGuard};

use super::entry::{Entries, Entry};
use super::stats::{gauge_add, inc, Counters, DEBUGFS_FILES};
use super::swapfile::SwapDevices;
use super::{FailPoint, SwapSlot};
use crate::compress::{Algorithm, Compressor};
use crate::error::{Errno, Result, ZsError};
use crate::mem::Memory;
use crate::memcg::{Cgroups, MemcgId, StatItem, StatUnit, ROOT_MEMCG};
use crate::zsmalloc::{Accounting, AccountingMode, Pool, PoolConfig};

/// How a [`Zswap`] is set up (the module parameters and the simulator's choices).
#[derive(Clone, Debug)]
pub struct ZswapConfig {
    /// `compressor`.
    pub compressor: Algorithm,
    /// Pool accounting when cgroups are given: the series (`zsmalloc`) or before it (`consumer`).
    pub accounting: AccountingMode,
    /// zsmalloc pool name (the kernel's `zswap<hex counter>`).
    pub pool_name: String,
    /// `enabled`.
    pub enabled: bool,
    /// `max_pool_percent` (default 20).
    pub max_pool_percent: u32,
    /// `accept_threshold_percent` (default 90).
    pub accept_threshold_percent: u32,
    /// `shrinker_enabled` (default off, as CONFIG_ZSWAP_SHRINKER_DEFAULT_ON is).
    pub shrinker_enabled: bool,
    /// Entries `shrink_memcg` walks per node: 1 in mainline 7.0 (`shrink_memcg` in `mm/zswap.c`); some trees walk
    /// SWAP_CLUSTER_MAX (32).
    pub memcg_walk_per_node: u64,
    /// Run the queued global shrink worker at the end of the store that queued it (deterministic);
    /// when false it waits for [`Zswap::run_shrink_worker`].
    pub sync_shrink_worker: bool,
}

impl Default for ZswapConfig {
    fn default() -> Self {
        ZswapConfig {
            compressor: Algorithm::Lz4,
            accounting: AccountingMode::Zsmalloc,
            pool_name: "zswap0".into(),
            enabled: true,
            max_pool_percent: 20,
            accept_threshold_percent: 90,
            shrinker_enabled: false,
            memcg_walk_per_node: 1,
            sync_shrink_worker: true,
        }
    }
}

/// Stat items zswap and the swap layer count.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Items {
    pub zswap: StatItem,
    pub zswapped: StatItem,
    pub zswapped_in_bytes: bool,
    pub zswpin: StatItem,
    pub zswpout: StatItem,
    pub zswpwb: StatItem,
    pub pswpin: StatItem,
    pub pswpout: StatItem,
    pub swpin_zero: StatItem,
    pub swpout_zero: StatItem,
}

/// What the entry lock guards.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub entries: Entries,
    /// `lruvec->zswap_lruvec_state.nr_disk_swapins`, by (memcg, node).
    pub disk_swapins: rustc_hash::FxHashMap<(MemcgId, u32), u64>,
}

/// A zswap instance: Send + Sync, share it with `Arc`.
pub struct Zswap {
    pub(crate) mem: Arc<Memory>,
    pub(crate) cg: Option<Arc<Cgroups>>,
    pub(crate) items: Option<Items>,
    pub(crate) pool: Pool,
    pub(crate) comp: Box<dyn Compressor>,
    /// Which algorithm `comp` is (its errno for an output past a page, …).
    pub(crate) algorithm: Algorithm,
    pub(crate) page_size: usize,
    pub(crate) backing: Option<Arc<SwapDevices>>,
    enabled: AtomicBool,
    ever_enabled: AtomicBool,
    max_pool_percent: AtomicU32,
    accept_thr_percent: AtomicU32,
    shrinker_enabled: AtomicBool,
    pub(crate) walk_per_node: u64,
    pub(crate) sync_worker: bool,
    reached_full: AtomicBool,
    pub(crate) worker_queued: AtomicBool,
    /// The global worker's cursor (`zswap_next_shrink`); the lock also makes the worker
    /// single-threaded like its max_active = 1 workqueue.
    pub(crate) worker: Mutex<Option<MemcgId>>,
    pub(crate) ctr: Counters,
    state: Lock<State>,
    faults: [AtomicU32; FailPoint::COUNT],
}

impl std::fmt::Debug for Zswap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Zswap")
            .field("compressor", &self.comp.name())
            .field("pool", &self.pool.name())
            .finish_non_exhaustive()
    }
}

fn percent(name: &str, v: u32) -> Result<u32> {
    if v > 100 {
        return Err(ZsError::errno_msg(
            Errno::EINVAL,
            format!("{name} must be 0..=100, got {v}"),
        ));
    }
    Ok(v)
}

impl Zswap {
    /// A zswap over `mem`, charging `cgroups` (if any) in `cfg.accounting` mode, writing back to
    /// `backing` (if any; without one every writeback fails like a failed swap-cache allocation).
    pub fn new(
        mem: Arc<Memory>,
        cgroups: Option<Arc<Cgroups>>,
        cfg: ZswapConfig,
        backing: Option<Arc<SwapDevices>>,
    ) -> Result<Self> {
        let comp = cfg.compressor.compressor();
        let mut pc = PoolConfig::new(&cfg.pool_name);
        let mut items = None;
        if let Some(cg) = &cgroups {
            if cg.nr_nodes() != mem.nr_nodes() || cg.page_size() != mem.page_size() {
                return Err(ZsError::InvalidArgument(
                    "cgroups and memory differ in nodes or page size".into(),
                ));
            }
            let k = cg.items();
            pc.accounting =
                Accounting::with_items(cfg.accounting, cg.clone(), k.zswap, k.zswapped)?;
            items = Some(Items {
                zswap: k.zswap,
                zswapped: k.zswapped,
                zswapped_in_bytes: cg.registry().def(k.zswapped)?.unit == StatUnit::Bytes,
                zswpin: k.zswpin,
                zswpout: k.zswpout,
                zswpwb: k.zswpwb,
                pswpin: k.pswpin,
                pswpout: k.pswpout,
                swpin_zero: k.swpin_zero,
                swpout_zero: k.swpout_zero,
            });
        }
        if let Some(b) = &backing {
            if b.page_size() != mem.page_size() {
                return Err(ZsError::InvalidArgument(
                    "swap devices and memory differ in page size".into(),
                ));
            }
        }
        let pool = Pool::new(mem.clone(), pc)?;
        Ok(Zswap {
            page_size: mem.page_size(),
            mem,
            cg: cgroups,
            items,
            pool,
            comp,
            algorithm: cfg.compressor,
            backing,
            enabled: AtomicBool::new(cfg.enabled),
            ever_enabled: AtomicBool::new(cfg.enabled),
            max_pool_percent: AtomicU32::new(percent("max_pool_percent", cfg.max_pool_percent)?),
            accept_thr_percent: AtomicU32::new(percent(
                "accept_threshold_percent",
                cfg.accept_threshold_percent,
            )?),
            shrinker_enabled: AtomicBool::new(cfg.shrinker_enabled),
            walk_per_node: cfg.memcg_walk_per_node.max(1),
            sync_worker: cfg.sync_shrink_worker,
            reached_full: AtomicBool::new(false),
            worker_queued: AtomicBool::new(false),
            worker: Mutex::new(None),
            ctr: Counters::default(),
            state: Lock::new(State::default()),
            faults: Default::default(),
        })
    }

    pub(crate) fn lock(&self) -> LockGuard<'_, State> {
        self.state.lock()
    }

    /// PAGE_SIZE.
    pub fn page_size(&self) -> usize {
        self.page_size
    }

    /// The zsmalloc pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The cgroup hierarchy, if any.
    pub fn cgroups(&self) -> Option<&Arc<Cgroups>> {
        self.cg.as_ref()
    }

    /// The backing swap devices, if any.
    pub fn backing(&self) -> Option<&Arc<SwapDevices>> {
        self.backing.as_ref()
    }

    /// The compressor's name.
    pub fn compressor(&self) -> &'static str {
        self.comp.name()
    }

    /// `enabled`.
    pub fn enabled(&self) -> bool {
        self.enabled.load(Relaxed)
    }

    /// Sets `enabled`; disabling stops new stores only.
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Relaxed);
        if on {
            self.ever_enabled.store(true, Relaxed);
        }
    }

    pub(super) fn ever_enabled(&self) -> bool {
        self.ever_enabled.load(Relaxed)
    }

    /// Sets `max_pool_percent` (0..=100).
    pub fn set_max_pool_percent(&self, v: u32) -> Result<()> {
        self.max_pool_percent
            .store(percent("max_pool_percent", v)?, Relaxed);
        Ok(())
    }

    /// Sets `accept_threshold_percent` (0..=100).
    pub fn set_accept_threshold_percent(&self, v: u32) -> Result<()> {
        self.accept_thr_percent
            .store(percent("accept_threshold_percent", v)?, Relaxed);
        Ok(())
    }

    /// `shrinker_enabled`.
    pub fn shrinker_enabled(&self) -> bool {
        self.shrinker_enabled.load(Relaxed)
    }

    /// Sets `shrinker_enabled`.
    pub fn set_shrinker_enabled(&self, on: bool) {
        self.shrinker_enabled.store(on, Relaxed);
    }

    /// Reads `/sys/module/zswap/parameters/<name>` as the kernel prints it.
    pub fn read_param(&self, name: &str) -> Result<String> {
        let yn = |b: bool| if b { "Y\n" } else { "N\n" }.to_string();
        Ok(match name {
            "enabled" => yn(self.enabled()),
            "shrinker_enabled" => yn(self.shrinker_enabled()),
            "compressor" => format!("{}\n", self.compressor()),
            "max_pool_percent" => format!("{}\n", self.max_pool_percent.load(Relaxed)),
            "accept_threshold_percent" => format!("{}\n", self.accept_thr_percent.load(Relaxed)),
            _ => {
                return Err(ZsError::errno_msg(
                    Errno::ENOENT,
                    format!("no parameter {name}"),
                ))
            }
        })
    }

    /// Writes a module parameter (bools take Y/N/1/0; percents 0..=100). Changing the
    /// compressor at runtime is not modelled (EINVAL unless it names the current one).
    pub fn write_param(&self, name: &str, value: &str) -> Result<()> {
        let v = value.trim();
        let bool_of = |v: &str| match v {
            "Y" | "y" | "1" => Ok(true),
            "N" | "n" | "0" => Ok(false),
            _ => Err(ZsError::errno_msg(Errno::EINVAL, format!("{name}: {v:?}"))),
        };
        let num = |v: &str| {
            v.parse::<u32>()
                .map_err(|_| ZsError::errno_msg(Errno::EINVAL, format!("{name}: {v:?}")))
        };
        match name {
            "enabled" => self.set_enabled(bool_of(v)?),
            "shrinker_enabled" => self.set_shrinker_enabled(bool_of(v)?),
            "max_pool_percent" => self.set_max_pool_percent(num(v)?)?,
            "accept_threshold_percent" => self.set_accept_threshold_percent(num(v)?)?,
            "compressor" if v == self.compressor() => {}
            "compressor" => {
                return Err(ZsError::errno_msg(
                    Errno::EINVAL,
                    "changing the compressor of a live zswap is not supported",
                ))
            }
            _ => {
                return Err(ZsError::errno_msg(
                    Errno::ENOENT,
                    format!("no parameter {name}"),
                ))
            }
        }
        Ok(())
    }

    /// `zswap_total_pages()`: pages held by the pool.
    pub fn total_pages(&self) -> u64 {
        self.pool.total_pages()
    }

    /// `zswap_max_pages()`.
    pub fn max_pool_pages(&self) -> u64 {
        self.mem.total_pages() as u64 * u64::from(self.max_pool_percent.load(Relaxed)) / 100
    }

    /// `zswap_accept_thr_pages()`.
    pub fn accept_thr_pages(&self) -> u64 {
        self.max_pool_pages() * u64::from(self.accept_thr_percent.load(Relaxed)) / 100
    }

    /// `zswap_pool_reached_full`.
    pub fn reached_full(&self) -> bool {
        self.reached_full.load(Relaxed)
    }

    /// `zswap_check_limits()`: true when the store must be refused.
    pub(super) fn check_limits(&self) -> bool {
        let cur = self.total_pages();
        let max = self.max_pool_pages();
        if cur >= max {
            inc(&self.ctr.pool_limit_hit);
            self.reached_full.store(true, Relaxed);
        } else if self.reached_full() && cur <= self.accept_thr_pages() {
            self.reached_full.store(false, Relaxed);
        }
        self.reached_full()
    }

    /// `mem_cgroup_zswap_writeback_enabled`: true when zswap is disabled or there are no cgroups.
    pub fn writeback_enabled(&self, memcg: Option<MemcgId>) -> Result<bool> {
        match &self.cg {
            Some(cg) if self.enabled() => cg.zswap_writeback_enabled(memcg.unwrap_or(ROOT_MEMCG)),
            _ => Ok(true),
        }
    }

    /// Makes the next `times` passes through `fp` fail.
    pub fn inject_failure(&self, fp: FailPoint, times: u32) {
        self.faults[fp as usize].fetch_add(times, Relaxed);
    }

    /// Whether a failure is queued at `fp` (without consuming it).
    pub(super) fn fault_pending(&self, fp: FailPoint) -> bool {
        self.faults[fp as usize].load(Relaxed) != 0
    }

    /// Whether no failure is queued anywhere (tests inject failures into exact passes, so
    /// batches then run on one thread).
    pub(super) fn faults_idle(&self) -> bool {
        self.faults.iter().all(|f| f.load(Relaxed) == 0)
    }

    /// Consumes one injected failure at `fp`.
    pub(super) fn take_fault(&self, fp: FailPoint) -> bool {
        self.faults[fp as usize]
            .fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }

    /// `zswap_entry_free` of an entry already out of the index: LRU removal, zs_free (which
    /// uncharges), stored counters down.
    pub(super) fn entry_free(&self, st: &mut State, id: u32) {
        let e = self.entry_forget(st, id);
        // The handle came from this pool and is freed only here, so this cannot fail.
        let _ = self.pool.free(e.handle);
    }

    /// `entry_free` for an entry whose object the caller has freed already (an exclusive
    /// load frees it in the same pool call that reads it): LRU removal, counters down.
    pub(super) fn entry_forget(&self, st: &mut State, id: u32) -> Entry {
        let e = st.entries.release(id);
        gauge_add(&self.ctr.stored_pages, -1);
        if e.length as usize == self.page_size {
            gauge_add(&self.ctr.stored_incompressible_pages, -1);
        }
        e
    }

    /// Counts an event globally and on the objcg's current memcg (`count_objcg_events`), or
    /// only globally for an entry without objcg.
    pub(crate) fn count_objcg_event(
        &self,
        objcg: Option<u32>,
        pick: fn(&Items) -> StatItem,
        n: u64,
    ) {
        if let (Some(cg), Some(items)) = (&self.cg, &self.items) {
            let item = pick(items);
            let _ = match objcg {
                Some(o) => cg.count_objcg_event(o, item, n),
                None => cg.count_vm_event(item, n),
            };
        }
    }

    /// Whether `slot` holds an entry.
    pub fn contains(&self, slot: SwapSlot) -> bool {
        self.lock().entries.lookup(slot).is_some()
    }

    /// Stored length of `slot`'s entry.
    pub fn entry_length(&self, slot: SwapSlot) -> Option<usize> {
        let st = self.lock();
        st.entries
            .lookup(slot)
            .map(|id| st.entries.get(id).length as usize)
    }

    /// Entries on the (memcg, node) LRU (`list_lru_count_one`); None means root.
    pub fn lru_len(&self, memcg: Option<MemcgId>, nid: usize) -> u64 {
        let mut st = self.lock();
        self.sync_reparent(&mut st);
        st.entries.lru_len(memcg.unwrap_or(ROOT_MEMCG), nid as u32)
    }

    /// `stored_pages`.
    pub fn stored_pages(&self) -> u64 {
        self.ctr.stored_pages.load(Relaxed).max(0) as u64
    }

    /// The debugfs files and their values, in the kernel's order.
    pub fn debugfs(&self) -> Vec<(&'static str, u64)> {
        let size = self.total_pages() * self.page_size as u64;
        self.ctr.values(size).to_vec()
    }

    /// One debugfs file: the value and a newline.
    pub fn read_debugfs(&self, name: &str) -> Result<String> {
        self.debugfs()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| format!("{v}\n"))
            .ok_or_else(|| {
                ZsError::errno_msg(
                    Errno::ENOENT,
                    format!(
                        "no debugfs file {name}; files: {}",
                        DEBUGFS_FILES.join(", ")
                    ),
                )
            })
    }

    /// Checks the module invariants (see the module header); returns the first violation.
    pub fn check_invariants(&self) -> Result<()> {
        let st = self.lock();
        let bad = |m: String| Err(ZsError::InvalidArgument(format!("zswap invariant: {m}")));
        if let Err(m) = st.entries.check() {
            return bad(m);
        }
        let ids = st.entries.ids();
        let raw = ids
            .iter()
            .filter(|&&id| st.entries.get(id).length as usize == self.page_size)
            .count() as i64;
        if self.ctr.stored_pages.load(Relaxed) != st.entries.len() as i64 {
            return bad(format!("stored_pages != {} entries", ids.len()));
        }
        if self.ctr.stored_incompressible_pages.load(Relaxed) != raw {
            return bad(format!("stored_incompressible_pages != {raw}"));
        }
        for id in ids {
            let e = st.entries.get(id);
            if self.pool.object_len(e.handle)? != e.length as usize {
                return bad(format!(
                    "entry of {:?} has a pool object of another size",
                    e.slot
                ));
            }
        }
        Ok(())
    }
}
