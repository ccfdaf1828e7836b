//! A zspage: a chain of frames holding same-size objects back to back, its free-object list, and its
//! place in a fullness list; plus the intrusive doubly linked fullness lists themselves.
//!
//! The kernel keeps the free-list link and the handle in each object's 8-byte header (`struct
//! link_free`); here they live in a side array (`headers`) so that scanning for live objects (compaction,
//! migration) never parses payload bytes. The object's byte position — and hence which frame, and
//! which node, holds which byte of an object — is exactly the kernel's: object `k` starts at byte
//! `k * size` of the chain and its payload 8 bytes later unless the class is huge.
//!
//! The chain's bytes are one buffer, page after page, while its frames are numbers with nodes
//! (`PageRef`): which page, and so which node, a byte is on follows from its offset, and an
//! object that spans two pages — half of them, for ~2 KiB objects — is read and written as one
//! slice instead of being gathered into a copy first.

use crate::mem::PageRef;

/// "No index" marker for objects, zspages and list ends.
pub const NONE: u32 = u32::MAX;

/// One zspage. The malloc/free path touches the scalars and `headers`, list moves touch the
/// neighbours' `prev`/`next`: with 200 000 live objects these records miss the cache, so the hot
/// fields come first (`repr(C)` keeps the order) and the record is line-aligned, making each of
/// those accesses one cache line.
#[derive(Debug)]
#[repr(C, align(64))]
pub struct Zspage {
    /// Representative class index.
    pub class: u16,
    /// Current fullness group.
    pub fullness: u8,
    /// Live objects.
    pub inuse: u32,
    /// Head of the free-object list (`NONE` when full; the kernel's `freeobj`).
    pub freeobj: u32,
    /// Objects from here on have not been handed out in this zspage's life: the free list ends
    /// with them in index order (`fresh`, `fresh + 1`, …), so their links are implied instead
    /// of written when the zspage is built. Pushes only ever go on the head, so that tail stays
    /// intact and every object below `fresh` that is free carries an explicit link.
    pub fresh: u32,
    /// Fullness-list neighbours (zspage ids).
    pub prev: u32,
    /// See `prev`.
    pub next: u32,
    /// Per object: free-list successor and owning handle cell, side by side so that one cache
    /// line serves both (the kernel keeps both in the object's 8-byte header).
    pub headers: Vec<ObjHeader>,
    /// The chain of frames, first page first.
    pub frames: Vec<PageRef>,
    /// The chain's bytes: page `p` is `data[p * PAGE_SIZE..(p + 1) * PAGE_SIZE]`.
    pub data: Vec<u8>,
    /// Owner of each object in a memcg-aware pool (`NONE`: free object or no cgroup);
    /// empty in other pools, which carry no array (patch 04).
    pub objcgs: Vec<u32>,
}

/// The header of one object (`struct link_free`): a free-list link while free, the handle
/// while allocated.
#[derive(Debug, Clone, Copy)]
pub struct ObjHeader {
    /// Free-list successor while free (`NONE` ends the list).
    pub link: u32,
    /// Handle cell of the live object (the cell index its handle names), `NONE` while free.
    pub cell: u32,
}

impl Zspage {
    fn empty() -> Self {
        Self {
            class: 0,
            fullness: 0,
            inuse: 0,
            freeobj: NONE,
            fresh: 0,
            prev: NONE,
            next: NONE,
            frames: Vec::new(),
            data: Vec::new(),
            headers: Vec::new(),
            objcgs: Vec::new(),
        }
    }

    /// Re-initialises this record for a new zspage of `objs` objects whose free list runs
    /// 0 → 1 → … → objs − 1 (`init_zspage`; the kernel's extra partial tail object is never handed
    /// out, so it is left off), all of it the implied `fresh` tail. The vectors keep their
    /// capacity from an earlier life; a dead zspage's objects are all free (cell `NONE`), so
    /// only headers beyond its old count need writing.
    fn init(&mut self, class: u16, objs: usize, data: Vec<u8>, memcg_aware: bool) {
        self.data = data;
        self.class = class;
        self.fullness = 0;
        self.inuse = 0;
        self.freeobj = if objs > 0 { 0 } else { NONE };
        self.fresh = 0;
        self.prev = NONE;
        self.next = NONE;
        debug_assert!(self.headers.iter().all(|h| h.cell == NONE));
        self.headers.truncate(objs);
        self.headers.resize(
            objs,
            ObjHeader {
                link: NONE,
                cell: NONE,
            },
        );
        self.objcgs.clear();
        if memcg_aware {
            self.objcgs.resize(objs, NONE);
        }
    }

    /// The free-list successor of free object `f`.
    pub fn next_free(&self, f: u32) -> u32 {
        if f < self.fresh {
            self.headers[f as usize].link
        } else if (f as usize) + 1 < self.headers.len() {
            f + 1
        } else {
            NONE
        }
    }

    /// Pops the free-list head (`obj_malloc`'s object choice).
    pub fn pop_free(&mut self, cell: u32) -> u32 {
        let idx = self.freeobj;
        debug_assert_ne!(idx, NONE, "allocation from a full zspage");
        self.freeobj = self.next_free(idx);
        if idx >= self.fresh {
            self.fresh = idx + 1;
        }
        self.headers[idx as usize].cell = cell;
        self.inuse += 1;
        idx
    }

