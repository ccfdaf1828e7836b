//! zram's counters (`struct zram_stats`) and the read-only statistics files, rendered with the
//! kernel's printf formats: every number of `mm_stat`, `io_stat` and `bd_stat` is `%8llu`
//! (right-aligned in 8 columns, wider numbers simply grow), `io_stat`'s third column is a literal
//! `0`, and `debug_stat` is `version: 1` then `0 %8llu`.

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
        format!(
            "{:8} {:8} {:8} {:8} {:8} {:8} {:8} {:8} {:8}\n",
            self.orig_data_size,
            self.compr_data_size,
            self.mem_used_total,
            self.mem_limit,
            self.mem_used_max,
            self.same_pages,
            self.pages_compacted,
            self.huge_pages,
            self.huge_pages_since
        )
    }

    /// `(name, value)` pairs in the file's order.
    pub fn fields(&self) -> [(&'static str, u64); 9] {
        [
            ("orig_data_size", self.orig_data_size),
            ("compr_data_size", self.compr_data_size),
            ("mem_used_total", self.mem_used_total),
            ("mem_limit", self.mem_limit),
            ("mem_used_max", self.mem_used_max),
            ("same_pages", self.same_pages),
            ("pages_compacted", self.pages_compacted),
            ("huge_pages", self.huge_pages),
            ("huge_pages_since", self.huge_pages_since),
        ]
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
        format!(
            "{:8} {:8} 0 {:8}\n",
            self.failed_reads, self.failed_writes, self.notify_free
        )
    }

    /// `(name, value)` pairs in the file's order (the literal 0 column is `invalid_io`).
    pub fn fields(&self) -> [(&'static str, u64); 4] {
        [
            ("failed_reads", self.failed_reads),
            ("failed_writes", self.failed_writes),
            ("invalid_io", 0),
            ("notify_free", self.notify_free),
        ]
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
        format!(
            "{:8} {:8} {:8}\n",
            self.bd_count, self.bd_reads, self.bd_writes
        )
    }

    /// `(name, value)` pairs in the file's order.
    pub fn fields(&self) -> [(&'static str, u64); 3] {
        [
            ("bd_count", self.bd_count),
            ("bd_reads", self.bd_reads),
            ("bd_writes", self.bd_writes),
        ]
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
