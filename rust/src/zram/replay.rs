//! Replaying what a kernel's zram stored, without the pages: a list of per-slot outcomes
//! (same-filled, or a compressed length) allocated in order into a fresh pool, as zram would,
//! giving the `classes` table and `mm_stat` line to compare with the kernel's.

use std::sync::Arc;

use super::stats::MmStat;
use crate::error::{Result, ZsError};
use crate::mem::Memory;
use crate::zsmalloc::{Pool, PoolConfig, Profile};

/// One slot as zram stored it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplaySlot {
    /// A same-filled page (never reaches the allocator).
    Same,
    /// A compressed length; lengths at or above `huge_class_size` are stored as whole pages.
    Len(usize),
}

/// What a replay reports.
#[derive(Debug, Clone)]
pub struct Replay {
    /// The `mm_stat` zram would print.
    pub mm_stat: MmStat,
    /// The pool's debugfs `classes` text.
    pub classes: String,
    /// The pool's `zs_huge_class_size`.
    pub huge_class_size: usize,
}

/// Allocates `slots` in order in a fresh pool of the given era and chain size on one node.
pub fn replay(
    slots: &[ReplaySlot],
    page_size: usize,
    profile: Profile,
    chain_size: Option<usize>,
) -> Result<Replay> {
    crate::mem::check_page_size(page_size)?;
    let n_pages = slots.len().max(1) * 2;
    let mem = Arc::new(Memory::new(&[n_pages], page_size)?);
    let mut cfg = PoolConfig::new("zram0");
    cfg.profile = profile;
    cfg.chain_size = chain_size;
    let pool = Pool::new(mem, cfg)?;
    let hcs = pool.huge_class_size();
    let mut st = MmStat::default();
    for s in slots {
        st.orig_data_size += page_size as u64;
        match *s {
            ReplaySlot::Same => st.same_pages += 1,
            ReplaySlot::Len(0) => {
                return Err(ZsError::InvalidArgument("a compressed length of 0".into()))
            }
            ReplaySlot::Len(n) if n > page_size * 2 => {
                return Err(ZsError::InvalidArgument(format!(
                    "compressed length {n} is not plausible"
                )))
            }
            ReplaySlot::Len(n) => {
                // zram stores pages whose length reaches huge_class_size raw (zram_write_page).
                let size = if n >= hcs { page_size } else { n };
                if size == page_size {
                    st.huge_pages += 1;
                }
                pool.malloc(size, 0)?;
                st.compr_data_size += size as u64;
                let used = pool.total_pages() * page_size as u64;
                st.mem_used_max = st.mem_used_max.max(used);
            }
        }
    }
    st.huge_pages_since = st.huge_pages;
    st.mem_used_total = pool.total_pages() * page_size as u64;
    Ok(Replay {
        mm_stat: st,
        classes: pool.classes_text(),
        huge_class_size: hcs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernels_w1_lengths_give_the_kernels_mm_stat_and_classes() {
        let root = env!("CARGO_MANIFEST_DIR");
        let text =
            std::fs::read_to_string(format!("{root}/tests/data/linux-6.12-zram-w1.sizes.txt"))
                .unwrap();
        let slots: Vec<ReplaySlot> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                if l.starts_with("same") {
                    ReplaySlot::Same
                } else {
                    ReplaySlot::Len(l.trim_start_matches("huge ").parse().unwrap())
                }
            })
            .collect();
        let r = replay(&slots, 4096, Profile::Current, None).unwrap();
        assert_eq!(
            r.mm_stat.text(),
            "81920000 42147012 44089344        0 44089344        5        0     2483     2483\n"
        );
        let want =
            std::fs::read_to_string(format!("{root}/tests/data/linux-6.12-zram-w1.classes.txt"))
                .unwrap();
        assert_eq!(r.classes, want);
        assert!(replay(&[ReplaySlot::Len(0)], 4096, Profile::Current, None).is_err());
    }
}
