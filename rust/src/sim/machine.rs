//! The simulated kernel around the consumers: processes whose anonymous pages live in frames of
//! the simulated memory, charged to their cgroup; memory.max and memory.high reclaim of cold pages
//! into the swap layer; faults that bring them back; `memory.reclaim`; NUMA binding.
//!
//! Paths, in the kernel's order:
//! - **fault in** (first touch or swap-in): a frame from the process's allowed nodes in order
//!   (direct reclaim over the whole machine when they are full), then `try_charge` — on a
//!   memory.max hit, reclaim from the over-limit cgroup's subtree in batches of 32 and retry, up
//!   to 16 times without progress, then OOM — then memory.high reclaim of the excess;
//! - **reclaim** of a subtree: round-robin over its memcgs' LRUs; the inactive list's oldest page
//!   is activated if referenced (second chance), else written out to a freshly allocated swap
//!   slot charged to memory.swap; refused write-outs re-activate the page;
//! - **swap-in**: exclusive, the slot is freed and memory.swap uncharged.
//!
//! All machine state sits behind one mutex; the swap layer, the pools and the cgroups have their
//! own locks, always taken after it.

use std::sync::{Arc, Mutex, MutexGuard};

use super::backend::{SwapBackend, SwapIn};
use super::lru::{Lru, LruRef};
use crate::error::{Errno, Result, ZsError};
use crate::mem::{Frame, Memory};
use crate::memcg::{Cgroups, KnownItems, MemcgId, Reclaimer};

/// Reclaim batch (`SWAP_CLUSTER_MAX`).
pub(super) const BATCH: u64 = 32;
/// Reclaim rounds without progress before a charge gives up (`MAX_RECLAIM_RETRIES`).
pub(super) const RETRIES: usize = 16;

/// Counters of what the simulated kernel did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Page faults (first touches and swap-ins).
    pub faults: u64,
    /// Faults that read a page back from swap.
    pub major_faults: u64,
    /// Pages written out, by destination.
    pub swapout_zero: u64,
    /// See `swapout_zero`.
    pub swapout_zswap: u64,
    /// See `swapout_zero`.
    pub swapout_disk: u64,
    /// Write-outs refused by the swap layer (page re-activated).
    pub swapout_rejected: u64,
    /// Pages read back, by source.
    pub swapin_zero: u64,
    /// See `swapin_zero`.
    pub swapin_zswap: u64,
    /// See `swapin_zero`.
    pub swapin_disk: u64,
    /// Pages reclaimed (left memory).
    pub reclaimed: u64,
    /// Pages scanned by reclaim.
    pub scanned: u64,
    /// Charges that failed after reclaim (OOM).
    pub ooms: u64,
    /// Objects freed by shrinkers (zswap entries written back).
    pub slab_freed: u64,
}

#[derive(Debug)]
pub(super) enum Pte {
    None,
    Present {
        frame: Frame,
        referenced: bool,
        token: u64,
    },
    Swapped(u64),
}

#[derive(Debug)]
pub(super) struct Proc {
    pub(super) memcg: MemcgId,
    pub(super) mems: Vec<usize>,
    pub(super) ptes: Vec<Pte>,
}

/// The live processes by pid. A pid is never reused (an old `Process` handle can never reach
/// a new process), and an exited process is dropped at once, so memory follows the live ones.
#[derive(Debug, Default)]
pub(super) struct ProcTable {
    live: rustc_hash::FxHashMap<u32, Proc>,
    next_pid: u32,
}

impl ProcTable {
    fn insert(&mut self, p: Proc) -> Result<u32> {
        let pid = self.next_pid;
        self.next_pid = pid.checked_add(1).ok_or_else(|| {
            ZsError::errno_msg(
                crate::error::Errno::EAGAIN,
                "every pid was used: this machine starts no more processes",
            )
        })?;
        self.live.insert(pid, p);
        Ok(pid)
    }

    /// A live process.
    pub(super) fn get(&self, pid: u32) -> Option<&Proc> {
        self.live.get(&pid)
    }

    /// A live process.
    pub(super) fn get_mut(&mut self, pid: u32) -> Option<&mut Proc> {
        self.live.get_mut(&pid)
    }

