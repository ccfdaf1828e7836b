//! The pool: handles, `malloc` / `free` / `read` / `write`, and the fullness bookkeeping that
//! decides which zspage serves the next allocation.
//!
//! One mutex guards a pool's state. The kernel splits it (pool rwlock, class spinlocks, zspage
//! locks) for concurrency across CPUs; a user-space pool gets its throughput from batch calls
//! that take the lock once, and the simulated outcome — which object, which zspage, which page —
//! does not depend on the lock layout.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::sync::{Lock, LockGuard};

use super::geometry::{ChainRule, Geometry, HANDLE_SIZE};
use super::handle;
use super::memcg::{Accounting, UnchargeBatch};
use super::profile::Profile;
use super::zspage::{ListHead, ZspageSlab, NONE};
use crate::error::{Result, ZsError};
use crate::mem::{Memory, Pfn};

/// How a pool is built.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Pool name (the debugfs directory name).
    pub name: String,
    /// Kernel era whose bookkeeping the pool follows.
    pub profile: Profile,
    /// Maximum pages per zspage; `None` takes the profile's default (8, or 4 before v6.3).
    pub chain_size: Option<usize>,
    /// Class spacing; `None` is `PAGE_SIZE >> 8`.
    pub class_delta: Option<usize>,
    /// Rule for pages per zspage; `None` takes the profile's.
    pub chain_rule: Option<ChainRule>,
    /// Memcg accounting (none, the series, or the pre-series consumer charging).
    pub accounting: Accounting,
}

impl PoolConfig {
    /// A current-kernel pool with the kernel's defaults.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            profile: Profile::Current,
            chain_size: None,
            class_delta: None,
            chain_rule: None,
            accounting: Accounting::None,
        }
    }
}

impl PoolConfig {
    /// The class table this configuration gives at `page_size`: the profile's defaults filled
    /// in for whatever is left unset.
    pub fn geometry(&self, page_size: usize) -> Result<Geometry> {
        let chain = self.chain_size.unwrap_or(self.profile.default_chain_size());
        let rule = self.chain_rule.unwrap_or(self.profile.chain_rule());
        Geometry::new(page_size, chain, self.class_delta, rule)
    }
}

/// Live state of one representative size class.
#[derive(Debug)]
pub(super) struct ClassState {
    /// Nominal index of the representative (what debugfs prints as `class`).
    pub index: usize,
    pub size: usize,
    pub pages_per_zspage: usize,
    pub objs_per_zspage: usize,
    pub huge: bool,
    /// Fullness group by objects in use (0..=objs): `get_fullness_group` without divisions on
    /// the malloc/free path.
    pub group_of: Vec<u8>,
    /// One list per fullness group.
    pub lists: Vec<ListHead>,
    pub obj_allocated: u64,
    pub obj_used: u64,
}

impl ClassState {
    /// `zs_can_compact`: pages that compaction could free.
    pub fn can_compact(&self) -> u64 {
        let free = self.obj_allocated.saturating_sub(self.obj_used);
        free / self.objs_per_zspage as u64 * self.pages_per_zspage as u64
    }
}

/// Where a handle's object lives, and what was asked of it.
#[derive(Debug, Clone, Copy)]
pub(super) struct HandleCell {
    pub zspage: u32,
    pub idx: u32,
    pub len: u32,
    pub gen: u16,
    pub live: bool,
    pub written: bool,
}

/// Mutable state of a pool (behind the pool's mutex).
#[derive(Debug)]
pub(crate) struct Inner {
    pub(super) classes: Vec<ClassState>,
    /// Nominal class index → position in `classes`.
    pub(super) class_of: Vec<u16>,
    pub(super) zspages: ZspageSlab,
    pub(super) handles: Vec<HandleCell>,
    pub(super) free_handles: Vec<u32>,
    pub(super) pages_allocated: u64,
    pub(super) pages_compacted: u64,
    /// Frame → (zspage id, page index in its chain) of this pool's frames, for page
    /// migration: one entry per page the pool holds, whatever the PFNs. Built on the first
    /// migration and kept up to date from then on, so pools that never migrate never pay for
    /// it (`None`).
    pub(super) pfn_map: Option<rustc_hash::FxHashMap<Pfn, (u32, u32)>>,
    /// Consumer-mode entries' objcgs, by handle cell (zswap_entry->objcg before the series).
    pub(super) entry_objcgs: Vec<u32>,
    /// Calls of the charge/uncharge path, so tests can prove migration never takes it.
    pub(super) charge_calls: u64,
    /// Acquisitions of this lock through `Pool::lock` (the experiments' deterministic cost).
    pub(super) lock_count: u64,
    /// Scratch for the uncharges of the frees in progress (kept for its capacity).
    pub(super) uncharges: UnchargeBatch,
    /// Scratch for the cells of a batch call (kept for its capacity).
    pub(super) cells: Vec<u32>,
}

