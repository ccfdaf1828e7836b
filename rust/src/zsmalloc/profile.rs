//! Kernel profiles: the bookkeeping choices that differ between kernel eras and decide which
//! zspage receives an object, where a zspage sits in its fullness list, and which zspages
//! compaction empties (`mm/zsmalloc.c`: `insert_zspage`, `find_get_zspage`, `__zs_compact`). Two eras are modelled:
//! - `Current` — v6.4 and later (Linux 6.12, 7.0): 12 fullness groups by tenths of use, list
//!   insertion at the head, allocation from the 99 % group down, v6.4's compaction loop.
//! - `Legacy` — v5.17 to v6.3 (Linux 6.1, common on Android): four groups, "second place if
//!   emptier than the head" insertion, at most 4 pages per zspage chosen by used percentage.

use super::geometry::ChainRule;
use crate::error::{Result, ZsError};

/// A kernel era's zsmalloc bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// v6.4+ (default).
    Current,
    /// v5.17–v6.3.
    Legacy,
}

/// Legacy group numbers (the v6.3 `enum fullness_group` order).
pub const LEGACY_EMPTY: usize = 0;
/// Legacy: `inuse <= 3/4` of the objects.
pub const LEGACY_ALMOST_EMPTY: usize = 1;
/// Legacy: more than 3/4 used, not full.
pub const LEGACY_ALMOST_FULL: usize = 2;
/// Legacy: every object used.
pub const LEGACY_FULL: usize = 3;

/// Current: the empty group (`ZS_INUSE_RATIO_0`).
pub const GROUP_EMPTY: usize = 0;
/// Current: the full group (`ZS_INUSE_RATIO_100`).
pub const GROUP_FULL: usize = 11;

impl Profile {
    /// Parses a kernel version: "6.1" (and anything before 6.4) selects `Legacy`; "6.4" and
    /// later, or "current", select `Current`.
    pub fn parse(kernel: &str) -> Result<Self> {
        if kernel == "current" || kernel == "latest" {
            return Ok(Self::Current);
        }
        let mut parts = kernel.split('.').map(|p| p.parse::<u32>());
        let bad = || {
            ZsError::InvalidArgument(format!(
                "kernel {kernel:?}: expected a version like \"6.12\" or \"6.1\""
            ))
        };
        let major = parts.next().ok_or_else(bad)?.map_err(|_| bad())?;
        let minor = parts.next().unwrap_or(Ok(0)).map_err(|_| bad())?;
        if (major, minor) < (5, 17) {
            return Err(ZsError::InvalidArgument(format!(
                "kernel {kernel}: profiles exist for 5.17 and later"
            )));
        }
        Ok(if (major, minor) < (6, 4) {
            Self::Legacy
        } else {
            Self::Current
        })
    }

