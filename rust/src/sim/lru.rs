//! A memcg's resident anonymous pages on two lists, inactive and active, with a referenced bit:
//! enough of the kernel's LRU to make reclaim pick cold pages and spare hot ones.
//!
//! Entries are (process, page, token); a page that leaves memory or moves keeps its stale entry
//! until reclaim meets it and sees the token no longer matches, so removal is O(1).

use std::collections::VecDeque;

/// One LRU entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LruRef {
    /// Process index.
    pub pid: u32,
    /// Virtual page number in the process.
    pub vpn: u32,
    /// The page's token when it was queued.
    pub token: u64,
}

/// The two lists of one memcg.
#[derive(Debug, Default)]
pub struct Lru {
    /// Oldest first: reclaim takes from the front.
    pub inactive: VecDeque<LruRef>,
    /// Pages found referenced; refill the inactive list from its front.
    pub active: VecDeque<LruRef>,
    /// Resident pages (entries may exceed it: stale ones are skipped lazily).
    pub nr_resident: u64,
}

impl Lru {
    /// Moves up to `n` of the oldest active entries to the inactive list (`shrink_active_list`);
    /// returns them so the caller can clear their referenced bits.
    pub fn refill(&mut self, n: usize) -> Vec<LruRef> {
        let mut moved = Vec::with_capacity(n.min(self.active.len()));
        for _ in 0..n {
            let Some(r) = self.active.pop_front() else {
                break;
            };
            self.inactive.push_back(r);
            moved.push(r);
        }
        moved
    }

    /// Entries queued on both lists (stale ones included): a bound for one scan.
    pub fn queued(&self) -> usize {
        self.inactive.len() + self.active.len()
    }

    /// Drops stale entries when they outnumber live ones, so the lists stay proportional.
    pub fn compact_if_stale(&mut self, live: impl Fn(&LruRef) -> bool) {
        if self.queued() as u64 > 2 * self.nr_resident + 64 {
            self.inactive.retain(&live);
            self.active.retain(&live);
        }
    }
}
