//! Counters: page-counter charging along the ancestor chain, memcg / lruvec / node state,
//! memcg and global events, and their raw reads.
//!
//! The update calls mirror the kernel's:
//! - `mod_memcg_state`: a memcg-level item on the memcg (hierarchically);
//! - `mod_memcg_lruvec_state`: a node item on the memcg and its (memcg, node) lruvec, not on the
//!   node (the helper the series exports for zsmalloc's byte counters);
//! - `mod_lruvec_state`: the above plus the node counter (same delta, same unit);
//! - `mod_node_state`: the node (vmstat) counter only (the series' page-granular node items);
//! - `count_memcg_event` / `count_vm_event`: memcg-hierarchical and global events.
//!
//! Objcg variants resolve the objcg's memcg under the same read lock, so a concurrent removal
//! cannot split an update between a child and its parent.

use std::sync::atomic::Ordering::Relaxed;

use super::registry::StatLevel;
use super::render::MemcgEvent;
use super::tree::{MemcgNode, Tree};
use super::{Cgroups, MemcgId, ObjcgId, StatItem, ROOT_MEMCG};
use crate::error::{Result, ZsError};

/// `page_counter_try_charge` up a chain: charges every level, or — at the first level that
/// would exceed its max — rolls back the levels below and returns that level.
fn try_charge_levels(
    t: &Tree,
    chain: &[MemcgId],
    nr: u64,
    counter: impl Fn(&super::tree::MemcgNode) -> &super::page_counter::PageCounter,
) -> Option<MemcgId> {
    for (i, &a) in chain.iter().enumerate() {
        if !counter(&t.memcgs[a as usize]).try_charge(nr) {
            for &b in &chain[..i] {
                counter(&t.memcgs[b as usize]).uncharge(nr);
            }
            return Some(a);
        }
    }
    None
}

impl Cgroups {
    /// Charges `nr` pages to `memcg` and every ancestor. Without `force`, fails with
    /// LimitExceeded (charging nothing) when any level would exceed its memory.max; with
    /// `force` it charges anyway. Either way a level over its limit gets a `max` event.
    pub(super) fn try_charge_chain(
        &self,
        t: &Tree,
        memcg: MemcgId,
        nr: u64,
        force: bool,
    ) -> Result<()> {
        let chain = &t.memcg(memcg)?.chain;
        if let Some(a) = try_charge_levels(t, chain, nr, |m| &m.memory) {
            self.memory_event_locked(t, a, MemcgEvent::Max);
            if !force {
                let m = &t.memcgs[a as usize];
                return Err(ZsError::LimitExceeded(format!(
                    "{}: memory.max {} bytes, usage {} + {} bytes",
                    m.path,
                    m.memory.max() * self.page_size,
                    m.memory.usage() * self.page_size,
                    nr * self.page_size
                )));
            }
            for &b in chain.iter() {
                t.memcgs[b as usize].memory.charge(nr);
            }
            self.ops.add(&self.ops.page_charges, chain.len() as u64);
            return Ok(());
        }
        self.ops.add(&self.ops.page_charges, chain.len() as u64);
        Ok(())
    }

    pub(super) fn uncharge_chain(&self, t: &Tree, memcg: MemcgId, nr: u64) {
        if let Ok(m) = t.memcg(memcg) {
            for &a in m.chain.iter() {
                t.memcgs[a as usize].memory.uncharge(nr);
            }
            self.ops.add(&self.ops.page_uncharges, m.chain.len() as u64);
        }
    }

    /// Charges `nr_pages` to memory.current of `memcg` and its ancestors (see `force` above).
    pub fn charge(&self, memcg: MemcgId, nr_pages: u64, force: bool) -> Result<()> {
        let t = self.read();
        self.try_charge_chain(&t, memcg, nr_pages, force)
    }

    /// Uncharges `nr_pages` from `memcg` and its ancestors (clamping at 0).
    pub fn uncharge(&self, memcg: MemcgId, nr_pages: u64) -> Result<()> {
        let t = self.read();
        t.memcg(memcg)?;
        self.uncharge_chain(&t, memcg, nr_pages);
        Ok(())
    }

    /// Charges `nr_pages` to `memcg` and its ancestors if no level goes over memory.max;
    /// otherwise charges nothing, raises the `max` event there and returns that level (the
    /// memcg whose limit a reclaimer must work on, `mem_over_limit` in the kernel).
    pub fn try_charge_at(&self, memcg: MemcgId, nr_pages: u64) -> Result<Option<MemcgId>> {
        let t = self.read();
        let chain = &t.memcg(memcg)?.chain;
        let failed = try_charge_levels(&t, chain, nr_pages, |m| &m.memory);
        if let Some(a) = failed {
            self.memory_event_locked(&t, a, MemcgEvent::Max);
        }
        Ok(failed)
    }

