//! Swap devices backed by real files: page-sized slots read and written with positioned I/O,
//! the per-device zeromap, and a minimal swap cache (the set of slots whose page is in memory,
//! which makes zswap writeback fail with `-EEXIST`).
//!
//! One file per device (swap type = index in `swapon` order). A file is created (or truncated)
//! to `nr_slots × PAGE_SIZE` bytes; it stays sparse until written. Slots are addressed by
//! `SwapSlot { ty, offset }`; offsets past the end are refused.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};

use super::SwapSlot;
use crate::error::{Result, ZsError};

/// One swap device.
#[derive(Debug)]
struct SwapFile {
    path: PathBuf,
    file: File,
    nr_slots: u64,
    /// One bit per slot: the page was entirely zero (`si->zeromap`).
    zeromap: Box<[AtomicU64]>,
    reads: AtomicU64,
    writes: AtomicU64,
}

/// The swap devices (`swap_info[]`) with their zeromaps and the swap cache.
#[derive(Debug)]
pub struct SwapDevices {
    page_size: usize,
    devs: RwLock<Vec<Arc<SwapFile>>>,
    swapcache: Mutex<HashSet<SwapSlot>>,
}

impl SwapDevices {
    /// No devices yet; pages of `page_size` bytes.
    pub fn new(page_size: usize) -> Self {
        SwapDevices {
            page_size,
            devs: RwLock::new(Vec::new()),
            swapcache: Mutex::new(HashSet::new()),
        }
    }

    /// PAGE_SIZE.
    pub fn page_size(&self) -> usize {
        self.page_size
    }

    /// Adds a device backed by `path` (created or truncated) with `nr_slots` slots; returns its
    /// swap type.
    pub fn swapon(&self, path: impl AsRef<Path>, nr_slots: u64) -> Result<u32> {
        let path = path.as_ref().to_path_buf();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| ZsError::Io(format!("{}: {e}", path.display())))?;
        file.set_len(nr_slots * self.page_size as u64)?;
        let words = nr_slots.div_ceil(64) as usize;
        let dev = SwapFile {
            path,
            file,
            nr_slots,
            zeromap: (0..words).map(|_| AtomicU64::new(0)).collect(),
            reads: AtomicU64::new(0),
            writes: AtomicU64::new(0),
        };
        let mut devs = self.devs.write().unwrap_or_else(|e| e.into_inner());
        devs.push(Arc::new(dev));
        Ok((devs.len() - 1) as u32)
    }

    /// Number of devices.
    pub fn nr_devices(&self) -> usize {
        self.devs.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    fn dev(&self, slot: SwapSlot) -> Result<Arc<SwapFile>> {
        let devs = self.devs.read().unwrap_or_else(|e| e.into_inner());
        let d = devs.get(slot.ty as usize).ok_or_else(|| {
            ZsError::InvalidArgument(format!("no swap device of type {}", slot.ty))
        })?;
        if slot.offset >= d.nr_slots {
            return Err(ZsError::InvalidArgument(format!(
                "slot {} beyond the {} slots of swap type {}",
                slot.offset, d.nr_slots, slot.ty
            )));
        }
        Ok(d.clone())
    }

    /// Checks that `slot` exists.
    pub fn check_slot(&self, slot: SwapSlot) -> Result<()> {
        self.dev(slot).map(|_| ())
    }

    /// Slots of device `ty`.
    pub fn nr_slots(&self, ty: u32) -> Result<u64> {
        Ok(self.dev(SwapSlot::new(ty, 0))?.nr_slots)
    }

    /// Path of device `ty`'s file.
    pub fn path(&self, ty: u32) -> Result<PathBuf> {
        Ok(self.dev(SwapSlot::new(ty, 0))?.path.clone())
    }

    /// (page reads, page writes) of device `ty`.
    pub fn io_counts(&self, ty: u32) -> Result<(u64, u64)> {
        let d = self.dev(SwapSlot::new(ty, 0))?;
        Ok((d.reads.load(Relaxed), d.writes.load(Relaxed)))
    }

    fn check_len(&self, len: usize) -> Result<()> {
        if len != self.page_size {
            return Err(ZsError::InvalidArgument(format!(
                "swap I/O of {len} bytes; pages are {} bytes",
                self.page_size
            )));
        }
        Ok(())
    }

    /// Writes one page to `slot`.
    pub fn write_page(&self, slot: SwapSlot, page: &[u8]) -> Result<()> {
        self.check_len(page.len())?;
        let d = self.dev(slot)?;
        d.file
            .write_all_at(page, slot.offset * self.page_size as u64)?;
        d.writes.fetch_add(1, Relaxed);
        Ok(())
    }

    /// Reads one page from `slot`.
    pub fn read_page(&self, slot: SwapSlot, out: &mut [u8]) -> Result<()> {
        self.check_len(out.len())?;
        let d = self.dev(slot)?;
        d.file
            .read_exact_at(out, slot.offset * self.page_size as u64)?;
        d.reads.fetch_add(1, Relaxed);
        Ok(())
    }

    /// Sets or clears `slot`'s zeromap bit.
    pub fn set_zero(&self, slot: SwapSlot, zero: bool) -> Result<()> {
        let d = self.dev(slot)?;
        let (w, b) = ((slot.offset / 64) as usize, slot.offset % 64);
        if zero {
            d.zeromap[w].fetch_or(1 << b, Relaxed);
        } else {
            d.zeromap[w].fetch_and(!(1 << b), Relaxed);
        }
        Ok(())
    }

    /// Whether `slot`'s page was zero-filled.
    pub fn is_zero(&self, slot: SwapSlot) -> Result<bool> {
        let d = self.dev(slot)?;
        Ok(d.zeromap[(slot.offset / 64) as usize].load(Relaxed) >> (slot.offset % 64) & 1 == 1)
    }

    /// Puts `slot` in the swap cache; false if it already is (`-EEXIST`).
    pub fn swapcache_add(&self, slot: SwapSlot) -> Result<bool> {
        self.check_slot(slot)?;
        Ok(self
            .swapcache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(slot))
    }

    /// Takes `slot` out of the swap cache.
    pub fn swapcache_del(&self, slot: SwapSlot) {
        self.swapcache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&slot);
    }

    /// Whether `slot` is in the swap cache.
    pub fn in_swapcache(&self, slot: SwapSlot) -> bool {
        self.swapcache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&slot)
    }
}
