//! Memory cgroups (cgroup v2 semantics) as the compressed-memory stack sees them.
//!
//! What lives here, in the kernel's names:
//! - the cgroup **tree** (`tree.rs`): root "/" always exists; create / remove by path; a removed
//!   memcg is freed at once (its objcgs re-parented, so late uncharges land on the parent);
//! - **obj_cgroups** (`objcg.rs`): reference counted; the byte-granular `obj_cgroup_charge` with
//!   a per-objcg stock of pre-charged bytes; on removal the memcg's objcgs are re-parented;
//! - hierarchical **page counters** (`page_counter.rs`): memory.current / memory.max / peak,
//!   try-charge and forced charge, memory.events `max`; memory.zswap.max and zswap.writeback;
//! - the **stat-item registry** (`registry.rs`) and the counters (`stats.rs`): per memcg,
//!   per (memcg, node) lruvec, per node (vmstat), memcg events and global vm events;
//! - **rendering** (`render.rs`): memory.stat, memory.numa_stat, memory.events, node vmstat and
//!   the small files, in the kernel's exact text, plus the same data as ordered vectors.
//!
//! # Design
//! - **Hierarchy by propagation on update.** Every update adds its delta to the memcg and to all
//!   of its ancestors (the chain is precomputed per memcg), so every counter *is* the kernel's
//!   hierarchical value and a read is O(items × nodes) whatever the subtree size. An update costs
//!   `depth` relaxed atomic adds per plane (memcg, lruvec), typically 2–4. The alternative, summing
//!   the subtree on read, makes updates one add but reads O(subtree); the seed's experiments 4/5
//!   read memory.stat / numa_stat 10 000 times with 100 cgroups, so reads are the side to keep
//!   cheap. (The kernel's rstat sits in between: per-CPU deltas flushed up the tree on read.)
//! - **Local values are derived**: local = own − Σ online children. No second counter set.
//! - **Removal needs no folding pass.** Because a parent's counters already contain its children,
//!   a removed child's remaining charges and stats are part of the parent's totals at the moment
//!   of removal, exactly as the dead child's aggregate is part of the parent's in the kernel; its
//!   objcgs then point at the parent, so later uncharges and stat updates subtract from the parent
//!   chain and the parent's totals never jump.
//! - **Locking.** The tree is behind an `RwLock`; hot-path updates take it shared and touch only
//!   atomics; create/remove take it exclusively, so an objcg's memcg never changes under a reader.
//! - **Units.** Counters are raw `i64` in the item's unit (bytes, pages, KiB or a count); the
//!   renderers convert as the kernel does (memory.stat in bytes, vmstat in pages).
//! - **Root** has no objcg (so nothing owned by root is ever charged through an objcg), no limit,
//!   and no memory.current / memory.max / memory.zswap.* files, as in the kernel; its page
//!   counter still sums every charge made below it (readable with `usage_pages`).

mod kernel_keys;
mod objcg;
mod opcount;
mod page_counter;
mod registry;
mod render;
mod stats;
mod tree;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_render;

use std::sync::atomic::AtomicI64;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::error::{Result, ZsError};

pub use objcg::ObjStatDelta;
pub use page_counter::{page_counter_max, page_counter_memparse};
pub use registry::{
    KnownItems, Reclaimer, Registry, StatItem, StatItemDef, StatLayout, StatLevel, StatUnit,
};
pub use render::MemcgEvent;

use tree::Tree;

/// Identifier of a memory cgroup; ids are never reused.
pub type MemcgId = u32;
/// Identifier of an obj_cgroup; ids are never reused.
pub type ObjcgId = u32;

/// The root cgroup "/".
pub const ROOT_MEMCG: MemcgId = 0;

/// How a [`Cgroups`] is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemcgConfig {
    /// Number of NUMA nodes (all with memory), at least 1.
    pub nr_nodes: usize,
    /// PAGE_SIZE in bytes: a power of two, at least 512.
    pub page_size: usize,
    /// Which zswap items the registry holds.
    pub layout: StatLayout,
    /// cgroup v2 `memory_hugetlb_accounting`: whether memory.stat prints `hugetlb`.
    pub hugetlb_accounting: bool,
    /// Items appended after the built-ins (a consumer's own stats).
    pub extra_items: Vec<StatItemDef>,
}

