//! Size-class geometry: which object size, how many pages and objects per zspage, which classes
//! merge, and where the huge class begins.
//!
//! Everything derives from the page size, the class delta and the chain size, so that one process
//! can compare the kernel's current rule (v6.3+: least tail waste over 1..=chain pages), the old
//! rule (before v6.3: first strictly better "used percentage" over 1..=4 pages) and proposed
//! layouts (for example a 16-byte delta on 16 KiB pages) on the same workload.

use crate::error::{Result, ZsError};

/// Bytes of the in-object handle header (`ZS_HANDLE_SIZE`, a 64-bit word).
pub const HANDLE_SIZE: usize = 8;
/// `OBJ_INDEX_BITS` on x86_64 (64 − (52 − 12)); bounds `ZS_MIN_ALLOC_SIZE`.
const OBJ_INDEX_BITS: u32 = 24;
/// `CLASS_BITS`: the default delta is `PAGE_SIZE >> CLASS_BITS`.
const CLASS_BITS: u32 = 8;

/// How pages per zspage are chosen for a class size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainRule {
    /// v6.3+ `calculate_zspage_chain_size`: powers of two take one page; otherwise the chain
    /// length in `1..=chain` with the strictly smallest tail waste (ties keep the shorter chain).
    MinWaste,
    /// Before v6.3 `get_pages_per_zspage`: the first length in `1..=chain` whose integer
    /// used-percentage is strictly larger than every shorter one (no power-of-two shortcut).
    UsedPercent,
}

impl ChainRule {
    /// Parses "min-waste" / "used-percent".
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "min-waste" | "minwaste" | "current" => Ok(Self::MinWaste),
            "used-percent" | "usedpc" | "legacy" => Ok(Self::UsedPercent),
            _ => Err(ZsError::InvalidArgument(format!(
                "unknown chain rule {s:?} (expected \"min-waste\" or \"used-percent\")"
            ))),
        }
    }

    /// The name `parse` accepts.
    pub fn name(self) -> &'static str {
        match self {
            Self::MinWaste => "min-waste",
            Self::UsedPercent => "used-percent",
        }
    }
}

/// One row of the class table: a nominal class index and the class that serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassGeometry {
    /// Nominal index `i` (size `min + i * delta`, clamped to the page size).
    pub index: usize,
    /// Object size in bytes, header included (`size_class.size`).
    pub size: usize,
    /// Pages per zspage.
    pub pages_per_zspage: usize,
    /// Objects per zspage.
    pub objs_per_zspage: usize,
    /// Index of the representative class that serves this index (itself when not merged).
    pub rep: usize,
    /// One object per one-page zspage: no header, the object owns the page.
    pub huge: bool,
}

/// The full class table of a pool.
#[derive(Debug, Clone)]
pub struct Geometry {
    /// Simulated page size in bytes (a power of two).
    pub page_size: usize,
    /// Maximum pages per zspage (`CONFIG_ZSMALLOC_CHAIN_SIZE`).
    pub chain_size: usize,
    /// Spacing between nominal classes (`ZS_SIZE_CLASS_DELTA`).
    pub class_delta: usize,
    /// Smallest object (`ZS_MIN_ALLOC_SIZE`).
    pub min_alloc_size: usize,
    /// The rule that chose pages per zspage.
    pub rule: ChainRule,
    /// Every nominal class, index order.
    pub classes: Vec<ClassGeometry>,
    /// Compressed lengths at or above this land in the huge class (`zs_huge_class_size`).
    pub huge_class_size: usize,
}

fn chain_len(rule: ChainRule, size: usize, page: usize, chain: usize) -> usize {
    match rule {
        ChainRule::MinWaste => {
            if size.is_power_of_two() {
                return 1;
            }
            let (mut best, mut best_waste) = (1, usize::MAX);
            for i in 1..=chain {
                let waste = (i * page) % size;
                if waste < best_waste {
                    best = i;
                    best_waste = waste;
                }
            }
            best
        }
        ChainRule::UsedPercent => {
            let (mut best, mut best_pc) = (1, 0);
            for i in 1..=chain {
                let zspage = i * page;
                let used_pc = (zspage - zspage % size) * 100 / zspage;
                if used_pc > best_pc {
                    best = i;
                    best_pc = used_pc;
                }
            }
            best
        }
    }
}

