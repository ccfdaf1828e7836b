//! zswap entries, the per-swap-slot index and the per-(memcg, node) LRU lists.
//!
//! The kernel keeps entries in xarrays (one per 2^14 slots of a swap type) and links them on a
//! memcg- and NUMA-aware `list_lru`. Here both live in one structure guarded by the owner's lock:
//! - a **slab** of entries addressed by `u32` ids, recycled through a free list;
//! - an **index** from swap slot to entry id: like the xarray, leaves of 64 consecutive slots,
//!   so that neighbouring slots — a swap device hands them out in clusters — share a leaf and
//!   a stream of loads or stores walks memory in order instead of hashing into a big table;
//! - intrusive doubly-linked **lists** keyed by (memcg, node): head = oldest, tail = newest.
//!
//! Invariants: an entry is in the index iff it is live; a live entry is linked on exactly the list
//! named by its `(lru_memcg, nid)` (zswap links every stored entry); every list's `len` equals the
//! number of entries reachable from its head. Re-parenting a dead memcg splices its lists onto the
//! *head* of the parent's lists on the same node, as `list_splice_init` in
//! `memcg_reparent_list_lrus` does, so the dead memcg's entries are walked first.

use super::SwapSlot;
use crate::memcg::{MemcgId, ObjcgId};

const NIL: u32 = u32::MAX;

/// HashMap with rustc's FxHash: every store and load hashes a slot two or three times, and
/// SipHash's flood resistance buys nothing against keys the simulator chooses itself. It also
/// makes iteration order (swapoff) reproducible.
pub(super) type FxMap<K, V> = rustc_hash::FxHashMap<K, V>;

/// Slots per index leaf (`XA_CHUNK_SIZE`).
const LEAF_SHIFT: u32 = 6;
const LEAF: usize = 1 << LEAF_SHIFT;

/// 64 consecutive slots of one swap type: their entry ids (`NIL` when empty).
#[derive(Debug)]
struct Leaf {
    ids: [u32; LEAF],
    count: u32,
}

/// Swap slot → entry id: leaves by (type, offset / 64), found by hashing into a small map.
#[derive(Debug, Default)]
struct SlotIndex {
    leaves: FxMap<(u32, u64), Box<Leaf>>,
    len: usize,
}

impl SlotIndex {
    fn key(slot: SwapSlot) -> ((u32, u64), usize) {
        (
            (slot.ty, slot.offset >> LEAF_SHIFT),
            (slot.offset as usize) & (LEAF - 1),
        )
    }

    fn get(&self, slot: SwapSlot) -> Option<u32> {
        let (k, i) = Self::key(slot);
        let id = self.leaves.get(&k)?.ids[i];
        (id != NIL).then_some(id)
    }

    fn insert(&mut self, slot: SwapSlot, id: u32) -> Option<u32> {
        let (k, i) = Self::key(slot);
        let leaf = self.leaves.entry(k).or_insert_with(|| {
            Box::new(Leaf {
                ids: [NIL; LEAF],
                count: 0,
            })
        });
        let old = std::mem::replace(&mut leaf.ids[i], id);
        if old == NIL {
            leaf.count += 1;
            self.len += 1;
            None
        } else {
            Some(old)
        }
    }

    fn remove(&mut self, slot: SwapSlot) -> Option<u32> {
        let (k, i) = Self::key(slot);
        let leaf = self.leaves.get_mut(&k)?;
        let old = std::mem::replace(&mut leaf.ids[i], NIL);
        if old == NIL {
            return None;
        }
        leaf.count -= 1;
        self.len -= 1;
        if leaf.count == 0 {
            self.leaves.remove(&k);
        }
        Some(old)
    }

    /// Every (slot, id), in slot order.
    fn iter_sorted(&self) -> Vec<(SwapSlot, u32)> {
        let mut keys: Vec<&(u32, u64)> = self.leaves.keys().collect();
        keys.sort_unstable();
        let mut out = Vec::with_capacity(self.len);
        for k in keys {
            for (i, &id) in self.leaves[k].ids.iter().enumerate() {
                if id != NIL {
                    out.push((SwapSlot::new(k.0, (k.1 << LEAF_SHIFT) | i as u64), id));
                }
            }
        }
        out
    }
}

