//! Object contents: `zs_obj_write` / `zs_obj_read` and their batch forms, plus the combined
//! calls a consumer's hot path wants — malloc, charge and write under one lock, and reads that
//! hand out the stored bytes in place instead of copying them out first.
//!
//! The combined calls are exactly the separate ones in the same order (malloc, charge, write);
//! they only save the lock round trips and handle decodes between them.

use super::pool::{HandleCell, Inner, Pool};
use crate::error::{Result, ZsError};
use crate::memcg::{MemcgId, ObjcgId};

/// Why `malloc_write_owned` failed: in the allocation (nothing happened), or in the accounting
/// step after it (the object was freed again, as a consumer freeing it on error would).
#[derive(Debug)]
pub enum MallocWriteError {
    /// `zs_malloc` failed.
    Malloc(ZsError),
    /// Charging failed; the object is gone again.
    Write(ZsError),
}

/// Objects `read_free_each` reads before it frees the accepted ones.
pub const READ_FREE_BATCH: usize = 64;
// One bit per object of a batch in a u64.
const _: () = assert!(READ_FREE_BATCH <= 64);

impl Pool {
    /// `zs_malloc(data.len())` on `nid`, then `write_owned(handle, data, memcg)`, under one lock.
    pub fn malloc_write_owned(
        &self,
        data: &[u8],
        nid: usize,
        memcg: Option<MemcgId>,
    ) -> std::result::Result<u64, MallocWriteError> {
        self.malloc_write_with(data, nid, |inner, cell| match memcg {
            Some(m) => self.charge_cell(inner, cell, m),
            None => Ok(()),
        })
    }

    /// `malloc_write_owned` for a caller holding the owner's objcg reference already (zswap's
    /// store): the pool takes its own reference for the stored pointer, as `write_owned` does,
    /// but skips looking the objcg up again. `None` owns nothing and charges nothing.
    pub fn malloc_write_objcg(
        &self,
        data: &[u8],
        nid: usize,
        objcg: Option<ObjcgId>,
    ) -> std::result::Result<u64, MallocWriteError> {
        self.malloc_write_with(data, nid, |inner, cell| {
            match (objcg, self.acct.cgroups()) {
                (Some(o), Some(cg)) => self.charge_cell_objcg(cg, inner, cell, Some(o)),
                _ => Ok(()),
            }
        })
    }

    /// malloc, `charge`, write under one lock; an object whose charge fails is freed again.
    fn malloc_write_with(
        &self,
        data: &[u8],
        nid: usize,
        charge: impl FnOnce(&mut Inner, u32) -> Result<()>,
    ) -> std::result::Result<u64, MallocWriteError> {
        self.check_size(data.len())
            .and_then(|_| self.mem.check_nid(nid))
            .map_err(MallocWriteError::Malloc)?;
        let mut inner = self.lock();
        let handle = self
            .malloc_locked(&mut inner, data.len(), nid)
            .map_err(MallocWriteError::Malloc)?;
        let cell = super::handle::cell_of(handle);
        if let Err(e) = charge(&mut inner, cell) {
            self.free_cell(&mut inner, cell);
            return Err(MallocWriteError::Write(e));
        }
        self.write_cell(&mut inner, cell, handle, data)
            .map_err(MallocWriteError::Write)?;
        Ok(handle)
    }

    /// Calls `f` with the object's bytes in place (`zs_obj_read_begin` … `zs_obj_read_end`),
    /// spanning objects included: a zspage's pages are one buffer. `f` runs under the pool
    /// lock, so it must not call into the pool.
    pub fn read_with<R>(&self, handle: u64, f: impl FnOnce(&[u8]) -> R) -> Result<R> {
        let inner = self.lock();
        let cell = self.decode(&inner, handle)?;
        Ok(match self.object_bytes(&inner, cell) {
            Some(bytes) => f(bytes),
            // Allocated, never written: reads as zeros (a rare path, so a fresh buffer).
            None => f(&vec![0u8; inner.handles[cell as usize].len as usize]),
        })
    }

