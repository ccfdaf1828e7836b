//! What the simulated kernel swaps to: the swap layer (zero-page map, zswap, the swap file
//! behind it) seen through one trait, so the reclaim and fault paths do not care which
//! front-end or accounting mode is configured.

use std::sync::Mutex;

use crate::error::{Result, ZsError};
use crate::memcg::MemcgId;

/// Where a swapped-out page went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwapOut {
    /// A zero-filled page: recorded in the swap device's zero map, nothing stored.
    Zero,
    /// Compressed into zswap.
    Zswap,
    /// Written to the backing swap file.
    Disk,
    /// Refused (zswap full with writeback disabled, …): the page stays resident and is
    /// re-activated, as `swap_writeout` does.
    Rejected,
}

/// Where a swapped-in page came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwapIn {
    /// The zero map.
    Zero,
    /// zswap.
    Zswap,
    /// The swap file.
    Disk,
}

/// A swap layer the simulated kernel reclaims into.
pub trait SwapBackend: Send + Sync {
    /// Number of swap slots (pages) available.
    fn nr_slots(&self) -> u64;
    /// Swaps `page` out to `slot` on behalf of `memcg`, from a page on node `nid`.
    fn writeout(&self, slot: u64, page: &[u8], memcg: MemcgId, nid: usize) -> Result<SwapOut>;
    /// Reads `slot` back into `out` (and frees what held it, like an exclusive load).
    fn swapin(&self, slot: u64, out: &mut [u8], memcg: MemcgId, nid: usize) -> Result<SwapIn>;
    /// Forgets `slot` (the page was unmapped while swapped out).
    fn free(&self, slot: u64) -> Result<()>;
    /// Whether the layer counts pswpin/pswpout itself (the kernel's swap layer does).
    fn counts_swap_events(&self) -> bool {
        false
    }
    /// The memcg-aware shrinkers reclaim runs after the LRU (`shrink_slab`): returns the
    /// objects freed from `memcg` on node `nid`, at most about `nr`.
    fn shrink(&self, _memcg: MemcgId, _nid: usize, _nr: u64) -> Result<u64> {
        Ok(0)
    }
}

/// The real swap layer: zero map, zswap, the swap file on disk (swap type 0).
impl SwapBackend for crate::zswap::Swap {
    fn nr_slots(&self) -> u64 {
        self.devices().nr_slots(0).unwrap_or(0)
    }

    fn writeout(&self, slot: u64, page: &[u8], memcg: MemcgId, nid: usize) -> Result<SwapOut> {
        use crate::zswap::{SwapSlot, Writeout};
        Ok(
            match crate::zswap::Swap::writeout(
                self,
                SwapSlot::new(0, slot),
                page,
                Some(memcg),
                nid,
            )? {
                Writeout::Zero => SwapOut::Zero,
                Writeout::Zswap => SwapOut::Zswap,
                Writeout::Disk(_) => SwapOut::Disk,
                Writeout::Activate(_) => SwapOut::Rejected,
            },
        )
    }

    fn swapin(&self, slot: u64, out: &mut [u8], memcg: MemcgId, nid: usize) -> Result<SwapIn> {
        use crate::zswap::{SwapSlot, Swapin};
        let r = crate::zswap::Swap::swapin(self, SwapSlot::new(0, slot), out, Some(memcg), nid)?;
        // The slot is released once the page is back (exclusive swap-in).
        crate::zswap::Swap::free(self, SwapSlot::new(0, slot))?;
        Ok(match r {
            Swapin::Zero => SwapIn::Zero,
            Swapin::Zswap => SwapIn::Zswap,
            Swapin::Disk => SwapIn::Disk,
        })
    }

    fn free(&self, slot: u64) -> Result<()> {
        crate::zswap::Swap::free(self, crate::zswap::SwapSlot::new(0, slot))
    }

    fn counts_swap_events(&self) -> bool {
        true
    }

    /// zswap's shrinker (when `shrinker_enabled`): count, then scan that many, as `do_shrink_slab`
    /// does with batch 0 … here at most `nr`.
    fn shrink(&self, memcg: MemcgId, nid: usize, nr: u64) -> Result<u64> {
        let z = self.zswap();
        let count = z.shrinker_count(Some(memcg), nid)?;
        if count == 0 {
            return Ok(0);
        }
        Ok(z.shrinker_scan(Some(memcg), nid, count.min(nr.max(1)))?
            .freed)
    }
}

/// A swap layer of plain in-RAM copies with a zero map: the baseline without compression, and
/// a stand-in for tests of the reclaim and fault paths.
#[derive(Debug)]
pub struct RamSwap {
    nr_slots: u64,
    slots: Mutex<rustc_hash::FxHashMap<u64, Option<Box<[u8]>>>>,
}

impl RamSwap {
    /// A swap space of `nr_slots` pages.
    pub fn new(nr_slots: u64) -> Self {
        Self {
            nr_slots,
            slots: Mutex::new(Default::default()),
        }
    }

    /// Pages held (zero-map entries included).
    pub fn len(&self) -> usize {
        self.slots.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether nothing is swapped out.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl SwapBackend for RamSwap {
    fn nr_slots(&self) -> u64 {
        self.nr_slots
    }

    fn writeout(&self, slot: u64, page: &[u8], _memcg: MemcgId, _nid: usize) -> Result<SwapOut> {
        let zero = page.iter().all(|&b| b == 0);
        let data = (!zero).then(|| page.to_vec().into_boxed_slice());
        self.slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(slot, data);
        Ok(if zero { SwapOut::Zero } else { SwapOut::Disk })
    }

    fn swapin(&self, slot: u64, out: &mut [u8], _memcg: MemcgId, _nid: usize) -> Result<SwapIn> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        match slots.remove(&slot) {
            Some(None) => {
                out.fill(0);
                Ok(SwapIn::Zero)
            }
            Some(Some(d)) => {
                out.copy_from_slice(&d);
                Ok(SwapIn::Disk)
            }
            None => Err(ZsError::InvalidArgument(format!(
                "swap slot {slot} holds nothing"
            ))),
        }
    }

    fn free(&self, slot: u64) -> Result<()> {
        self.slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&slot);
        Ok(())
    }
}
