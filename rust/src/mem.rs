//! Simulated physical memory: NUMA nodes of page frames.
//!
//! A node owns a contiguous PFN range `[base, base + capacity)`, so a PFN names its node without
//! a lookup. A frame's bytes belong to whoever allocated it (a zspage, a resident page); this
//! layer keeps only the books — which PFNs are free on which node — behind one mutex, so that the
//! hot paths of its users touch it only when a frame is born, dies or moves.

use crate::sync::{Lock, LockGuard};

use crate::error::{Result, ZsError};

/// Page frame number.
pub type Pfn = u64;

/// The smallest page size: 4 KiB (`PAGE_SHIFT` 12, every architecture's smallest).
pub const MIN_PAGE_SIZE: usize = 4096;
/// The largest page size a Linux architecture offers: 256 KiB (`PAGE_SHIFT` 18, powerpc's
/// `PPC_256K_PAGES` and hexagon's `PAGE_SIZE_256KB`).
pub const MAX_PAGE_SIZE: usize = 1 << 18;
/// Nodes a machine may have: `MAX_NUMNODES` at the largest `NODES_SHIFT` (10) of x86-64.
pub const MAX_NUMNODES: usize = 1 << 10;
/// Physical address bits: `MAX_PHYSMEM_BITS` of x86-64 with 5-level paging (4 PiB).
pub const MAX_PHYSMEM_BITS: u32 = 52;

/// The page sizes a kernel can be built with; entry points that take a page size from a caller
/// check it here ([`check_page_size`]) before sizing anything by it.
pub const PAGE_SIZES: std::ops::RangeInclusive<usize> = MIN_PAGE_SIZE..=MAX_PAGE_SIZE;

/// `page_size` if Linux supports it: a power of two from [`MIN_PAGE_SIZE`] to
/// [`MAX_PAGE_SIZE`]; InvalidArgument otherwise.
pub fn check_page_size(page_size: usize) -> Result<usize> {
    if page_size.is_power_of_two() && PAGE_SIZES.contains(&page_size) {
        Ok(page_size)
    } else {
        Err(ZsError::InvalidArgument(format!(
            "page size {page_size}: Linux pages are a power of two from {MIN_PAGE_SIZE} to \
             {MAX_PAGE_SIZE} bytes"
        )))
    }
}

/// The host's `MemAvailable` from `/proc/meminfo`, in bytes (None where there is none).
fn host_available_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// A page frame: its number, its node and its `page_size` real bytes.
#[derive(Debug)]
pub struct Frame {
    /// Page frame number (unique in its `Memory`).
    pub pfn: Pfn,
    /// NUMA node of the frame.
    pub nid: usize,
    /// The page's contents.
    pub data: Box<[u8]>,
}

/// A page frame whose bytes live elsewhere: its number and node. zsmalloc keeps the bytes of a
/// zspage's pages side by side in one buffer of its own (an object that spans two pages is then
/// one slice), so it takes frames as numbers only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRef {
    /// Page frame number (unique in its `Memory`).
    pub pfn: Pfn,
    /// NUMA node of the frame.
    pub nid: usize,
}

/// Per-node counts, as `node_stats()` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeStat {
    /// Node id.
    pub node: usize,
    /// Frames the node has.
    pub capacity: usize,
    /// Frames handed out.
    pub used: usize,
}

#[derive(Debug)]
struct Node {
    base: Pfn,
    capacity: usize,
    /// Never-used frames are `base + next_fresh ..`; freed ones are recycled LIFO, the way a
    /// buddy allocator's per-cpu list hands back a hot page first.
    next_fresh: usize,
    free: Vec<Pfn>,
    /// Recycled page buffers, so that a frame's birth is not a heap allocation plus zeroing.
    spare: Vec<Box<[u8]>>,
}

impl Node {
    fn used(&self) -> usize {
        self.next_fresh - self.free.len()
    }
}

/// Simulated physical memory: a set of NUMA nodes with capacities in pages.
#[derive(Debug)]
pub struct Memory {
    page_size: usize,
    nodes: Lock<Vec<Node>>,
    bases: Vec<Pfn>,
    /// Σ capacities, fixed at creation: zswap reads it on every store (its pool limit).
    total: usize,
}