    /// `read_with` then `zs_free` (an exclusive load: zswap's `zswap_load` followed by its
    /// `zswap_entry_free`) for several objects under one lock, `READ_FREE_BATCH` at a time:
    /// `f(i, bytes)` for each object `i` of the batch in order, then the ones `f` accepted
    /// (returned true for) are freed, in order. Every handle is checked first — an invalid
    /// handle, or one listed twice, is an error before anything is read or freed.
    /// The frees then run back to back, with one memcg uncharge call per objcg.
    pub fn read_free_each(
        &self,
        handles: &[u64],
        mut f: impl FnMut(usize, &[u8]) -> bool,
    ) -> Result<()> {
        let mut inner = self.lock();
        let cells = self.decode_batch(&mut inner, handles)?;
        for (base, chunk) in cells.chunks(READ_FREE_BATCH).enumerate() {
            let mut accepted = 0u64;
            for (k, &cell) in chunk.iter().enumerate() {
                let ok = match self.object_bytes(&inner, cell) {
                    Some(bytes) => f(base * READ_FREE_BATCH + k, bytes),
                    None => f(
                        base * READ_FREE_BATCH + k,
                        &vec![0u8; inner.handles[cell as usize].len as usize],
                    ),
                };
                accepted |= u64::from(ok) << k;
            }
            let accepted = chunk
                .iter()
                .enumerate()
                .filter(|(k, _)| accepted & (1 << k) != 0)
                .map(|(_, &c)| c);
            self.free_cells(&mut inner, accepted);
        }
        inner.cells = cells;
        Ok(())
    }

    /// The cells of `handles`, every one valid and none listed twice (a repeated handle would
    /// be freed twice), in the pool's scratch vector (the caller gives it back to `inner.cells`).
    pub(crate) fn decode_batch(&self, inner: &mut Inner, handles: &[u64]) -> Result<Vec<u32>> {
        let mut cells = std::mem::take(&mut inner.cells);
        cells.clear();
        for &h in handles {
            match self.decode(inner, h) {
                Ok(c) => cells.push(c),
                Err(e) => {
                    inner.cells = cells;
                    return Err(e);
                }
            }
        }
        // Valid handles name distinct cells iff they are distinct.
        let dup = if cells.len() <= READ_FREE_BATCH {
            (1..cells.len()).find(|&i| cells[..i].contains(&cells[i]))
        } else {
            let mut sorted: Vec<(u32, usize)> = cells.iter().copied().zip(0..).collect();
            sorted.sort_unstable();
            sorted
                .windows(2)
                .find(|w| w[0].0 == w[1].0)
                .map(|w| w[0].1.max(w[1].1))
        };
        if let Some(i) = dup {
            inner.cells = cells;
            return Err(ZsError::InvalidHandle(handles[i]));
        }
        Ok(cells)
    }

