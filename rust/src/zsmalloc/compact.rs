//! Compaction: move objects out of sparse zspages into dense ones of the same class until no
//! whole zspage's worth of free objects remains, and free the emptied zspages.
//!
//! Both eras walk classes from the largest index down and move a source's objects in increasing
//! object index order, each taking the destination's free-list head. They differ in how sources and
//! destinations are chosen (`__zs_compact` in `mm/zsmalloc.c`):
//! - v6.4+ `__zs_compact`: hold one destination (the fullest zspage) across sources (the
//!   emptiest) until it is full.
//! - v6.3 `__zs_compact`: take a source first; walk destinations from almost-full to
//!   almost-empty, putting each full one back; keep the destination when the source runs dry.

use super::pool::{Inner, Pool};
use super::profile::Profile;
use super::zspage::NONE;

impl Pool {
    /// `zs_compact`: compacts every class and returns the pages freed (also added to
    /// `pages_compacted`).
    pub fn compact(&self) -> u64 {
        let mut inner = self.lock();
        let mut freed = 0;
        for ci in (0..inner.classes.len()).rev() {
            freed += match self.profile {
                Profile::Current => self.compact_class(&mut inner, ci),
                Profile::Legacy => self.compact_class_legacy(&mut inner, ci),
            };
        }
        inner.pages_compacted += freed;
        freed
    }

    /// Pages compaction could free now, summed over classes (the shrinker's `count_objects`).
    pub fn compactable_pages(&self) -> u64 {
        self.lock().classes.iter().map(|c| c.can_compact()).sum()
    }

    /// Takes the head of the first non-empty list among `groups` off its list.
    fn isolate(&self, inner: &mut Inner, ci: usize, groups: &[usize]) -> Option<u32> {
        let zid = groups
            .iter()
            .map(|&g| inner.classes[ci].lists[g].head)
            .find(|&h| h != NONE)?;
        self.remove_zspage(inner, zid);
        Some(zid)
    }

    /// Puts an isolated zspage back by its use (`putback_zspage`); frees it if empty and
    /// returns the pages freed.
    fn putback(&self, inner: &mut Inner, ci: usize, zid: u32) -> u64 {
        let inuse = inner.zspages.get(zid).inuse as usize;
        if inuse == 0 {
            // The kernel inserts into group 0 and removes it again in free_zspage.
            self.free_zspage(inner, zid);
            return inner.classes[ci].pages_per_zspage as u64;
        }
        let g = self
            .profile
            .fullness(inuse, inner.classes[ci].objs_per_zspage);
        self.insert_zspage(inner, ci, zid, g);
        0
    }

    fn compact_class(&self, inner: &mut Inner, ci: usize) -> u64 {
        let mut freed = 0;
        let mut dst = None;
        while inner.classes[ci].can_compact() > 0 {
            let d = match dst {
                Some(d) => d,
                None => match self.isolate(inner, ci, self.profile.dst_order()) {
                    Some(d) => d,
                    None => break,
                },
            };
            dst = Some(d);
            let Some(src) = self.isolate(inner, ci, self.profile.src_order()) else {
                break;
            };
            self.migrate_zspage(inner, src, d);
            freed += self.putback(inner, ci, src);
            let z = inner.zspages.get(d);
            if z.inuse as usize == inner.classes[ci].objs_per_zspage {
                self.putback(inner, ci, d);
                dst = None;
            }
        }
        if let Some(d) = dst {
            self.putback(inner, ci, d);
        }
        freed
    }

    fn compact_class_legacy(&self, inner: &mut Inner, ci: usize) -> u64 {
        let mut freed = 0;
        let mut held_src = None;
        while let Some(src) = self.isolate(inner, ci, self.profile.src_order()) {
            if inner.classes[ci].can_compact() == 0 {
                held_src = Some(src);
                break;
            }
            let mut dst = None;
            while let Some(d) = self.isolate(inner, ci, self.profile.dst_order()) {
                if self.migrate_zspage(inner, src, d) {
                    dst = Some(d);
                    break;
                }
                self.putback(inner, ci, d);
            }
            let Some(d) = dst else {
                held_src = Some(src);
                break;
            };
            self.putback(inner, ci, d);
            freed += self.putback(inner, ci, src);
        }
        if let Some(s) = held_src {
            freed += self.putback(inner, ci, s);
        }
        freed
    }

    /// Moves live objects of `src` (increasing object index) into `dst` (`migrate_zspage`).
    /// Returns true when `src` ran out of objects, false when `dst` filled first. v6.4+ checks
    /// after each move and stops on either; v6.3 checks fullness before each move.
    pub(super) fn migrate_zspage(&self, inner: &mut Inner, src: u32, dst: u32) -> bool {
        let ci = inner.zspages.get(src).class as usize;
        let (size, objs) = (inner.classes[ci].size, inner.classes[ci].objs_per_zspage);
        let mut buf = vec![0u8; size];
        let legacy = self.profile == Profile::Legacy;
        for idx in 0..objs as u32 {
            let cell = inner.zspages.get(src).headers[idx as usize].cell;
            if cell == NONE {
                continue;
            }
            if legacy && inner.zspages.get(dst).inuse as usize == objs {
                return false;
            }
            let from = idx as usize * size;
            buf.copy_from_slice(&inner.zspages.get(src).data[from..from + size]);
            let o = inner
                .zspages
                .get(src)
                .objcgs
                .get(idx as usize)
                .copied()
                .unwrap_or(NONE);
            if o != NONE {
                // Patch 10: stats leave the old layout; the pointer moves; no (un)charge.
                self.mod_obj_stats(inner, src, idx, o, -1);
                inner.zspages.get_mut(src).objcgs[idx as usize] = NONE;
            }
            let new_idx = inner.zspages.get_mut(dst).pop_free(cell);
            if o != NONE {
                inner.zspages.get_mut(dst).objcgs[new_idx as usize] = o;
                self.mod_obj_stats(inner, dst, new_idx, o, 1);
            }
            let to = new_idx as usize * size;
            inner.zspages.get_mut(dst).data[to..to + size].copy_from_slice(&buf);
            inner.zspages.get_mut(src).push_free(idx);
            let h = &mut inner.handles[cell as usize];
            h.zspage = dst;
            h.idx = new_idx;
            if !legacy {
                if inner.zspages.get(dst).inuse as usize == objs {
                    return inner.zspages.get(src).inuse == 0;
                }
                if inner.zspages.get(src).inuse == 0 {
                    return true;
                }
            }
        }
        true
    }
}