impl Memory {
    /// Nodes with the given capacities (pages each; a memoryless node has 0). `page_size` is
    /// one Linux supports ([`check_page_size`]); at most [`MAX_NUMNODES`] nodes and
    /// 2^[`MAX_PHYSMEM_BITS`] bytes in all, so that PFNs and byte sizes never wrap.
    pub fn new(capacities: &[usize], page_size: usize) -> Result<Self> {
        if capacities.is_empty() || capacities.len() > MAX_NUMNODES {
            return Err(ZsError::InvalidArgument(format!(
                "{} NUMA nodes: 1 to {MAX_NUMNODES} are possible",
                capacities.len()
            )));
        }
        check_page_size(page_size)?;
        let max_pages = (1u64 << MAX_PHYSMEM_BITS) / page_size as u64;
        let total = capacities
            .iter()
            .try_fold(0u64, |t, &c| t.checked_add(c as u64))
            .filter(|&t| t <= max_pages)
            .ok_or_else(|| {
                ZsError::InvalidArgument(format!(
                    "more than {max_pages} pages of {page_size} bytes: physical memory ends at \
                     2^{MAX_PHYSMEM_BITS} bytes"
                ))
            })?;
        let mut base = 0u64;
        let mut nodes = Vec::with_capacity(capacities.len());
        let mut bases = Vec::with_capacity(capacities.len());
        for &capacity in capacities {
            bases.push(base);
            nodes.push(Node {
                base,
                capacity,
                next_fresh: 0,
                free: Vec::new(),
                spare: Vec::new(),
            });
            base += capacity as u64;
        }
        Ok(Self {
            page_size,
            nodes: Lock::new(nodes),
            bases,
            total: total as usize,
        })
    }

    /// Touches page buffers for up to `n` frames of node `nid` before they are needed: they wait
    /// among the node's recycled buffers, so the frames born later (resident pages) cost no
    /// heap allocation and no first-touch fault of the host. A timed region then pays for what
    /// the modelled kernel does, not for the host's demand paging. At most the node's free
    /// frames are prepared, and never more than half of what the host has available
    /// (`MemAvailable`), checked before anything is allocated. Returns how many prepared
    /// buffers the node holds.
    pub fn prefault(&self, nid: usize, n: usize) -> Result<usize> {
        self.check_nid(nid)?;
        let ps = self.page_size;
        let mut nodes = self.lock();
        let node = &mut nodes[nid];
        let want = n.min(node.capacity - node.used());
        let more = want.saturating_sub(node.spare.len());
        let bytes = (more as u64).saturating_mul(ps as u64);
        if let Some(avail) = host_available_bytes() {
            if bytes > avail / 2 {
                return Err(ZsError::OutOfMemory(format!(
                    "prefaulting {more} pages ({bytes} bytes) would take more than half of the \
                     host's available memory ({avail} bytes)"
                )));
            }
        }
        node.spare
            .try_reserve(more)
            .map_err(|_| ZsError::OutOfMemory(format!("no room to prepare {more} page buffers")))?;
        for _ in 0..more {
            let mut data = vec![0u8; ps].into_boxed_slice();
            // One store per host page; black_box keeps it from being folded away as a store of
            // zero into zeroed memory, which would leave the page untouched.
            for i in (0..ps).step_by(MIN_PAGE_SIZE) {
                data[i] = std::hint::black_box(0);
            }
            node.spare.push(data);
        }
        Ok(node.spare.len())
    }

    /// Bytes per page.
    pub fn page_size(&self) -> usize {
        self.page_size
    }

    /// Number of NUMA nodes.
    pub fn nr_nodes(&self) -> usize {
        self.bases.len()
    }

    /// Total frames over all nodes.
    pub fn total_pages(&self) -> usize {
        self.total
    }

    /// The node a PFN belongs to.
    pub fn pfn_to_nid(&self, pfn: Pfn) -> Result<usize> {
        let nid = self.bases.partition_point(|&b| b <= pfn).wrapping_sub(1);
        let nodes = self.lock();
        match nodes.get(nid) {
            Some(n) if pfn < n.base + n.capacity as u64 => Ok(nid),
            _ => Err(ZsError::InvalidArgument(format!(
                "pfn {pfn} is outside simulated memory"
            ))),
        }
    }

