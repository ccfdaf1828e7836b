//! Per-memcg-lruvec accounting inside zsmalloc (the seed series, patches 03–11), and the
//! pre-series mode beside it for A/B runs on the same workload.
//!
//! `Accounting::Zsmalloc` (the series):
//! - every zspage carries `objcgs[objs_per_zspage]`; writing an object with an objcg stores it,
//!   takes a reference for the stored pointer and force-charges `class.size` — the whole object, not the
//!   compressed length (patch 07);
//! - the (memcg, node) lruvec counters get the object's `class.size` bytes split by the nodes of its one or two
//!   pages: first node `PAGE_SIZE − off` compressed and `floor(PAGE_SIZE × that / size)`
//!   uncompressed, the second node the exact remainders (patch 09); node vmstat counts
//!   uncompressed objects (1 each, on the node of the object's first page) and compressed *pages*
//!   (every frame backing the pool's zspages, whoever owns the objects);
//! - compaction (patch 10) and page migration (patch 11) move statistics from the old layout
//!   to the new one and never charge, uncharge, or touch references.
//!
//! `Accounting::Consumer` (before the series): the pool plays zswap's old part — the entry keeps
//! the objcg and the consumer charges the compressed length itself, with memcg-wide
//! `zswap` (bytes) and `zswapped` (+1 per object); nothing per node; moves change nothing.
//!
//! Choices the series leaves open (its patches 10–11 do not say how node counters move):
//! page migration moves the node compressed page count and re-splits every object with bytes
//! on the page; compaction moves node `zswapped` with the object's first page. Both keep
//! node totals equal to a fresh recount of the layout, which the tests check.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use super::pool::{Inner, Pool};
use super::zspage::NONE;
use crate::error::{Result, ZsError};
use crate::memcg::{Cgroups, MemcgId, ObjStatDelta, ObjcgId, StatItem, StatLayout, StatLevel};

/// The two ways a memcg-charged pool can account, by the names Python and the configs use
/// (`"zsmalloc"`, `"consumer"`): parsed with [`FromStr`], printed with [`fmt::Display`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum AccountingMode {
    /// The series: zsmalloc charges and counts per (memcg, node) lruvec.
    #[default]
    Zsmalloc,
    /// Before the series: the consumer (zswap) charges; memcg-wide counters only.
    Consumer,
}

impl AccountingMode {
    /// Both modes, the series first.
    pub const ALL: [AccountingMode; 2] = [AccountingMode::Zsmalloc, AccountingMode::Consumer];

    /// The mode's name: `"zsmalloc"` or `"consumer"`.
    pub fn name(self) -> &'static str {
        match self {
            AccountingMode::Zsmalloc => "zsmalloc",
            AccountingMode::Consumer => "consumer",
        }
    }

    /// The memcg stat layout a hierarchy needs for this mode.
    pub fn stat_layout(self) -> StatLayout {
        match self {
            AccountingMode::Zsmalloc => StatLayout::PerLruvecZswap,
            AccountingMode::Consumer => StatLayout::Upstream,
        }
    }

    /// The mode a hierarchy of `layout` was built for.
    pub fn of_layout(layout: StatLayout) -> Self {
        match layout {
            StatLayout::PerLruvecZswap => AccountingMode::Zsmalloc,
            StatLayout::Upstream => AccountingMode::Consumer,
        }
    }

    /// The level the consumer's two stat items must have in this mode.
    pub fn stat_level(self) -> StatLevel {
        match self {
            AccountingMode::Zsmalloc => StatLevel::Lruvec,
            AccountingMode::Consumer => StatLevel::Memcg,
        }
    }
}

impl FromStr for AccountingMode {
    type Err = ZsError;

    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                ZsError::InvalidArgument(format!(
                    "accounting {s:?}: expected \"zsmalloc\" or \"consumer\""
                ))
            })
    }
}

