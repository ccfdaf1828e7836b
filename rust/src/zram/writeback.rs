//! Idle marking and writeback to a backing device (`CONFIG_ZRAM_WRITEBACK`).
//!
//! The backing device is a file opened read-write (a block device or, unlike the kernel, a
//! regular file) whose size in pages bounds the blocks; block 0 is never used, so that a handle
//! of 0 keeps meaning "none". `writeback` parses the kernel's grammar (`type=idle|huge|huge_idle|
//! incompressible`, `page_index=N`, `page_indexes=LO-HI`, legacy valueless mode words), selects
//! slots into size buckets and writes the largest first, one synchronous page write each. A
//! written page keeps `orig_data_size` (pages_stored is re-incremented after the slot is freed),
//! drops its zsmalloc object, and reads come back from the file (`bd_reads`).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::device::{errno, State, Zram};
use super::parse::{args, chomp, sysfs_streq};
use super::pp::PpCtl;
use super::slot::{HUGE, IDLE, INCOMPRESSIBLE, PP_SLOT, SAME, WB};
use crate::error::{Errno, Result, ZsError};

/// An open backing device and its block bitmap.
pub(crate) struct Backing {
    pub path: PathBuf,
    file: File,
    page_size: usize,
    used: Vec<bool>,
}

impl Backing {
    fn open(path: &Path, page_size: usize) -> Result<Self> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        // Exclusive, as the kernel's backing_dev_store opens its device: a live swap file or
        // another device's backing file is EBUSY.
        crate::claim::claim(&file, path, "a zram backing device")?;
        let meta = file.metadata()?;
        if !(meta.is_file() || is_block_device(&meta)) {
            return Err(errno(
                Errno::ENOTBLK,
                "backing device must be a file or block device",
            ));
        }
        let len = if meta.is_file() {
            meta.len()
        } else {
            std::io::Seek::seek(&mut &file, std::io::SeekFrom::End(0))?
        };
        let nr = (len / page_size as u64) as usize;
        if nr == 0 {
            return Err(errno(Errno::EINVAL, "backing device has zero size"));
        }
        Ok(Self {
            // Shown as the kernel's `file_path()` shows it: absolute, links resolved.
            path: std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
            file,
            page_size,
            used: vec![false; nr],
        })
    }

    /// `alloc_block_bdev`: the lowest free block from 1, or `None` when full.
    fn alloc_block(&mut self) -> Option<u64> {
        let idx = (1..self.used.len()).find(|&i| !self.used[i])?;
        self.used[idx] = true;
        Some(idx as u64)
    }

    /// `free_block_bdev`.
    pub fn free_block(&mut self, blk: u64) {
        if let Some(b) = self.used.get_mut(blk as usize) {
            *b = false;
        }
    }

    fn write_block(&self, blk: u64, page: &[u8]) -> Result<()> {
        self.file
            .write_all_at(page, blk * self.page_size as u64)
            .map_err(ZsError::from)
    }

    pub fn read_block(&self, blk: u64, out: &mut [u8]) -> Result<()> {
        self.file
            .read_exact_at(out, blk * self.page_size as u64)
            .map_err(ZsError::from)
    }
}

fn is_block_device(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt;
    meta.file_type().is_block_device()
}

/// Writeback selection modes (`*_WRITEBACK` bits).
const MODE_HUGE: u32 = 1;
const MODE_IDLE: u32 = 2;
const MODE_INCOMPRESSIBLE: u32 = 4;

fn parse_mode(s: &str) -> Result<u32> {
    match s {
        "idle" => Ok(MODE_IDLE),
        "huge" => Ok(MODE_HUGE),
        "huge_idle" => Ok(MODE_IDLE | MODE_HUGE),
        "incompressible" => Ok(MODE_INCOMPRESSIBLE),
        _ => Err(errno(
            Errno::EINVAL,
            format!("unknown writeback mode {s:?}"),
        )),
    }
}

fn parse_index(s: &str, nr: u64) -> Result<u64> {
    let v = super::parse::kstrtoull(s, 10)?;
    if v >= nr {
        return Err(errno(Errno::ERANGE, format!("page index {v} out of range")));
    }
    Ok(v)
}

impl State {
    /// `mark_idle` with cutoff 0: every allocated slot that is neither same-filled nor written
    /// back becomes idle.
    fn mark_idle_all(&mut self) {
        for s in &mut self.slots {
            if s.allocated() && !s.has(WB) && !s.has(SAME) {
                s.set(IDLE);
            }
        }
    }

    /// `scan_slots_for_writeback` over `[lo, hi)`.
    fn scan_for_writeback(&mut self, mode: u32, lo: u64, hi: u64, ctl: &mut PpCtl) {
        for index in lo as usize..hi as usize {
            let s = self.slots[index];
            if !s.allocated() || s.has(WB) || s.has(SAME) {
                continue;
            }
            if (mode & MODE_IDLE != 0 && !s.has(IDLE))
                || (mode & MODE_HUGE != 0 && !s.has(HUGE))
                || (mode & MODE_INCOMPRESSIBLE != 0 && !s.has(INCOMPRESSIBLE))
            {
                continue;
            }
            ctl.place(self, index);
        }
    }