/// Applies the uncharges a batch still holds when dropped (after a panic part way through).
struct FlushOnDrop<'a> {
    pool: &'a Pool,
    batch: UnchargeBatch,
}

impl Drop for FlushOnDrop<'_> {
    fn drop(&mut self) {
        self.pool.flush_uncharges(&mut self.batch);
    }
}

impl Inner {
    fn empty() -> Self {
        Self {
            classes: Vec::new(),
            class_of: Vec::new(),
            zspages: ZspageSlab::default(),
            handles: Vec::new(),
            free_handles: Vec::new(),
            pages_allocated: 0,
            pages_compacted: 0,
            pfn_map: None,
            entry_objcgs: Vec::new(),
            charge_calls: 0,
            lock_count: 0,
            uncharges: UnchargeBatch::default(),
            cells: Vec::new(),
        }
    }

    /// Sets a consumer-mode entry's objcg.
    pub fn set_entry_objcg(&mut self, cell: u32, o: u32) {
        let i = cell as usize;
        if i >= self.entry_objcgs.len() {
            self.entry_objcgs.resize(i + 1, NONE);
        }
        self.entry_objcgs[i] = o;
    }

    /// A consumer-mode entry's objcg (`NONE` if none).
    pub fn entry_objcg(&self, cell: u32) -> u32 {
        self.entry_objcgs
            .get(cell as usize)
            .copied()
            .unwrap_or(NONE)
    }

    /// Records which zspage page a frame is (or `(NONE, 0)`: none of this pool's), if the
    /// reverse map exists.
    pub fn set_pfn_owner(&mut self, pfn: Pfn, owner: (u32, u32)) {
        if let Some(map) = self.pfn_map.as_mut() {
            if owner.0 == NONE {
                map.remove(&pfn);
            } else {
                map.insert(pfn, owner);
            }
        }
    }

    /// The zspage page a frame is, if it is this pool's; builds the reverse map on first use.
    pub fn pfn_owner(&mut self, pfn: Pfn) -> Option<(u32, u32)> {
        let zspages = &self.zspages;
        self.pfn_map
            .get_or_insert_with(|| {
                let mut map = rustc_hash::FxHashMap::default();
                for (zid, z) in zspages.iter() {
                    for (p, f) in z.frames.iter().enumerate() {
                        map.insert(f.pfn, (zid, p as u32));
                    }
                }
                map
            })
            .get(&pfn)
            .copied()
    }
}

/// A zsmalloc pool over simulated memory.
#[derive(Debug)]
pub struct Pool {
    pub(crate) mem: Arc<Memory>,
    pub(crate) geom: Geometry,
    pub(crate) profile: Profile,
    pub(crate) acct: Accounting,
    name: String,
    /// This pool's handle tag, unique in the process (`handle::POOL_TAGS`).
    tag: u32,
    pub(crate) inner: Lock<Inner>,
    /// `inner.pages_allocated`, also kept outside the lock — the kernel's atomic
    /// `pool->pages_allocated` — so that `zs_get_total_pages` (zswap's limit check on every
    /// store) takes no lock.
    pages: AtomicU64,
}

impl Drop for Pool {
    /// Unlike `zs_destroy_pool`, which leaves live zspages to leak, a dropped pool frees every
    /// object — uncharging their owners — so that its frames return to the shared `Memory`.
    fn drop(&mut self) {
        let inner = self.inner.get_mut();
        let mut inner = std::mem::replace(inner, Inner::empty());
        let live: Vec<u32> = (0..inner.handles.len() as u32)
            .filter(|&c| inner.handles[c as usize].live)
            .collect();
        self.free_cells(&mut inner, live.into_iter());
    }
}

