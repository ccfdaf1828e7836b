//! The stat-item registry: every counter the memcg layer keeps, with its name, unit and level.
//!
//! The built-in table follows the kernel's own tables so that the rendered files carry the
//! kernel's keys in the kernel's order (Linux 6.12 – 7.0, x86_64 distribution config):
//! - `memory.stat` state keys follow `memory_stats[]` in mm/memcontrol.c;
//! - the event block follows `memcg_vm_event_stat[]` (v2 output: no pgpgin/pgpgout);
//! - node vmstat follows `vmstat_text[]` in mm/vmstat.c (zone items, NUMA events, node items;
//!   the 6.17+ list: `nr_free_pages_blocks`, no `nr_writeback_temp`).
//!
//! Items we never update still exist, so every parser sees every key (as 0).
//!
//! Two layouts exist for the zswap items, because the project measures both sides of the series:
//! - [`StatLayout::PerLruvecZswap`] (the series, default): `zswap`/`zswapped` are node items
//!   (`NR_ZSWAP_B`/`NR_ZSWAPPED_B`) tracked per memcg-lruvec **in bytes**, printed in
//!   `memory.numa_stat`, and present in node vmstat (after `nr_hugetlb`) where the series
//!   counts them **in pages** (`node_unit`).
//! - [`StatLayout::Upstream`] (6.12 – 7.0): `zswap` (`MEMCG_ZSWAP_B`, bytes) and `zswapped`
//!   (`MEMCG_ZSWAPPED`, pages) are memcg-wide only; no numa_stat line, no vmstat line.

use std::collections::HashMap;

use super::kernel_keys::{
    StatRow, MEMCG_EVENTS, STATS_HEAD, STATS_TAIL, VMSTAT_ORDER, VMSTAT_THP_ONLY,
};
use crate::error::{Result, ZsError};
use StatLevel::{Lruvec as L, Memcg as M};
use StatUnit::{Bytes as B, Count as C, Pages as P};

/// Index of a stat item in a [`Registry`].
pub type StatItem = u16;

/// Where an item is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatLevel {
    /// memcg-wide only (`enum memcg_stat_item`): memory.stat.
    Memcg,
    /// node item tracked per memcg-lruvec: memory.stat, memory.numa_stat and node vmstat.
    Lruvec,
    /// node (or zone / NUMA-event) item with no memcg tracking: node vmstat only.
    Node,
    /// vm event counted per memcg (hierarchically) and globally: memory.stat event block.
    Event,
}

/// Unit of a raw counter; decides how memory.stat / numa_stat / vmstat print it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatUnit {
    /// Counter in bytes; memory.stat prints it as is, node vmstat divides by PAGE_SIZE.
    Bytes,
    /// Counter in pages; memory.stat multiplies by PAGE_SIZE, node vmstat prints pages.
    Pages,
    /// Counter in KiB (`NR_KERNEL_STACK_KB`); memory.stat multiplies by 1024.
    Kib,
    /// A plain count (events, workingset, pgdemote); printed as is everywhere.
    Count,
}

impl StatUnit {
    /// Factor that turns a raw counter into memory.stat's output unit (bytes or a count).
    pub fn output_factor(self, page_size: u64) -> u64 {
        match self {
            StatUnit::Bytes | StatUnit::Count => 1,
            StatUnit::Pages => page_size,
            StatUnit::Kib => 1024,
        }
    }
}

/// Which set of zswap items the registry holds (see the module header).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub enum StatLayout {
    /// The per-memcg-lruvec series: zswap/zswapped are node items.
    #[default]
    PerLruvecZswap,
    /// Upstream 6.12 – 7.0: zswap/zswapped are memcg-wide items.
    Upstream,
}

/// One registered item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatItemDef {
    /// memory.stat key (or, for node-only items, the vmstat key); unique lookup name.
    pub name: String,
    /// Key in node vmstat, for node items.
    pub vmstat: Option<String>,
    /// Where it is counted.
    pub level: StatLevel,
    /// Unit of the memcg and lruvec counters (what callers add).
    pub unit: StatUnit,
    /// Unit of the node (vmstat) counter; differs from `unit` for the series' zswap items.
    pub node_unit: StatUnit,
    /// Node vmstat prints it in huge pages (`vmstat_item_print_in_thp`).
    pub thp: bool,
}

