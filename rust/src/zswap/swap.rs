//! The swap layer in front of zswap (`swap_writeout` / `swap_read_folio` / swap slot free).
//!
//! Writeout of a page (6.12+ order): a page that is entirely zero sets the slot's zeromap bit and
//! stops there (`swpout_zero`; zswap never sees it); otherwise the bit is cleared and zswap tries
//! the page; if zswap refuses and writeback is effectively disabled for the page's memcg, the page
//! stays in memory ("activate": no disk swap); otherwise it is written to the device (`pswpout`).
//!
//! Read: zeromap → zeros (`swpin_zero`); zswap hit → exclusive load; otherwise the device
//! (`pswpin`) and a disk swapin recorded on the (memcg, node) lruvec for the shrinker.
//! Every path returns the bytes that were written out.

use std::sync::Arc;

use super::core::Zswap;
use super::load::LoadStatus;
use super::swapfile::SwapDevices;
use super::{RejectReason, SwapSlot};
use crate::error::{Errno, Result, ZsError};
use crate::memcg::{MemcgId, StatItem, ROOT_MEMCG};

/// Where a written-out page went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Writeout {
    /// Zero-filled: recorded in the zeromap only.
    Zero,
    /// Stored in zswap.
    Zswap,
    /// zswap refused (why) and the page was written to the device.
    Disk(RejectReason),
    /// zswap refused (why) and writeback is disabled: the page stays resident and active.
    Activate(RejectReason),
}

/// Where a swapped-in page came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Swapin {
    /// The zeromap.
    Zero,
    /// zswap (the entry is now freed).
    Zswap,
    /// The swap device.
    Disk,
}

/// The swap layer: zswap in front of real swap files.
#[derive(Debug)]
pub struct Swap {
    zswap: Arc<Zswap>,
    devices: Arc<SwapDevices>,
}

/// `is_folio_zero_filled`: OR-folds 64-byte chunks (vectorises) and stops at the first non-zero.
fn is_zero(page: &[u8]) -> bool {
    page.chunks(64)
        .all(|c| c.iter().fold(0u8, |a, &b| a | b) == 0)
}

impl Swap {
    /// The swap layer of `zswap`, over its backing devices.
    pub fn new(zswap: Arc<Zswap>) -> Result<Self> {
        let devices = zswap.backing().cloned().ok_or_else(|| {
            ZsError::InvalidArgument("the swap layer needs a zswap with backing devices".into())
        })?;
        Ok(Swap { zswap, devices })
    }

    /// The zswap behind.
    pub fn zswap(&self) -> &Arc<Zswap> {
        &self.zswap
    }

    /// The devices.
    pub fn devices(&self) -> &Arc<SwapDevices> {
        &self.devices
    }

    fn count(
        &self,
        memcg: Option<MemcgId>,
        pick: fn(&super::core::Items) -> StatItem,
    ) -> Result<()> {
        if let (Some(cg), Some(items)) = (self.zswap.cgroups(), self.zswap.items.as_ref()) {
            cg.count_event(Some(memcg.unwrap_or(ROOT_MEMCG)), pick(items), 1)?;
        }
        Ok(())
    }

    /// `swap_writeout` of one page of `memcg` on node `nid` to `slot`.
    pub fn writeout(
        &self,
        slot: SwapSlot,
        page: &[u8],
        memcg: Option<MemcgId>,
        nid: usize,
    ) -> Result<Writeout> {
        Ok(self.writeout_many(&[slot], page, memcg, nid)?[0])
    }

