//! Block I/O on the device: whole pages, batches of pages (one lock for the batch), byte ranges
//! (partial pages are read, modified and written back whole, as the block layer's partial-I/O
//! path does), discard, and the swap slot-free notification.
//!
//! Like `zram_bio_read`/`zram_bio_write`, a failure of the page store or load counts in
//! `failed_reads`/`failed_writes` and stops the request; pages before it stay written. Requests
//! outside the device are refused (`EINVAL`) without counting, as the block layer would.
//! A successful read or write clears the slot's `IDLE` and `PP_SLOT` flags.

use super::device::{errno, State, Zram};
use crate::error::{Errno, Result};

impl State {
    fn check_page_buf(&self, len: usize) -> Result<()> {
        if len == self.page_size {
            Ok(())
        } else {
            Err(errno(
                Errno::EINVAL,
                format!(
                    "buffer of {len} bytes is not one page of {}",
                    self.page_size
                ),
            ))
        }
    }

    fn bio_write_page(&mut self, index: usize, page: &[u8]) -> Result<()> {
        match self.write_page(index, page) {
            Ok(()) => {
                self.slots[index].accessed();
                Ok(())
            }
            Err(e) => {
                self.stats.failed_writes += 1;
                Err(e)
            }
        }
    }

    fn bio_read_page(&mut self, index: usize, out: &mut [u8]) -> Result<()> {
        match self.read_page(index, out) {
            Ok(()) => {
                self.slots[index].accessed();
                Ok(())
            }
            Err(e) => {
                self.stats.failed_reads += 1;
                Err(e)
            }
        }
    }

    fn check_range(&self, offset: u64, len: usize) -> Result<()> {
        let end = offset.checked_add(len as u64);
        match end {
            Some(end) if end <= self.disksize => Ok(()),
            _ => Err(errno(
                Errno::EINVAL,
                format!(
                    "range {offset}+{len} is beyond the device ({} bytes)",
                    self.disksize
                ),
            )),
        }
    }

    /// `zram_bio_discard`: frees every whole page of the range; a leading partial page and a
    /// short tail are skipped. Returns the pages freed.
    pub fn discard_bytes(&mut self, offset: u64, len: u64) -> u64 {
        let ps = self.page_size as u64;
        let mut index = offset / ps;
        let within = offset % ps;
        let mut n = len;
        if within != 0 {
            if n <= ps - within {
                return 0;
            }
            n -= ps - within;
            index += 1;
        }
        let mut freed = 0;
        while n >= ps && index < self.slots.len() as u64 {
            self.free_slot(index as usize);
            self.stats.notify_free += 1;
            freed += 1;
            index += 1;
            n -= ps;
        }
        freed
    }
}

impl Zram {
    /// Writes one page to slot `index`.
    pub fn write_page(&self, index: u64, page: &[u8]) -> Result<()> {
        let mut st = self.lock();
        st.check_index(index)?;
        st.check_page_buf(page.len())?;
        st.bio_write_page(index as usize, page)
    }

    /// Reads slot `index` into `out` (one page). Unwritten slots read as zeros.
    pub fn read_page(&self, index: u64, out: &mut [u8]) -> Result<()> {
        let mut st = self.lock();
        st.check_index(index)?;
        st.check_page_buf(out.len())?;
        st.bio_read_page(index as usize, out)
    }

    /// Writes page `k` of `pages` (consecutive pages) to slot `indices[k]`, in order, under one
    /// lock; stops at the first failure.
    pub fn write_many(&self, indices: &[u64], pages: &[u8]) -> Result<()> {
        let mut st = self.lock();
        let ps = st.page_size;
        if pages.len() != indices.len() * ps {
            return Err(errno(Errno::EINVAL, "pages do not match the indices"));
        }
        for &i in indices {
            st.check_index(i)?;
        }
        for (&i, page) in indices.iter().zip(pages.chunks_exact(ps)) {
            st.bio_write_page(i as usize, page)?;
        }
        Ok(())
    }