impl fmt::Display for AccountingMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which memcg stat items a pool updates (the consumer's `compressed_stat` and
/// `uncompressed_stat`) and on which hierarchy.
#[derive(Debug, Clone)]
pub struct MemcgParams {
    /// The cgroup hierarchy charged.
    pub cgroups: Arc<Cgroups>,
    /// Item for compressed bytes (zswap: `zswap`).
    pub compressed: StatItem,
    /// Item for uncompressed amount (zswap: `zswapped`).
    pub uncompressed: StatItem,
}

/// How a pool accounts memory to cgroups.
#[derive(Debug, Clone, Default)]
pub enum Accounting {
    /// Not memcg-aware (zram, or an allocator-only pool).
    #[default]
    None,
    /// The series: memcg-aware pool, per-zspage objcg array, per-(memcg, node) counters.
    Zsmalloc(MemcgParams),
    /// Before the series: the consumer charges the compressed length; memcg-wide only.
    Consumer(MemcgParams),
}

impl Accounting {
    /// Builds the accounting of a pool from a mode name ("zsmalloc" / "consumer") and the
    /// consumer's two stat item names, checking that the hierarchy's layout fits the mode.
    /// Names as a user gives them; code that has the items uses [`Accounting::with_items`].
    pub fn new(
        mode: &str,
        cgroups: Arc<Cgroups>,
        compressed: &str,
        uncompressed: &str,
    ) -> Result<Self> {
        let c = cgroups.stat_item(compressed)?;
        let u = cgroups.stat_item(uncompressed)?;
        Self::with_items(mode.parse()?, cgroups, c, u)
    }

    /// The accounting of a pool in `mode`, updating the consumer's `compressed` and
    /// `uncompressed` items, checking that the hierarchy's layout fits the mode.
    pub fn with_items(
        mode: AccountingMode,
        cgroups: Arc<Cgroups>,
        compressed: StatItem,
        uncompressed: StatItem,
    ) -> Result<Self> {
        let (c, u) = (compressed, uncompressed);
        let (level, name) = (mode.stat_level(), mode.name());
        for item in [c, u] {
            cgroups.registry().check(item, &[level]).map_err(|_| {
                ZsError::InvalidArgument(format!(
                    "accounting {name:?} needs {level:?}-level stat items; the cgroups were built \
                     for the other mode"
                ))
            })?;
        }
        let p = MemcgParams {
            cgroups,
            compressed: c,
            uncompressed: u,
        };
        Ok(match mode {
            AccountingMode::Zsmalloc => Self::Zsmalloc(p),
            AccountingMode::Consumer => Self::Consumer(p),
        })
    }

    /// The mode, if memcg-charged.
    pub fn mode(&self) -> Option<AccountingMode> {
        match self {
            Self::None => None,
            Self::Zsmalloc(_) => Some(AccountingMode::Zsmalloc),
            Self::Consumer(_) => Some(AccountingMode::Consumer),
        }
    }

    /// The hierarchy, if any.
    pub fn cgroups(&self) -> Option<&Arc<Cgroups>> {
        match self {
            Self::None => None,
            Self::Zsmalloc(p) | Self::Consumer(p) => Some(&p.cgroups),
        }
    }

    /// Whether zspages carry objcg arrays (the series' `memcg_aware`).
    pub fn memcg_aware(&self) -> bool {
        matches!(self, Self::Zsmalloc(_))
    }
}

/// What the layout says one objcg should have on one node (see `recount_attribution`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribution {
    /// Owner.
    pub objcg: ObjcgId,
    /// Node.
    pub nid: usize,
    /// Compressed bytes (the object's `class.size` bytes on the node).
    pub compressed: i64,
    /// Uncompressed bytes (the floor-rule share of PAGE_SIZE).
    pub uncompressed: i64,
    /// Objects that start on the node (node `zswapped` count).
    pub first_page_objects: i64,
}

/// One (node, compressed bytes, uncompressed bytes) share of an object.
type Share = (usize, i64, i64);

