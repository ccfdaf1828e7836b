//! The cgroup tree: paths, parent and children, online/offline, creation and removal.
//!
//! Removal (`rmdir`) follows the kernel's css offline order where it matters to us: the memcg
//! goes offline, leaves its parent's children and the path table, and `memcg_reparent_objcgs`
//! points its active objcg and every objcg already re-parented into it at the parent, splices
//! them onto the parent's list and drops the memcg's initial reference to the active objcg.
//! Nothing can reference the memcg after that (no tasks, no children, its objcgs point at the
//! parent), so it is freed at once, as the kernel frees an offline memcg once its last
//! reference goes; only its parent's id stays behind (16 bytes), so that an old id still
//! finds where its charges went. Ids are never reused.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64};

use super::objcg::Objcg;
use super::page_counter::PageCounter;
use super::render::NR_MEMCG_EVENTS;
use super::{zeroed, Cgroups, MemcgId, ObjcgId, ROOT_MEMCG};
use crate::error::{Result, ZsError};

/// One memory cgroup.
#[derive(Debug)]
pub(super) struct MemcgNode {
    pub(crate) path: String,
    pub(crate) parent: Option<MemcgId>,
    pub(crate) children: Vec<MemcgId>,
    /// This memcg, then its parent, …, then root: the chain every update walks.
    pub(crate) chain: Box<[MemcgId]>,
    /// The active objcg (None for root and once offline).
    pub(crate) objcg: Option<ObjcgId>,
    /// Objcgs re-parented into this memcg.
    pub(crate) objcg_list: Vec<ObjcgId>,
    pub(crate) memory: PageCounter,
    /// Processes attached (`cgroup.procs`): a populated cgroup cannot be removed.
    pub(crate) nr_tasks: AtomicU64,
    /// memory.high in pages (the throttling threshold; the simulation layer reclaims above it).
    pub(crate) high: AtomicU64,
    /// memory.swap.current / memory.swap.max / memory.swap.peak, in pages.
    pub(crate) swap: PageCounter,
    /// memory.zswap.max in pages.
    pub(crate) zswap_max: AtomicU64,
    /// memory.zswap.writeback.
    pub(crate) zswap_writeback: AtomicBool,
    /// Hierarchical memcg-wide state and events, by item.
    pub(crate) state: Box<[AtomicI64]>,
    /// Hierarchical lruvec state, `nid * nr_items + item`.
    pub(crate) lruvec: Box<[AtomicI64]>,
    /// memory.events (hierarchical) and memory.events.local.
    pub(crate) events: [AtomicU64; NR_MEMCG_EVENTS],
    pub(crate) events_local: [AtomicU64; NR_MEMCG_EVENTS],
}

/// A memcg id's entry: the memcg, or what is left of it once freed.
#[derive(Debug)]
pub(super) enum MemcgSlot {
    Live(Box<MemcgNode>),
    /// Removed and freed; charges of its old objcgs land at or above `parent`.
    Freed {
        parent: MemcgId,
    },
}

/// Every memcg id ever created, by id.
#[derive(Debug, Default)]
pub(super) struct MemcgTable(Vec<MemcgSlot>);

impl MemcgTable {
    /// The memcg `id`, unless it never existed or was freed.
    pub(crate) fn get(&self, id: MemcgId) -> Option<&MemcgNode> {
        match self.0.get(id as usize)? {
            MemcgSlot::Live(m) => Some(m),
            MemcgSlot::Freed { .. } => None,
        }
    }

    fn get_mut(&mut self, id: MemcgId) -> Option<&mut MemcgNode> {
        match self.0.get_mut(id as usize)? {
            MemcgSlot::Live(m) => Some(m),
            MemcgSlot::Freed { .. } => None,
        }
    }

    /// Ids ever handed out.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// `(id, memcg)` of every memcg not freed, in id order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (MemcgId, &MemcgNode)> {
        self.0.iter().enumerate().filter_map(|(i, s)| match s {
            MemcgSlot::Live(m) => Some((i as MemcgId, &**m)),
            MemcgSlot::Freed { .. } => None,
        })
    }

    /// The parent of any id, freed or not.
    fn parent(&self, id: MemcgId) -> Option<MemcgId> {
        match self.0.get(id as usize)? {
            MemcgSlot::Live(m) => m.parent,
            MemcgSlot::Freed { parent } => Some(*parent),
        }
    }
}

