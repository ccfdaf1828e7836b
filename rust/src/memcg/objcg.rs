//! obj_cgroups: reference-counted owners of byte-granular charges, re-parented on removal.
//!
//! Byte charging (`obj_cgroup_charge` / `obj_cgroup_uncharge`) follows the kernel's arithmetic
//! with one stock of pre-charged bytes **per objcg** (the kernel keeps a per-CPU stock that
//! caches one objcg at a time and flushes leftovers to `objcg->nr_charged_bytes`; a per-objcg
//! stock is that machine with one CPU per objcg, and is deterministic):
//! - charge `size`: if the stock holds at least `size`, take it from the stock; otherwise charge
//!   `ceil(size / PAGE_SIZE)` whole pages (memory.current and `kernel` move by that many pages)
//!   and add `PAGE_SIZE - size % PAGE_SIZE` (when non-zero) to the stock. The charge path never
//!   uncharges, so the stock may briefly exceed a page, as in the kernel;
//! - uncharge `size`: add it to the stock; if the stock then exceeds PAGE_SIZE, uncharge its whole
//!   pages and keep the remainder;
//! - release (last reference dropped): uncharge the stock's whole pages.
//!
//! Hence for one objcg at any time: pages charged × PAGE_SIZE = live bytes + stock.
//! There is no per-CPU page stock (MEMCG_CHARGE_BATCH): memory.current is exact.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use super::tree::Tree;
use super::{Cgroups, MemcgId, ObjcgId, StatItem, StatLevel, ROOT_MEMCG};

/// One statistics update of an object's charge: (node, item, delta).
pub type ObjStatDelta = (usize, StatItem, i64);
use crate::error::{Result, ZsError};
use crate::sync::Lock;

/// One obj_cgroup.
#[derive(Debug)]
pub(super) struct Objcg {
    /// Owning memcg; changed only under the tree's write lock (re-parenting).
    pub(crate) memcg: MemcgId,
    refcnt: AtomicU64,
    /// Pre-charged bytes not yet used by objects (`nr_charged_bytes`).
    stock: Lock<u64>,
    released: AtomicBool,
}

impl Objcg {
    /// A new objcg of `memcg` holding the memcg's initial reference.
    pub(crate) fn new(memcg: MemcgId) -> Self {
        Objcg {
            memcg,
            refcnt: AtomicU64::new(1),
            stock: Lock::new(0),
            released: AtomicBool::new(false),
        }
    }
}

impl Tree {
    /// A live (not released) objcg.
    pub(crate) fn objcg(&self, o: ObjcgId) -> Result<&Objcg> {
        let obj = self
            .objcgs
            .get(o as usize)
            .ok_or_else(|| ZsError::Cgroup(format!("no objcg with id {o}")))?;
        if obj.released.load(Relaxed) {
            return Err(ZsError::Cgroup(format!("objcg {o} was released")));
        }
        Ok(obj)
    }
}

impl Cgroups {
    /// The objcg charges of `memcg` go to, with a reference the caller must put; None for root.
    /// An offline memcg answers with its nearest online ancestor's objcg (as the kernel does).
    pub fn get_objcg(&self, memcg: MemcgId) -> Result<Option<ObjcgId>> {
        Ok(self.get_objcg_memcg(memcg)?.map(|(o, _)| o))
    }

    /// `get_objcg` with the objcg's current memcg (`objcg_memcg`), under one tree lock.
    pub fn get_objcg_memcg(&self, memcg: MemcgId) -> Result<Option<(ObjcgId, MemcgId)>> {
        self.get_objcg_memcg_locked(&self.read(), memcg)
    }

    /// `get_objcg_memcg`, then `may_zswap` of the memcg found, under one tree lock (zswap's
    /// store prologue): `Some((objcg, its memcg, may_zswap))`, with a reference taken.
    pub fn get_objcg_may_zswap(&self, memcg: MemcgId) -> Result<Option<(ObjcgId, MemcgId, bool)>> {
        let t = self.read();
        let Some((o, m)) = self.get_objcg_memcg_locked(&t, memcg)? else {
            return Ok(None);
        };
        match self.zswap_over_limit_locked(&t, m) {
            Ok(over) => Ok(Some((o, m, over.is_none()))),
            Err(e) => {
                // The reference goes back; the error that matters is the first one.
                let _ = self.objcg_put_locked(&t, o);
                Err(e)
            }
        }
    }

    fn get_objcg_memcg_locked(
        &self,
        t: &Tree,
        memcg: MemcgId,
    ) -> Result<Option<(ObjcgId, MemcgId)>> {
        // A removed (freed) memcg's charges go where its objcgs went: up the tree.
        for &a in t.memcg(t.live_at_or_above(memcg)?)?.chain.iter() {
            if a == ROOT_MEMCG {
                break;
            }
            if let Some(o) = t.memcgs[a as usize].objcg {
                let obj = t.objcg(o)?;
                obj.refcnt.fetch_add(1, Relaxed);
                self.ops.add(&self.ops.objcg_gets, 1);
                return Ok(Some((o, obj.memcg)));
            }
        }
        Ok(None)
    }

