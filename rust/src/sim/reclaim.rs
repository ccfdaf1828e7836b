//! Reclaim, the other half of the simulated kernel: the LRU scan with second chance, write-out
//! to the swap layer, memory.max / memory.high / kswapd / memory.reclaim driving it, and the
//! frame allocation and charge that trigger it (see `machine.rs` for the order of the paths).

use super::backend::SwapOut;
use super::lru::LruRef;
use super::machine::{Machine, Pte, State, BATCH, RETRIES};
use crate::error::{Result, ZsError};
use crate::mem::{Frame, Memory};
use crate::memcg::Reclaimer;
use crate::memcg::{MemcgEvent, MemcgId, ROOT_MEMCG};

impl Machine {
    /// kswapd: woken when free frames fall below the low watermark (min + min/4), it reclaims
    /// the whole machine up to the high one (min + min/2), as `__setup_per_zone_wmarks` spaces
    /// them by default.
    pub(super) fn kswapd(&self, st: &mut State) -> Result<()> {
        if st.min_free_pages == 0 {
            return Ok(());
        }
        let free = |m: &Memory| {
            m.node_stats()
                .iter()
                .map(|n| (n.capacity - n.used) as u64)
                .sum::<u64>()
        };
        let (low, high) = (st.min_free_pages * 5 / 4, st.min_free_pages * 3 / 2);
        if free(&self.mem) >= low {
            return Ok(());
        }
        let before = std::mem::replace(&mut st.reclaimer, Reclaimer::Kswapd);
        let mut stalls = 0;
        let mut result = Ok(());
        while free(&self.mem) < high && stalls < RETRIES {
            let want = (high - free(&self.mem)).min(BATCH);
            match self.reclaim_subtree(st, ROOT_MEMCG, want) {
                Ok(0) => stalls += 1,
                Ok(_) => {}
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        st.reclaimer = before;
        result
    }

    /// A frame from the allowed nodes in order; when all are full, reclaim machine-wide (direct
    /// reclaim) and retry.
    pub(super) fn alloc_frame(&self, st: &mut State, mems: &[usize]) -> Result<Frame> {
        for _ in 0..=RETRIES {
            for &n in mems {
                if let Ok(f) = self.mem.alloc_frame_on(n) {
                    return Ok(f);
                }
            }
            self.reclaim_subtree(st, ROOT_MEMCG, BATCH)?;
        }
        st.stats.ooms += 1;
        Err(ZsError::OutOfMemory(format!(
            "nodes {mems:?} are full and nothing is reclaimable"
        )))
    }

    /// `try_charge` of one page with memory.max reclaim, then memory.high reclaim.
    pub(super) fn charge_page(&self, st: &mut State, memcg: MemcgId) -> Result<()> {
        let mut stalls = 0;
        loop {
            match self.cgroups.try_charge_at(memcg, 1)? {
                None => break,
                Some(level) => {
                    if self.reclaim_subtree(st, level, BATCH)? == 0 {
                        stalls += 1;
                        if stalls >= RETRIES {
                            st.stats.ooms += 1;
                            self.cgroups.memory_event(level, MemcgEvent::Oom)?;
                            return Err(ZsError::LimitExceeded(format!(
                                "{}: out of memory (memory.max reached, nothing reclaimable)",
                                self.cgroups.path(level)?
                            )));
                        }
                    }
                }
            }
        }
        // reclaim_high: every level over its memory.high gives back up to a batch.
        for (level, excess) in self.cgroups.over_high(memcg)? {
            self.reclaim_subtree(st, level, excess.min(BATCH))?;
        }
        Ok(())
    }

    /// Reclaims up to `nr` pages from the memcgs under `target`, each asked for a share
    /// proportional to its resident pages (as `get_scan_count` scales scanning by LRU size),
    /// starting from a rotating position; then runs the memcg-aware shrinkers. Returns the
    /// progress made.
    pub(super) fn reclaim_subtree(&self, st: &mut State, target: MemcgId, nr: u64) -> Result<u64> {
        let mut memcgs: Vec<(MemcgId, u64)> = st
            .lrus
            .iter()
            .map(|(&m, l)| (m, l.nr_resident))
            .filter(|&(m, _)| self.cgroups.is_descendant(m, target).unwrap_or(false))
            .collect();
        memcgs.sort_unstable();
        if memcgs.is_empty() {
            return Ok(0);
        }
        let total: u64 = memcgs.iter().map(|e| e.1).sum();
        let start = st.cursor % memcgs.len();
        st.cursor = st.cursor.wrapping_add(1);
        let mut done = 0;
        for k in 0..memcgs.len() {
            if done >= nr {
                break;
            }
            let (m, resident) = memcgs[(start + k) % memcgs.len()];
            if resident == 0 {
                continue;
            }
            let share = (nr * resident).div_ceil(total.max(1)).max(1).min(nr - done);
            done += self.shrink_lru(st, m, share)?;
        }
        // A second pass takes what the proportional shares left over from whoever has pages.
        for k in 0..memcgs.len() {
            if done >= nr {
                break;
            }
            let m = memcgs[(start + k) % memcgs.len()].0;
            done += self.shrink_lru(st, m, nr - done)?;
        }
        // shrink_slab: the memcg-aware shrinkers (zswap's writeback) of every memcg visited;
        // what they free is compressed memory, so it counts as progress but not as pages.
        let mut slab = 0;
        for &(m, _) in &memcgs {
            for nid in 0..self.mem.nr_nodes() {
                slab += self.swap.shrink(m, nid, BATCH)?;
            }
        }
        st.stats.slab_freed += slab;
        Ok(if done == 0 && slab > 0 {
            1.min(nr)
        } else {
            done
        })
    }

    /// Scans one memcg's LRU for up to `nr` pages to write out (second chance for referenced
    /// pages; refused write-outs re-activate).
    pub(super) fn shrink_lru(&self, st: &mut State, memcg: MemcgId, nr: u64) -> Result<u64> {
        let mut done = 0;
        let mut budget = {
            let lru = st.lrus.entry(memcg).or_default();
            2 * lru.queued() + 64
        };
        while done < nr && budget > 0 {
            budget -= 1;
            let cand = {
                let lru = st.lrus.get_mut(&memcg).expect("lru exists");
                if lru.inactive.is_empty() {
                    let moved = lru.refill(BATCH as usize);
                    if moved.is_empty() {
                        break;
                    }
                    for r in moved {
                        if let Some(Pte::Present {
                            referenced, token, ..
                        }) = st.procs.pte_mut(r.pid, r.vpn)
                        {
                            if *token == r.token {
                                *referenced = false;
                            }
                        }
                    }
                    continue;
                }
                st.lrus
                    .get_mut(&memcg)
                    .expect("lru exists")
                    .inactive
                    .pop_front()
            };
            let Some(r) = cand else { break };
            let live = matches!(
                st.procs.pte(r.pid, r.vpn),
                Some(Pte::Present { token, .. }) if *token == r.token
            );
            if !live {
                continue;
            }
            st.stats.scanned += 1;
            self.cgroups
                .count_event(Some(memcg), self.items.pgscan(st.reclaimer), 1)?;
            if let Some(Pte::Present { referenced, .. }) = st.procs.pte_mut(r.pid, r.vpn) {
                if *referenced {
                    *referenced = false;
                    st.activate(memcg, r);
                    continue;
                }
            }
            if self.page_out(st, memcg, r)? {
                done += 1;
            }
        }
        let procs = &st.procs;
        if let Some(lru) = st.lrus.get_mut(&memcg) {
            lru.compact_if_stale(|r| {
                matches!(procs.pte(r.pid, r.vpn),
                    Some(Pte::Present { token, .. }) if *token == r.token)
            });
        }
        Ok(done)
    }

    /// Writes one resident page out to a new swap slot; false if the swap layer refused it (or
    /// memory.swap.max / the swap space is exhausted) and the page stays, re-activated.
    pub(super) fn page_out(&self, st: &mut State, memcg: MemcgId, r: LruRef) -> Result<bool> {
        let slot = match st.free_slots.pop() {
            Some(s) => s,
            None if st.next_slot < self.swap.nr_slots() => {
                st.next_slot += 1;
                st.next_slot - 1
            }
            None => {
                st.activate(memcg, r);
                return Ok(false);
            }
        };
        if self.cgroups.swap_try_charge(memcg, 1).is_err() {
            st.free_slots.push(slot);
            st.activate(memcg, r);
            return Ok(false);
        }
        let pte = std::mem::replace(
            st.procs.pte_mut(r.pid, r.vpn).expect("checked live"),
            Pte::None,
        );
        let Pte::Present { frame, token, .. } = pte else {
            unreachable!("checked live")
        };
        let out = self.swap.writeout(slot, &frame.data, memcg, frame.nid);
        if !matches!(out, Ok(o) if o != SwapOut::Rejected) {
            // Refused, or failed: the page stays resident and re-activated; the slot and its
            // swap charge are given back before any error is reported.
            st.free_slots.push(slot);
            self.cgroups.swap_uncharge(memcg, 1)?;
            *st.procs.pte_mut(r.pid, r.vpn).expect("checked live") = Pte::Present {
                frame,
                referenced: false,
                token,
            };
            st.activate(memcg, r);
            out?;
            st.stats.swapout_rejected += 1;
            return Ok(false);
        }
        let out = out?;
        match out {
            SwapOut::Zero => st.stats.swapout_zero += 1,
            SwapOut::Zswap => st.stats.swapout_zswap += 1,
            SwapOut::Disk => {
                st.stats.swapout_disk += 1;
                if !self.swap.counts_swap_events() {
                    self.cgroups
                        .count_event(Some(memcg), self.items.pswpout, 1)?;
                }
            }
            SwapOut::Rejected => {}
        }
        *st.procs.pte_mut(r.pid, r.vpn).expect("checked live") = Pte::Swapped(slot);
        st.stats.reclaimed += 1;
        self.cgroups
            .count_event(Some(memcg), self.items.pgsteal(st.reclaimer), 1)?;
        self.release_frame(st, memcg, frame);
        Ok(true)
    }
}