/// Indexing is for ids known to be live: the members of a live memcg's chain and its
/// children (a memcg with children or tasks is never freed).
impl std::ops::Index<usize> for MemcgTable {
    type Output = MemcgNode;
    fn index(&self, i: usize) -> &MemcgNode {
        match &self.0[i] {
            MemcgSlot::Live(m) => m,
            MemcgSlot::Freed { .. } => unreachable!("memcg {i} is freed but still referenced"),
        }
    }
}

impl std::ops::IndexMut<usize> for MemcgTable {
    fn index_mut(&mut self, i: usize) -> &mut MemcgNode {
        match &mut self.0[i] {
            MemcgSlot::Live(m) => m,
            MemcgSlot::Freed { .. } => unreachable!("memcg {i} is freed but still referenced"),
        }
    }
}

/// All memcgs and objcgs.
#[derive(Debug)]
pub(super) struct Tree {
    pub(crate) memcgs: MemcgTable,
    pub(crate) objcgs: Vec<Objcg>,
    by_path: HashMap<String, MemcgId>,
    nr_nodes: usize,
    nr_items: usize,
    max: u64,
}

impl Tree {
    /// A tree holding only the root.
    pub(crate) fn new(nr_nodes: usize, nr_items: usize, max: u64) -> Self {
        let mut t = Tree {
            memcgs: MemcgTable::default(),
            objcgs: Vec::new(),
            by_path: HashMap::new(),
            nr_nodes,
            nr_items,
            max,
        };
        t.push_memcg("/".to_string(), None);
        t
    }

    fn push_memcg(&mut self, path: String, parent: Option<MemcgId>) -> MemcgId {
        let id = self.memcgs.len() as MemcgId;
        let mut chain = vec![id];
        if let Some(p) = parent {
            chain.extend_from_slice(&self.memcgs[p as usize].chain);
        }
        let objcg = parent.map(|_| {
            let o = self.objcgs.len() as ObjcgId;
            self.objcgs.push(Objcg::new(id));
            o
        });
        self.by_path.insert(path.clone(), id);
        self.memcgs.0.push(MemcgSlot::Live(Box::new(MemcgNode {
            path,
            parent,
            children: Vec::new(),
            chain: chain.into_boxed_slice(),
            objcg,
            objcg_list: Vec::new(),
            memory: PageCounter::new(self.max),
            nr_tasks: AtomicU64::new(0),
            high: AtomicU64::new(self.max),
            swap: PageCounter::new(self.max),
            zswap_max: AtomicU64::new(self.max),
            zswap_writeback: AtomicBool::new(true),
            state: zeroed(self.nr_items),
            lruvec: zeroed(self.nr_nodes * self.nr_items),
            events: Default::default(),
            events_local: Default::default(),
        })));
        if let Some(p) = parent {
            self.memcgs[p as usize].children.push(id);
        }
        id
    }

    /// A live memcg. Removal frees a memcg at once, so live and online are the same thing:
    /// files exist exactly for these.
    pub(crate) fn memcg(&self, id: MemcgId) -> Result<&MemcgNode> {
        self.memcgs.get(id).ok_or_else(|| {
            if (id as usize) < self.memcgs.len() {
                ZsError::Cgroup(format!("memcg {id} has been removed (ENOENT)"))
            } else {
                ZsError::Cgroup(format!("no memcg with id {id}"))
            }
        })
    }

    /// `id` if it is not freed, else its nearest ancestor that is not.
    pub(super) fn live_at_or_above(&self, id: MemcgId) -> Result<MemcgId> {
        self.check_id(id)?;
        let mut at = id;
        while self.memcgs.get(at).is_none() {
            at = self.memcgs.parent(at).unwrap_or(ROOT_MEMCG);
        }
        Ok(at)
    }