    fn lock(&self) -> LockGuard<'_, Vec<Node>> {
        self.nodes.lock()
    }

    /// Checks that `nid` names a node.
    pub fn check_nid(&self, nid: usize) -> Result<()> {
        if nid < self.nr_nodes() {
            Ok(())
        } else {
            Err(ZsError::InvalidArgument(format!(
                "node {nid} does not exist (memory has {} nodes)",
                self.nr_nodes()
            )))
        }
    }

    /// Allocates one frame, from `nid` first and then the other nodes in increasing distance
    /// order (here: increasing id after `nid`, wrapping), like a zonelist fallback. The frame's
    /// bytes are not guaranteed to be zero.
    pub fn alloc_frame(&self, nid: usize) -> Result<Frame> {
        self.check_nid(nid)?;
        let mut nodes = self.lock();
        let n = nodes.len();
        for k in 0..n {
            let id = (nid + k) % n;
            if let Some(f) = Self::take(&mut nodes[id], id, self.page_size) {
                return Ok(f);
            }
        }
        Err(ZsError::OutOfMemory(format!("all {n} nodes are full")))
    }

    /// Allocates `n` frames as `alloc_frame` would, appending them to `out`; all or nothing.
    pub fn alloc_frames(&self, nid: usize, n: usize, out: &mut Vec<Frame>) -> Result<()> {
        let ps = self.page_size;
        self.alloc_n(
            nid,
            n,
            out,
            |node, id| Self::take(node, id, ps),
            Self::give_back,
        )
    }

    /// Takes `n` items with `take` from `nid` first, then the other nodes in fallback order;
    /// on failure returns what it took with `give_back` and leaves `out` as it was.
    fn alloc_n<T>(
        &self,
        nid: usize,
        n: usize,
        out: &mut Vec<T>,
        take: impl Fn(&mut Node, usize) -> Option<T>,
        give_back: impl Fn(&mut [Node], T),
    ) -> Result<()> {
        self.check_nid(nid)?;
        let mut nodes = self.lock();
        let nr = nodes.len();
        let start = out.len();
        'next: for _ in 0..n {
            for k in 0..nr {
                let id = (nid + k) % nr;
                if let Some(x) = take(&mut nodes[id], id) {
                    out.push(x);
                    continue 'next;
                }
            }
            for x in out.drain(start..) {
                give_back(&mut nodes, x);
            }
            return Err(ZsError::OutOfMemory(format!("all {nr} nodes are full")));
        }
        Ok(())
    }

    /// Allocates one frame on exactly `nid` (`__GFP_THISNODE`), as page migration does.
    pub fn alloc_frame_on(&self, nid: usize) -> Result<Frame> {
        self.check_nid(nid)?;
        let mut nodes = self.lock();
        Self::take(&mut nodes[nid], nid, self.page_size)
            .ok_or_else(|| ZsError::OutOfMemory(format!("node {nid} is full")))
    }

    fn take_pfn(node: &mut Node) -> Option<Pfn> {
        if let Some(p) = node.free.pop() {
            Some(p)
        } else if node.next_fresh < node.capacity {
            node.next_fresh += 1;
            Some(node.base + node.next_fresh as u64 - 1)
        } else {
            None
        }
    }

    fn take(node: &mut Node, nid: usize, page_size: usize) -> Option<Frame> {
        let pfn = Self::take_pfn(node)?;
        let data = node
            .spare
            .pop()
            .unwrap_or_else(|| vec![0u8; page_size].into_boxed_slice());
        Some(Frame { pfn, nid, data })
    }

    /// Allocates `n` frames as numbers only (see [`PageRef`]), from `nid` first with the same
    /// fallback as `alloc_frames`, appending them to `out`; all or nothing.
    pub fn alloc_pages(&self, nid: usize, n: usize, out: &mut Vec<PageRef>) -> Result<()> {
        self.alloc_n(
            nid,
            n,
            out,
            |node, id| Self::take_pfn(node).map(|pfn| PageRef { pfn, nid: id }),
            Self::give_back_pfn,
        )
    }

    /// Allocates one frame number on exactly `nid` (`__GFP_THISNODE`), as page migration does.
    pub fn alloc_page_on(&self, nid: usize) -> Result<PageRef> {
        self.check_nid(nid)?;
        let mut nodes = self.lock();
        Self::take_pfn(&mut nodes[nid])
            .map(|pfn| PageRef { pfn, nid })
            .ok_or_else(|| ZsError::OutOfMemory(format!("node {nid} is full")))
    }

    /// Returns every frame number of `pages` (left empty) to its node.
    pub fn free_pages(&self, pages: &mut Vec<PageRef>) {
        let mut nodes = self.lock();
        for p in pages.drain(..) {
            Self::give_back_pfn(&mut nodes, p);
        }
    }

    /// Returns one frame number to its node.
    pub fn free_page(&self, page: PageRef) {
        Self::give_back_pfn(&mut self.lock(), page);
    }

    fn give_back_pfn(nodes: &mut [Node], p: PageRef) {
        let node = &mut nodes[p.nid];
        debug_assert!(p.pfn >= node.base && p.pfn < node.base + node.capacity as u64);
        node.free.push(p.pfn);
    }

    /// Returns a frame to its node.
    pub fn free_frame(&self, frame: Frame) {
        Self::give_back(&mut self.lock(), frame);
    }

    /// Returns every frame of `frames` (left empty) to its node.
    pub fn free_frames(&self, frames: &mut Vec<Frame>) {
        let mut nodes = self.lock();
        for f in frames.drain(..) {
            Self::give_back(&mut nodes, f);
        }
    }

    fn give_back(nodes: &mut [Node], frame: Frame) {
        let node = &mut nodes[frame.nid];
        debug_assert!(frame.pfn >= node.base && frame.pfn < node.base + node.capacity as u64);
        node.free.push(frame.pfn);
        // Simulated RAM, once touched, stays with its node (as physical memory does): the buffer
        // waits for the next frame born there instead of going back to the heap.
        node.spare.push(frame.data);
    }

    /// Moves a frame's contents to a new frame on `to_node` and frees the old one (page
    /// migration). The caller swaps the returned frame into its structures.
    pub fn migrate_frame(&self, frame: Frame, to_node: usize) -> Result<(Frame, Frame)> {
        let mut new = self.alloc_frame_on(to_node)?;
        new.data.copy_from_slice(&frame.data);
        Ok((new, frame))
    }

    /// Per-node capacity and use.
    pub fn node_stats(&self) -> Vec<NodeStat> {
        self.lock()
            .iter()
            .enumerate()
            .map(|(node, n)| NodeStat {
                node,
                capacity: n.capacity,
                used: n.used(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefault_prepares_buffers_within_the_free_frames_and_reuses_them() {
        let m = Memory::new(&[8, 4], 4096).unwrap();
        let f = m.alloc_frame(1).unwrap();
        assert_eq!(
            m.prefault(1, 100).unwrap(),
            3,
            "only the node's 3 free frames"
        );
        assert_eq!(m.prefault(0, 5).unwrap(), 5);
        assert_eq!(m.prefault(0, 2).unwrap(), 5, "never fewer than it holds");
        assert!(m.prefault(2, 1).is_err());
        // Frames born on node 0 take the prepared buffers: the node's books are unchanged.
        let mut frames = Vec::new();
        m.alloc_frames(0, 8, &mut frames).unwrap();
        assert_eq!(m.node_stats()[0].used, 8);
        m.free_frames(&mut frames);
        m.free_frame(f);
        assert_eq!(m.node_stats().iter().map(|s| s.used).sum::<usize>(), 0);
    }

    #[test]
    fn prefault_refuses_more_than_the_host_has_before_allocating() {
        let m = Memory::new(&[1 << 40], 4096).unwrap();
        assert!(matches!(
            m.prefault(0, usize::MAX),
            Err(ZsError::OutOfMemory(_))
        ));
        assert_eq!(m.prefault(0, 0).unwrap(), 0);
    }

    #[test]
    fn page_sizes_are_the_kernels() {
        for ps in [4096, 8192, 16384, 32768, 65536, 131072, 262144] {
            assert_eq!(check_page_size(ps), Ok(ps));
        }
        for ps in [0, 1, 256, 2048, 4095, 5000, 1 << 19, 1 << 40, usize::MAX] {
            assert!(check_page_size(ps).is_err(), "{ps}");
        }
    }

    #[test]
    fn allocation_prefers_the_node_and_falls_back_in_order() {
        let m = Memory::new(&[2, 2, 2], 4096).unwrap();
        let a = m.alloc_frame(1).unwrap();
        let b = m.alloc_frame(1).unwrap();
        let c = m.alloc_frame(1).unwrap();
        assert_eq!((a.nid, b.nid, c.nid), (1, 1, 2));
        assert_eq!((a.pfn, b.pfn, c.pfn), (2, 3, 4));
        assert_eq!(m.pfn_to_nid(c.pfn).unwrap(), 2);
        assert_eq!(a.data.len(), 4096);
        let d = m.alloc_frame(2).unwrap();
        let e = m.alloc_frame(2).unwrap();
        assert_eq!((d.nid, e.nid), (2, 0));
        let f = m.alloc_frame(0).unwrap();
        assert_eq!(f.nid, 0);
        assert!(matches!(m.alloc_frame(0), Err(ZsError::OutOfMemory(_))));
        let used: Vec<usize> = m.node_stats().iter().map(|s| s.used).collect();
        assert_eq!(used, vec![2, 2, 2]);
        let pfn = b.pfn;
        m.free_frame(b);
        assert_eq!(m.node_stats()[1].used, 1);
        assert_eq!(m.alloc_frame(0).unwrap().pfn, pfn);
        for fr in [a, c, d, e, f] {
            m.free_frame(fr);
        }
    }

    #[test]
    fn page_numbers_share_the_frame_pool_and_are_all_or_nothing() {
        let m = Memory::new(&[2, 3], 4096).unwrap();
        let f = m.alloc_frame(0).unwrap();
        let mut pages = Vec::new();
        m.alloc_pages(0, 3, &mut pages).unwrap();
        let got: Vec<(Pfn, usize)> = pages.iter().map(|p| (p.pfn, p.nid)).collect();
        assert_eq!(got, [(1, 0), (2, 1), (3, 1)]);
        // Two more do not fit (one frame is left): nothing is taken.
        assert!(matches!(
            m.alloc_pages(1, 2, &mut pages),
            Err(ZsError::OutOfMemory(_))
        ));
        assert_eq!(pages.len(), 3);
        assert_eq!(m.node_stats()[1].used, 2);
        assert!(matches!(m.alloc_page_on(0), Err(ZsError::OutOfMemory(_))));
        let on1 = m.alloc_page_on(1).unwrap();
        assert_eq!((on1.pfn, on1.nid), (4, 1));
        m.free_page(on1);
        m.free_pages(&mut pages);
        assert!(pages.is_empty());
        assert_eq!(m.node_stats()[1].used, 0);
        // Freed numbers come back last-freed first, to frames and page numbers alike.
        assert_eq!(m.alloc_frame(1).unwrap().pfn, 3);
        m.free_frame(f);
        assert_eq!(m.alloc_page_on(0).unwrap().pfn, 0);
    }

    #[test]
    fn sizes_that_would_wrap_are_refused() {
        // 2^64 - 1 + 2 pages wrapped the bases: PFN 0 was handed out on both nodes.
        for caps in [
            &[usize::MAX, 2][..],
            &[1 << 63, 1 << 63],
            &[1 << 41],
            &[1 << 40, 1],
        ] {
            let e = Memory::new(caps, 4096).unwrap_err();
            assert!(matches!(e, ZsError::InvalidArgument(_)), "{caps:?}: {e}");
        }
        assert!(Memory::new(&vec![1; MAX_NUMNODES + 1], 4096).is_err());
        for ps in [0, 256, 2048, 4095, 1 << 19, usize::MAX] {
            assert!(Memory::new(&[1], ps).is_err(), "{ps}");
        }
        // The largest machine is fine and costs nothing until used: 4 PiB in 1024 nodes.
        let m = Memory::new(&vec![1 << 30; MAX_NUMNODES], 4096).unwrap();
        assert_eq!(m.total_pages(), 1 << 40);
        let last = m.alloc_page_on(MAX_NUMNODES - 1).unwrap();
        assert_eq!(last.pfn, (1 << 40) - (1 << 30));
        assert_eq!(m.pfn_to_nid(last.pfn).unwrap(), MAX_NUMNODES - 1);
    }

    #[test]
    fn migration_copies_bytes_to_the_target_node() {
        let m = Memory::new(&[4, 4], 4096).unwrap();
        let mut a = m.alloc_frame(0).unwrap();
        a.data[100] = 7;
        let (new, old) = m.migrate_frame(a, 1).unwrap();
        assert_eq!((new.nid, new.data[100]), (1, 7));
        m.free_frame(old);
        assert_eq!(m.node_stats()[0].used, 0);
        assert!(m.check_nid(2).is_err());
        assert!(m.pfn_to_nid(8).is_err());
        assert!(Memory::new(&[], 4096).is_err());
        assert!(Memory::new(&[1], 1000).is_err());
    }
}