impl StatItemDef {
    /// A custom item (e.g. a future memcg-aware zram pool's stats); appended after built-ins.
    pub fn new(name: &str, level: StatLevel, unit: StatUnit, vmstat: Option<&str>) -> Self {
        StatItemDef {
            name: name.to_string(),
            vmstat: vmstat.map(str::to_string),
            level,
            unit,
            node_unit: unit,
            thp: false,
        }
    }
}

/// Who reclaims, for the kernel's `pgscan_*` / `pgsteal_*` split (`memcg_vm_event_stat[]`
/// order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Reclaimer {
    /// kswapd (background reclaim of a node below its watermarks).
    Kswapd = 0,
    /// Direct reclaim by the allocating task (a charge over memory.max, or a node out of
    /// memory).
    #[default]
    Direct = 1,
    /// khugepaged.
    Khugepaged = 2,
    /// memory.reclaim.
    Proactive = 3,
}

impl Reclaimer {
    /// Every reclaimer, in the kernel's key order.
    pub const ALL: [Reclaimer; 4] = [
        Reclaimer::Kswapd,
        Reclaimer::Direct,
        Reclaimer::Khugepaged,
        Reclaimer::Proactive,
    ];

    /// The key suffix: `pgscan_<suffix>`, `pgsteal_<suffix>`.
    pub fn suffix(self) -> &'static str {
        match self {
            Reclaimer::Kswapd => "kswapd",
            Reclaimer::Direct => "direct",
            Reclaimer::Khugepaged => "khugepaged",
            Reclaimer::Proactive => "proactive",
        }
    }
}

/// Items the other layers use directly, resolved once when the registry is built: the one
/// table of the built-in items code updates (no layer looks these up by name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnownItems {
    /// `kernel` (MEMCG_KMEM, pages): what obj_cgroup charges add.
    pub kernel: StatItem,
    /// `zswap`: compressed bytes.
    pub zswap: StatItem,
    /// `zswapped`: uncompressed amount (bytes in the series layout, pages upstream).
    pub zswapped: StatItem,
    /// `zswpin` event.
    pub zswpin: StatItem,
    /// `zswpout` event.
    pub zswpout: StatItem,
    /// `zswpwb` event.
    pub zswpwb: StatItem,
    /// `nr_zspages` (zone item, pages backing zspages).
    pub nr_zspages: StatItem,
    /// `slab_reclaimable` (for the synthesised `slab` key).
    pub slab_reclaimable: StatItem,
    /// `slab_unreclaimable` (the synthesised `slab` key follows it).
    pub slab_unreclaimable: StatItem,
    /// `hugetlb` (printed in memory.stat only with hugetlb accounting).
    pub hugetlb: StatItem,
    /// `anon` (NR_ANON_MAPPED, pages): the simulator's resident anonymous pages.
    pub anon: StatItem,
    /// `pgfault` event.
    pub pgfault: StatItem,
    /// `pgmajfault` event.
    pub pgmajfault: StatItem,
    /// `pswpin` event (pages read from a swap device).
    pub pswpin: StatItem,
    /// `pswpout` event (pages written to a swap device).
    pub pswpout: StatItem,
    /// `swpin_zero` event.
    pub swpin_zero: StatItem,
    /// `swpout_zero` event.
    pub swpout_zero: StatItem,
    /// pgscan_{kswapd,direct,khugepaged,proactive}, summed into `pgscan`; index by
    /// [`Reclaimer`] with [`KnownItems::pgscan`].
    pub pgscan: [StatItem; 4],
    /// pgsteal_{kswapd,direct,khugepaged,proactive}, summed into `pgsteal`; index by
    /// [`Reclaimer`] with [`KnownItems::pgsteal`].
    pub pgsteal: [StatItem; 4],
}

impl KnownItems {
    /// `pgscan_<reclaimer>`.
    pub fn pgscan(&self, r: Reclaimer) -> StatItem {
        self.pgscan[r as usize]
    }

    /// `pgsteal_<reclaimer>`.
    pub fn pgsteal(&self, r: Reclaimer) -> StatItem {
        self.pgsteal[r as usize]
    }
}