    /// Takes a reference to `o`.
    pub fn objcg_get(&self, o: ObjcgId) -> Result<()> {
        self.read().objcg(o)?.refcnt.fetch_add(1, Relaxed);
        self.ops.add(&self.ops.objcg_gets, 1);
        Ok(())
    }

    /// Drops a reference to `o`; the last one releases it (uncharging its stock's whole pages).
    pub fn objcg_put(&self, o: ObjcgId) -> Result<()> {
        let t = self.read();
        self.objcg_put_locked(&t, o)
    }

    pub(super) fn objcg_put_locked(&self, t: &Tree, o: ObjcgId) -> Result<()> {
        self.objcg_put_n_locked(t, o, 1)
    }

    /// Drops `n` references at once; the last one releases the objcg.
    fn objcg_put_n_locked(&self, t: &Tree, o: ObjcgId, n: u64) -> Result<()> {
        let obj = t.objcg(o)?;
        let prev = obj
            .refcnt
            .fetch_update(Relaxed, Relaxed, |r| r.checked_sub(n))
            .map_err(|_| ZsError::Cgroup(format!("objcg {o}: reference count underflow")))?;
        self.ops.add(&self.ops.objcg_puts, n);
        if n > 0 && prev == n && !obj.released.swap(true, Relaxed) {
            let mut stock = obj.stock.lock();
            let pages = *stock / self.page_size;
            *stock = 0;
            self.uncharge_kmem(t, obj.memcg, pages);
        }
        Ok(())
    }

    /// Current reference count of `o` (0 once released).
    pub fn objcg_refcount(&self, o: ObjcgId) -> Result<u64> {
        let t = self.read();
        let obj = t
            .objcgs
            .get(o as usize)
            .ok_or_else(|| ZsError::Cgroup(format!("no objcg with id {o}")))?;
        Ok(obj.refcnt.load(Relaxed))
    }

    /// The memcg `o` charges now (follows re-parenting).
    pub fn objcg_memcg(&self, o: ObjcgId) -> Result<MemcgId> {
        Ok(self.read().objcg(o)?.memcg)
    }

    /// Pre-charged bytes held in `o`'s stock.
    pub fn objcg_stock(&self, o: ObjcgId) -> Result<u64> {
        let t = self.read();
        let s = *t.objcg(o)?.stock.lock();
        Ok(s)
    }

    /// `memcg`'s active objcg and the objcgs re-parented into it (live ones only).
    pub fn memcg_objcgs(&self, memcg: MemcgId) -> Result<(Option<ObjcgId>, Vec<ObjcgId>)> {
        let t = self.read();
        let m = t.memcg(memcg)?;
        let list = m
            .objcg_list
            .iter()
            .copied()
            .filter(|&o| t.objcg(o).is_ok())
            .collect();
        Ok((m.objcg, list))
    }

    /// Charges `bytes` to `o`'s memcg through the byte stock (see the module header). `force`
    /// is the PF_MEMALLOC must-not-fail charge: it may exceed memory.max (raising a max event).
    pub fn obj_cgroup_charge(&self, o: ObjcgId, bytes: u64, force: bool) -> Result<()> {
        if bytes == 0 {
            return Ok(());
        }
        let t = self.read();
        self.obj_cgroup_charge_locked(&t, o, bytes, force)
    }

    fn obj_cgroup_charge_locked(
        &self,
        t: &Tree,
        o: ObjcgId,
        bytes: u64,
        force: bool,
    ) -> Result<()> {
        let obj = t.objcg(o)?;
        self.ops.add(&self.ops.obj_charges, 1);
        let mut stock = obj.stock.lock();
        if *stock >= bytes {
            *stock -= bytes;
            return Ok(());
        }
        let pages = bytes.div_ceil(self.page_size);
        self.try_charge_chain(t, obj.memcg, pages, force)?;
        self.add_memcg_state(t, obj.memcg, self.items().kernel, pages as i64);
        let rem = bytes % self.page_size;
        if rem != 0 {
            *stock += self.page_size - rem;
        }
        Ok(())
    }

    /// Returns `bytes` to `o`'s stock, uncharging whole pages once it exceeds a page.
    pub fn obj_cgroup_uncharge(&self, o: ObjcgId, bytes: u64) -> Result<()> {
        let t = self.read();
        self.obj_cgroup_uncharge_locked(&t, o, bytes)
    }

    fn obj_cgroup_uncharge_locked(&self, t: &Tree, o: ObjcgId, bytes: u64) -> Result<()> {
        let obj = t.objcg(o)?;
        self.ops.add(&self.ops.obj_uncharges, 1);
        self.refill_stock(t, obj.memcg, &mut obj.stock.lock(), bytes);
        Ok(())
    }

    /// `refill_obj_stock`: `bytes` back to the stock; past a page, its whole pages uncharged.
    fn refill_stock(&self, t: &Tree, memcg: MemcgId, stock: &mut u64, bytes: u64) {
        *stock += bytes;
        if *stock > self.page_size {
            let pages = *stock / self.page_size;
            *stock %= self.page_size;
            self.uncharge_kmem(t, memcg, pages);
        }
    }

