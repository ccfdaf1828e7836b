//! Recompression with secondary algorithms (`CONFIG_ZRAM_MULTI_COMP`).
//!
//! `recomp_algorithm` configures priorities 1..=3 before init. `recompress` selects allocated
//! slots that are not same-filled, written back or incompressible, match the `type` (idle, huge
//! or both; an unknown type word selects everything, as in the kernel), and are not already at
//! the highest usable priority; then, largest bucket first, each slot at or above `threshold` is
//! decompressed (clearing `IDLE`) and compressed with each algorithm from its next priority up,
//! until one lands in a *lower* zsmalloc class (and below `threshold` if one is set). The first
//! such result replaces the object (new object allocated first, no `mem_limit` check, as in the
//! kernel); if none does and the last algorithm was tried, the slot becomes `INCOMPRESSIBLE`.
//! Every attempt consumes one unit of `max_pages`.
//!
//! As in the kernel, the usable priorities end at the number of configured algorithms
//! (`num_active_comps`), so priorities are expected to be configured without gaps.

use super::device::{errno, State, Zram};
use super::parse::{args, kstrtoull};
use super::pp::PpCtl;
use super::slot::{HUGE, IDLE, INCOMPRESSIBLE, PP_SLOT, SAME, WB};
use super::MAX_COMPS;
use crate::compress::Algorithm;
use crate::error::{Errno, Result};

const RECOMPRESS_IDLE: u32 = 1;
const RECOMPRESS_HUGE: u32 = 2;

impl State {
    /// `scan_slots_for_recompress`.
    fn scan_for_recompress(&mut self, mode: u32, prio_max: usize, ctl: &mut PpCtl) {
        for index in 0..self.slots.len() {
            let s = self.slots[index];
            if !s.allocated()
                || (mode & RECOMPRESS_IDLE != 0 && !s.has(IDLE))
                || (mode & RECOMPRESS_HUGE != 0 && !s.has(HUGE))
                || s.has(WB)
                || s.has(SAME)
                || s.has(INCOMPRESSIBLE)
                || s.prio as usize + 1 >= prio_max
            {
                continue;
            }
            ctl.place(self, index);
        }
    }

    /// `recompress_slot`.
    fn recompress_slot(
        &mut self,
        index: usize,
        page: &mut [u8],
        budget: &mut u64,
        threshold: usize,
        prio: usize,
        prio_max: usize,
    ) -> Result<()> {
        let s = self.slots[index];
        if s.handle == 0 {
            return Err(errno(Errno::EINVAL, "slot has no object"));
        }
        let old_len = s.size as usize;
        if old_len < threshold {
            return Ok(());
        }
        self.read_from_pool(index, page)?;
        self.slots[index].clear(IDLE);
        let geom = self
            .pool
            .as_ref()
            .ok_or_else(|| errno(Errno::EINVAL, "device not initialized"))?
            .geometry();
        // `zs_lookup_class_index`: the class of the bare length (no handle header added).
        let class_of = |len: usize| geom.classes[geom.size_index(len)].rep;
        let class_old = class_of(old_len);
        let mut prio = prio.max(s.prio as usize + 1);
        if prio >= prio_max {
            return Ok(());
        }
        let mut buf = std::mem::take(&mut self.cbuf);
        let mut found: Option<(usize, usize)> = None;
        let mut err = None;
        while prio < prio_max {
            let Some(comp) = &self.comps[prio] else {
                prio += 1;
                continue;
            };
            match comp.compress(page, &mut buf) {
                Err(e) => {
                    err = Some(e);
                    break;
                }
                Ok(n) => {
                    let class_new = class_of(n);
                    if class_new >= class_old || (threshold != 0 && n >= threshold) {
                        prio += 1;
                        continue;
                    }
                    found = Some((prio, n));
                    break;
                }
            }
        }
        *budget = budget.saturating_sub(1);
        let res = match (err, found) {
            (Some(e), _) => Err(e),
            (None, None) => {
                if prio >= self.num_active_comps {
                    self.slots[index].set(INCOMPRESSIBLE);
                }
                Ok(())
            }
            (None, Some((p, n))) => self.install_recompressed(index, p, &buf[..n]),
        };
        self.cbuf = buf;
        res
    }

    fn install_recompressed(&mut self, index: usize, prio: usize, data: &[u8]) -> Result<()> {
        let pool = self.pool_ref()?;
        let handle = pool.malloc(data.len(), self.nid)?;
        pool.write(handle, data)?;
        self.free_slot(index);
        let s = &mut self.slots[index];
        s.handle = handle;
        s.size = data.len() as u32;
        s.prio = prio as u8;
        self.stats.compr_data_size += data.len() as u64;
        self.stats.pages_stored += 1;
        Ok(())
    }
}