/// Uncharges of objects freed together under the pool lock (a batch of exclusive reads),
/// applied per objcg by one memcg call each in `Pool::flush_uncharges`: each object's bytes go
/// back to the stock in order, the stat deltas are summed, the references dropped together.
/// The totals are exactly those of one uncharge per object (a concurrent rmdir that reparents
/// the objcg lands before or after the whole run, a moment that was never fixed anyway); like
/// the kernel's per-CPU stat batching, only the intermediate values are never seen.
#[derive(Debug, Default)]
pub(super) struct UnchargeBatch {
    /// The first `used` runs are live; the rest keep their vectors' capacity for reuse.
    runs: Vec<UnchargeRun>,
    used: usize,
}

#[derive(Debug, Default)]
struct UnchargeRun {
    objcg: u32,
    sizes: Vec<u64>,
    lruvec: Vec<ObjStatDelta>,
    node: Vec<ObjStatDelta>,
}

impl UnchargeBatch {
    fn add(&mut self, objcg: u32, size: u64, lruvec: &[ObjStatDelta], node: ObjStatDelta) {
        let i = match self.runs[..self.used].iter().position(|r| r.objcg == objcg) {
            Some(i) => i,
            None => {
                if self.used == self.runs.len() {
                    self.runs.push(UnchargeRun::default());
                }
                let r = &mut self.runs[self.used];
                r.objcg = objcg;
                r.sizes.clear();
                r.lruvec.clear();
                r.node.clear();
                self.used += 1;
                self.used - 1
            }
        };
        let run = &mut self.runs[i];
        run.sizes.push(size);
        for &d in lruvec {
            sum_into(&mut run.lruvec, d);
        }
        sum_into(&mut run.node, node);
    }
}

fn sum_into(v: &mut Vec<ObjStatDelta>, d: ObjStatDelta) {
    match v.iter_mut().find(|e| e.0 == d.0 && e.1 == d.1) {
        Some(e) => e.2 += d.2,
        None => v.push(d),
    }
}

/// Panics only on a broken invariant of this module (an objcg we hold a reference to vanished).
fn ok<T>(r: Result<T>) -> T {
    r.expect("memcg accounting: objcg held by the pool is unknown to its cgroups")
}

impl Pool {
    /// The node shares of object `idx` of zspage `zid` under the current layout (patch 09).
    pub(super) fn obj_shares(&self, inner: &Inner, zid: u32, idx: u32) -> [Option<Share>; 2] {
        let z = inner.zspages.get(zid);
        let size = inner.classes[z.class as usize].size;
        let page = self.geom.page_size;
        let start = idx as usize * size;
        let (p, off) = (start / page, start % page);
        let nid_a = z.frames[p].nid;
        let nid_b = if off + size > page {
            z.frames[p + 1].nid
        } else {
            nid_a
        };
        if nid_a == nid_b {
            return [Some((nid_a, size as i64, page as i64)), None];
        }
        let comp_a = page - off;
        let unc_a = page * comp_a / size;
        [
            Some((nid_a, comp_a as i64, unc_a as i64)),
            Some((nid_b, (size - comp_a) as i64, (page - unc_a) as i64)),
        ]
    }

    /// Adds (`sign` = 1) or removes (−1) an object's statistics — lruvec split and node
    /// uncompressed count — without charging: what write/free do besides the charge, and all
    /// that compaction and page migration do.
    pub(super) fn mod_obj_stats(&self, inner: &Inner, zid: u32, idx: u32, o: ObjcgId, sign: i64) {
        let Accounting::Zsmalloc(p) = &self.acct else {
            return;
        };
        let shares = self.obj_shares(inner, zid, idx);
        for (nid, comp, unc) in shares.into_iter().flatten() {
            ok(p.cgroups
                .mod_objcg_lruvec_state(o, nid, p.compressed, sign * comp));
            ok(p.cgroups
                .mod_objcg_lruvec_state(o, nid, p.uncompressed, sign * unc));
        }
        let first = shares[0].map(|s| s.0).unwrap_or(0);
        ok(p.cgroups.mod_node_state(first, p.uncompressed, sign));
    }