    /// Pushes an object on the free-list head (`obj_free`: LIFO).
    pub fn push_free(&mut self, idx: u32) {
        self.headers[idx as usize] = ObjHeader {
            link: self.freeobj,
            cell: NONE,
        };
        self.freeobj = idx;
        self.inuse -= 1;
    }
}

/// The head and length of one fullness list.
#[derive(Debug, Clone, Copy)]
pub struct ListHead {
    /// First zspage id, `NONE` when empty.
    pub head: u32,
    /// Number of zspages (the kernel's per-group class stat).
    pub count: usize,
}

impl Default for ListHead {
    fn default() -> Self {
        Self {
            head: NONE,
            count: 0,
        }
    }
}

/// The zspages of a pool, by id, with recycled ids. A dead zspage's record stays allocated
/// (with its vectors' capacity) for the next zspage born under its id, so that creating and
/// destroying zspages — the common case of a churning pool — costs no heap allocation.
#[derive(Debug, Default)]
pub struct ZspageSlab {
    records: Vec<Zspage>,
    alive: Vec<bool>,
    free_ids: Vec<u32>,
    /// Byte buffers of dead zspages by length (one list per chain length in use), so that a
    /// zspage is born without an allocation or zeroing, as a page comes off a per-cpu list.
    /// Like simulated RAM in `Memory`, a buffer once used stays with the pool.
    spare: Vec<(usize, Vec<Vec<u8>>)>,
}

impl ZspageSlab {
    /// Starts a zspage of class `class` with `objs` objects; the caller pushes its frames into
    /// `frames` of the returned id. Returns the id.
    pub fn create(&mut self, class: u16, objs: usize, bytes: usize, memcg_aware: bool) -> u32 {
        let id = match self.free_ids.pop() {
            Some(id) => id,
            None => {
                self.records.push(Zspage::empty());
                self.alive.push(false);
                (self.records.len() - 1) as u32
            }
        };
        // Like a freshly allocated page, a recycled buffer holds whatever it held before;
        // nothing reads an object before it is written (unwritten objects read as zeros by flag).
        let data = self
            .spare
            .iter_mut()
            .find(|(len, _)| *len == bytes)
            .and_then(|(_, list)| list.pop())
            .unwrap_or_else(|| vec![0u8; bytes]);
        self.records[id as usize].init(class, objs, data, memcg_aware);
        self.alive[id as usize] = true;
        id
    }

    /// Ends a zspage's life; its frames are left for the caller to drain first.
    pub fn remove(&mut self, id: u32) {
        debug_assert!(self.alive[id as usize], "removing a dead zspage");
        debug_assert!(self.records[id as usize].frames.is_empty());
        let data = std::mem::take(&mut self.records[id as usize].data);
        match self.spare.iter_mut().find(|(len, _)| *len == data.len()) {
            Some((_, list)) => list.push(data),
            None => self.spare.push((data.len(), vec![data])),
        }
        self.alive[id as usize] = false;
        self.free_ids.push(id);
    }

    /// The zspage with id `id`, which must be live.
    pub fn get(&self, id: u32) -> &Zspage {
        debug_assert!(self.alive[id as usize], "dead zspage id");
        &self.records[id as usize]
    }

    /// Mutable access to a live zspage.
    pub fn get_mut(&mut self, id: u32) -> &mut Zspage {
        debug_assert!(self.alive[id as usize], "dead zspage id");
        &mut self.records[id as usize]
    }

    /// Live zspages with their ids.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Zspage)> {
        self.records
            .iter()
            .enumerate()
            .filter(|(i, _)| self.alive[*i])
            .map(|(i, z)| (i as u32, z))
    }

    /// Inserts zspage `id` at the head of `list`.
    pub fn list_add_head(&mut self, list: &mut ListHead, id: u32) {
        let old = list.head;
        {
            let z = self.get_mut(id);
            z.prev = NONE;
            z.next = old;
        }
        if old != NONE {
            self.get_mut(old).prev = id;
        }
        list.head = id;
        list.count += 1;
    }

    /// Inserts zspage `id` right after the head of a non-empty `list`.
    pub fn list_add_second(&mut self, list: &mut ListHead, id: u32) {
        let head = list.head;
        debug_assert_ne!(head, NONE);
        let after = self.get(head).next;
        {
            let z = self.get_mut(id);
            z.prev = head;
            z.next = after;
        }
        self.get_mut(head).next = id;
        if after != NONE {
            self.get_mut(after).prev = id;
        }
        list.count += 1;
    }

    /// Unlinks zspage `id` from `list`.
    pub fn list_del(&mut self, list: &mut ListHead, id: u32) {
        let (prev, next) = {
            let z = self.get(id);
            (z.prev, z.next)
        };
        if prev != NONE {
            self.get_mut(prev).next = next;
        } else {
            debug_assert_eq!(list.head, id);
            list.head = next;
        }
        if next != NONE {
            self.get_mut(next).prev = prev;
        }
        let z = self.get_mut(id);
        z.prev = NONE;
        z.next = NONE;
        list.count -= 1;
    }

    /// The ids of `list` in order, head first.
    pub fn list_ids(&self, list: &ListHead) -> Vec<u32> {
        let mut out = Vec::with_capacity(list.count);
        let mut id = list.head;
        while id != NONE {
            out.push(id);
            id = self.get(id).next;
        }
        out
    }
}