    /// zsmalloc's charge of a new object, under one tree lock: `objcg_get` (the stored
    /// pointer's reference), the forced `obj_cgroup_charge` of `bytes`, then each
    /// `mod_objcg_lruvec_state` of `lruvec` and the `mod_node_state` of `node` — the same
    /// updates in the same order as the separate calls, checked before any is made.
    pub fn charge_objcg_object(
        &self,
        o: ObjcgId,
        bytes: u64,
        lruvec: &[ObjStatDelta],
        node: ObjStatDelta,
    ) -> Result<()> {
        self.check_deltas(lruvec, &[node])?;
        let t = self.read();
        t.objcg(o)?.refcnt.fetch_add(1, Relaxed);
        self.ops.add(&self.ops.objcg_gets, 1);
        if bytes > 0 {
            self.obj_cgroup_charge_locked(&t, o, bytes, true)?;
        }
        self.apply_deltas(&t, o, lruvec, &[node])
    }

    /// The reverse of `charge_objcg_object` for objects of `o` freed together, under one tree
    /// lock: `obj_cgroup_uncharge` of each object's bytes in order (the stock uncharging whole
    /// pages as it passes them, exactly as one call per object would), the deltas (negated and
    /// summed by the caller) applied once, then one `objcg_put` per object.
    pub fn uncharge_objcg_objects(
        &self,
        o: ObjcgId,
        sizes: &[u64],
        lruvec: &[ObjStatDelta],
        node: &[ObjStatDelta],
    ) -> Result<()> {
        self.check_deltas(lruvec, node)?;
        let t = self.read();
        let obj = t.objcg(o)?;
        self.ops.add(&self.ops.obj_uncharges, sizes.len() as u64);
        {
            let mut stock = obj.stock.lock();
            for &bytes in sizes {
                self.refill_stock(&t, obj.memcg, &mut stock, bytes);
            }
        }
        self.apply_deltas(&t, o, lruvec, node)?;
        self.objcg_put_n_locked(&t, o, sizes.len() as u64)
    }

    fn check_deltas(&self, lruvec: &[ObjStatDelta], node: &[ObjStatDelta]) -> Result<()> {
        for &(nid, item, _) in lruvec {
            self.reg.check(item, &[StatLevel::Lruvec])?;
            self.check_nid(nid)?;
        }
        for &(nid, item, _) in node {
            self.reg
                .check(item, &[StatLevel::Lruvec, StatLevel::Node])?;
            self.check_nid(nid)?;
        }
        Ok(())
    }

    fn apply_deltas(
        &self,
        t: &Tree,
        o: ObjcgId,
        lruvec: &[ObjStatDelta],
        node: &[ObjStatDelta],
    ) -> Result<()> {
        let memcg = t.objcg(o)?.memcg;
        for &(nid, item, delta) in lruvec {
            self.add_lruvec_state(t, memcg, nid, item, delta);
        }
        for &(nid, item, delta) in node {
            self.add_node_state(nid, item, delta);
        }
        Ok(())
    }

    fn uncharge_kmem(&self, t: &Tree, memcg: MemcgId, pages: u64) {
        if pages > 0 {
            self.add_memcg_state(t, memcg, self.items().kernel, -(pages as i64));
            self.uncharge_chain(t, memcg, pages);
        }
    }

    /// Whether `memcg` may store more in zswap (`obj_cgroup_may_zswap`): walking from `memcg`
    /// up to but excluding root, no level's `floor(zswap bytes / PAGE_SIZE)` reaches its
    /// memory.zswap.max (a max of 0 always refuses). Returns the first level over its limit.
    pub fn zswap_over_limit(&self, memcg: MemcgId) -> Result<Option<MemcgId>> {
        self.zswap_over_limit_locked(&self.read(), memcg)
    }

    fn zswap_over_limit_locked(&self, t: &Tree, memcg: MemcgId) -> Result<Option<MemcgId>> {
        let zswap = self.items().zswap;
        let max_all = super::page_counter_max(self.page_size);
        for &a in t.memcg(memcg)?.chain.iter() {
            if a == ROOT_MEMCG {
                break;
            }
            let m = &t.memcgs[a as usize];
            let max = m.zswap_max.load(Relaxed);
            if max == max_all {
                continue;
            }
            let bytes = self.memcg_value(m, zswap).max(0) as u64;
            if max == 0 || bytes / self.page_size >= max {
                return Ok(Some(a));
            }
        }
        Ok(None)
    }

    /// `obj_cgroup_may_zswap`: true when no level below root is at its memory.zswap.max.
    pub fn may_zswap(&self, memcg: MemcgId) -> Result<bool> {
        Ok(self.zswap_over_limit(memcg)?.is_none())
    }

    /// Effective memory.zswap.writeback: the AND over `memcg` and all ancestors, root included.
    pub fn zswap_writeback_enabled(&self, memcg: MemcgId) -> Result<bool> {
        let t = self.read();
        let chain = &t.memcg(memcg)?.chain;
        Ok(chain
            .iter()
            .all(|&a| t.memcgs[a as usize].zswap_writeback.load(Relaxed)))
    }
}