    /// `mod_obj_stats`'s updates as one list, for the fused charge/uncharge calls: the
    /// lruvec deltas (up to two nodes × two items) and the node uncompressed count.
    fn obj_deltas(
        &self,
        p: &MemcgParams,
        inner: &Inner,
        zid: u32,
        idx: u32,
        sign: i64,
    ) -> ([ObjStatDelta; 4], usize, ObjStatDelta) {
        let shares = self.obj_shares(inner, zid, idx);
        let mut out = [(0, p.compressed, 0); 4];
        let mut n = 0;
        for (nid, comp, unc) in shares.into_iter().flatten() {
            out[n] = (nid, p.compressed, sign * comp);
            out[n + 1] = (nid, p.uncompressed, sign * unc);
            n += 2;
        }
        let first = shares[0].map(|s| s.0).unwrap_or(0);
        (out, n, (first, p.uncompressed, sign))
    }

    /// Node compressed pages: ±1 per frame of a memcg-aware pool's zspage.
    pub(super) fn mod_node_pages(&self, nid: usize, delta: i64) {
        if let Accounting::Zsmalloc(p) = &self.acct {
            ok(p.cgroups.mod_node_state(nid, p.compressed, delta));
        }
    }

    /// Records `memcg`'s objcg as the owner of the object in `cell` and charges it, as the
    /// pool's accounting mode says. Root (no objcg) is recorded as no owner and charged nothing.
    pub(super) fn charge_cell(&self, inner: &mut Inner, cell: u32, memcg: MemcgId) -> Result<()> {
        let Some(cg) = self.acct.cgroups().cloned() else {
            return Err(ZsError::InvalidArgument(format!(
                "pool {} is not memcg-aware: write without a cgroup",
                self.name()
            )));
        };
        let o = cg.get_objcg(memcg)?;
        let result = self.charge_cell_objcg(&cg, inner, cell, o);
        if let Some(o) = o {
            cg.objcg_put(o)?;
        }
        result
    }

    /// `charge_cell` with the objcg (and its reference) already in the caller's hands, as
    /// zswap's store has it.
    pub(super) fn charge_cell_objcg(
        &self,
        cg: &Cgroups,
        inner: &mut Inner,
        cell: u32,
        o: Option<ObjcgId>,
    ) -> Result<()> {
        let h = inner.handles[cell as usize];
        let current = self.cell_objcg(inner, cell);
        let Some(o) = o else {
            if current != NONE {
                return Err(ZsError::Cgroup(
                    "object is already owned by another cgroup".into(),
                ));
            }
            return Ok(());
        };
        if current == NONE {
            self.charge_new_owner(inner, cell, o)
        } else if cg.objcg_memcg(current)? == cg.objcg_memcg(o)? {
            Ok(())
        } else {
            Err(ZsError::Cgroup(format!(
                "object {} of its zspage is already owned by another cgroup",
                h.idx
            )))
        }
    }

    fn charge_new_owner(&self, inner: &mut Inner, cell: u32, o: ObjcgId) -> Result<()> {
        let h = inner.handles[cell as usize];
        match &self.acct {
            Accounting::None => Ok(()),
            Accounting::Zsmalloc(p) => {
                let size = inner.classes[inner.zspages.get(h.zspage).class as usize].size;
                // Reference for the stored pointer first, then the forced charge (v3 review),
                // then `mod_obj_stats`: one call, so one tree lock.
                let (d, n, node) = self.obj_deltas(p, inner, h.zspage, h.idx, 1);
                p.cgroups
                    .charge_objcg_object(o, size as u64, &d[..n], node)?;
                inner.zspages.get_mut(h.zspage).objcgs[h.idx as usize] = o;
                inner.charge_calls += 1;
                Ok(())
            }
            Accounting::Consumer(p) => {
                // zswap before the series: entry->objcg, obj_cgroup_charge_zswap(length).
                p.cgroups.objcg_get(o)?;
                p.cgroups.obj_cgroup_charge(o, u64::from(h.len), true)?;
                p.cgroups
                    .mod_objcg_state(o, p.compressed, i64::from(h.len))?;
                p.cgroups.mod_objcg_state(o, p.uncompressed, 1)?;
                inner.set_entry_objcg(cell, o);
                inner.charge_calls += 1;
                Ok(())
            }
        }
    }