impl Geometry {
    /// Builds the class table the way `zs_create_pool` does: from the largest class down, a
    /// class whose (pages, objects) equal the previously created class merges into it, and the
    /// first non-huge class met fixes `huge_class_size`.
    pub fn new(
        page_size: usize,
        chain_size: usize,
        class_delta: Option<usize>,
        rule: ChainRule,
    ) -> Result<Self> {
        crate::mem::check_page_size(page_size)?;
        if !(1..=64).contains(&chain_size) {
            return Err(ZsError::InvalidArgument(format!(
                "chain size {chain_size} out of range 1..=64"
            )));
        }
        let delta = class_delta.unwrap_or(page_size >> CLASS_BITS);
        if delta == 0 || !delta.is_multiple_of(8) || delta > page_size {
            return Err(ZsError::InvalidArgument(format!(
                "class delta {delta} must be a positive multiple of 8 not above the page size"
            )));
        }
        let min = 32usize.max((chain_size * page_size) >> OBJ_INDEX_BITS);
        let nclasses = (page_size - min).div_ceil(delta) + 1;
        let mut classes = vec![
            ClassGeometry {
                index: 0,
                size: 0,
                pages_per_zspage: 0,
                objs_per_zspage: 0,
                rep: 0,
                huge: false,
            };
            nclasses
        ];
        let mut prev: Option<ClassGeometry> = None;
        let mut huge_class_size = 0;
        for i in (0..nclasses).rev() {
            let size = (min + i * delta).min(page_size);
            let ppz = chain_len(rule, size, page_size, chain_size);
            let opz = ppz * page_size / size;
            let huge = ppz == 1 && opz == 1;
            if ppz != 1 && opz != 1 && huge_class_size == 0 {
                huge_class_size = size - (HANDLE_SIZE - 1);
            }
            let row = match prev {
                Some(p) if p.pages_per_zspage == ppz && p.objs_per_zspage == opz => ClassGeometry {
                    index: i,
                    size,
                    rep: p.index,
                    ..p
                },
                _ => {
                    let g = ClassGeometry {
                        index: i,
                        size,
                        pages_per_zspage: ppz,
                        objs_per_zspage: opz,
                        rep: i,
                        huge,
                    };
                    prev = Some(g);
                    g
                }
            };
            classes[i] = row;
        }
        Ok(Self {
            page_size,
            chain_size,
            class_delta: delta,
            min_alloc_size: min,
            rule,
            classes,
            huge_class_size,
        })
    }

    /// The representative classes, in index order (what debugfs prints).
    pub fn distinct(&self) -> impl Iterator<Item = &ClassGeometry> {
        self.classes.iter().filter(|c| c.rep == c.index)
    }

    /// The nominal index `zs_malloc` looks up for an object of `size` bytes (header included).
    pub fn size_index(&self, size: usize) -> usize {
        let idx = if size <= self.min_alloc_size {
            0
        } else if self.class_delta.is_power_of_two() {
            // Every kernel delta is a power of two (PAGE_SIZE >> 8): a shift instead of a
            // division on the malloc path.
            let d = self.class_delta;
            (size - self.min_alloc_size + d - 1) >> d.trailing_zeros()
        } else {
            (size - self.min_alloc_size).div_ceil(self.class_delta)
        };
        idx.min(self.classes.len() - 1)
    }

    /// The representative class index serving a request of `len` payload bytes.
    pub fn class_for_request(&self, len: usize) -> usize {
        let c = &self.classes[self.size_index(len + HANDLE_SIZE)];
        c.rep
    }

    /// Largest request `malloc` accepts (`ZS_MAX_ALLOC_SIZE`).
    pub fn max_alloc_size(&self) -> usize {
        self.page_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(chain: usize) -> Geometry {
        Geometry::new(4096, chain, None, ChainRule::MinWaste).unwrap()
    }

    #[test]
    fn chain8_matches_the_kernel_table() {
        let g = g(8);
        assert_eq!(g.classes.len(), 255);
        assert_eq!(g.distinct().count(), 119);
        assert_eq!(g.huge_class_size, 3625);
        // Spot rows of the 6.12 class table (debugfs `classes`, chain 8).
        let row = |i: usize| g.classes[i];
        assert_eq!(
            (row(1).size, row(1).pages_per_zspage, row(1).objs_per_zspage),
            (48, 3, 256)
        );
        assert_eq!((row(7).pages_per_zspage, row(7).objs_per_zspage), (7, 199));
        assert_eq!(row(48).rep, 49);
        assert_eq!(
            (
                row(225).size,
                row(225).pages_per_zspage,
                row(225).objs_per_zspage
            ),
            (3632, 8, 9)
        );
        assert_eq!(row(226).rep, 254);
        assert!(row(254).huge && !row(225).huge);
        assert_eq!(g.class_for_request(24), 0);
        assert_eq!(g.class_for_request(25), 1);
        assert_eq!(g.class_for_request(3624), 225);
        assert_eq!(g.class_for_request(3625), 254);
        assert_eq!(g.class_for_request(4096), 254);
    }

    #[test]
    fn distinct_counts_for_every_chain() {
        let want = [69, 86, 94, 110, 119, 136, 141, 153, 159, 173, 179, 186, 192];
        let hcs = [
            3257, 3401, 3497, 3577, 3625, 3673, 3705, 3737, 3769, 3785, 3801, 3833, 3833,
        ];
        for (k, chain) in (4..=16).enumerate() {
            let g = g(chain);
            assert_eq!(g.distinct().count(), want[k], "chain {chain}");
            assert_eq!(g.huge_class_size, hcs[k], "chain {chain}");
        }
    }

    #[test]
    fn legacy_rule_gives_the_pre_6_3_watermark() {
        let g = Geometry::new(4096, 4, None, ChainRule::UsedPercent).unwrap();
        assert_eq!(g.huge_class_size, 3257);
    }

    #[test]
    fn larger_pages_keep_257_classes() {
        let g = Geometry::new(16384, 8, None, ChainRule::MinWaste).unwrap();
        assert_eq!(g.class_delta, 64);
        assert_eq!(g.classes.len(), 257);
        let g = Geometry::new(65536, 8, None, ChainRule::MinWaste).unwrap();
        assert_eq!(g.classes.len(), 257);
    }

    #[test]
    fn bad_parameters_are_errors() {
        assert!(Geometry::new(4000, 8, None, ChainRule::MinWaste).is_err());
        assert!(Geometry::new(4096, 0, None, ChainRule::MinWaste).is_err());
        assert!(Geometry::new(4096, 8, Some(12), ChainRule::MinWaste).is_err());
    }
}