/// All items, their lookup table and the kernel's print orders.
#[derive(Debug)]
pub struct Registry {
    items: Vec<StatItemDef>,
    by_name: HashMap<String, StatItem>,
    /// memory.stat state keys in order (`hugetlb` included; the renderer may skip it).
    memory_stat: Vec<StatItem>,
    /// memcg event keys in order.
    events: Vec<StatItem>,
    /// node vmstat keys in order.
    vmstat: Vec<StatItem>,
    known: KnownItems,
}

impl Registry {
    /// The built-in items for `layout`, then `extra` (validated: unique names, sane levels).
    pub fn new(layout: StatLayout, extra: &[StatItemDef]) -> Result<Self> {
        let mut r = Registry {
            items: Vec::new(),
            by_name: HashMap::new(),
            memory_stat: Vec::new(),
            events: Vec::new(),
            vmstat: Vec::new(),
            known: KnownItems {
                kernel: 0,
                zswap: 0,
                zswapped: 0,
                zswpin: 0,
                zswpout: 0,
                zswpwb: 0,
                nr_zspages: 0,
                slab_reclaimable: 0,
                slab_unreclaimable: 0,
                hugetlb: 0,
                anon: 0,
                pgfault: 0,
                pgmajfault: 0,
                pswpin: 0,
                pswpout: 0,
                swpin_zero: 0,
                swpout_zero: 0,
                pgscan: [0; 4],
                pgsteal: [0; 4],
            },
        };
        let row = |(name, level, unit, vmstat, thp): StatRow| StatItemDef {
            name: name.to_string(),
            vmstat: vmstat.map(str::to_string),
            level,
            unit,
            node_unit: unit,
            thp,
        };
        for &s in STATS_HEAD {
            r.push_stat(row(s))?;
        }
        let (zswap, zswapped) = match layout {
            StatLayout::PerLruvecZswap => (
                StatItemDef {
                    node_unit: P,
                    ..row(("zswap", L, B, Some("zswap"), false))
                },
                StatItemDef {
                    node_unit: P,
                    ..row(("zswapped", L, B, Some("zswapped"), false))
                },
            ),
            StatLayout::Upstream => (
                row(("zswap", M, B, None, false)),
                row(("zswapped", M, P, None, false)),
            ),
        };
        r.push_stat(zswap)?;
        r.push_stat(zswapped)?;
        for &s in STATS_TAIL {
            r.push_stat(row(s))?;
        }
        for def in extra.iter().filter(|d| d.level != StatLevel::Event) {
            if def.level == StatLevel::Node {
                r.push(def.clone())?;
            } else {
                r.push_stat(def.clone())?;
            }
        }
        for &e in MEMCG_EVENTS {
            let id = r.push(row((e, StatLevel::Event, C, None, false)))?;
            r.events.push(id);
        }
        for def in extra.iter().filter(|d| d.level == StatLevel::Event) {
            let id = r.push(def.clone())?;
            r.events.push(id);
        }
        r.build_vmstat_order()?;
        r.known = r.resolve_known()?;
        Ok(r)
    }

    fn push(&mut self, def: StatItemDef) -> Result<StatItem> {
        if def.level == StatLevel::Event && def.vmstat.is_some() {
            return Err(ZsError::InvalidArgument(format!(
                "event item {} cannot have a vmstat key",
                def.name
            )));
        }
        if def.level == StatLevel::Memcg && def.vmstat.is_some() {
            return Err(ZsError::InvalidArgument(format!(
                "memcg-level item {} cannot have a vmstat key",
                def.name
            )));
        }
        let id = StatItem::try_from(self.items.len())
            .map_err(|_| ZsError::InvalidArgument("too many stat items".into()))?;
        for key in std::iter::once(&def.name).chain(def.vmstat.iter()) {
            match self.by_name.get(key) {
                // One item may answer to the same name as memory.stat and vmstat key.
                Some(&other) if other != id => {
                    return Err(ZsError::InvalidArgument(format!(
                        "duplicate stat item name {key}"
                    )))
                }
                _ => {
                    self.by_name.insert(key.clone(), id);
                }
            }
        }
        self.items.push(def);
        Ok(id)
    }

    fn push_stat(&mut self, def: StatItemDef) -> Result<StatItem> {
        let id = self.push(def)?;
        self.memory_stat.push(id);
        Ok(id)
    }

