//! Statistics: pool counters, the debugfs `classes` table (as rows and as the kernel's text),
//! per-zspage introspection, and a full recount that checks every counter against the layout.

use super::pool::Pool;
use super::profile::Profile;
use super::zspage::NONE;
use crate::error::{Result, ZsError};
use crate::mem::Pfn;

/// One row of the debugfs `classes` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassRow {
    /// Class index.
    pub class: usize,
    /// Object size (`size_class.size`).
    pub size: usize,
    /// Zspages per printed fullness column, in column order (`Profile::group_columns`).
    pub groups: Vec<u64>,
    /// Objects (free or live) in all zspages of the class.
    pub obj_allocated: u64,
    /// Live objects.
    pub obj_used: u64,
    /// Pages held by the class.
    pub pages_used: u64,
    /// Pages per zspage.
    pub pages_per_zspage: usize,
    /// Pages compaction could free (`zs_can_compact`).
    pub freeable: u64,
}

/// Pool-wide counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Pages held (`zs_get_total_pages`).
    pub pages_allocated: u64,
    /// Pages freed by compaction so far (`zs_pool_stats`).
    pub pages_compacted: u64,
    /// Live objects.
    pub objs_used: u64,
    /// Objects (free or live) in all zspages.
    pub objs_allocated: u64,
    /// Sum of live objects' requested lengths.
    pub bytes_requested: u64,
    /// Zspages.
    pub zspages: u64,
}

/// One zspage as seen from outside, for tests and plots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZspageInfo {
    /// Internal id (stable while the zspage lives).
    pub id: u32,
    /// Class index.
    pub class: usize,
    /// Fullness group.
    pub fullness: usize,
    /// Live objects.
    pub inuse: usize,
    /// Frames and their nodes, chain order.
    pub pages: Vec<(Pfn, usize)>,
    /// Free objects, free-list order from the head.
    pub free_list: Vec<u32>,
    /// Owner objcg per object in a memcg-aware pool (empty otherwise).
    pub objcgs: Vec<Option<u32>>,
}

impl Pool {
    /// The debugfs `classes` rows, one per representative class, index order.
    pub fn classes(&self) -> Vec<ClassRow> {
        let inner = self.lock();
        let cols = self.profile.group_columns();
        inner
            .classes
            .iter()
            .map(|c| ClassRow {
                class: c.index,
                size: c.size,
                groups: cols.iter().map(|&(_, g)| c.lists[g].count as u64).collect(),
                obj_allocated: c.obj_allocated,
                obj_used: c.obj_used,
                pages_used: c.obj_allocated / c.objs_per_zspage as u64 * c.pages_per_zspage as u64,
                pages_per_zspage: c.pages_per_zspage,
                freeable: c.can_compact(),
            })
            .collect()
    }

    /// The debugfs `classes` file, byte for byte as the pool's kernel era prints it.
    pub fn classes_text(&self) -> String {
        render_classes(self.profile, &self.classes())
    }

    /// Pool-wide counters.
    pub fn stats(&self) -> PoolStats {
        let inner = self.lock();
        PoolStats {
            pages_allocated: inner.pages_allocated,
            pages_compacted: inner.pages_compacted,
            objs_used: inner.classes.iter().map(|c| c.obj_used).sum(),
            objs_allocated: inner.classes.iter().map(|c| c.obj_allocated).sum(),
            bytes_requested: inner
                .handles
                .iter()
                .filter(|h| h.live)
                .map(|h| u64::from(h.len))
                .sum(),
            zspages: inner.zspages.iter().count() as u64,
        }
    }

    /// Every zspage of class index `class` in fullness-list order: group by group in the
    /// kernel's enum order, each list from its head.
    pub fn zspages(&self, class: usize) -> Result<Vec<ZspageInfo>> {
        let inner = self.lock();
        let ci = *inner
            .class_of
            .get(class)
            .ok_or_else(|| ZsError::InvalidArgument(format!("no class {class}")))?
            as usize;
        let mut out = Vec::new();
        for list in &inner.classes[ci].lists {
            for id in inner.zspages.list_ids(list) {
                let z = inner.zspages.get(id);
                let mut free_list = Vec::new();
                let mut f = z.freeobj;
                while f != NONE {
                    free_list.push(f);
                    f = z.next_free(f);
                }
                out.push(ZspageInfo {
                    id,
                    class: inner.classes[ci].index,
                    fullness: z.fullness as usize,
                    inuse: z.inuse as usize,
                    pages: z.frames.iter().map(|fr| (fr.pfn, fr.nid)).collect(),
                    free_list,
                    objcgs: z.objcgs.iter().map(|&o| (o != NONE).then_some(o)).collect(),
                });
            }
        }
        Ok(out)
    }

    /// Calls of the memcg charge/uncharge path so far (migration paths never add to it).
    pub fn charge_calls(&self) -> u64 {
        self.lock().charge_calls
    }

