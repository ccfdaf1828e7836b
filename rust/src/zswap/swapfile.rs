//! Swap devices backed by real files: page-sized slots read and written with positioned I/O,
//! the per-device zeromap, and a minimal swap cache (the set of slots whose page is in memory,
//! which makes zswap writeback fail with `-EEXIST`).
//!
//! One file per device (swap type = index in `swapon` order). A file is claimed exclusively
//! (`crate::claim`: a file already in use is EBUSY, as `swapon` says of a live swap file), then
//! emptied and sized to `nr_slots × PAGE_SIZE` bytes; it stays sparse until written. Slots are
//! addressed by `SwapSlot { ty, offset }`; offsets past the end are refused. The zeromap is
//! allocated in chunks as bits are first set, so a huge device costs memory only for what it
//! holds.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use super::SwapSlot;
use crate::error::{Result, ZsError};

/// One swap device.
#[derive(Debug)]
struct SwapFile {
    path: PathBuf,
    file: File,
    nr_slots: u64,
    /// One bit per slot: the page was entirely zero (`si->zeromap`).
    zeromap: SlotBits,
    /// One bit per slot: the file holds the slot's page (written since the slot was last
    /// freed). Reading a slot without it is an error, never a page of zeros.
    on_disk: SlotBits,
    reads: AtomicU64,
    writes: AtomicU64,
}

/// Slots per zeromap chunk (a 32 KiB chunk of bits).
const ZEROMAP_CHUNK_BITS: u64 = 1 << 18;

/// A bitmap over `nr` slots (the zeromap, the written map) whose chunks are allocated when a bit in them is first set.
#[derive(Debug)]
struct SlotBits {
    chunks: Box<[OnceLock<Box<[AtomicU64]>>]>,
}

impl SlotBits {
    fn new(nr: u64) -> Result<Self> {
        let n = usize::try_from(nr.div_ceil(ZEROMAP_CHUNK_BITS))
            .map_err(|_| ZsError::OutOfMemory("zeromap too large".into()))?;
        let mut v = Vec::new();
        v.try_reserve_exact(n)
            .map_err(|_| ZsError::OutOfMemory(format!("zeromap of {nr} slots")))?;
        v.resize_with(n, OnceLock::new);
        Ok(Self {
            chunks: v.into_boxed_slice(),
        })
    }

    fn locate(offset: u64) -> (usize, usize, u64) {
        let (c, bit) = (offset / ZEROMAP_CHUNK_BITS, offset % ZEROMAP_CHUNK_BITS);
        (c as usize, (bit / 64) as usize, bit % 64)
    }

    fn set(&self, offset: u64, on: bool) {
        let (c, w, b) = Self::locate(offset);
        if on {
            let chunk = self.chunks[c].get_or_init(|| {
                (0..ZEROMAP_CHUNK_BITS / 64)
                    .map(|_| AtomicU64::new(0))
                    .collect()
            });
            chunk[w].fetch_or(1 << b, Relaxed);
        } else if let Some(chunk) = self.chunks[c].get() {
            chunk[w].fetch_and(!(1 << b), Relaxed);
        }
    }

    fn get(&self, offset: u64) -> bool {
        let (c, w, b) = Self::locate(offset);
        self.chunks[c]
            .get()
            .is_some_and(|chunk| chunk[w].load(Relaxed) >> b & 1 == 1)
    }
}

/// The most slots a swap device may have: 2^40 (4 PiB of 4 KiB pages). The kernel's bound,
/// `generic_max_swapfile_size`, is the swap entry's offset field (about 2^50 pages on x86-64),
/// but it also allocates a byte of `swap_map` per slot at `swapon`; here the zero and disk maps
/// are allocated as they are used, and this bound keeps their top level under 100 MiB.
pub const MAX_SWAP_SLOTS: u64 = 1 << 40;

/// The swap devices (`swap_info[]`) with their zeromaps and the swap cache.
#[derive(Debug)]
pub struct SwapDevices {
    page_size: usize,
    devs: RwLock<Vec<Arc<SwapFile>>>,
    swapcache: Mutex<rustc_hash::FxHashSet<SwapSlot>>,
}