/// One stored page (`struct zswap_entry`).
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    /// The swap slot it backs.
    pub slot: SwapSlot,
    /// zsmalloc handle of the stored bytes.
    pub handle: u64,
    /// Bytes stored: the compressed length, or PAGE_SIZE for a page kept as-is.
    pub length: u32,
    /// The objcg charged (None for root-owned or unaccounted pages). The pool holds the reference.
    pub objcg: Option<ObjcgId>,
    /// The memcg whose list the entry is on (the objcg's memcg at insertion, moved on re-parenting).
    pub lru_memcg: MemcgId,
    /// Node of the entry (the page's node).
    pub nid: u32,
    /// Second-chance bit.
    pub referenced: bool,
    /// Taken by the load in progress (a slot listed twice in one batch loads once).
    pub claimed: bool,
    prev: u32,
    next: u32,
    linked: bool,
}

impl Entry {
    /// A fresh, unlinked, referenced entry.
    pub fn new(
        slot: SwapSlot,
        handle: u64,
        length: u32,
        objcg: Option<ObjcgId>,
        lru_memcg: MemcgId,
        nid: u32,
    ) -> Self {
        Entry {
            slot,
            handle,
            length,
            objcg,
            lru_memcg,
            nid,
            referenced: true,
            claimed: false,
            prev: NIL,
            next: NIL,
            linked: false,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct List {
    head: u32,
    tail: u32,
    len: u64,
}

impl Default for List {
    fn default() -> Self {
        List {
            head: NIL,
            tail: NIL,
            len: 0,
        }
    }
}

/// Slab + index + LRU lists.
#[derive(Debug, Default)]
pub(crate) struct Entries {
    slab: Vec<Option<Entry>>,
    free: Vec<u32>,
    index: SlotIndex,
    lists: FxMap<(MemcgId, u32), List>,
}

impl Entries {
    /// Number of live entries.
    pub fn len(&self) -> usize {
        self.index.len
    }

    /// The entry `id` (must be live).
    pub fn get(&self, id: u32) -> &Entry {
        self.slab[id as usize]
            .as_ref()
            .expect("zswap entry id is live")
    }

    pub fn get_mut(&mut self, id: u32) -> &mut Entry {
        self.slab[id as usize]
            .as_mut()
            .expect("zswap entry id is live")
    }

    /// Id of the entry stored for `slot`.
    pub fn lookup(&self, slot: SwapSlot) -> Option<u32> {
        self.index.get(slot)
    }

    /// Publishes `e` in the index (`zswap_entry_store`); returns its id and the id of the entry
    /// it replaced, which is now out of the index and must be released by the caller.
    pub fn store(&mut self, e: Entry) -> (u32, Option<u32>) {
        let slot = e.slot;
        let id = match self.free.pop() {
            Some(id) => {
                self.slab[id as usize] = Some(e);
                id
            }
            None => {
                self.slab.push(Some(e));
                (self.slab.len() - 1) as u32
            }
        };
        (id, self.index.insert(slot, id))
    }

    /// Takes `slot` out of the index (`xa_erase`); the entry stays allocated until `release`.
    pub fn erase(&mut self, slot: SwapSlot) -> Option<u32> {
        self.index.remove(slot)
    }

    /// Unlinks `id` from its list (if linked) and frees its slab cell; returns the entry.
    pub fn release(&mut self, id: u32) -> Entry {
        self.lru_del(id);
        let e = self.slab[id as usize]
            .take()
            .expect("zswap entry id is live");
        self.free.push(id);
        e
    }

    fn list_mut(&mut self, key: (MemcgId, u32)) -> &mut List {
        self.lists.entry(key).or_default()
    }

    /// Appends `id` at the tail of its (memcg, node) list (`zswap_lru_add`).
    pub fn lru_add_tail(&mut self, id: u32) {
        let (key, linked) = {
            let e = self.get(id);
            ((e.lru_memcg, e.nid), e.linked)
        };
        debug_assert!(!linked);
        let l = *self.list_mut(key);
        {
            let e = self.get_mut(id);
            e.prev = l.tail;
            e.next = NIL;
            e.linked = true;
        }
        if l.tail != NIL {
            self.get_mut(l.tail).next = id;
        }
        let l = self.list_mut(key);
        if l.head == NIL {
            l.head = id;
        }
        l.tail = id;
        l.len += 1;
    }

    /// Unlinks `id` from its list; no-op if it is not linked.
    pub fn lru_del(&mut self, id: u32) {
        let (key, prev, next, linked) = {
            let e = self.get(id);
            ((e.lru_memcg, e.nid), e.prev, e.next, e.linked)
        };
        if !linked {
            return;
        }
        if prev != NIL {
            self.get_mut(prev).next = next;
        }
        if next != NIL {
            self.get_mut(next).prev = prev;
        }
        let l = self.list_mut(key);
        if l.head == id {
            l.head = next;
        }
        if l.tail == id {
            l.tail = prev;
        }
        l.len -= 1;
        let e = self.get_mut(id);
        e.prev = NIL;
        e.next = NIL;
        e.linked = false;
    }

    /// Moves `id` to the tail of its list (LRU_ROTATE / `list_move_tail`).
    pub fn lru_rotate(&mut self, id: u32) {
        self.lru_del(id);
        self.lru_add_tail(id);
    }

    /// Oldest entry on (memcg, node).
    pub fn lru_head(&self, memcg: MemcgId, nid: u32) -> Option<u32> {
        self.lists
            .get(&(memcg, nid))
            .map(|l| l.head)
            .filter(|&h| h != NIL)
    }

    /// Entries on (memcg, node) (`list_lru_count_one`).
    pub fn lru_len(&self, memcg: MemcgId, nid: u32) -> u64 {
        self.lists.get(&(memcg, nid)).map_or(0, |l| l.len)
    }

    /// Memcgs that have a non-empty list on some node.
    pub fn lru_memcgs(&self) -> Vec<MemcgId> {
        let mut v: Vec<MemcgId> = self
            .lists
            .iter()
            .filter(|(_, l)| l.len > 0)
            .map(|(k, _)| k.0)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Splices every node list of `from` onto the head of `to`'s list on the same node
    /// (`memcg_reparent_list_lrus`).
    pub fn reparent(&mut self, from: MemcgId, to: MemcgId) {
        if from == to {
            return;
        }
        let nids: Vec<u32> = self
            .lists
            .keys()
            .filter(|k| k.0 == from)
            .map(|k| k.1)
            .collect();
        for nid in nids {
            let src = self.lists.remove(&(from, nid)).unwrap_or_default();
            if src.len == 0 {
                continue;
            }
            let mut cur = src.head;
            while cur != NIL {
                let e = self.get_mut(cur);
                e.lru_memcg = to;
                cur = e.next;
            }
            let dst = *self.list_mut((to, nid));
            self.get_mut(src.tail).next = dst.head;
            if dst.head != NIL {
                self.get_mut(dst.head).prev = src.tail;
            }
            let d = self.list_mut((to, nid));
            d.head = src.head;
            if d.tail == NIL {
                d.tail = src.tail;
            }
            d.len += src.len;
        }
    }

    /// Every live entry id, in slot order (for swapoff, teardown and checks).
    pub fn ids(&self) -> Vec<u32> {
        self.index
            .iter_sorted()
            .into_iter()
            .map(|(_, id)| id)
            .collect()
    }

    /// Walks every list and checks the invariants of the header; returns a description of the
    /// first violation.
    pub fn check(&self) -> Result<(), String> {
        let mut linked = 0u64;
        for (&(m, nid), l) in &self.lists {
            let mut n = 0u64;
            let mut prev = NIL;
            let mut cur = l.head;
            while cur != NIL {
                let e = self.get(cur);
                if (e.lru_memcg, e.nid) != (m, nid) || e.prev != prev || !e.linked || e.claimed {
                    return Err(format!("entry {cur} mislinked on list ({m}, {nid})"));
                }
                n += 1;
                prev = cur;
                cur = e.next;
            }
            if n != l.len || l.tail != prev {
                return Err(format!(
                    "list ({m}, {nid}) has len {} but {n} entries",
                    l.len
                ));
            }
            linked += n;
        }
        let indexed = self.index.iter_sorted();
        if linked != indexed.len() as u64 || indexed.len() != self.index.len {
            return Err(format!(
                "{linked} linked entries but {} indexed",
                self.index.len
            ));
        }
        for (slot, id) in indexed {
            if self.get(id).slot != slot {
                return Err(format!("index maps {slot:?} to entry {id} of another slot"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(off: u64, memcg: MemcgId, nid: u32) -> Entry {
        Entry::new(SwapSlot::new(0, off), off, 100, None, memcg, nid)
    }

    fn order(es: &Entries, m: MemcgId, nid: u32) -> Vec<u64> {
        let mut v = Vec::new();
        let mut cur = es.lru_head(m, nid);
        while let Some(id) = cur {
            v.push(es.get(id).slot.offset);
            let n = es.get(id).next;
            cur = (n != NIL).then_some(n);
        }
        v
    }

    #[test]
    fn the_index_spans_leaves_and_lists_slots_in_order() {
        let mut idx = SlotIndex::default();
        let slots = [
            SwapSlot::new(1, 3),
            SwapSlot::new(0, 200),
            SwapSlot::new(0, 63),
            SwapSlot::new(0, 64),
            SwapSlot::new(0, u64::MAX),
        ];
        for (id, &s) in slots.iter().enumerate() {
            assert_eq!(idx.insert(s, id as u32), None);
        }
        assert_eq!(idx.insert(SwapSlot::new(0, 64), 9), Some(3));
        assert_eq!(idx.len, 5);
        assert_eq!(idx.get(SwapSlot::new(0, 65)), None);
        assert_eq!(idx.get(SwapSlot::new(0, u64::MAX)), Some(4));
        let order: Vec<(u32, u64, u32)> = idx
            .iter_sorted()
            .into_iter()
            .map(|(s, id)| (s.ty, s.offset, id))
            .collect();
        assert_eq!(
            order,
            [
                (0, 63, 2),
                (0, 64, 9),
                (0, 200, 1),
                (0, u64::MAX, 4),
                (1, 3, 0)
            ]
        );
        assert_eq!(idx.remove(SwapSlot::new(0, 200)), Some(1));
        assert_eq!(idx.remove(SwapSlot::new(0, 200)), None);
        // An emptied leaf goes away.
        assert!(!idx.leaves.contains_key(&(0, 200 >> LEAF_SHIFT)));
        assert_eq!(idx.len, 4);
    }

    #[test]
    fn lists_rotate_replace_and_reparent() {
        let mut es = Entries::default();
        for off in 0..4 {
            let (id, old) = es.store(e(off, 1, 0));
            assert!(old.is_none());
            es.lru_add_tail(id);
        }
        let (id, _) = es.store(e(10, 2, 0));
        es.lru_add_tail(id);
        assert_eq!(order(&es, 1, 0), [0, 1, 2, 3]);
        let head = es.lru_head(1, 0).unwrap();
        es.lru_rotate(head);
        assert_eq!(order(&es, 1, 0), [1, 2, 3, 0]);
        // Replacing slot 2: the old entry leaves the index and is released by the caller.
        let (id, old) = es.store(e(2, 1, 0));
        es.release(old.unwrap());
        es.lru_add_tail(id);
        assert_eq!(order(&es, 1, 0), [1, 3, 0, 2]);
        es.check().unwrap();
        es.reparent(1, 2);
        assert_eq!(order(&es, 2, 0), [1, 3, 0, 2, 10]);
        assert_eq!(es.lru_len(1, 0), 0);
        assert_eq!(es.lru_len(2, 0), 5);
        es.check().unwrap();
        let id = es.erase(SwapSlot::new(0, 0)).unwrap();
        es.release(id);
        assert_eq!(order(&es, 2, 0), [1, 3, 2, 10]);
        es.check().unwrap();
        assert_eq!(es.len(), 4);
    }
}