impl Pool {
    /// Creates a pool (`zs_create_pool`).
    pub fn new(mem: Arc<Memory>, cfg: PoolConfig) -> Result<Self> {
        let geom = cfg.geometry(mem.page_size())?;
        let mut classes = Vec::new();
        let mut class_of = vec![0u16; geom.classes.len()];
        for c in geom.distinct() {
            class_of[c.index] = classes.len() as u16;
            classes.push(ClassState {
                index: c.index,
                size: c.size,
                pages_per_zspage: c.pages_per_zspage,
                objs_per_zspage: c.objs_per_zspage,
                huge: c.huge,
                group_of: (0..=c.objs_per_zspage)
                    .map(|n| cfg.profile.fullness(n, c.objs_per_zspage) as u8)
                    .collect(),
                lists: vec![ListHead::default(); cfg.profile.nr_groups()],
                obj_allocated: 0,
                obj_used: 0,
            });
        }
        for c in &geom.classes {
            class_of[c.index] = class_of[c.rep];
        }
        let tag = handle::POOL_TAGS.take()?;
        Ok(Self {
            mem,
            geom,
            profile: cfg.profile,
            acct: cfg.accounting,
            name: cfg.name,
            tag,
            inner: Lock::new(Inner {
                classes,
                class_of,
                ..Inner::empty()
            }),
            pages: AtomicU64::new(0),
        })
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The class table.
    pub fn geometry(&self) -> &Geometry {
        &self.geom
    }

    /// The kernel profile.
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// The simulated memory the pool allocates from.
    pub fn memory(&self) -> &Arc<Memory> {
        &self.mem
    }

    /// `zs_huge_class_size`.
    pub fn huge_class_size(&self) -> usize {
        self.geom.huge_class_size
    }

    pub(crate) fn lock(&self) -> LockGuard<'_, Inner> {
        let mut inner = self.inner.lock();
        // Counted under the lock itself: a plain add, no atomic on the hot path.
        inner.lock_count += 1;
        inner
    }

    /// Acquisitions of the pool lock so far (deterministic for a single-threaded workload).
    pub fn lock_acquisitions(&self) -> u64 {
        self.inner.lock().lock_count
    }

    fn encode(&self, cell: u32, gen: u16) -> u64 {
        handle::encode(self.tag, cell, gen)
    }

    /// Resolves a handle to its cell index, rejecting freed, forged and foreign handles.
    pub(super) fn decode(&self, inner: &Inner, handle: u64) -> Result<u32> {
        let bad = || ZsError::InvalidHandle(handle);
        let (tag, index, gen) = handle::decode(handle);
        if tag != self.tag {
            return Err(bad());
        }
        match inner.handles.get(index as usize) {
            Some(c) if c.live && c.gen == gen => Ok(index),
            _ => Err(bad()),
        }
    }

    pub(super) fn check_size(&self, size: usize) -> Result<()> {
        let max = self.geom.max_alloc_size();
        if size == 0 {
            Err(ZsError::InvalidSize(size, max))
        } else if size > max {
            Err(ZsError::ObjectTooLarge(size, max))
        } else {
            Ok(())
        }
    }

    /// Allocates an object of `size` bytes (`zs_malloc`); new zspage frames come from `nid`
    /// first. Returns an opaque handle.
    pub fn malloc(&self, size: usize, nid: usize) -> Result<u64> {
        self.check_size(size)?;
        self.mem.check_nid(nid)?;
        let mut inner = self.lock();
        self.malloc_locked(&mut inner, size, nid)
    }