    /// Whether the object in `cell` has an owner other than the one `memcg` would record.
    pub(super) fn owned_by_other(&self, inner: &Inner, cell: u32, memcg: MemcgId) -> Result<bool> {
        let current = self.cell_objcg(inner, cell);
        let Some(cg) = self.acct.cgroups() else {
            return Ok(false);
        };
        if current == NONE {
            return Ok(false);
        }
        let other = match cg.get_objcg(memcg)? {
            None => true,
            Some(o) => {
                let differs = cg.objcg_memcg(o)? != cg.objcg_memcg(current)?;
                cg.objcg_put(o)?;
                differs
            }
        };
        Ok(other)
    }

    /// The objcg owning a live object (`NONE` if none).
    pub(super) fn cell_objcg(&self, inner: &Inner, cell: u32) -> u32 {
        match &self.acct {
            Accounting::None => NONE,
            Accounting::Zsmalloc(_) => {
                let h = inner.handles[cell as usize];
                inner.zspages.get(h.zspage).objcgs[h.idx as usize]
            }
            Accounting::Consumer(_) => inner.entry_objcg(cell),
        }
    }

    /// Reverses `charge_cell` when the object is freed (`obj_free` / `zswap_entry_free`):
    /// uncharge from the current layout, drop the pointer's reference, clear the owner. In a
    /// memcg-aware pool the memcg side goes to `batch`, applied by `flush_uncharges`; the
    /// layout side (the object's owner) is cleared now. Before the series, it is immediate.
    pub(super) fn uncharge_cell(&self, inner: &mut Inner, cell: u32, batch: &mut UnchargeBatch) {
        let o = self.cell_objcg(inner, cell);
        if o == NONE {
            return;
        }
        let h = inner.handles[cell as usize];
        match &self.acct {
            Accounting::None => {}
            Accounting::Zsmalloc(p) => {
                let size = inner.classes[inner.zspages.get(h.zspage).class as usize].size;
                // obj_cgroup_uncharge, mod_obj_stats(−1), objcg_put: one call, one tree lock.
                let (d, n, node) = self.obj_deltas(p, inner, h.zspage, h.idx, -1);
                batch.add(o, size as u64, &d[..n], node);
                inner.zspages.get_mut(h.zspage).objcgs[h.idx as usize] = NONE;
            }
            Accounting::Consumer(p) => {
                ok(p.cgroups.obj_cgroup_uncharge(o, u64::from(h.len)));
                ok(p.cgroups
                    .mod_objcg_state(o, p.compressed, -i64::from(h.len)));
                ok(p.cgroups.mod_objcg_state(o, p.uncompressed, -1));
                inner.set_entry_objcg(cell, NONE);
                ok(p.cgroups.objcg_put(o));
            }
        }
        inner.charge_calls += 1;
    }

    /// Applies the uncharges a batch deferred, one memcg call per objcg, and empties it.
    pub(super) fn flush_uncharges(&self, batch: &mut UnchargeBatch) {
        if let Accounting::Zsmalloc(p) = &self.acct {
            for r in &batch.runs[..batch.used] {
                ok(p.cgroups
                    .uncharge_objcg_objects(r.objcg, &r.sizes, &r.lruvec, &r.node));
            }
        }
        batch.used = 0;
    }