    /// Every level of `memcg`'s chain (itself first, root excluded) whose usage is above its
    /// memory.high, with the excess in pages; each gets a `high` event, as `reclaim_high` walks
    /// up the hierarchy.
    pub fn over_high(&self, memcg: MemcgId) -> Result<Vec<(MemcgId, u64)>> {
        let t = self.read();
        let chain = t.memcg(memcg)?.chain.clone();
        let mut over = Vec::new();
        for &a in chain.iter().filter(|&&a| a != ROOT_MEMCG) {
            let m = &t.memcgs[a as usize];
            let (usage, high) = (m.memory.usage(), m.high.load(Relaxed));
            if usage > high {
                self.memory_event_locked(&t, a, MemcgEvent::High);
                over.push((a, usage - high));
            }
        }
        Ok(over)
    }

    /// memory.high in pages.
    pub fn high_pages(&self, memcg: MemcgId) -> Result<u64> {
        Ok(self.read().memcg(memcg)?.high.load(Relaxed))
    }

    /// Charges `nr_pages` of swap (slots) to `memcg` and its ancestors, failing — with nothing
    /// charged — when a level would exceed memory.swap.max.
    pub fn swap_try_charge(&self, memcg: MemcgId, nr_pages: u64) -> Result<()> {
        let t = self.read();
        let chain = &t.memcg(memcg)?.chain;
        match try_charge_levels(&t, chain, nr_pages, |m| &m.swap) {
            None => Ok(()),
            Some(a) => Err(ZsError::LimitExceeded(format!(
                "{}: memory.swap.max",
                t.memcgs[a as usize].path
            ))),
        }
    }

    /// Uncharges swap from `memcg` and its ancestors.
    pub fn swap_uncharge(&self, memcg: MemcgId, nr_pages: u64) -> Result<()> {
        let t = self.read();
        for &a in t.memcg(memcg)?.chain.iter() {
            t.memcgs[a as usize].swap.uncharge(nr_pages);
        }
        Ok(())
    }

    /// memory.swap.current in pages.
    pub fn swap_usage_pages(&self, memcg: MemcgId) -> Result<u64> {
        Ok(self.read().memcg(memcg)?.swap.usage())
    }

    /// memory.swap.peak in pages.
    pub fn swap_peak_pages(&self, memcg: MemcgId) -> Result<u64> {
        Ok(self.read().memcg(memcg)?.swap.watermark())
    }

    /// memory.swap.max in pages.
    pub fn swap_max_pages(&self, memcg: MemcgId) -> Result<u64> {
        Ok(self.read().memcg(memcg)?.swap.max())
    }

    /// memory.current in pages.
    pub fn usage_pages(&self, memcg: MemcgId) -> Result<u64> {
        Ok(self.read().memcg(memcg)?.memory.usage())
    }

    /// memory.max in pages (PAGE_COUNTER_MAX when unlimited).
    pub fn max_pages(&self, memcg: MemcgId) -> Result<u64> {
        Ok(self.read().memcg(memcg)?.memory.max())
    }

    /// memory.peak in pages.
    pub fn peak_pages(&self, memcg: MemcgId) -> Result<u64> {
        Ok(self.read().memcg(memcg)?.memory.watermark())
    }

    /// How many try-charges failed at `memcg`'s own limit.
    pub fn failcnt(&self, memcg: MemcgId) -> Result<u64> {
        Ok(self.read().memcg(memcg)?.memory.failcnt())
    }

    /// memory.zswap.max in pages (PAGE_COUNTER_MAX when unlimited).
    pub fn zswap_max_pages(&self, memcg: MemcgId) -> Result<u64> {
        Ok(self.read().memcg(memcg)?.zswap_max.load(Relaxed))
    }

    /// Raises a memory event on `memcg`: local count, and hierarchical count on it and its
    /// ancestors below root (`memcg_memory_event`).
    pub fn memory_event(&self, memcg: MemcgId, ev: MemcgEvent) -> Result<()> {
        let t = self.read();
        t.memcg(memcg)?;
        self.memory_event_locked(&t, memcg, ev);
        Ok(())
    }

    fn memory_event_locked(&self, t: &Tree, memcg: MemcgId, ev: MemcgEvent) {
        let m = &t.memcgs[memcg as usize];
        self.ops.add(&self.ops.events, 1);
        m.events_local[ev as usize].fetch_add(1, Relaxed);
        for (i, &a) in m.chain.iter().enumerate() {
            if i > 0 && a == ROOT_MEMCG {
                break;
            }
            t.memcgs[a as usize].events[ev as usize].fetch_add(1, Relaxed);
        }
    }