    /// The page an LRU entry names, if its process still lives and maps it.
    pub(super) fn pte(&self, pid: u32, vpn: u32) -> Option<&Pte> {
        self.get(pid)?.ptes.get(vpn as usize)
    }

    /// The page an LRU entry names, if its process still lives and maps it.
    pub(super) fn pte_mut(&mut self, pid: u32, vpn: u32) -> Option<&mut Pte> {
        self.get_mut(pid)?.ptes.get_mut(vpn as usize)
    }
}

#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) procs: ProcTable,
    /// FxHash: deterministic, so a run's instruction count repeats exactly.
    pub(super) lrus: rustc_hash::FxHashMap<MemcgId, Lru>,
    pub(super) free_slots: Vec<u64>,
    pub(super) next_slot: u64,
    pub(super) next_token: u64,
    pub(super) cursor: usize,
    pub(super) stats: SimStats,
    /// `vm.min_free_kbytes` in pages: below it, kswapd reclaims machine-wide up to the high
    /// watermark (min + min/4, as `__setup_per_zone_wmarks` spaces them by default).
    pub(super) min_free_pages: u64,
    /// Who the reclaim in progress is for.
    pub(super) reclaimer: Reclaimer,
}

/// A simulated machine: memory, cgroups, a swap layer, processes.
pub struct Machine {
    pub(super) mem: Arc<Memory>,
    pub(super) cgroups: Arc<Cgroups>,
    pub(super) swap: Arc<dyn SwapBackend>,
    /// The stat items the machine updates, resolved when the hierarchy was built.
    pub(super) items: KnownItems,
    pub(super) st: Mutex<State>,
}

impl State {
    /// Puts a page that stays resident back on its memcg's active list (`folio_activate`).
    pub(super) fn activate(&mut self, memcg: MemcgId, r: LruRef) {
        self.lrus.entry(memcg).or_default().active.push_back(r);
    }
}

impl std::fmt::Debug for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Machine")
            .field("stats", &self.stats())
            .finish()
    }
}