impl SwapDevices {
    /// No devices yet; pages of `page_size` bytes.
    pub fn new(page_size: usize) -> Self {
        SwapDevices {
            page_size,
            devs: RwLock::new(Vec::new()),
            swapcache: Mutex::new(Default::default()),
        }
    }

    /// PAGE_SIZE.
    pub fn page_size(&self) -> usize {
        self.page_size
    }

    /// Adds a device backed by `path` (created if missing, claimed exclusively, then emptied)
    /// with `nr_slots` slots; returns its swap type. A file another device or process holds is
    /// EBUSY and is left untouched; 0 slots or more than [`MAX_SWAP_SLOTS`] is EINVAL.
    pub fn swapon(&self, path: impl AsRef<Path>, nr_slots: u64) -> Result<u32> {
        let path = path.as_ref().to_path_buf();
        if nr_slots == 0 || nr_slots > MAX_SWAP_SLOTS {
            return Err(ZsError::InvalidArgument(format!(
                "a swap device of {nr_slots} slots (1..={MAX_SWAP_SLOTS})"
            )));
        }
        let bytes = nr_slots
            .checked_mul(self.page_size as u64)
            .filter(|&b| b <= i64::MAX as u64)
            .ok_or_else(|| {
                ZsError::InvalidArgument(format!("{nr_slots} slots overflow a file size"))
            })?;
        let zeromap = SlotBits::new(nr_slots)?;
        let on_disk = SlotBits::new(nr_slots)?;
        let io = |e: std::io::Error| ZsError::Io(format!("{}: {e}", path.display()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        crate::claim::claim(&file, &path, "a swap file")?;
        // Claimed: nobody else uses it, so its old contents go.
        file.set_len(0).map_err(io)?;
        file.set_len(bytes).map_err(io)?;
        let dev = SwapFile {
            path,
            file,
            nr_slots,
            zeromap,
            on_disk,
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

    /// Checks that every slot exists (one look at the device table).
    pub fn check_slots(&self, slots: &[SwapSlot]) -> Result<()> {
        let devs = self.devs.read().unwrap_or_else(|e| e.into_inner());
        for s in slots {
            match devs.get(s.ty as usize) {
                Some(d) if s.offset < d.nr_slots => {}
                _ => {
                    drop(devs);
                    return self.check_slot(*s);
                }
            }
        }
        Ok(())
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
        d.on_disk.set(slot.offset, true);
        d.writes.fetch_add(1, Relaxed);
        Ok(())
    }

    /// Reads one page from `slot`.
    pub fn read_page(&self, slot: SwapSlot, out: &mut [u8]) -> Result<()> {
        self.check_len(out.len())?;
        let d = self.dev(slot)?;
        if !d.on_disk.get(slot.offset) {
            return Err(ZsError::errno_msg(
                crate::error::Errno::EIO,
                format!(
                    "swap slot {}:{} holds no page (never written, or freed)",
                    slot.ty, slot.offset
                ),
            ));
        }
        d.file
            .read_exact_at(out, slot.offset * self.page_size as u64)?;
        d.reads.fetch_add(1, Relaxed);
        Ok(())
    }

    /// Sets or clears `slot`'s zeromap bit.
    pub fn set_zero(&self, slot: SwapSlot, zero: bool) -> Result<()> {
        let d = self.dev(slot)?;
        d.zeromap.set(slot.offset, zero);
        Ok(())
    }

    /// Forgets `slot`'s page (`swap_entry_free`): neither zero-filled nor on disk any more.
    pub fn forget(&self, slot: SwapSlot) -> Result<()> {
        let d = self.dev(slot)?;
        d.zeromap.set(slot.offset, false);
        d.on_disk.set(slot.offset, false);
        Ok(())
    }

    /// Whether `slot`'s page was zero-filled.
    pub fn is_zero(&self, slot: SwapSlot) -> Result<bool> {
        let d = self.dev(slot)?;
        Ok(d.zeromap.get(slot.offset))
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