    pub(super) fn add_memcg_state(&self, t: &Tree, memcg: MemcgId, item: StatItem, delta: i64) {
        let chain = &t.memcgs[memcg as usize].chain;
        self.ops.add(&self.ops.memcg_stat, chain.len() as u64);
        for &a in chain.iter() {
            t.memcgs[a as usize].state[item as usize].fetch_add(delta, Relaxed);
        }
    }

    pub(super) fn add_lruvec_state(
        &self,
        t: &Tree,
        memcg: MemcgId,
        nid: usize,
        item: StatItem,
        delta: i64,
    ) {
        // Only the per-node counters move: a memcg's value of a lruvec item is their sum
        // (`memcg_value`), as the kernel's lruvec stats roll up into the memcg's on a flush.
        let idx = nid * self.reg.len() + item as usize;
        let chain = &t.memcgs[memcg as usize].chain;
        self.ops.add(&self.ops.lruvec_stat, chain.len() as u64);
        for &a in chain.iter() {
            t.memcgs[a as usize].lruvec[idx].fetch_add(delta, Relaxed);
        }
    }

    /// `memcg`'s hierarchical value of `item`: its memcg-wide counter, or for a lruvec item
    /// the sum of its per-node counters.
    pub(super) fn memcg_value(&self, m: &MemcgNode, item: StatItem) -> i64 {
        let i = item as usize;
        if self.reg.items()[i].level == StatLevel::Lruvec {
            let n = self.reg.len();
            (0..self.nr_nodes)
                .map(|nid| m.lruvec[nid * n + i].load(Relaxed))
                .sum()
        } else {
            m.state[i].load(Relaxed)
        }
    }

    /// Adds `delta` (in the item's unit) to a memcg-level item of `memcg`, hierarchically.
    pub fn mod_memcg_state(&self, memcg: MemcgId, item: StatItem, delta: i64) -> Result<()> {
        self.reg.check(item, &[StatLevel::Memcg])?;
        let t = self.read();
        t.memcg(memcg)?;
        self.add_memcg_state(&t, memcg, item, delta);
        Ok(())
    }

    /// Adds `delta` to a node item of `memcg` and of its lruvec on `nid` (not to the node).
    pub fn mod_memcg_lruvec_state(
        &self,
        memcg: MemcgId,
        nid: usize,
        item: StatItem,
        delta: i64,
    ) -> Result<()> {
        self.reg.check(item, &[StatLevel::Lruvec])?;
        self.check_nid(nid)?;
        let t = self.read();
        t.memcg(memcg)?;
        self.add_lruvec_state(&t, memcg, nid, item, delta);
        Ok(())
    }

    /// Adds `delta` to a node item of `memcg`, its lruvec on `nid` and node `nid`.
    pub fn mod_lruvec_state(
        &self,
        memcg: MemcgId,
        nid: usize,
        item: StatItem,
        delta: i64,
    ) -> Result<()> {
        self.mod_memcg_lruvec_state(memcg, nid, item, delta)?;
        self.add_node_state(nid, item, delta);
        Ok(())
    }

    /// Adds `delta` (in the item's node unit) to node `nid`'s counter only.
    pub fn mod_node_state(&self, nid: usize, item: StatItem, delta: i64) -> Result<()> {
        self.reg
            .check(item, &[StatLevel::Lruvec, StatLevel::Node])?;
        self.check_nid(nid)?;
        self.add_node_state(nid, item, delta);
        Ok(())
    }

    pub(super) fn add_node_state(&self, nid: usize, item: StatItem, delta: i64) {
        self.ops.add(&self.ops.node_stat, 1);
        self.node[nid * self.reg.len() + item as usize].fetch_add(delta, Relaxed);
    }

    /// Counts `n` memcg events on `memcg` and its ancestors (not the global counter).
    pub fn count_memcg_event(&self, memcg: MemcgId, item: StatItem, n: u64) -> Result<()> {
        self.reg.check(item, &[StatLevel::Event])?;
        let t = self.read();
        t.memcg(memcg)?;
        self.add_memcg_state(&t, memcg, item, n as i64);
        Ok(())
    }

    /// Counts `n` global vm events (/proc/vmstat), e.g. zswpin for objects with no objcg.
    pub fn count_vm_event(&self, item: StatItem, n: u64) -> Result<()> {
        self.reg.check(item, &[StatLevel::Event])?;
        self.ops.add(&self.ops.events, 1);
        self.vm_events[item as usize].fetch_add(n as i64, Relaxed);
        Ok(())
    }