    /// Reads slot `indices[k]` into page `k` of `out`, under one lock.
    pub fn read_many(&self, indices: &[u64], out: &mut [u8]) -> Result<()> {
        let mut st = self.lock();
        let ps = st.page_size;
        if out.len() != indices.len() * ps {
            return Err(errno(Errno::EINVAL, "buffer does not match the indices"));
        }
        for &i in indices {
            st.check_index(i)?;
        }
        for (&i, page) in indices.iter().zip(out.chunks_exact_mut(ps)) {
            st.bio_read_page(i as usize, page)?;
        }
        Ok(())
    }

    /// Writes `data` at byte `offset`; partial pages are read, modified and rewritten.
    pub fn write_at(&self, offset: u64, data: &[u8]) -> Result<()> {
        let mut st = self.lock();
        st.check_range(offset, data.len())?;
        let ps = st.page_size;
        let mut page = vec![0u8; ps];
        let mut done = 0usize;
        while done < data.len() {
            let pos = offset + done as u64;
            let index = (pos / ps as u64) as usize;
            let within = (pos % ps as u64) as usize;
            let n = (ps - within).min(data.len() - done);
            if n == ps {
                st.bio_write_page(index, &data[done..done + ps])?;
            } else {
                if let Err(e) = st.read_page(index, &mut page) {
                    st.stats.failed_writes += 1;
                    return Err(e);
                }
                page[within..within + n].copy_from_slice(&data[done..done + n]);
                st.bio_write_page(index, &page)?;
            }
            done += n;
        }
        Ok(())
    }

    /// Reads `out.len()` bytes at byte `offset`.
    pub fn read_at(&self, offset: u64, out: &mut [u8]) -> Result<()> {
        let mut st = self.lock();
        st.check_range(offset, out.len())?;
        let ps = st.page_size;
        let mut page = vec![0u8; ps];
        let mut done = 0usize;
        while done < out.len() {
            let pos = offset + done as u64;
            let index = (pos / ps as u64) as usize;
            let within = (pos % ps as u64) as usize;
            let n = (ps - within).min(out.len() - done);
            if n == ps {
                st.bio_read_page(index, &mut out[done..done + ps])?;
            } else {
                st.bio_read_page(index, &mut page)?;
                out[done..done + n].copy_from_slice(&page[within..within + n]);
            }
            done += n;
        }
        Ok(())
    }

    /// Discards `count` whole pages from slot `index` (`notify_free` +1 per page).
    pub fn discard(&self, index: u64, count: u64) -> Result<u64> {
        let mut st = self.lock();
        let ps = st.page_size as u64;
        let len = count.saturating_mul(ps);
        st.check_range(
            index.saturating_mul(ps),
            usize::try_from(len).unwrap_or(usize::MAX),
        )?;
        Ok(st.discard_bytes(index * ps, len))
    }

    /// Discards the byte range (`REQ_OP_DISCARD`): only whole pages inside it are freed.
    /// Returns the pages freed.
    pub fn discard_range(&self, offset: u64, len: u64) -> Result<u64> {
        let mut st = self.lock();
        st.check_range(offset, usize::try_from(len).unwrap_or(usize::MAX))?;
        Ok(st.discard_bytes(offset, len))
    }

    /// `swap_slot_free_notify`: `notify_free` +1, then frees the slot unless its lock is held
    /// ([`Zram::hold_slot`]), in which case `miss_free` +1 and the slot stays allocated.
    pub fn slot_free_notify(&self, index: u64) -> Result<()> {
        let mut st = self.lock();
        st.check_index(index)?;
        st.stats.notify_free += 1;
        if st.held.contains(&index) {
            st.stats.miss_free += 1;
        } else {
            st.free_slot(index as usize);
        }
        Ok(())
    }
}
