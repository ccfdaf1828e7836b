//! zram's counters (`struct zram_stats`) and the read-only statistics files, rendered with the
//! kernel's printf formats: every number of `mm_stat`, `io_stat` and `bd_stat` is `%8llu`
//! (right-aligned in 8 columns, wider numbers simply grow), `io_stat`'s third column is a literal
//! `0`, and `debug_stat` is `version: 1` then `0 %8llu`.

/// A column of a statistics file: its name and its value (`None`: the literal `0` the kernel
/// prints in a retired column).
type Column<T> = (&'static str, Option<fn(&T) -> u64>);

/// The file's text from its one column table: every value `%8llu`, a literal column `0`,
/// space-separated, newline-terminated.
fn text<T>(columns: &[Column<T>], stat: &T) -> String {
    let mut out = String::new();
    for (k, (_, value)) in columns.iter().enumerate() {
        if k > 0 {
            out.push(' ');
        }
        match value {
            Some(v) => out.push_str(&format!("{:8}", v(stat))),
            None => out.push('0'),
        }
    }
    out.push('\n');
    out
}

/// `(name, value)` pairs from the same table, in the file's order (a literal column is 0).
fn fields<T, const N: usize>(columns: &[Column<T>; N], stat: &T) -> [(&'static str, u64); N] {
    columns.map(|(name, value)| (name, value.map_or(0, |v| v(stat))))
}

/// `mm_stat`'s columns (`mm_stat_show` in drivers/block/zram/zram_drv.c).
const MM_STAT: [Column<MmStat>; 9] = [
    ("orig_data_size", Some(|s| s.orig_data_size)),
    ("compr_data_size", Some(|s| s.compr_data_size)),
    ("mem_used_total", Some(|s| s.mem_used_total)),
    ("mem_limit", Some(|s| s.mem_limit)),
    ("mem_used_max", Some(|s| s.mem_used_max)),
    ("same_pages", Some(|s| s.same_pages)),
    ("pages_compacted", Some(|s| s.pages_compacted)),
    ("huge_pages", Some(|s| s.huge_pages)),
    ("huge_pages_since", Some(|s| s.huge_pages_since)),
];

/// `io_stat`'s columns (`io_stat_show`); the third, once `invalid_io`, is a literal 0.
const IO_STAT: [Column<IoStat>; 4] = [
    ("failed_reads", Some(|s| s.failed_reads)),
    ("failed_writes", Some(|s| s.failed_writes)),
    ("invalid_io", None),
    ("notify_free", Some(|s| s.notify_free)),
];

/// `bd_stat`'s columns (`bd_stat_show`).
const BD_STAT: [Column<BdStat>; 3] = [
    ("bd_count", Some(|s| s.bd_count)),
    ("bd_reads", Some(|s| s.bd_reads)),
    ("bd_writes", Some(|s| s.bd_writes)),
];

/// The device's counters. Zeroed by `reset`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Stats {
    pub compr_data_size: u64,
    pub failed_reads: u64,
    pub failed_writes: u64,
    pub notify_free: u64,
    pub same_pages: u64,
    pub huge_pages: u64,
    pub huge_pages_since: u64,
    pub pages_stored: u64,
    pub max_used_pages: u64,
    pub miss_free: u64,
    pub bd_count: u64,
    pub bd_reads: u64,
    pub bd_writes: u64,
}

/// `/sys/block/zramN/mm_stat`, field by field (all in bytes except the page counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MmStat {
    /// `pages_stored × PAGE_SIZE`: same-filled and written-back pages included.
    pub orig_data_size: u64,
    /// Sum of stored object sizes (huge = PAGE_SIZE, same-filled 0, written back not counted).
    pub compr_data_size: u64,
    /// Pool pages × PAGE_SIZE, fragmentation included (0 when not initialised).
    pub mem_used_total: u64,
    /// `mem_limit` in bytes; 0 = none.
    pub mem_limit: u64,
    /// Peak pool pages × PAGE_SIZE.
    pub mem_used_max: u64,
    /// Same-filled slots now.
    pub same_pages: u64,
    /// Pages freed by compaction, cumulative (0 when not initialised).
    pub pages_compacted: u64,
    /// Huge slots now.
    pub huge_pages: u64,
    /// Huge pages stored since the last reset.
    pub huge_pages_since: u64,
}