    /// `read_free_each` with the reads spread over `threads` threads: `f(bytes, out)` for
    /// object `i` into `outs[i]` (the objects split into contiguous runs, one per thread), then
    /// `before_free` with each object's verdict on this thread, then the frees of the accepted
    /// objects in order — all under one lock, which the threads share for reading. Every
    /// handle is checked first, as in `read_free_each`. Returns the verdicts.
    pub fn read_free_parallel(
        &self,
        handles: &[u64],
        outs: &mut [&mut [u8]],
        threads: usize,
        f: impl Fn(&[u8], &mut [u8]) -> bool + Sync,
        before_free: impl FnOnce(&[bool]),
    ) -> Result<Vec<bool>> {
        if outs.len() != handles.len() {
            return Err(ZsError::InvalidArgument(format!(
                "{} outputs for {} handles",
                outs.len(),
                handles.len()
            )));
        }
        let mut inner = self.lock();
        let cells = self.decode_batch(&mut inner, handles)?;
        let mut oks = vec![false; handles.len()];
        {
            let shared: &Inner = &inner;
            let zeros_len = cells
                .iter()
                .map(|&c| shared.handles[c as usize])
                .filter(|h| !h.written)
                .map(|h| h.len as usize)
                .max()
                .unwrap_or(0);
            // Allocated, never written objects read as zeros.
            let zeros = vec![0u8; zeros_len];
            let srcs: Vec<&[u8]> = cells
                .iter()
                .map(|&c| {
                    self.object_bytes(shared, c)
                        .unwrap_or_else(|| &zeros[..shared.handles[c as usize].len as usize])
                })
                .collect();
            let per = crate::batch::part_len(handles.len(), threads);
            let parts = srcs
                .chunks(per)
                .zip(outs.chunks_mut(per))
                .zip(oks.chunks_mut(per));
            crate::batch::run_parts(parts, |((srcs, outs), oks)| {
                for ((src, out), ok) in srcs.iter().zip(outs.iter_mut()).zip(oks.iter_mut()) {
                    *ok = f(src, out);
                }
            });
        }
        before_free(&oks);
        let accepted = cells
            .iter()
            .zip(&oks)
            .filter(|(_, &ok)| ok)
            .map(|(&c, _)| c);
        self.free_cells(&mut inner, accepted);
        inner.cells = cells;
        Ok(oks)
    }