    /// Allocates one object per size; on failure frees what this call allocated.
    pub fn malloc_many(&self, sizes: &[usize], nid: usize, out: &mut [u64]) -> Result<()> {
        if sizes.len() != out.len() {
            return Err(ZsError::InvalidArgument(
                "sizes and handles differ in length".into(),
            ));
        }
        for &s in sizes {
            self.check_size(s)?;
        }
        self.mem.check_nid(nid)?;
        let mut inner = self.lock();
        for (k, &s) in sizes.iter().enumerate() {
            match self.malloc_locked(&mut inner, s, nid) {
                Ok(h) => out[k] = h,
                Err(e) => {
                    for &h in &out[..k] {
                        let cell = self
                            .decode(&inner, h)
                            .expect("handle allocated by this call");
                        self.free_cell(&mut inner, cell);
                    }
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    pub(super) fn malloc_locked(&self, inner: &mut Inner, size: usize, nid: usize) -> Result<u64> {
        let ci = inner.class_of[self.geom.size_index(size + HANDLE_SIZE)] as usize;
        let found = {
            let lists = &inner.classes[ci].lists;
            self.profile
                .malloc_order()
                .iter()
                .map(|&g| lists[g].head)
                .find(|&h| h != NONE)
        };
        let cell = match inner.free_handles.pop() {
            Some(c) => c,
            None if inner.handles.len() >= handle::MAX_CELLS as usize => {
                return Err(ZsError::OutOfMemory(format!(
                    "pool {} has used all {} handle cells",
                    self.name,
                    handle::MAX_CELLS
                )));
            }
            None => {
                inner.handles.push(HandleCell {
                    zspage: NONE,
                    idx: NONE,
                    len: 0,
                    gen: 0,
                    live: false,
                    written: false,
                });
                (inner.handles.len() - 1) as u32
            }
        };
        let (zid, idx) = match found {
            Some(zid) => {
                let idx = inner.zspages.get_mut(zid).pop_free(cell);
                self.fix_fullness_group(inner, zid);
                (zid, idx)
            }
            None => match self.alloc_zspage(inner, ci, nid) {
                Ok(zid) => {
                    let idx = inner.zspages.get_mut(zid).pop_free(cell);
                    let g = inner.classes[ci].group_of[1] as usize;
                    self.insert_zspage(inner, ci, zid, g);
                    (zid, idx)
                }
                Err(e) => {
                    inner.free_handles.push(cell);
                    return Err(e);
                }
            },
        };
        inner.classes[ci].obj_used += 1;
        let c = &mut inner.handles[cell as usize];
        *c = HandleCell {
            zspage: zid,
            idx,
            len: size as u32,
            gen: c.gen,
            live: true,
            written: false,
        };
        Ok(self.encode(cell, c.gen))
    }

    /// Builds a zspage from `pages_per_zspage` frames, `nid` first (`alloc_zspage`).
    fn alloc_zspage(&self, inner: &mut Inner, ci: usize, nid: usize) -> Result<u32> {
        let (ppz, objs) = (
            inner.classes[ci].pages_per_zspage,
            inner.classes[ci].objs_per_zspage,
        );
        let zid = inner.zspages.create(
            ci as u16,
            objs,
            ppz * self.geom.page_size,
            self.acct.memcg_aware(),
        );
        let z = inner.zspages.get_mut(zid);
        if let Err(e) = self.mem.alloc_pages(nid, ppz, &mut z.frames) {
            inner.zspages.remove(zid);
            return Err(e);
        }
        for p in 0..ppz {
            let (pfn, nid) = {
                let f = &inner.zspages.get(zid).frames[p];
                (f.pfn, f.nid)
            };
            inner.set_pfn_owner(pfn, (zid, p as u32));
            self.mod_node_pages(nid, 1);
        }
        inner.classes[ci].obj_allocated += objs as u64;
        inner.pages_allocated += ppz as u64;
        self.pages.fetch_add(ppz as u64, Ordering::Relaxed);
        Ok(zid)
    }

    /// Puts a zspage on the list of group `g` (`insert_zspage`). v6.4+ always adds at the head;
    /// v6.3 puts it second when it is emptier than the current head (so the head stays the best
    /// allocation target).
    pub(super) fn insert_zspage(&self, inner: &mut Inner, ci: usize, zid: u32, g: usize) {
        let mut list = inner.classes[ci].lists[g];
        let second = self.profile == Profile::Legacy
            && list.head != NONE
            && inner.zspages.get(zid).inuse < inner.zspages.get(list.head).inuse;
        if second {
            inner.zspages.list_add_second(&mut list, zid);
        } else {
            inner.zspages.list_add_head(&mut list, zid);
        }
        inner.classes[ci].lists[g] = list;
        inner.zspages.get_mut(zid).fullness = g as u8;
    }

    /// Takes a zspage off its fullness list (`remove_zspage`).
    pub(super) fn remove_zspage(&self, inner: &mut Inner, zid: u32) {
        let (ci, g) = {
            let z = inner.zspages.get(zid);
            (z.class as usize, z.fullness as usize)
        };
        let mut list = inner.classes[ci].lists[g];
        inner.zspages.list_del(&mut list, zid);
        inner.classes[ci].lists[g] = list;
    }

    /// Moves a zspage to the list its use now calls for, if that changed; returns the group.
    pub(super) fn fix_fullness_group(&self, inner: &mut Inner, zid: u32) -> usize {
        let (ci, old, inuse) = {
            let z = inner.zspages.get(zid);
            (z.class as usize, z.fullness as usize, z.inuse as usize)
        };
        // The class's precomputed table: `Profile::fullness` divides by objs_per_zspage.
        let new = inner.classes[ci].group_of[inuse] as usize;
        if new != old {
            self.remove_zspage(inner, zid);
            self.insert_zspage(inner, ci, zid, new);
        }
        new
    }

    /// Releases an empty zspage's frames (`__free_zspage`); it must be off every list.
    pub(super) fn free_zspage(&self, inner: &mut Inner, zid: u32) {
        let z = inner.zspages.get_mut(zid);
        debug_assert_eq!(z.inuse, 0);
        let ci = z.class as usize;
        let mut frames = std::mem::take(&mut z.frames);
        for f in &frames {
            inner.set_pfn_owner(f.pfn, (NONE, 0));
            self.mod_node_pages(f.nid, -1);
        }
        self.mem.free_pages(&mut frames);
        // Give the (now empty) vector back so the record keeps its capacity.
        inner.zspages.get_mut(zid).frames = frames;
        inner.zspages.remove(zid);
        let class = &mut inner.classes[ci];
        class.obj_allocated -= class.objs_per_zspage as u64;
        inner.pages_allocated -= class.pages_per_zspage as u64;
        self.pages
            .fetch_sub(class.pages_per_zspage as u64, Ordering::Relaxed);
    }

    /// Frees an object (`zs_free`).
    pub fn free(&self, handle: u64) -> Result<()> {
        let mut inner = self.lock();
        let cell = self.decode(&inner, handle)?;
        self.free_cell(&mut inner, cell);
        Ok(())
    }

    /// Frees every handle, after checking them all: nothing is freed if one is invalid or
    /// appears twice.
    pub fn free_many(&self, handles: &[u64]) -> Result<()> {
        let mut inner = self.lock();
        let cells = self.decode_batch(&mut inner, handles)?;
        self.free_cells(&mut inner, cells.iter().copied());
        inner.cells = cells;
        Ok(())
    }

    /// Frees one object (`obj_free`).
    pub(super) fn free_cell(&self, inner: &mut Inner, cell: u32) {
        self.free_cells(inner, std::iter::once(cell));
    }

    /// The one free path: each object is freed at once (`obj_free`, fullness, empty
    /// zspages), its memcg uncharge deferred to a batch that is applied with one call per
    /// objcg when the last object is done (or on a panic part way).
    pub(super) fn free_cells(&self, inner: &mut Inner, cells: impl Iterator<Item = u32>) {
        let mut batch = FlushOnDrop {
            pool: self,
            batch: std::mem::take(&mut inner.uncharges),
        };
        for cell in cells {
            self.free_one(inner, cell, &mut batch.batch);
        }
        self.flush_uncharges(&mut batch.batch);
        // The scratch goes back with its capacity (the guard is left an empty batch).
        inner.uncharges = std::mem::take(&mut batch.batch);
    }

    fn free_one(&self, inner: &mut Inner, cell: u32, uncharges: &mut UnchargeBatch) {
        // obj_free: the owner is uncharged from the current layout before the object is freed.
        self.uncharge_cell(inner, cell, uncharges);
        let HandleCell {
            zspage: zid, idx, ..
        } = inner.handles[cell as usize];
        let ci = inner.zspages.get(zid).class as usize;
        inner.classes[ci].obj_used -= 1;
        inner.zspages.get_mut(zid).push_free(idx);
        if self.fix_fullness_group(inner, zid) == 0 {
            self.remove_zspage(inner, zid);
            self.free_zspage(inner, zid);
        }
        let c = &mut inner.handles[cell as usize];
        c.live = false;
        c.zspage = NONE;
        // A cell whose generations are spent is retired, so no handle value ever names two
        // objects (`handle`).
        if c.gen < handle::LAST_GEN {
            c.gen += 1;
            inner.free_handles.push(cell);
        }
    }

    /// Chain byte offset of an object's payload.
    pub(super) fn payload_start(&self, class: &ClassState, idx: u32) -> usize {
        idx as usize * class.size + if class.huge { 0 } else { HANDLE_SIZE }
    }

    /// Pages the pool holds (`zs_get_total_pages`).
    pub fn total_pages(&self) -> u64 {
        self.pages.load(Ordering::Relaxed)
    }
}