    /// The name of the profile's representative release.
    pub fn name(self) -> &'static str {
        match self {
            Self::Current => "6.12",
            Self::Legacy => "6.1",
        }
    }

    /// Default chain size of the era (`CONFIG_ZSMALLOC_CHAIN_SIZE` 8; fixed 4 before v6.3).
    pub fn default_chain_size(self) -> usize {
        match self {
            Self::Current => 8,
            Self::Legacy => 4,
        }
    }

    /// The era's rule for pages per zspage.
    pub fn chain_rule(self) -> ChainRule {
        match self {
            Self::Current => ChainRule::MinWaste,
            Self::Legacy => ChainRule::UsedPercent,
        }
    }

    /// Number of fullness groups.
    pub fn nr_groups(self) -> usize {
        match self {
            Self::Current => 12,
            Self::Legacy => 4,
        }
    }

    /// `get_fullness_group` of the era.
    pub fn fullness(self, inuse: usize, objs: usize) -> usize {
        match self {
            Self::Current => {
                if inuse == 0 {
                    GROUP_EMPTY
                } else if inuse == objs {
                    GROUP_FULL
                } else {
                    100 * inuse / objs / 10 + 1
                }
            }
            Self::Legacy => {
                if inuse == 0 {
                    LEGACY_EMPTY
                } else if inuse == objs {
                    LEGACY_FULL
                } else if inuse <= 3 * objs / 4 {
                    LEGACY_ALMOST_EMPTY
                } else {
                    LEGACY_ALMOST_FULL
                }
            }
        }
    }

    /// The group a full zspage is in.
    pub fn full_group(self) -> usize {
        match self {
            Self::Current => GROUP_FULL,
            Self::Legacy => LEGACY_FULL,
        }
    }

    /// Groups `zs_malloc` searches, in order (`find_get_zspage`). v6.4+: 99 % down to empty
    /// (empty zspages wait there only for a deferred free). v6.3: almost-full, almost-empty,
    /// empty.
    pub fn malloc_order(self) -> &'static [usize] {
        match self {
            Self::Current => &[10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
            Self::Legacy => &[LEGACY_ALMOST_FULL, LEGACY_ALMOST_EMPTY, LEGACY_EMPTY],
        }
    }

    /// Groups a compaction destination is taken from, in order (fullest first).
    pub fn dst_order(self) -> &'static [usize] {
        match self {
            Self::Current => &[10, 9, 8, 7, 6, 5, 4, 3, 2, 1],
            Self::Legacy => &[LEGACY_ALMOST_FULL, LEGACY_ALMOST_EMPTY],
        }
    }

    /// Groups a compaction source is taken from, in order (emptiest first).
    pub fn src_order(self) -> &'static [usize] {
        match self {
            Self::Current => &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
            Self::Legacy => &[LEGACY_ALMOST_EMPTY, LEGACY_ALMOST_FULL],
        }
    }

    /// Column labels of the debugfs `classes` table for groups, with their group numbers.
    pub fn group_columns(self) -> &'static [(&'static str, usize)] {
        match self {
            Self::Current => &[
                ("10%", 1),
                ("20%", 2),
                ("30%", 3),
                ("40%", 4),
                ("50%", 5),
                ("60%", 6),
                ("70%", 7),
                ("80%", 8),
                ("90%", 9),
                ("99%", 10),
                ("100%", 11),
            ],
            Self::Legacy => &[
                ("almost_full", LEGACY_ALMOST_FULL),
                ("almost_empty", LEGACY_ALMOST_EMPTY),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_groups_are_tenths_with_exact_ten_percent_in_group_two() {
        let p = Profile::Current;
        assert_eq!(p.fullness(0, 10), 0);
        assert_eq!(p.fullness(10, 10), 11);
        assert_eq!(p.fullness(1, 11), 1);
        assert_eq!(p.fullness(1, 10), 2);
        assert_eq!(p.fullness(9, 10), 10);
        assert_eq!(p.fullness(98, 99), 10);
    }

    #[test]
    fn legacy_groups_split_at_three_quarters() {
        let p = Profile::Legacy;
        assert_eq!(p.fullness(3, 4), LEGACY_ALMOST_EMPTY);
        assert_eq!(p.fullness(4, 5), LEGACY_ALMOST_FULL);
        assert_eq!(p.fullness(5, 5), LEGACY_FULL);
        assert_eq!(p.fullness(0, 5), LEGACY_EMPTY);
    }

    #[test]
    fn versions_select_profiles() {
        assert_eq!(Profile::parse("6.1").unwrap(), Profile::Legacy);
        assert_eq!(Profile::parse("6.3.13").unwrap(), Profile::Legacy);
        assert_eq!(Profile::parse("6.4").unwrap(), Profile::Current);
        assert_eq!(Profile::parse("6.12").unwrap(), Profile::Current);
        assert_eq!(Profile::parse("7.0").unwrap(), Profile::Current);
        assert!(Profile::parse("5.10").is_err());
        assert!(Profile::parse("six").is_err());
    }
}