impl MemcgConfig {
    /// Series layout, no hugetlb accounting, no extra items.
    pub fn new(nr_nodes: usize, page_size: usize) -> Self {
        MemcgConfig {
            nr_nodes,
            page_size,
            layout: StatLayout::default(),
            hugetlb_accounting: false,
            extra_items: Vec::new(),
        }
    }
}

/// The memory cgroup hierarchy with its counters; share it with `Arc` (it is Send + Sync).
#[derive(Debug)]
pub struct Cgroups {
    nr_nodes: usize,
    page_size: u64,
    hugetlb_accounting: bool,
    layout: StatLayout,
    reg: Registry,
    tree: RwLock<Tree>,
    /// Node (vmstat) counters, `nid * nr_items + item`.
    node: Box<[AtomicI64]>,
    /// Global vm event counters (/proc/vmstat), by item.
    vm_events: Box<[AtomicI64]>,
    /// The accounting work done so far (`op_counts`).
    ops: opcount::OpCounts,
}

impl Cgroups {
    /// A hierarchy with only "/" on `nr_nodes` nodes of `page_size`-byte pages (series layout).
    pub fn new(nr_nodes: usize, page_size: usize) -> Result<Self> {
        Self::with_config(MemcgConfig::new(nr_nodes, page_size))
    }

    /// A hierarchy with only "/" set up by `cfg`.
    pub fn with_config(cfg: MemcgConfig) -> Result<Self> {
        if cfg.nr_nodes == 0 || cfg.nr_nodes > crate::mem::MAX_NUMNODES {
            return Err(ZsError::InvalidArgument(format!(
                "nr_nodes must be 1..={}, got {}",
                crate::mem::MAX_NUMNODES,
                cfg.nr_nodes
            )));
        }
        crate::mem::check_page_size(cfg.page_size)?;
        let reg = Registry::new(cfg.layout, &cfg.extra_items)?;
        let page_size = cfg.page_size as u64;
        let tree = Tree::new(cfg.nr_nodes, reg.len(), page_counter_max(page_size));
        Ok(Cgroups {
            nr_nodes: cfg.nr_nodes,
            page_size,
            hugetlb_accounting: cfg.hugetlb_accounting,
            layout: cfg.layout,
            node: zeroed(cfg.nr_nodes * reg.len()),
            vm_events: zeroed(reg.len()),
            reg,
            tree: RwLock::new(tree),
            ops: opcount::OpCounts::default(),
        })
    }

    /// Number of NUMA nodes.
    pub fn nr_nodes(&self) -> usize {
        self.nr_nodes
    }

    /// PAGE_SIZE in bytes.
    pub fn page_size(&self) -> usize {
        self.page_size as usize
    }

    /// The zswap item layout.
    pub fn layout(&self) -> StatLayout {
        self.layout
    }

    /// The stat-item registry.
    pub fn registry(&self) -> &Registry {
        &self.reg
    }

    /// Items the other layers use directly (zswap, zswapped, kernel, zswpin, nr_zspages, …).
    pub fn items(&self) -> &KnownItems {
        self.reg.known()
    }

    /// Registry lookup by memory.stat or node vmstat key.
    pub fn stat_item(&self, name: &str) -> Result<StatItem> {
        self.reg.lookup(name)
    }

    /// The accounting work done so far, as `(name, count)` in a fixed order: stat updates per
    /// level (memcg, lruvec, node), events, page-counter charges and uncharges, objcg charges,
    /// uncharges, gets and puts, and tree-lock acquisitions. Deterministic for a workload.
    /// Counted only while [`Cgroups::set_op_counting`] is on (all zero otherwise).
    pub fn op_counts(&self) -> Vec<(&'static str, u64)> {
        self.ops.snapshot()
    }

    /// Turns the counting of [`Cgroups::op_counts`] on or off (off at creation).
    pub fn set_op_counting(&self, on: bool) {
        self.ops.on.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    fn read(&self) -> RwLockReadGuard<'_, Tree> {
        self.ops.add(&self.ops.tree_locks, 1);
        self.tree.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Tree> {
        self.ops.add(&self.ops.tree_locks, 1);
        self.tree.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn check_nid(&self, nid: usize) -> Result<()> {
        if nid < self.nr_nodes {
            Ok(())
        } else {
            Err(ZsError::InvalidArgument(format!(
                "node {nid} does not exist ({} nodes)",
                self.nr_nodes
            )))
        }
    }
}

fn zeroed(n: usize) -> Box<[AtomicI64]> {
    (0..n).map(|_| AtomicI64::new(0)).collect()
}