    /// `writeout` for row k of `pages` to `slots[k]`; non-zero pages go to zswap in one batch.
    pub fn writeout_many(
        &self,
        slots: &[SwapSlot],
        pages: &[u8],
        memcg: Option<MemcgId>,
        nid: usize,
    ) -> Result<Vec<Writeout>> {
        let ps = self.zswap.page_size();
        if pages.len() != slots.len() * ps {
            return Err(ZsError::InvalidArgument(
                "pages do not match the slots".into(),
            ));
        }
        let mut out = vec![Writeout::Zero; slots.len()];
        let (mut nz_slots, mut nz_rows, mut nz_pages) = (Vec::new(), Vec::new(), Vec::new());
        for (k, &slot) in slots.iter().enumerate() {
            // A slot written out starts empty: nothing stale on disk can be read for it.
            self.devices.forget(slot)?;
            let page = &pages[k * ps..(k + 1) * ps];
            if is_zero(page) {
                self.devices.set_zero(slot, true)?;
                // A stale entry cannot exist with exclusive loads; drop one defensively.
                self.zswap.invalidate(slot);
                self.count(memcg, |i| i.swpout_zero)?;
            } else {
                // (`forget` above already cleared its zeromap bit.)
                nz_slots.push(slot);
                nz_rows.push(k);
                nz_pages.extend_from_slice(page);
            }
        }
        if nz_slots.is_empty() {
            return Ok(out);
        }
        let results = self.zswap.store_many(&nz_slots, &nz_pages, memcg, nid)?;
        for ((&k, &slot), r) in nz_rows.iter().zip(&nz_slots).zip(results) {
            out[k] = match r.reject {
                None => Writeout::Zswap,
                Some(why) if !self.zswap.writeback_enabled(memcg)? => Writeout::Activate(why),
                Some(why) => {
                    self.devices
                        .write_page(slot, &pages[k * ps..(k + 1) * ps])?;
                    self.count(memcg, |i| i.pswpout)?;
                    Writeout::Disk(why)
                }
            };
        }
        Ok(out)
    }

    /// `swap_read_folio` of `slot` into `out`, for a page of `memcg` on node `nid`.
    pub fn swapin(
        &self,
        slot: SwapSlot,
        out: &mut [u8],
        memcg: Option<MemcgId>,
        nid: usize,
    ) -> Result<Swapin> {
        Ok(self.swapin_many(&[slot], out, memcg, nid)?[0])
    }

    /// `swapin` of `slots[k]` into row k of `out`; zswap hits are loaded in one batch.
    pub fn swapin_many(
        &self,
        slots: &[SwapSlot],
        out: &mut [u8],
        memcg: Option<MemcgId>,
        nid: usize,
    ) -> Result<Vec<Swapin>> {
        let ps = self.zswap.page_size();
        if out.len() != slots.len() * ps {
            return Err(ZsError::InvalidArgument(
                "output does not match the slots".into(),
            ));
        }
        let mut res = vec![Swapin::Zero; slots.len()];
        let mut rest = Vec::new();
        for (k, &slot) in slots.iter().enumerate() {
            if self.devices.is_zero(slot)? {
                out[k * ps..(k + 1) * ps].fill(0);
                self.count(memcg, |i| i.swpin_zero)?;
            } else {
                rest.push(k);
            }
        }
        if rest.is_empty() {
            return Ok(res);
        }
        let zslots: Vec<SwapSlot> = rest.iter().map(|&k| slots[k]).collect();
        let mut buf = vec![0u8; rest.len() * ps];
        let status = self.zswap.load_many(&zslots, &mut buf)?;
        for (j, (&k, st)) in rest.iter().zip(status).enumerate() {
            let row = &mut out[k * ps..(k + 1) * ps];
            match st {
                LoadStatus::Loaded => {
                    row.copy_from_slice(&buf[j * ps..(j + 1) * ps]);
                    res[k] = Swapin::Zswap;
                }
                LoadStatus::Failed => {
                    return Err(ZsError::errno_msg(
                        Errno::EIO,
                        format!(
                            "decompression error from zswap ({}:{})",
                            slots[k].ty, slots[k].offset
                        ),
                    ))
                }
                LoadStatus::Absent => {
                    self.devices.read_page(slots[k], row)?;
                    self.count(memcg, |i| i.pswpin)?;
                    self.zswap.record_disk_swapin(memcg, nid);
                    res[k] = Swapin::Disk;
                }
            }
        }
        Ok(res)
    }

    /// Frees `slot` (the last reference went): zeromap bit cleared, zswap entry invalidated.
    pub fn free(&self, slot: SwapSlot) -> Result<()> {
        self.devices.forget(slot)?;
        self.zswap.invalidate(slot);
        Ok(())
    }
}
