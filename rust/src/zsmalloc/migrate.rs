//! Page migration (`zs_page_migrate`): one frame of a zspage moves to a new frame, possibly on
//! another NUMA node. The bytes move with the frame (they stay at their place in the zspage's
//! buffer, which is what the kernel's copy to the new page amounts to); handles stay valid
//! because they name a (zspage, object index), never a frame. Objects that merely end in the moved page are untouched, as in
//! the kernel, which rewrites only the handles of objects that start in it.

use super::pool::Pool;
use super::zspage::NONE;
use crate::error::{Result, ZsError};
use crate::mem::Pfn;

impl Pool {
    /// Moves the frame `pfn` of one of this pool's zspages to a frame on `to_node`; returns the
    /// new PFN. Fails if `pfn` is not this pool's or `to_node` has no free frame.
    pub fn migrate_page(&self, pfn: Pfn, to_node: usize) -> Result<Pfn> {
        self.mem.check_nid(to_node)?;
        let mut inner = self.lock();
        let (zid, page) = inner.pfn_owner(pfn).ok_or_else(|| {
            ZsError::InvalidArgument(format!("pfn {pfn} is not a page of pool {}", self.name()))
        })?;
        let new = self.mem.alloc_page_on(to_node)?;
        // Patch 11: objects with bytes on this page leave the old split and join the new one.
        let owned = self.owned_objs_on_page(&inner, zid, page as usize);
        for &(idx, o) in &owned {
            self.mod_obj_stats(&inner, zid, idx, o, -1);
        }
        let z = inner.zspages.get_mut(zid);
        let new_pfn = new.pfn;
        let old = std::mem::replace(&mut z.frames[page as usize], new);
        inner.set_pfn_owner(old.pfn, (NONE, 0));
        inner.set_pfn_owner(new_pfn, (zid, page));
        self.mod_node_pages(old.nid, -1);
        self.mod_node_pages(to_node, 1);
        for &(idx, o) in &owned {
            self.mod_obj_stats(&inner, zid, idx, o, 1);
        }
        self.mem.free_page(old);
        Ok(new_pfn)
    }

    /// Live objects with an owner whose bytes touch page `page` of zspage `zid`: those starting
    /// in it and the one spilling in from the previous page.
    fn owned_objs_on_page(
        &self,
        inner: &super::pool::Inner,
        zid: u32,
        page: usize,
    ) -> Vec<(u32, u32)> {
        let z = inner.zspages.get(zid);
        if z.objcgs.is_empty() {
            return Vec::new();
        }
        let size = inner.classes[z.class as usize].size;
        let ps = self.geom.page_size;
        let first = page * ps / size;
        let last = (((page + 1) * ps - 1) / size).min(z.objcgs.len() - 1);
        (first..=last)
            .filter(|&k| z.objcgs[k] != NONE)
            .map(|k| (k as u32, z.objcgs[k]))
            .collect()
    }

    /// The PFNs of every page the pool holds, with their nodes, in zspage order.
    pub fn pages(&self) -> Vec<(Pfn, usize)> {
        let inner = self.lock();
        inner
            .zspages
            .iter()
            .flat_map(|(_, z)| z.frames.iter().map(|f| (f.pfn, f.nid)))
            .collect()
    }
}