impl MmStat {
    /// The file's text: `%8llu` × 9, space-separated, newline-terminated.
    pub fn text(&self) -> String {
        text(&MM_STAT, self)
    }

    /// `(name, value)` pairs in the file's order.
    pub fn fields(&self) -> [(&'static str, u64); MM_STAT.len()] {
        fields(&MM_STAT, self)
    }
}

/// `/sys/block/zramN/io_stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IoStat {
    /// Reads that failed.
    pub failed_reads: u64,
    /// Writes that failed (compression error, allocation failure, mem_limit).
    pub failed_writes: u64,
    /// Slot-free notifications plus pages freed by discard.
    pub notify_free: u64,
}

impl IoStat {
    /// The file's text: `%8llu %8llu 0 %8llu`.
    pub fn text(&self) -> String {
        text(&IO_STAT, self)
    }

    /// `(name, value)` pairs in the file's order (the literal 0 column is `invalid_io`).
    pub fn fields(&self) -> [(&'static str, u64); IO_STAT.len()] {
        fields(&IO_STAT, self)
    }
}

/// `/sys/block/zramN/bd_stat`, in 4 KiB units whatever the page size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BdStat {
    /// Backing blocks in use.
    pub bd_count: u64,
    /// Pages read from the backing device, cumulative.
    pub bd_reads: u64,
    /// Pages written to the backing device, cumulative.
    pub bd_writes: u64,
}

impl BdStat {
    /// The file's text: `%8llu %8llu %8llu`.
    pub fn text(&self) -> String {
        text(&BD_STAT, self)
    }

    /// `(name, value)` pairs in the file's order.
    pub fn fields(&self) -> [(&'static str, u64); BD_STAT.len()] {
        fields(&BD_STAT, self)
    }
}

/// `/sys/block/zramN/debug_stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DebugStat {
    /// Slot-free notifications skipped because the slot was locked.
    pub miss_free: u64,
}

impl DebugStat {
    /// The file's text: `version: 1`, then `0 %8llu` (the old writestall column is a literal 0).
    pub fn text(&self) -> String {
        format!("version: 1\n0 {:8}\n", self.miss_free)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_fields_come_from_one_table() {
        let mm = MmStat {
            orig_data_size: 1,
            compr_data_size: 2,
            mem_used_total: 3,
            mem_limit: 4,
            mem_used_max: 5,
            same_pages: 6,
            pages_compacted: 7,
            huge_pages: 8,
            huge_pages_since: 123_456_789,
        };
        assert_eq!(
            mm.text(),
            "       1        2        3        4        5        6        7        8 123456789\n"
        );
        let values: Vec<u64> = mm.fields().iter().map(|f| f.1).collect();
        assert_eq!(values, [1, 2, 3, 4, 5, 6, 7, 8, 123_456_789]);
        assert_eq!(mm.fields()[3].0, "mem_limit");
        let io = IoStat {
            failed_reads: 1,
            failed_writes: 22,
            notify_free: 333,
        };
        assert_eq!(io.text(), "       1       22 0      333\n");
        assert_eq!(
            io.fields(),
            [
                ("failed_reads", 1),
                ("failed_writes", 22),
                ("invalid_io", 0),
                ("notify_free", 333)
            ]
        );
        let bd = BdStat {
            bd_count: 0,
            bd_reads: 5,
            bd_writes: 6,
        };
        assert_eq!(bd.text(), "       0        5        6\n");
        assert_eq!(bd.fields()[2], ("bd_writes", 6));
    }
}