    fn build_vmstat_order(&mut self) -> Result<()> {
        for &key in VMSTAT_ORDER {
            let id = match self.by_name.get(key) {
                Some(&id) if self.items[id as usize].vmstat.as_deref() == Some(key) => id,
                // The zswap pair exists in vmstat only in the series layout.
                _ if key == "zswap" || key == "zswapped" => continue,
                _ => {
                    let node_only = StatItemDef {
                        thp: VMSTAT_THP_ONLY.contains(&key),
                        ..StatItemDef::new(key, StatLevel::Node, P, Some(key))
                    };
                    self.push(node_only)?
                }
            };
            self.vmstat.push(id);
        }
        let extra: Vec<StatItem> = (0..self.items.len() as StatItem)
            .filter(|&i| self.items[i as usize].vmstat.is_some() && !self.vmstat.contains(&i))
            .collect();
        self.vmstat.extend(extra);
        Ok(())
    }

    fn resolve_known(&self) -> Result<KnownItems> {
        let f = |n: &str| self.lookup(n);
        Ok(KnownItems {
            kernel: f("kernel")?,
            zswap: f("zswap")?,
            zswapped: f("zswapped")?,
            zswpin: f("zswpin")?,
            zswpout: f("zswpout")?,
            zswpwb: f("zswpwb")?,
            nr_zspages: f("nr_zspages")?,
            slab_reclaimable: f("slab_reclaimable")?,
            slab_unreclaimable: f("slab_unreclaimable")?,
            hugetlb: f("hugetlb")?,
            anon: f("anon")?,
            pgfault: f("pgfault")?,
            pgmajfault: f("pgmajfault")?,
            pswpin: f("pswpin")?,
            pswpout: f("pswpout")?,
            swpin_zero: f("swpin_zero")?,
            swpout_zero: f("swpout_zero")?,
            pgscan: try_each(Reclaimer::ALL, |r| f(&format!("pgscan_{}", r.suffix())))?,
            pgsteal: try_each(Reclaimer::ALL, |r| f(&format!("pgsteal_{}", r.suffix())))?,
        })
    }

    /// Item by memory.stat key or node vmstat key.
    pub fn lookup(&self, name: &str) -> Result<StatItem> {
        self.by_name
            .get(name)
            .copied()
            .ok_or_else(|| ZsError::InvalidArgument(format!("unknown stat item {name:?}")))
    }

    /// Definition of `item`.
    pub fn def(&self, item: StatItem) -> Result<&StatItemDef> {
        self.items
            .get(item as usize)
            .ok_or_else(|| ZsError::InvalidArgument(format!("unknown stat item #{item}")))
    }

    /// `item`'s definition if its level is one of `levels`, else InvalidArgument.
    pub fn check(&self, item: StatItem, levels: &[StatLevel]) -> Result<&StatItemDef> {
        let def = self.def(item)?;
        if levels.contains(&def.level) {
            Ok(def)
        } else {
            Err(ZsError::InvalidArgument(format!(
                "stat item {} is {:?}-level, expected one of {:?}",
                def.name, def.level, levels
            )))
        }
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Always false: the built-ins exist in every registry.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// All definitions, indexed by [`StatItem`].
    pub fn items(&self) -> &[StatItemDef] {
        &self.items
    }

    /// memory.stat state keys in the kernel's order.
    pub fn memory_stat_order(&self) -> &[StatItem] {
        &self.memory_stat
    }

    /// memcg event keys in the kernel's order.
    pub fn event_order(&self) -> &[StatItem] {
        &self.events
    }

    /// Node vmstat keys in the kernel's order.
    pub fn vmstat_order(&self) -> &[StatItem] {
        &self.vmstat
    }

    /// Items other layers use directly.
    pub fn known(&self) -> &KnownItems {
        &self.known
    }
}

/// `f` of every element, or its first error.
fn try_each<const N: usize>(
    rs: [Reclaimer; N],
    f: impl Fn(Reclaimer) -> Result<StatItem>,
) -> Result<[StatItem; N]> {
    let mut out = [0; N];
    for (o, r) in out.iter_mut().zip(rs) {
        *o = f(r)?;
    }
    Ok(out)
}