    /// The memcg owning the object behind `handle`, if any (zswap's lookup after patch 06).
    pub fn owner(&self, handle: u64) -> Result<Option<MemcgId>> {
        let inner = self.lock();
        let cell = self.decode(&inner, handle)?;
        let o = self.cell_objcg(&inner, cell);
        match (o, self.acct.cgroups()) {
            (NONE, _) | (_, None) => Ok(None),
            (o, Some(cg)) => Ok(Some(cg.objcg_memcg(o)?)),
        }
    }

    /// The pool's accounting.
    pub fn accounting(&self) -> &Accounting {
        &self.acct
    }

    /// The true placement recomputed from the layout, in either accounting mode: for every
    /// objcg owning objects, per node, `class.size` bytes, the floor-rule share of PAGE_SIZE, and objects
    /// that start there; and per node, the pages backing zspages. Tests compare it with
    /// the series' counters; experiments compare it with what each mode can report.
    pub fn recount_attribution(&self) -> (Vec<Attribution>, Vec<i64>) {
        let inner = self.lock();
        let nodes = self.mem.nr_nodes();
        let mut pages = vec![0i64; nodes];
        let mut per: std::collections::BTreeMap<(ObjcgId, usize), (i64, i64, i64)> =
            Default::default();
        for (_, z) in inner.zspages.iter() {
            for f in &z.frames {
                pages[f.nid] += 1;
            }
        }
        // Owners from either mode's record (the zspage array, or the consumer's entries), so the
        // true placement is known even where the counters cannot report it.
        for (cell, h) in inner.handles.iter().enumerate() {
            if !h.live {
                continue;
            }
            let o = self.cell_objcg(&inner, cell as u32);
            if o == NONE {
                continue;
            }
            let shares = self.obj_shares(&inner, h.zspage, h.idx);
            for (k, (nid, c, u)) in shares.into_iter().flatten().enumerate() {
                let e = per.entry((o, nid)).or_default();
                e.0 += c;
                e.1 += u;
                if k == 0 {
                    e.2 += 1;
                }
            }
        }
        let per = per
            .into_iter()
            .map(
                |((objcg, nid), (compressed, uncompressed, first_page_objects))| Attribution {
                    objcg,
                    nid,
                    compressed,
                    uncompressed,
                    first_page_objects,
                },
            )
            .collect();
        (per, pages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memcg::MemcgConfig;

    #[test]
    fn accounting_mode_names_layouts_and_levels() {
        for m in AccountingMode::ALL {
            assert_eq!(m.name().parse::<AccountingMode>().unwrap(), m);
            assert_eq!(m.to_string(), m.name());
            assert_eq!(AccountingMode::of_layout(m.stat_layout()), m);
        }
        assert_eq!(AccountingMode::default(), AccountingMode::Zsmalloc);
        let e = "neither".parse::<AccountingMode>().unwrap_err();
        assert_eq!(
            e.to_string(),
            ZsError::InvalidArgument(
                "accounting \"neither\": expected \"zsmalloc\" or \"consumer\"".into()
            )
            .to_string()
        );
    }

    #[test]
    fn accounting_by_name_and_by_item_agree() {
        for m in AccountingMode::ALL {
            let mut cfg = MemcgConfig::new(1, 4096);
            cfg.layout = m.stat_layout();
            let cg = Arc::new(Cgroups::with_config(cfg).unwrap());
            let k = *cg.items();
            let a = Accounting::new(m.name(), cg.clone(), "zswap", "zswapped").unwrap();
            let b = Accounting::with_items(m, cg.clone(), k.zswap, k.zswapped).unwrap();
            assert_eq!(a.mode(), Some(m));
            assert_eq!(b.mode(), Some(m));
            assert_eq!(a.memcg_aware(), m == AccountingMode::Zsmalloc);
            // The other mode's layout is refused either way.
            let other = AccountingMode::ALL.into_iter().find(|&o| o != m).unwrap();
            assert!(Accounting::with_items(other, cg, k.zswap, k.zswapped).is_err());
        }
        assert_eq!(Accounting::None.mode(), None);
    }
}
