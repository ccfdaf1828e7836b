//! Counts of the accounting work a hierarchy did: the deterministic cost the experiments report
//! beside time. Counting is off unless asked for (`Cgroups::set_op_counting`), like the
//! kernel's debug statistics: off, each site costs one relaxed load of a flag that is never
//! written on the hot paths; on, one relaxed add where the work happens, so two runs of the same
//! workload in the same mode give the same counts, whatever the machine's load.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// What one [`super::Cgroups`] has done so far.
#[derive(Debug, Default)]
pub(crate) struct OpCounts {
    /// Whether counting is on.
    pub on: AtomicBool,
    /// Memcg-wide counter updates, one per level of the hierarchy touched.
    pub memcg_stat: AtomicU64,
    /// Per-(memcg, node) lruvec counter updates, one per level touched.
    pub lruvec_stat: AtomicU64,
    /// Node (vmstat) counter updates.
    pub node_stat: AtomicU64,
    /// Event counts (memcg events per level, vm events).
    pub events: AtomicU64,
    /// Page-counter charges and uncharges, one per level touched.
    pub page_charges: AtomicU64,
    pub page_uncharges: AtomicU64,
    /// Byte-granular objcg charges and uncharges (`obj_cgroup_charge` / `_uncharge`).
    pub obj_charges: AtomicU64,
    pub obj_uncharges: AtomicU64,
    /// Objcg references taken and dropped.
    pub objcg_gets: AtomicU64,
    pub objcg_puts: AtomicU64,
    /// Acquisitions of the tree lock (shared and exclusive).
    pub tree_locks: AtomicU64,
}

impl OpCounts {
    /// Adds `n` to counter `c` (one of this struct's) while counting is on.
    #[inline]
    pub(crate) fn add(&self, c: &AtomicU64, n: u64) {
        if self.on.load(Relaxed) {
            c.fetch_add(n, Relaxed);
        }
    }

    /// `(name, value)` of every counter, in a fixed order.
    pub(crate) fn snapshot(&self) -> Vec<(&'static str, u64)> {
        [
            ("memcg_stat_updates", &self.memcg_stat),
            ("lruvec_stat_updates", &self.lruvec_stat),
            ("node_stat_updates", &self.node_stat),
            ("event_updates", &self.events),
            ("page_counter_charges", &self.page_charges),
            ("page_counter_uncharges", &self.page_uncharges),
            ("objcg_charges", &self.obj_charges),
            ("objcg_uncharges", &self.obj_uncharges),
            ("objcg_gets", &self.objcg_gets),
            ("objcg_puts", &self.objcg_puts),
            ("memcg_tree_locks", &self.tree_locks),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.load(Relaxed)))
        .collect()
    }
}