    /// Any id ever handed out, freed or not.
    fn check_id(&self, id: MemcgId) -> Result<()> {
        if (id as usize) < self.memcgs.len() {
            Ok(())
        } else {
            Err(ZsError::Cgroup(format!("no memcg with id {id}")))
        }
    }

    /// Online memcg at `path`.
    pub(crate) fn lookup(&self, path: &str) -> Result<MemcgId> {
        let p = normalize(path)?;
        self.by_path
            .get(&p)
            .copied()
            .ok_or_else(|| ZsError::Cgroup(format!("{p}: no such cgroup (ENOENT)")))
    }
}

/// The longest name of a directory entry (`NAME_MAX`) and of a path (`PATH_MAX`, with its NUL).
const NAME_MAX: usize = 255;
const PATH_MAX: usize = 4096;

/// "/a//b/" → "/a/b", as the VFS resolves it; rejects relative paths, "." / ".." components,
/// a NUL (no C path holds one), a newline (`cgroup_mkdir` refuses it: it would break
/// /proc/<pid>/cgroup), and names longer than `NAME_MAX` or paths than `PATH_MAX`
/// (ENAMETOOLONG).
fn normalize(path: &str) -> Result<String> {
    let shown = || {
        let mut s: String = path.chars().take(40).collect();
        if s.len() < path.len() {
            s.push('…');
        }
        format!("{s:?}")
    };
    if !path.starts_with('/') {
        return Err(ZsError::Cgroup(format!(
            "{}: cgroup paths are absolute (start with /)",
            shown()
        )));
    }
    if path.len() >= PATH_MAX {
        return Err(ZsError::Cgroup(format!(
            "{}: path of {} bytes is too long (ENAMETOOLONG)",
            shown(),
            path.len()
        )));
    }
    if path.contains('\0') {
        return Err(ZsError::Cgroup(format!(
            "{}: a cgroup path cannot hold a NUL byte (EINVAL)",
            shown()
        )));
    }
    if path.contains('\n') {
        return Err(ZsError::Cgroup(format!(
            "{}: cgroup names cannot hold a newline (EINVAL)",
            shown()
        )));
    }
    let mut out = String::with_capacity(path.len());
    for c in path.split('/').filter(|c| !c.is_empty()) {
        if c == "." || c == ".." {
            return Err(ZsError::Cgroup(format!(
                "{}: '.' and '..' are not allowed",
                shown()
            )));
        }
        if c.len() > NAME_MAX {
            return Err(ZsError::Cgroup(format!(
                "{}: a name of {} bytes is too long (ENAMETOOLONG, at most {NAME_MAX})",
                shown(),
                c.len()
            )));
        }
        out.push('/');
        out.push_str(c);
    }
    if out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

impl Cgroups {
    /// Creates the cgroup at `path` (its parent must exist), online, with a fresh objcg.
    pub fn create(&self, path: &str) -> Result<MemcgId> {
        let p = normalize(path)?;
        if p == "/" {
            return Err(ZsError::Cgroup("/: already exists (EEXIST)".into()));
        }
        let mut t = self.write();
        if t.by_path.contains_key(&p) {
            return Err(ZsError::Cgroup(format!("{p}: already exists (EEXIST)")));
        }
        let parent_path = match p.rfind('/') {
            Some(0) | None => "/",
            Some(i) => &p[..i],
        };
        let parent = t.lookup(parent_path)?;
        if t.memcgs.len() >= MemcgId::MAX as usize || t.objcgs.len() >= ObjcgId::MAX as usize {
            return Err(ZsError::Cgroup(
                "every memcg id was used (ENOSPC): ids are never reused".into(),
            ));
        }
        Ok(t.push_memcg(p, Some(parent)))
    }

    /// Attaches a process to an online cgroup (it joins `cgroup.procs`).
    pub fn attach_task(&self, id: MemcgId) -> Result<()> {
        let t = self.read();
        t.memcg(id)?
            .nr_tasks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Detaches an exiting process.
    pub fn detach_task(&self, id: MemcgId) -> Result<()> {
        let t = self.read();
        let _ = t.memcg(id)?.nr_tasks.fetch_update(
            std::sync::atomic::Ordering::Relaxed,
            std::sync::atomic::Ordering::Relaxed,
            |n| Some(n.saturating_sub(1)),
        );
        Ok(())
    }

    /// Removes the childless, unpopulated cgroup at `path` and re-parents its objcgs to the
    /// parent.
    pub fn remove(&self, path: &str) -> Result<()> {
        let mut t = self.write();
        let id = t.lookup(path)?;
        if id == ROOT_MEMCG {
            return Err(ZsError::Cgroup(
                "/: the root cgroup cannot be removed (EBUSY)".into(),
            ));
        }
        let m = &t.memcgs[id as usize];
        if !m.children.is_empty() {
            return Err(ZsError::Cgroup(format!(
                "{}: has {} child cgroup(s) (EBUSY)",
                m.path,
                m.children.len()
            )));
        }
        let tasks = m.nr_tasks.load(std::sync::atomic::Ordering::Relaxed);
        if tasks > 0 {
            return Err(ZsError::Cgroup(format!(
                "{}: {tasks} process(es) still in it (EBUSY)",
                m.path
            )));
        }
        let parent = m.parent.unwrap_or(ROOT_MEMCG);
        let path = m.path.clone();
        t.by_path.remove(&path);
        t.memcgs[parent as usize].children.retain(|&c| c != id);
        let node = t.memcgs.get_mut(id).expect("looked up");
        let active = node.objcg.take();
        let mut moved = std::mem::take(&mut node.objcg_list);
        moved.extend(active);
        for &o in &moved {
            t.objcgs[o as usize].memcg = parent;
        }
        t.memcgs[parent as usize].objcg_list.extend(moved);
        let put = match active {
            // The memcg's initial reference; later holders keep the objcg alive.
            Some(o) => self.objcg_put_locked(&t, o),
            None => Ok(()),
        };
        // Nothing refers to the memcg any more: free it, keeping only its parent's id.
        t.memcgs.0[id as usize] = MemcgSlot::Freed { parent };
        put
    }

    /// Id of the online cgroup at `path`.
    pub fn lookup(&self, path: &str) -> Result<MemcgId> {
        self.read().lookup(path)
    }

    /// Path of `id` (also for a removed cgroup: the path it had).
    pub fn path(&self, id: MemcgId) -> Result<String> {
        Ok(self.read().memcg(id)?.path.clone())
    }

    /// Parent of `id` (None for root), also of a removed cgroup.
    pub fn parent(&self, id: MemcgId) -> Result<Option<MemcgId>> {
        let t = self.read();
        t.check_id(id)?;
        Ok(t.memcgs.parent(id))
    }

    /// Online children of `id`, in creation order (none for a removed cgroup).
    pub fn children(&self, id: MemcgId) -> Result<Vec<MemcgId>> {
        let t = self.read();
        t.check_id(id)?;
        Ok(t.memcgs
            .get(id)
            .map(|m| m.children.clone())
            .unwrap_or_default())
    }

    /// Whether `id` is online (not removed).
    pub fn is_online(&self, id: MemcgId) -> Result<bool> {
        let t = self.read();
        t.check_id(id)?;
        Ok(t.memcgs.get(id).is_some())
    }

    /// The nearest online memcg at or above `id` (where a dead memcg's charges now land).
    pub fn online_ancestor(&self, id: MemcgId) -> Result<MemcgId> {
        self.read().live_at_or_above(id)
    }

    /// Whether `id` is `ancestor` or below it (a removed cgroup stays below its ancestors).
    pub fn is_descendant(&self, id: MemcgId, ancestor: MemcgId) -> Result<bool> {
        let t = self.read();
        t.check_id(id)?;
        let mut at = Some(id);
        while let Some(a) = at {
            if a == ancestor {
                return Ok(true);
            }
            if let Some(m) = t.memcgs.get(a) {
                return Ok(m.chain.contains(&ancestor));
            }
            at = t.memcgs.parent(a);
        }
        Ok(false)
    }

    /// (id, path) of every online cgroup, root first, in creation order.
    pub fn list(&self) -> Vec<(MemcgId, String)> {
        let t = self.read();
        t.memcgs.iter().map(|(i, m)| (i, m.path.clone())).collect()
    }
}