    /// Recounts everything from the zspages and compares it with the counters; returns a
    /// description of the first mismatch.
    pub fn check_invariants(&self) -> std::result::Result<(), String> {
        let inner = self.lock();
        let mut pages = 0u64;
        for (ci, c) in inner.classes.iter().enumerate() {
            let (mut allocated, mut used) = (0u64, 0u64);
            for (g, list) in c.lists.iter().enumerate() {
                let ids = inner.zspages.list_ids(list);
                if ids.len() != list.count {
                    return Err(format!(
                        "class {} group {g}: count {} vs {} linked",
                        c.index,
                        list.count,
                        ids.len()
                    ));
                }
                for id in ids {
                    let z = inner.zspages.get(id);
                    let live = z.headers.iter().filter(|h| h.cell != NONE).count();
                    if z.class as usize != ci
                        || z.fullness as usize != g
                        || live != z.inuse as usize
                    {
                        return Err(format!(
                            "zspage {id}: class/group/inuse disagree with its list"
                        ));
                    }
                    if self.profile.fullness(live, c.objs_per_zspage) != g {
                        return Err(format!("zspage {id}: in group {g} with {live} objects"));
                    }
                    let mut free = 0;
                    let mut f = z.freeobj;
                    while f != NONE {
                        if z.headers[f as usize].cell != NONE || free > c.objs_per_zspage {
                            return Err(format!("zspage {id}: free list holds a live object"));
                        }
                        free += 1;
                        f = z.next_free(f);
                    }
                    if free + live != c.objs_per_zspage
                        || z.frames.len() != c.pages_per_zspage
                        || z.data.len() != c.pages_per_zspage * self.geom.page_size
                    {
                        return Err(format!(
                            "zspage {id}: {free} free + {live} live objects, {} frames, {} bytes",
                            z.frames.len(),
                            z.data.len()
                        ));
                    }
                    for (s, h) in z.headers.iter().map(|h| h.cell).enumerate() {
                        if h != NONE {
                            let cell = inner.handles[h as usize];
                            if !cell.live || cell.zspage != id || cell.idx as usize != s {
                                return Err(format!(
                                    "zspage {id} object {s}: handle cell disagrees"
                                ));
                            }
                        }
                    }
                    allocated += c.objs_per_zspage as u64;
                    used += live as u64;
                    pages += c.pages_per_zspage as u64;
                }
            }
            if allocated != c.obj_allocated || used != c.obj_used {
                return Err(format!(
                    "class {}: counters {}/{} vs recount {allocated}/{used}",
                    c.index, c.obj_allocated, c.obj_used
                ));
            }
        }
        let owned = match &inner.pfn_map {
            Some(map) => map.len() as u64,
            None => pages,
        };
        if pages != inner.pages_allocated || pages != owned {
            return Err(format!(
                "pages_allocated {} vs recount {pages}",
                inner.pages_allocated
            ));
        }
        let live_cells = inner.handles.iter().filter(|h| h.live).count() as u64;
        if live_cells != inner.classes.iter().map(|c| c.obj_used).sum::<u64>() {
            return Err("live handles differ from obj_used".into());
        }
        Ok(())
    }
}

/// Renders `classes` rows in the debugfs format of a kernel era (v6.4+: ten percentage columns
/// and `100%`, width 9; v6.3: `almost_full` width 11 and `almost_empty` width 12).
pub fn render_classes(profile: Profile, rows: &[ClassRow]) -> String {
    use std::fmt::Write;
    let widths: Vec<usize> = match profile {
        Profile::Current => vec![9; 11],
        Profile::Legacy => vec![11, 12],
    };
    let cols = profile.group_columns();
    let mut s = String::with_capacity(160 * (rows.len() + 3));
    let _ = write!(s, " {:>5} {:>5}", "class", "size");
    for (k, (label, _)) in cols.iter().enumerate() {
        let _ = write!(s, " {:>w$}", label, w = widths[k]);
    }
    let _ = writeln!(
        s,
        " {:>13} {:>10} {:>10} {:>16} {:>8}",
        "obj_allocated", "obj_used", "pages_used", "pages_per_zspage", "freeable"
    );
    let mut tot_groups = vec![0u64; cols.len()];
    let (mut ta, mut tu, mut tp, mut tf) = (0, 0, 0, 0);
    for r in rows {
        let _ = write!(s, " {:>5} {:>5}", r.class, r.size);
        for (k, g) in r.groups.iter().enumerate() {
            let _ = write!(s, " {:>w$}", g, w = widths[k]);
            tot_groups[k] += g;
        }
        let _ = writeln!(
            s,
            " {:>13} {:>10} {:>10} {:>16} {:>8}",
            r.obj_allocated, r.obj_used, r.pages_used, r.pages_per_zspage, r.freeable
        );
        ta += r.obj_allocated;
        tu += r.obj_used;
        tp += r.pages_used;
        tf += r.freeable;
    }
    s.push('\n');
    let _ = write!(s, " {:>5} {:>5}", "Total", "");
    for (k, g) in tot_groups.iter().enumerate() {
        let _ = write!(s, " {:>w$}", g, w = widths[k]);
    }
    let _ = writeln!(s, " {:>13} {:>10} {:>10} {:>16} {:>8}", ta, tu, tp, "", tf);
    s
}