    /// `zram_writeback_slots`.
    fn writeback_slots(&mut self, ctl: &mut PpCtl) -> Result<()> {
        let mut page = vec![0u8; self.page_size];
        let mut blk: Option<u64> = None;
        let mut ret = Ok(());
        let per_page = (self.page_size / 4096).max(1) as u64;
        while let Some(index) = ctl.select() {
            if self.wb_limit_enable && self.wb_limit == 0 {
                PpCtl::release_slot(self, index);
                ret = Err(errno(Errno::EIO, "writeback limit exhausted"));
                break;
            }
            let b = match blk {
                Some(b) => b,
                None => match self.backing.as_mut().and_then(Backing::alloc_block) {
                    Some(b) => {
                        self.stats.bd_count += 1;
                        blk = Some(b);
                        b
                    }
                    None => {
                        PpCtl::release_slot(self, index);
                        ret = Err(errno(Errno::ENOSPC, "no free block on the backing device"));
                        break;
                    }
                },
            };
            if !self.slots[index].has(PP_SLOT) || self.read_from_pool(index, &mut page).is_err() {
                PpCtl::release_slot(self, index);
                continue;
            }
            let written = match &self.backing {
                Some(bk) => bk.write_block(b, &page),
                None => Err(errno(Errno::ENODEV, "no backing device")),
            };
            if let Err(e) = written {
                // Not fatal: carry on with the other slots, report the latest error.
                PpCtl::release_slot(self, index);
                ret = Err(e);
                continue;
            }
            self.stats.bd_writes += 1;
            self.free_slot(index);
            let s = &mut self.slots[index];
            s.set(WB);
            s.handle = b;
            blk = None;
            self.stats.pages_stored += 1;
            if self.wb_limit_enable && self.wb_limit > 0 {
                self.wb_limit = self.wb_limit.saturating_sub(per_page);
            }
        }
        if let Some(b) = blk {
            if let Some(bk) = &mut self.backing {
                bk.free_block(b);
            }
            self.stats.bd_count -= 1;
        }
        ret
    }
}

impl Zram {
    /// `backing_dev` store: opens `path`; `EBUSY` once initialised, `EINVAL` if it has no
    /// whole page.
    pub fn set_backing_dev(&self, path: &str) -> Result<()> {
        let mut st = self.lock();
        if st.disksize != 0 {
            return Err(errno(
                Errno::EBUSY,
                "can't setup backing device for initialized device",
            ));
        }
        let b = Backing::open(Path::new(chomp(path)), st.page_size)?;
        st.backing = Some(b);
        Ok(())
    }

    /// `backing_dev` show: the path, or `none`.
    pub fn backing_dev(&self) -> Option<PathBuf> {
        self.lock().backing.as_ref().map(|b| b.path.clone())
    }

    /// `idle` store: `all` marks every allocated, non-same, non-written-back slot idle.
    pub fn mark_idle(&self, what: &str) -> Result<()> {
        if !sysfs_streq(what, "all") {
            return Err(errno(
                Errno::EINVAL,
                "only \"all\" is supported (access times are not tracked)",
            ));
        }
        let mut st = self.lock();
        st.check_init()?;
        st.mark_idle_all();
        Ok(())
    }

    /// `writeback_limit_enable` store.
    pub fn set_writeback_limit_enable(&self, on: bool) {
        self.lock().wb_limit_enable = on;
    }

    /// `writeback_limit` store (4 KiB units).
    pub fn set_writeback_limit(&self, limit: u64) {
        self.lock().wb_limit = limit;
    }

    /// `(writeback_limit_enable, writeback_limit)`.
    pub fn writeback_limit(&self) -> (bool, u64) {
        let st = self.lock();
        (st.wb_limit_enable, st.wb_limit)
    }

    /// `writeback` store, with the kernel's grammar and errnos.
    pub fn writeback(&self, request: &str) -> Result<()> {
        let mut st = self.lock();
        st.check_init()?;
        if st.backing.is_none() {
            return Err(errno(Errno::ENODEV, "no backing device"));
        }
        let nr = st.slots.len() as u64;
        let (mut lo, mut hi) = (0u64, nr);
        let mut mode = 0u32;
        let mut ctl = PpCtl::new(st.page_size);
        let parsed = (|| -> Result<()> {
            for (param, val) in args(request) {
                let val = val.filter(|v| !v.is_empty());
                let Some(val) = val else {
                    // Legacy interface: a valueless mode word.
                    mode = parse_mode(param)?;
                    st.scan_for_writeback(mode, lo, hi, &mut ctl);
                    break;
                };
                match param {
                    "type" => {
                        mode = parse_mode(val)?;
                        st.scan_for_writeback(mode, lo, hi, &mut ctl);
                        break;
                    }
                    "page_index" => {
                        lo = parse_index(val, nr)?;
                        hi = lo + 1;
                        st.scan_for_writeback(mode, lo, hi, &mut ctl);
                    }
                    "page_indexes" => {
                        let (a, b) = val
                            .split_once('-')
                            .ok_or_else(|| errno(Errno::EINVAL, "page_indexes needs LO-HI"))?;
                        lo = parse_index(a, nr)?;
                        let h = parse_index(b, nr)?;
                        if lo > h {
                            return Err(errno(Errno::ERANGE, "page_indexes LO > HI"));
                        }
                        hi = h + 1;
                        st.scan_for_writeback(mode, lo, hi, &mut ctl);
                    }
                    _ => {}
                }
            }
            Ok(())
        })();
        let res = parsed.and_then(|()| st.writeback_slots(&mut ctl));
        ctl.release(&mut st);
        res
    }
}
