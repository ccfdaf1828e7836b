//! The cgroup and node files in the kernel's text formats, and the same data as ordered vectors.
//!
//! - memory.stat: `key value` lines; state keys in `memory_stats[]` order with `slab` synthesised
//!   after `slab_unreclaimable` and `hugetlb` only with hugetlb accounting; then `pgscan`,
//!   `pgsteal` (sums of the four reclaim sources), then the memcg events. Amounts in bytes,
//!   events as counts; negative transients print as 0 (the kernel clamps them too).
//! - memory.numa_stat: one line per memory.stat key backed by a node item, `key N0=v N1=v`.
//! - node vmstat: `key value` for zone items, NUMA events and node items, in pages (byte items
//!   divided by PAGE_SIZE, THP items in huge pages).
//! - memory.events(.local): low, high, max, oom, oom_kill, oom_group_kill, sock_throttled.
//! - memory.current / memory.peak / memory.zswap.current: bytes; memory.max / memory.zswap.max:
//!   "max" or bytes; memory.zswap.writeback: 0 or 1.

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

use super::page_counter::{page_counter_memparse, tunable_text};
use super::registry::StatLevel;
use super::tree::MemcgNode;
use super::{Cgroups, MemcgId, ROOT_MEMCG};
use crate::error::{Result, ZsError};
use crate::parse::kstrtoull;

/// memory.events entries (`enum memcg_memory_event`), in file order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemcgEvent {
    /// Reclaimed despite memory.low protection.
    Low = 0,
    /// Over memory.high.
    High,
    /// Hit memory.max (a failed or forced charge).
    Max,
    /// OOM condition.
    Oom,
    /// A process killed by the OOM killer.
    OomKill,
    /// A group OOM kill.
    OomGroupKill,
    /// Socket throttling.
    SockThrottled,
}

pub(super) const NR_MEMCG_EVENTS: usize = 7;
const MEMCG_EVENT_NAMES: [&str; NR_MEMCG_EVENTS] = [
    "low",
    "high",
    "max",
    "oom",
    "oom_kill",
    "oom_group_kill",
    "sock_throttled",
];

/// Files readable on every cgroup; the others are not on root (CFTYPE_NOT_ON_ROOT).
const ROOT_FILES: &[&str] = &["memory.stat", "memory.numa_stat", "memory.zswap.writeback"];
const FILES: &[&str] = &[
    "memory.current",
    "memory.peak",
    "memory.high",
    "memory.max",
    "memory.events",
    "memory.events.local",
    "memory.stat",
    "memory.numa_stat",
    "memory.swap.current",
    "memory.swap.max",
    "memory.swap.peak",
    "memory.zswap.current",
    "memory.zswap.max",
    "memory.zswap.writeback",
];

fn clamp(v: i64) -> u64 {
    v.max(0) as u64
}

impl Cgroups {
    fn stat_output(&self, m: &MemcgNode, item: super::StatItem) -> u64 {
        let def = &self.reg.items()[item as usize];
        clamp(self.memcg_value(m, item)) * def.unit.output_factor(self.page_size)
    }

    /// memory.stat as (key, value) in the kernel's order.
    pub fn memory_stat(&self, memcg: MemcgId) -> Result<Vec<(&str, u64)>> {
        let t = self.read();
        let m = t.memcg(memcg)?;
        let k = self.items();
        let mut out = Vec::with_capacity(self.reg.len());
        for &item in self.reg.memory_stat_order() {
            if item == k.hugetlb && !self.hugetlb_accounting {
                continue;
            }
            let v = self.stat_output(m, item);
            out.push((self.reg.items()[item as usize].name.as_str(), v));
            if item == k.slab_unreclaimable {
                out.push(("slab", v + self.stat_output(m, k.slab_reclaimable)));
            }
        }
        let sum = |items: &[super::StatItem]| items.iter().map(|&i| self.stat_output(m, i)).sum();
        out.push(("pgscan", sum(&k.pgscan)));
        out.push(("pgsteal", sum(&k.pgsteal)));
        for &item in self.reg.event_order() {
            out.push((
                self.reg.items()[item as usize].name.as_str(),
                self.stat_output(m, item),
            ));
        }
        Ok(out)
    }

    /// memory.numa_stat as (key, per-node values) in the kernel's order.
    pub fn memory_numa_stat(&self, memcg: MemcgId) -> Result<Vec<(&str, Vec<u64>)>> {
        let t = self.read();
        let m = t.memcg(memcg)?;
        let n = self.reg.len();
        let mut out = Vec::new();
        for &item in self.reg.memory_stat_order() {
            let def = &self.reg.items()[item as usize];
            if def.level != StatLevel::Lruvec {
                continue;
            }
            let factor = def.unit.output_factor(self.page_size);
            let per_node = (0..self.nr_nodes)
                .map(|nid| clamp(m.lruvec[nid * n + item as usize].load(Relaxed)) * factor)
                .collect();
            out.push((def.name.as_str(), per_node));
        }
        Ok(out)
    }

    /// `/sys/devices/system/node/node<nid>/vmstat` as (key, value) in the kernel's order.
    pub fn node_vmstat_map(&self, nid: usize) -> Result<Vec<(&str, u64)>> {
        self.check_nid(nid)?;
        let hpage_pmd_nr = self.page_size / 8; // PTRS_PER_PTE with 8-byte entries
        let base = nid * self.reg.len();
        Ok(self
            .reg
            .vmstat_order()
            .iter()
            .map(|&item| {
                let def = &self.reg.items()[item as usize];
                let mut v = clamp(self.node[base + item as usize].load(Relaxed));
                if def.node_unit == super::StatUnit::Bytes {
                    v /= self.page_size;
                }
                if def.thp {
                    v /= hpage_pmd_nr;
                }
                (def.vmstat.as_deref().unwrap_or(&def.name), v)
            })
            .collect())
    }