    /// Both: the global event and, when there is a memcg, its hierarchical count.
    pub fn count_event(&self, memcg: Option<MemcgId>, item: StatItem, n: u64) -> Result<()> {
        if let Some(m) = memcg {
            self.count_memcg_event(m, item, n)?;
        } else {
            self.reg.check(item, &[StatLevel::Event])?;
        }
        self.ops.add(&self.ops.events, 1);
        self.vm_events[item as usize].fetch_add(n as i64, Relaxed);
        Ok(())
    }

    /// `mod_memcg_state` on the objcg's current memcg.
    pub fn mod_objcg_state(&self, o: ObjcgId, item: StatItem, delta: i64) -> Result<()> {
        self.reg.check(item, &[StatLevel::Memcg])?;
        let t = self.read();
        let memcg = t.objcg(o)?.memcg;
        self.add_memcg_state(&t, memcg, item, delta);
        Ok(())
    }

    /// `mod_memcg_lruvec_state` on the objcg's current memcg (zsmalloc's byte counters).
    pub fn mod_objcg_lruvec_state(
        &self,
        o: ObjcgId,
        nid: usize,
        item: StatItem,
        delta: i64,
    ) -> Result<()> {
        self.reg.check(item, &[StatLevel::Lruvec])?;
        self.check_nid(nid)?;
        let t = self.read();
        let memcg = t.objcg(o)?.memcg;
        self.add_lruvec_state(&t, memcg, nid, item, delta);
        Ok(())
    }

    /// `count_objcg_events`: memcg events on the objcg's current memcg, plus the global count.
    pub fn count_objcg_event(&self, o: ObjcgId, item: StatItem, n: u64) -> Result<()> {
        self.reg.check(item, &[StatLevel::Event])?;
        self.count_objcg_event_locked(&self.read(), o, item, n)
    }

    /// `count_objcg_event`, then `objcg_put`, under one tree lock (the end of zswap's store).
    pub fn count_objcg_event_put(&self, o: ObjcgId, item: StatItem, n: u64) -> Result<()> {
        self.reg.check(item, &[StatLevel::Event])?;
        let t = self.read();
        let counted = self.count_objcg_event_locked(&t, o, item, n);
        self.objcg_put_locked(&t, o)?;
        counted
    }

    fn count_objcg_event_locked(&self, t: &Tree, o: ObjcgId, item: StatItem, n: u64) -> Result<()> {
        let memcg = t.objcg(o)?.memcg;
        self.add_memcg_state(t, memcg, item, n as i64);
        self.ops.add(&self.ops.events, 1);
        self.vm_events[item as usize].fetch_add(n as i64, Relaxed);
        Ok(())
    }

    /// Hierarchical raw value of a memcg-level, node or event item (in the item's unit).
    pub fn memcg_state(&self, memcg: MemcgId, item: StatItem) -> Result<i64> {
        self.reg.def(item)?;
        Ok(self.memcg_value(self.read().memcg(memcg)?, item))
    }

    /// Local raw value: `memcg`'s own minus its online children's (a removed child's remainder
    /// counts as the parent's own, as after the kernel's reparenting).
    pub fn memcg_state_local(&self, memcg: MemcgId, item: StatItem) -> Result<i64> {
        self.reg.def(item)?;
        let t = self.read();
        let m = t.memcg(memcg)?;
        let own = self.memcg_value(m, item);
        Ok(m.children.iter().fold(own, |acc, &c| {
            acc - self.memcg_value(&t.memcgs[c as usize], item)
        }))
    }

    /// Hierarchical raw value of a node item in `memcg`'s lruvec on `nid`.
    pub fn lruvec_state(&self, memcg: MemcgId, nid: usize, item: StatItem) -> Result<i64> {
        self.reg.check(item, &[StatLevel::Lruvec])?;
        self.check_nid(nid)?;
        let idx = nid * self.reg.len() + item as usize;
        Ok(self.read().memcg(memcg)?.lruvec[idx].load(Relaxed))
    }

    /// Raw node counter of `item` on `nid` (in the item's node unit).
    pub fn node_state(&self, nid: usize, item: StatItem) -> Result<i64> {
        self.reg
            .check(item, &[StatLevel::Lruvec, StatLevel::Node])?;
        self.check_nid(nid)?;
        Ok(self.node[nid * self.reg.len() + item as usize].load(Relaxed))
    }

    /// Global count of a vm event.
    pub fn vm_event(&self, item: StatItem) -> Result<u64> {
        self.reg.check(item, &[StatLevel::Event])?;
        Ok(self.vm_events[item as usize].load(Relaxed).max(0) as u64)
    }

    /// memory.zswap.current in bytes: hierarchical `zswap` bytes.
    pub fn zswap_current(&self, memcg: MemcgId) -> Result<u64> {
        Ok(self.memcg_state(memcg, self.items().zswap)?.max(0) as u64)
    }
}