    /// A written object's bytes in place; None for one never written.
    fn object_bytes<'a>(&self, inner: &'a Inner, cell: u32) -> Option<&'a [u8]> {
        let c = inner.handles[cell as usize];
        if !c.written {
            return None;
        }
        let z = inner.zspages.get(c.zspage);
        let start = self.payload_start(&inner.classes[z.class as usize], c.idx);
        Some(&z.data[start..start + c.len as usize])
    }

    /// Writes `data` at the start of the object (`zs_obj_write`); the rest of the object, if
    /// `data` is shorter, reads back as zeros.
    pub fn write(&self, handle: u64, data: &[u8]) -> Result<()> {
        self.write_owned(handle, data, None)
    }

    /// `zs_obj_write` with an owner: in an accounting pool, `memcg`'s objcg is recorded for the
    /// object and charged (once; rewriting with the same owner charges nothing, another owner
    /// is refused). Data are written only if the accounting step succeeded.
    pub fn write_owned(&self, handle: u64, data: &[u8], memcg: Option<MemcgId>) -> Result<()> {
        let mut inner = self.lock();
        let cell = self.decode(&inner, handle)?;
        self.check_fits(&inner, cell, handle, data.len())?;
        if let Some(m) = memcg {
            self.charge_cell(&mut inner, cell, m)?;
        }
        self.write_cell(&mut inner, cell, handle, data)
    }

    fn check_fits(&self, inner: &Inner, cell: u32, handle: u64, len: usize) -> Result<()> {
        let c: HandleCell = inner.handles[cell as usize];
        if len > c.len as usize {
            return Err(ZsError::InvalidArgument(format!(
                "{len} bytes do not fit object {handle:#x} of {} bytes",
                c.len
            )));
        }
        Ok(())
    }

    pub(crate) fn write_cell(
        &self,
        inner: &mut Inner,
        cell: u32,
        handle: u64,
        data: &[u8],
    ) -> Result<()> {
        self.check_fits(inner, cell, handle, data.len())?;
        let c = inner.handles[cell as usize];
        let z = inner.zspages.get(c.zspage);
        let start = self.payload_start(&inner.classes[z.class as usize], c.idx);
        let obj = &mut inner.zspages.get_mut(c.zspage).data[start..start + c.len as usize];
        let (head, tail) = obj.split_at_mut(data.len());
        head.copy_from_slice(data);
        tail.fill(0);
        inner.handles[cell as usize].written = true;
        Ok(())
    }

    /// Length of the object behind a handle.
    pub fn object_len(&self, handle: u64) -> Result<usize> {
        let inner = self.lock();
        let cell = self.decode(&inner, handle)?;
        Ok(inner.handles[cell as usize].len as usize)
    }

    /// Reads the whole object.
    pub fn read(&self, handle: u64) -> Result<Vec<u8>> {
        let inner = self.lock();
        let cell = self.decode(&inner, handle)?;
        let mut out = vec![0u8; inner.handles[cell as usize].len as usize];
        self.read_cell(&inner, cell, &mut out);
        Ok(out)
    }

    /// Reads the object into the front of `out` (which must be large enough); returns its length.
    pub fn read_into(&self, handle: u64, out: &mut [u8]) -> Result<usize> {
        let inner = self.lock();
        let cell = self.decode(&inner, handle)?;
        let len = inner.handles[cell as usize].len as usize;
        if out.len() < len {
            return Err(ZsError::InvalidArgument(format!(
                "buffer of {} bytes is smaller than object {handle:#x} of {len} bytes",
                out.len()
            )));
        }
        self.read_cell(&inner, cell, &mut out[..len]);
        Ok(len)
    }

    pub(crate) fn read_cell(&self, inner: &Inner, cell: u32, out: &mut [u8]) {
        let c = inner.handles[cell as usize];
        if !c.written {
            out.fill(0);
            return;
        }
        let z = inner.zspages.get(c.zspage);
        let start = self.payload_start(&inner.classes[z.class as usize], c.idx);
        out.copy_from_slice(&z.data[start..start + out.len()]);
    }

    /// Writes row `k` of `rows` (each `row_len` bytes) to handle `k`, each truncated to its
    /// object's length. Checks every handle before writing any.
    pub fn write_many(&self, handles: &[u64], rows: &[u8], row_len: usize) -> Result<()> {
        self.write_many_owned(handles, rows, row_len, None)
    }

    /// `write_many` with an owner for every object (see `write_owned`).
    pub fn write_many_owned(
        &self,
        handles: &[u64],
        rows: &[u8],
        row_len: usize,
        memcg: Option<MemcgId>,
    ) -> Result<()> {
        if rows.len() != handles.len() * row_len {
            return Err(ZsError::InvalidArgument(
                "rows do not match the handles".into(),
            ));
        }
        let mut inner = self.lock();
        let cells = handles
            .iter()
            .map(|&h| self.decode(&inner, h))
            .collect::<Result<Vec<_>>>()?;
        if let Some(m) = memcg {
            // All or nothing: refuse before charging anything if one object has another owner.
            for (&cell, &h) in cells.iter().zip(handles) {
                if self.owned_by_other(&inner, cell, m)? {
                    return Err(ZsError::Cgroup(format!(
                        "object {h:#x} is already owned by another cgroup"
                    )));
                }
            }
        }
        for (k, (&cell, &h)) in cells.iter().zip(handles).enumerate() {
            if let Some(m) = memcg {
                self.charge_cell(&mut inner, cell, m)?;
            }
            let len = (inner.handles[cell as usize].len as usize).min(row_len);
            self.write_cell(&mut inner, cell, h, &rows[k * row_len..k * row_len + len])?;
        }
        Ok(())
    }

    /// Reads object `k` into row `k` of `rows` (zero-padded); returns each object's length.
    pub fn read_many(
        &self,
        handles: &[u64],
        rows: &mut [u8],
        row_len: usize,
        lens: &mut [u32],
    ) -> Result<()> {
        if rows.len() != handles.len() * row_len || lens.len() != handles.len() {
            return Err(ZsError::InvalidArgument(
                "rows do not match the handles".into(),
            ));
        }
        let inner = self.lock();
        let cells = handles
            .iter()
            .map(|&h| self.decode(&inner, h))
            .collect::<Result<Vec<_>>>()?;
        for (k, &cell) in cells.iter().enumerate() {
            let len = inner.handles[cell as usize].len as usize;
            if len > row_len {
                return Err(ZsError::InvalidArgument(format!(
                    "object of {len} bytes does not fit a row of {row_len}"
                )));
            }
            let row = &mut rows[k * row_len..(k + 1) * row_len];
            self.read_cell(&inner, cell, &mut row[..len]);
            row[len..].fill(0);
            lens[k] = len as u32;
        }
        Ok(())
    }
}