impl Zram {
    /// `recomp_algorithm` store: `algo=NAME [priority=1..3]`.
    pub fn set_recomp_algorithm(&self, request: &str) -> Result<()> {
        let mut prio = 1i64;
        let mut alg = None;
        for (param, val) in args(request) {
            let Some(val) = val.filter(|v| !v.is_empty()) else {
                return Err(errno(Errno::EINVAL, format!("{param} needs a value")));
            };
            match param {
                "algo" => alg = Some(val),
                "priority" => {
                    prio = val
                        .parse()
                        .map_err(|_| errno(Errno::EINVAL, format!("bad priority {val:?}")))?
                }
                _ => {}
            }
        }
        let alg = alg.ok_or_else(|| errno(Errno::EINVAL, "algo= is required"))?;
        if !(1..MAX_COMPS as i64).contains(&prio) {
            return Err(errno(
                Errno::EINVAL,
                format!("priority {prio} out of 1..=3"),
            ));
        }
        self.store_algorithm(prio as usize, alg)
    }

    /// `recomp_algorithm` show: `#P: <available list with the selected one bracketed>` per
    /// configured secondary priority.
    pub fn recomp_algorithm_text(&self) -> String {
        let st = self.lock();
        let mut out = String::new();
        for prio in 1..MAX_COMPS {
            if let Some(alg) = st.comp_algs[prio] {
                out.push_str(&format!("#{prio}: "));
                out.push_str(&available_text(Some(alg)));
            }
        }
        out
    }

    /// `recompress` store: `type=idle|huge|huge_idle max_pages=N threshold=BYTES algo=NAME
    /// priority=N`, with the kernel's validation order.
    pub fn recompress(&self, request: &str) -> Result<()> {
        let mut mode = 0u32;
        let mut budget = u64::MAX;
        let mut threshold = 0u64;
        let mut algo = None;
        let mut prio = 1usize;
        let mut prio_max_req = None;
        for (param, val) in args(request) {
            let Some(val) = val.filter(|v| !v.is_empty()) else {
                return Err(errno(Errno::EINVAL, format!("{param} needs a value")));
            };
            match param {
                "type" => match val {
                    "idle" => mode = RECOMPRESS_IDLE,
                    "huge" => mode = RECOMPRESS_HUGE,
                    "huge_idle" => mode = RECOMPRESS_IDLE | RECOMPRESS_HUGE,
                    _ => {}
                },
                "max_pages" => budget = kstrtoull(val, 10)?,
                "threshold" => threshold = super::parse::kstrto_max(val, u64::from(u32::MAX))?,
                "algo" => algo = Some(val.to_string()),
                "priority" => {
                    let p = super::parse::kstrto_max(val, u64::from(u32::MAX))? as usize;
                    prio = p.max(1);
                    prio_max_req = Some(prio + 1);
                }
                _ => {}
            }
        }
        let mut st = self.lock();
        if threshold >= st.huge_class_size as u64 {
            return Err(errno(
                Errno::EINVAL,
                "threshold must be below huge_class_size",
            ));
        }
        st.check_init()?;
        let mut prio_max = prio_max_req.unwrap_or(st.num_active_comps);
        if let Some(a) = algo {
            let p = (prio..MAX_COMPS)
                .find(|&p| st.comp_algs[p].map(Algorithm::name) == Some(a.as_str()));
            match p {
                Some(p) => {
                    prio = p;
                    prio_max = p + 1;
                }
                None => return Err(errno(Errno::EINVAL, format!("no algorithm {a:?}"))),
            }
        }
        prio_max = prio_max.min(st.num_active_comps);
        if prio >= prio_max {
            return Err(errno(Errno::EINVAL, "no secondary algorithm to use"));
        }
        let mut ctl = PpCtl::new(st.page_size);
        st.scan_for_recompress(mode, prio_max, &mut ctl);
        let mut page = vec![0u8; st.page_size];
        let mut res = Ok(());
        while let Some(index) = ctl.select() {
            if budget == 0 {
                PpCtl::release_slot(&mut st, index);
                break;
            }
            let r = if st.slots[index].has(PP_SLOT) {
                st.recompress_slot(
                    index,
                    &mut page,
                    &mut budget,
                    threshold as usize,
                    prio,
                    prio_max,
                )
            } else {
                Ok(())
            };
            PpCtl::release_slot(&mut st, index);
            if let Err(e) = r {
                res = Err(e);
                break;
            }
        }
        ctl.release(&mut st);
        res
    }
}

/// `zcomp_available_show`: every algorithm followed by a space, the selected one in brackets,
/// then a newline.
pub(super) fn available_text(selected: Option<Algorithm>) -> String {
    let mut out = String::new();
    for alg in Algorithm::ALL {
        let name = alg.name();
        if Some(alg) == selected {
            out.push_str(&format!("[{name}] "));
        } else {
            out.push_str(&format!("{name} "));
        }
    }
    out.push('\n');
    out
}