impl Machine {
    /// A machine over `mem` with `cgroups`, swapping into `swap`.
    pub fn new(
        mem: Arc<Memory>,
        cgroups: Arc<Cgroups>,
        swap: Arc<dyn SwapBackend>,
    ) -> Result<Self> {
        if cgroups.nr_nodes() != mem.nr_nodes() || cgroups.page_size() != mem.page_size() {
            return Err(ZsError::InvalidArgument(
                "cgroups and memory disagree on nodes or page size".into(),
            ));
        }
        let items = *cgroups.items();
        Ok(Self {
            mem,
            cgroups,
            swap,
            items,
            st: Mutex::new(State::default()),
        })
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The simulated memory.
    pub fn memory(&self) -> &Arc<Memory> {
        &self.mem
    }

    /// The cgroup hierarchy.
    pub fn cgroups(&self) -> &Arc<Cgroups> {
        &self.cgroups
    }

    /// `vm.min_free_kbytes`: free memory kswapd keeps, in KiB.
    /// The sysctl is an int (`proc_dointvec_minmax`, at least 0): above `INT_MAX` is -EINVAL.
    pub fn set_min_free_kbytes(&self, kbytes: u64) -> Result<()> {
        if kbytes > i32::MAX as u64 {
            return Err(ZsError::errno_msg(
                crate::error::Errno::EINVAL,
                format!("vm.min_free_kbytes: {kbytes} is above INT_MAX"),
            ));
        }
        self.lock().min_free_pages = kbytes * 1024 / self.mem.page_size() as u64;
        Ok(())
    }

    /// What the machine has done so far.
    pub fn stats(&self) -> SimStats {
        self.lock().stats
    }

    /// Starts a process in `memcg` whose pages may live only on `mems` (cpuset.mems), tried in
    /// order; an empty list allows every node, nearest first from node 0.
    pub fn spawn(&self, memcg: MemcgId, mems: &[usize]) -> Result<u32> {
        self.cgroups.path(memcg)?;
        for &n in mems {
            self.mem.check_nid(n)?;
        }
        let mems = if mems.is_empty() {
            (0..self.mem.nr_nodes()).collect()
        } else {
            mems.to_vec()
        };
        self.cgroups.attach_task(memcg)?;
        let mut st = self.lock();
        let pid = st.procs.insert(Proc {
            memcg,
            mems,
            ptes: Vec::new(),
        });
        if pid.is_err() {
            drop(st);
            self.cgroups.detach_task(memcg)?;
        }
        pid
    }

    pub(super) fn proc_mut(st: &mut State, pid: u32) -> Result<&mut Proc> {
        match st.procs.get_mut(pid) {
            Some(p) => Ok(p),
            None => Err(ZsError::InvalidArgument(format!("no process {pid}"))),
        }
    }

    /// Maps `contents.len() / PAGE_SIZE` new pages holding `contents` and touches each (faulting
    /// it in, charging it, reclaiming as needed); returns the first page number.
    pub fn mmap(&self, pid: u32, contents: &[u8]) -> Result<u64> {
        let ps = self.mem.page_size();
        if !contents.len().is_multiple_of(ps) {
            return Err(ZsError::InvalidArgument(format!(
                "contents are not whole {ps}-byte pages"
            )));
        }
        let mut st = self.lock();
        let base = {
            let p = Self::proc_mut(&mut st, pid)?;
            let base = p.ptes.len();
            p.ptes.extend((0..contents.len() / ps).map(|_| Pte::None));
            base
        };
        for (k, page) in contents.chunks(ps).enumerate() {
            if let Err(e) = self.fault_in(&mut st, pid, base + k, Some(page)) {
                // All or nothing: the caller never learns the range, so unmap what was mapped.
                let p = Self::proc_mut(&mut st, pid)?;
                let memcg = p.memcg;
                let mapped = p.ptes.split_off(base);
                self.release_ptes(&mut st, memcg, mapped)?;
                return Err(e);
            }
        }
        Ok(base as u64)
    }

    /// Accesses pages in trace order: a resident page gets its referenced bit, a swapped-out one
    /// is faulted back in. Returns the number of major faults.
    /// A trace with an unmapped page is refused before any page is touched.
    pub fn access(&self, pid: u32, trace: &[u64]) -> Result<u64> {
        let mut st = self.lock();
        Self::check_mapped(&mut st, pid, trace)?;
        let before = st.stats.major_faults;
        for &vpn in trace {
            self.touch(&mut st, pid, vpn)?;
        }
        Ok(st.stats.major_faults - before)
    }

    /// Reads pages (faulting them in) into `out`, `PAGE_SIZE` bytes each.
    pub fn read_pages(&self, pid: u32, vpns: &[u64], out: &mut [u8]) -> Result<()> {
        let ps = self.mem.page_size();
        self.each_page(pid, vpns, out.len(), |k, data| {
            out[k * ps..(k + 1) * ps].copy_from_slice(data)
        })
    }

    /// Overwrites pages (faulting them in first).
    pub fn write_pages(&self, pid: u32, vpns: &[u64], data: &[u8]) -> Result<()> {
        let ps = self.mem.page_size();
        self.each_page(pid, vpns, data.len(), |k, page| {
            page.copy_from_slice(&data[k * ps..(k + 1) * ps])
        })
    }

    /// Faults in every page of `vpns` in order and hands its bytes to `f` with its index;
    /// `buf_len` is the caller's buffer, which must hold exactly one page per entry.
    fn each_page(
        &self,
        pid: u32,
        vpns: &[u64],
        buf_len: usize,
        mut f: impl FnMut(usize, &mut [u8]),
    ) -> Result<()> {
        if buf_len != vpns.len() * self.mem.page_size() {
            return Err(ZsError::InvalidArgument(
                "the buffer does not match the pages".into(),
            ));
        }
        let mut st = self.lock();
        // All of the range or nothing: an unmapped page is refused before any page is touched.
        Self::check_mapped(&mut st, pid, vpns)?;
        for (k, &vpn) in vpns.iter().enumerate() {
            self.touch(&mut st, pid, vpn)?;
            let p = Self::proc_mut(&mut st, pid)?;
            if let Pte::Present { frame, .. } = &mut p.ptes[vpn as usize] {
                f(k, &mut frame.data);
            }
        }
        Ok(())
    }

    /// Pages mapped by the process (its page numbers are `0..nr_pages`).
    pub fn nr_pages(&self, pid: u32) -> Result<u64> {
        let mut st = self.lock();
        Ok(Self::proc_mut(&mut st, pid)?.ptes.len() as u64)
    }

    /// InvalidArgument (the SIGSEGV of an access) unless every page of `vpns` is mapped.
    fn check_mapped(st: &mut State, pid: u32, vpns: &[u64]) -> Result<()> {
        let n = Self::proc_mut(st, pid)?.ptes.len() as u64;
        match vpns.iter().find(|&&v| v >= n) {
            Some(v) => Err(ZsError::InvalidArgument(format!(
                "page {v} is not mapped (SIGSEGV)"
            ))),
            None => Ok(()),
        }
    }

    /// Where each page of a range is: (resident node or −1, swapped out).
    pub fn placement(&self, pid: u32) -> Result<Vec<(i64, bool)>> {
        let mut st = self.lock();
        let p = Self::proc_mut(&mut st, pid)?;
        Ok(p.ptes
            .iter()
            .map(|pte| match pte {
                Pte::Present { frame, .. } => (frame.nid as i64, false),
                Pte::Swapped(_) => (-1, true),
                Pte::None => (-1, false),
            })
            .collect())
    }

    /// Changes the nodes a process's future pages may use.
    pub fn set_mems(&self, pid: u32, mems: &[usize]) -> Result<()> {
        for &n in mems {
            self.mem.check_nid(n)?;
        }
        let mut st = self.lock();
        let p = Self::proc_mut(&mut st, pid)?;
        p.mems = if mems.is_empty() {
            (0..self.mem.nr_nodes()).collect()
        } else {
            mems.to_vec()
        };
        Ok(())
    }

    /// Ends a process: its frames are freed and uncharged, its swap slots released.
    pub fn exit(&self, pid: u32) -> Result<()> {
        let mut st = self.lock();
        let p = st
            .procs
            .live
            .remove(&pid)
            .ok_or_else(|| ZsError::InvalidArgument(format!("no process {pid}")))?;
        let result = self.release_ptes(&mut st, p.memcg, p.ptes);
        // A memcg whose LRU holds no resident page any more keeps no list (its entries could
        // only be stale ones of exited processes).
        if st.lrus.get(&p.memcg).is_some_and(|l| l.nr_resident == 0) {
            st.lrus.remove(&p.memcg);
        }
        self.cgroups.detach_task(p.memcg)?;
        result
    }

    /// Frees every page of `ptes` (frames and swap slots), going on past errors so nothing
    /// stays charged; returns the first error.
    fn release_ptes(&self, st: &mut State, memcg: MemcgId, ptes: Vec<Pte>) -> Result<()> {
        let mut first_err = Ok(());
        for pte in ptes {
            match pte {
                Pte::Present { frame, .. } => self.release_frame(st, memcg, frame),
                Pte::Swapped(slot) => {
                    if let Err(e) = self.release_slot(st, memcg, slot) {
                        first_err = first_err.and(Err(e));
                    }
                }
                Pte::None => {}
            }
        }
        first_err
    }

    /// `memory.reclaim`: reclaims `nr_pages` from `memcg`'s subtree; fails with EAGAIN, as the
    /// kernel does, when fewer could be reclaimed after the retries.
    pub fn reclaim(&self, memcg: MemcgId, nr_pages: u64) -> Result<u64> {
        self.cgroups.path(memcg)?;
        let mut st = self.lock();
        st.reclaimer = Reclaimer::Proactive;
        let mut done = 0;
        let mut retries = 0;
        let mut result = Ok(());
        while done < nr_pages && retries < RETRIES {
            match self.reclaim_subtree(&mut st, memcg, (nr_pages - done).min(BATCH)) {
                Ok(0) => retries += 1,
                Ok(got) => done += got,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        st.reclaimer = Reclaimer::Direct;
        result?;
        if done < nr_pages {
            return Err(ZsError::Errno(
                Errno::EAGAIN,
                format!("memory.reclaim: {done} of {nr_pages} pages reclaimed"),
            ));
        }
        Ok(done)
    }

    fn touch(&self, st: &mut State, pid: u32, vpn: u64) -> Result<()> {
        let p = Self::proc_mut(st, pid)?;
        match p.ptes.get_mut(vpn as usize) {
            None => Err(ZsError::InvalidArgument(format!(
                "page {vpn} is not mapped (SIGSEGV)"
            ))),
            Some(Pte::Present { referenced, .. }) => {
                *referenced = true;
                Ok(())
            }
            Some(Pte::None) => self.fault_in(st, pid, vpn as usize, None),
            Some(Pte::Swapped(_)) => self.fault_in(st, pid, vpn as usize, None),
        }
    }

    /// Brings page `vpn` into a frame: with `contents` (a first touch of mapped data), or from
    /// swap, or zero-filled.
    fn fault_in(
        &self,
        st: &mut State,
        pid: u32,
        vpn: usize,
        contents: Option<&[u8]>,
    ) -> Result<()> {
        let (memcg, mems) = {
            let p = Self::proc_mut(st, pid)?;
            (p.memcg, p.mems.clone())
        };
        // kswapd is woken by the allocation, before the faulting page is mapped: it must never
        // evict the page this fault is bringing in.
        self.kswapd(st)?;
        let mut frame = self.alloc_frame(st, &mems)?;
        if let Err(e) = self.charge_page(st, memcg) {
            self.mem.free_frame(frame);
            return Err(e);
        }
        let slot = match &Self::proc_mut(st, pid)?.ptes[vpn] {
            Pte::Swapped(slot) => Some(*slot),
            _ => None,
        };
        if let Some(slot) = slot {
            // The swap entry stays until the page is safely read: a failed read (the kernel's
            // SIGBUS) leaves it swapped out, nothing lost and nothing charged.
            let from = match self.swap.swapin(slot, &mut frame.data, memcg, frame.nid) {
                Ok(f) => f,
                Err(e) => {
                    let _ = self.cgroups.uncharge(memcg, 1);
                    self.mem.free_frame(frame);
                    return Err(e);
                }
            };
            st.stats.major_faults += 1;
            self.cgroups
                .count_event(Some(memcg), self.items.pgmajfault, 1)?;
            match from {
                SwapIn::Zero => st.stats.swapin_zero += 1,
                SwapIn::Zswap => st.stats.swapin_zswap += 1,
                SwapIn::Disk => {
                    st.stats.swapin_disk += 1;
                    if !self.swap.counts_swap_events() {
                        self.cgroups
                            .count_event(Some(memcg), self.items.pswpin, 1)?;
                    }
                }
            }
            st.free_slots.push(slot);
            self.cgroups.swap_uncharge(memcg, 1)?;
        } else {
            match contents {
                Some(c) => frame.data.copy_from_slice(c),
                None => frame.data.fill(0),
            }
        }
        st.stats.faults += 1;
        self.cgroups
            .count_event(Some(memcg), self.items.pgfault, 1)?;
        self.cgroups
            .mod_lruvec_state(memcg, frame.nid, self.items.anon, 1)?;
        let token = st.next_token;
        st.next_token += 1;
        let lru = st.lrus.entry(memcg).or_default();
        lru.inactive.push_back(LruRef {
            pid,
            vpn: vpn as u32,
            token,
        });
        lru.nr_resident += 1;
        Self::proc_mut(st, pid)?.ptes[vpn] = Pte::Present {
            frame,
            referenced: true,
            token,
        };
        Ok(())
    }

    pub(super) fn release_frame(&self, st: &mut State, memcg: MemcgId, frame: Frame) {
        // The memcg exists (it was charged); these updates cannot fail.
        let _ = self
            .cgroups
            .mod_lruvec_state(memcg, frame.nid, self.items.anon, -1);
        let _ = self.cgroups.uncharge(memcg, 1);
        if let Some(lru) = st.lrus.get_mut(&memcg) {
            lru.nr_resident -= 1;
        }
        self.mem.free_frame(frame);
    }

    fn release_slot(&self, st: &mut State, memcg: MemcgId, slot: u64) -> Result<()> {
        self.swap.free(slot)?;
        st.free_slots.push(slot);
        self.cgroups.swap_uncharge(memcg, 1)
    }
}