    /// Node vmstat text.
    pub fn node_vmstat(&self, nid: usize) -> Result<String> {
        Ok(lines(&self.node_vmstat_map(nid)?))
    }

    /// memory.events (or memory.events.local) as (key, value).
    pub fn memory_events(&self, memcg: MemcgId, local: bool) -> Result<Vec<(&'static str, u64)>> {
        let t = self.read();
        let m = t.memcg(memcg)?;
        let ev = if local { &m.events_local } else { &m.events };
        Ok(MEMCG_EVENT_NAMES
            .iter()
            .zip(ev.iter())
            .map(|(&k, v)| (k, v.load(Relaxed)))
            .collect())
    }

    /// Names of the files `memcg` has (root has fewer).
    pub fn file_names(&self, memcg: MemcgId) -> Result<Vec<&'static str>> {
        self.read().memcg(memcg)?;
        Ok(if memcg == ROOT_MEMCG {
            ROOT_FILES.to_vec()
        } else {
            FILES.to_vec()
        })
    }

    fn check_file(&self, memcg: MemcgId, name: &str) -> Result<()> {
        let t = self.read();
        let m = t.memcg(memcg)?;
        if !FILES.contains(&name) {
            return Err(ZsError::Cgroup(format!("{}/{name}: no such file", m.path)));
        }
        if memcg == ROOT_MEMCG && !ROOT_FILES.contains(&name) {
            return Err(ZsError::Cgroup(format!(
                "/{name}: not on the root cgroup (ENOENT)"
            )));
        }
        Ok(())
    }

    /// The text of cgroup file `name` of `memcg`, as the kernel prints it.
    pub fn read_file(&self, memcg: MemcgId, name: &str) -> Result<String> {
        self.check_file(memcg, name)?;
        let ps = self.page_size;
        Ok(match name {
            "memory.stat" => lines(&self.memory_stat(memcg)?),
            "memory.numa_stat" => {
                let mut s = String::with_capacity(1024);
                for (k, per_node) in self.memory_numa_stat(memcg)? {
                    s.push_str(k);
                    for (nid, v) in per_node.iter().enumerate() {
                        let _ = write!(s, " N{nid}={v}");
                    }
                    s.push('\n');
                }
                s
            }
            "memory.events" | "memory.events.local" => {
                lines(&self.memory_events(memcg, name.ends_with("local"))?)
            }
            "memory.current" => format!("{}\n", self.usage_pages(memcg)? * ps),
            "memory.peak" => format!("{}\n", self.peak_pages(memcg)? * ps),
            "memory.max" => tunable_text(self.max_pages(memcg)?, ps),
            "memory.high" => tunable_text(self.high_pages(memcg)?, ps),
            "memory.swap.current" => format!("{}\n", self.swap_usage_pages(memcg)? * ps),
            "memory.swap.peak" => format!("{}\n", self.swap_peak_pages(memcg)? * ps),
            "memory.swap.max" => tunable_text(self.swap_max_pages(memcg)?, ps),
            "memory.zswap.current" => format!("{}\n", self.zswap_current(memcg)?),
            "memory.zswap.max" => tunable_text(self.zswap_max_pages(memcg)?, ps),
            _ => {
                let t = self.read();
                let wb = t.memcg(memcg)?.zswap_writeback.load(Relaxed);
                format!("{}\n", u8::from(wb))
            }
        })
    }

    /// Writes `value` to cgroup file `name` of `memcg` with the kernel's parsing: memory.max and
    /// memory.zswap.max take "max" or a memparse size (K/M/G/… suffixes) rounded down to pages;
    /// memory.zswap.writeback takes 0 or 1. Lowering a limit reclaims nothing here.
    pub fn write_file(&self, memcg: MemcgId, name: &str, value: &str) -> Result<()> {
        self.check_file(memcg, name)?;
        let t = self.read();
        let m = t.memcg(memcg)?;
        match name {
            "memory.max" => m
                .memory
                .set_max(page_counter_memparse(value, self.page_size)?),
            "memory.high" => m
                .high
                .store(page_counter_memparse(value, self.page_size)?, Relaxed),
            "memory.swap.max" => m
                .swap
                .set_max(page_counter_memparse(value, self.page_size)?),
            "memory.zswap.max" => m
                .zswap_max
                .store(page_counter_memparse(value, self.page_size)?, Relaxed),
            "memory.zswap.writeback" => {
                // kstrtoint(strstrip(buf), 0, …), then 0 or 1.
                let n = kstrtoull(value.trim(), 0).unwrap_or(u64::MAX);
                if n > 1 {
                    return Err(ZsError::InvalidArgument(format!(
                        "memory.zswap.writeback accepts 0 or 1, got {value:?} (EINVAL)"
                    )));
                }
                m.zswap_writeback.store(n == 1, Relaxed);
            }
            _ => {
                return Err(ZsError::Cgroup(format!(
                    "{}/{name}: read-only file (EACCES)",
                    m.path
                )))
            }
        }
        Ok(())
    }
}

fn lines<K: AsRef<str>>(kv: &[(K, u64)]) -> String {
    let mut s = String::with_capacity(kv.len() * 24);
    for (k, v) in kv {
        let _ = writeln!(s, "{} {v}", k.as_ref());
    }
    s
}
