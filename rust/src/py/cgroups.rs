//! `zsrs.Cgroups` and `zsrs.Cgroup`: the memory-cgroup tree, its files as the kernel's text and
//! as dicts.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::errors::IntoPy;
use super::memory::PyMemory;
use crate::error::ZsError;
use crate::memcg::{Cgroups, MemcgConfig, MemcgId, ROOT_MEMCG};
use crate::zsmalloc::AccountingMode;

/// A cgroup v2 memory hierarchy on the NUMA nodes of a `Memory`.
#[pyclass(name = "Cgroups", module = "zsrs", frozen)]
pub struct PyCgroups {
    pub inner: Arc<Cgroups>,
}

/// One cgroup of a hierarchy (stays usable after removal, as a zombie).
#[pyclass(name = "Cgroup", module = "zsrs", frozen)]
pub struct PyCgroup {
    pub cgs: Arc<Cgroups>,
    pub id: MemcgId,
}

impl PyCgroups {
    /// The accounting mode the hierarchy's stat layout was built for.
    pub fn accounting(&self) -> AccountingMode {
        AccountingMode::of_layout(self.inner.layout())
    }
}

fn handle(cgs: &Arc<Cgroups>, id: MemcgId) -> PyCgroup {
    PyCgroup {
        cgs: cgs.clone(),
        id,
    }
}

fn pairs_dict<'py>(py: Python<'py>, kv: &[(&str, u64)]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in kv {
        d.set_item(*k, *v)?;
    }
    Ok(d)
}

#[pymethods]
impl PyCgroups {
    /// `accounting="zsmalloc"` builds the series' layout (zswap/zswapped per memcg-lruvec, in
    /// memory.numa_stat and node vmstat); `"consumer"` the pre-series one (memcg-wide only).
    #[new]
    #[pyo3(signature = (memory, accounting = "zsmalloc", hugetlb_accounting = false))]
    fn new(memory: &PyMemory, accounting: &str, hugetlb_accounting: bool) -> PyResult<Self> {
        let mode: AccountingMode = accounting.parse().py_err()?;
        let mut cfg = MemcgConfig::new(memory.inner.nr_nodes(), memory.inner.page_size());
        cfg.layout = mode.stat_layout();
        cfg.hugetlb_accounting = hugetlb_accounting;
        Ok(Self {
            inner: Arc::new(Cgroups::with_config(cfg).py_err()?),
        })
    }

    /// The accounting mode ("zsmalloc" or "consumer").
    #[getter(accounting)]
    fn accounting_py(&self) -> &'static str {
        self.accounting().name()
    }

    /// The root cgroup "/".
    #[getter]
    fn root(&self) -> PyCgroup {
        handle(&self.inner, ROOT_MEMCG)
    }

    /// Creates a cgroup (its parent must exist).
    fn create(&self, path: &str) -> PyResult<PyCgroup> {
        Ok(handle(&self.inner, self.inner.create(path).py_err()?))
    }

    /// Removes a cgroup without children; its objcgs are re-parented.
    fn remove(&self, path: &str) -> PyResult<()> {
        self.inner.remove(path).py_err()
    }

    /// The live cgroup at `path`.
    fn __getitem__(&self, path: &str) -> PyResult<PyCgroup> {
        Ok(handle(&self.inner, self.inner.lookup(path).py_err()?))
    }

    /// Paths of the live cgroups.
    fn paths(&self) -> Vec<String> {
        self.inner.list().into_iter().map(|(_, p)| p).collect()
    }

    /// `/sys/devices/system/node/node<nid>/vmstat` text.
    fn node_vmstat(&self, nid: usize) -> PyResult<String> {
        self.inner.node_vmstat(nid).py_err()
    }

    /// The same as a dict.
    fn node_vmstat_dict<'py>(&self, py: Python<'py>, nid: usize) -> PyResult<Bound<'py, PyDict>> {
        pairs_dict(py, &self.inner.node_vmstat_map(nid).py_err()?)
    }

    /// Turns the counting of `op_counts` on or off (off at creation: counting costs an atomic
    /// add per counted operation).
    fn set_op_counting(&self, on: bool) {
        self.inner.set_op_counting(on)
    }

    /// The accounting work done while counting was on: stat updates per level (memcg, lruvec,
    /// node), events, page-counter and objcg charges/uncharges, objcg gets/puts, tree-lock
    /// acquisitions.
    fn op_counts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in self.inner.op_counts() {
            d.set_item(k, v)?;
        }
        Ok(d)
    }
}

#[pymethods]
impl PyCgroup {
    /// The cgroup's path.
    #[getter]
    fn path(&self) -> PyResult<String> {
        self.cgs.path(self.id).py_err()
    }

    /// Internal id (stable, never reused).
    #[getter]
    fn id(&self) -> MemcgId {
        self.id
    }

    /// Whether the cgroup is still online (not removed).
    #[getter]
    fn online(&self) -> PyResult<bool> {
        self.cgs.is_online(self.id).py_err()
    }

    /// The parent cgroup (None for root).
    #[getter]
    fn parent(&self) -> PyResult<Option<PyCgroup>> {
        Ok(self
            .cgs
            .parent(self.id)
            .py_err()?
            .map(|p| handle(&self.cgs, p)))
    }

    /// A cgroup file as the kernel prints it (memory.stat, memory.numa_stat, memory.current,
    /// memory.max, memory.zswap.current, memory.zswap.max, memory.events, …).
    fn read_file(&self, name: &str) -> PyResult<String> {
        self.cgs.read_file(self.id, name).py_err()
    }

    /// Writes a cgroup file where the kernel allows it (memory.max, memory.zswap.max,
    /// memory.zswap.writeback), with the kernel's parsing ("max", K/M/G suffixes).
    fn write_file(&self, name: &str, value: &str) -> PyResult<()> {
        self.cgs.write_file(self.id, name, value).py_err()
    }

    /// memory.stat as a dict (bytes, kernel key order).
    fn stat<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        pairs_dict(py, &self.cgs.memory_stat(self.id).py_err()?)
    }

    /// memory.numa_stat as a dict of per-node lists.
    fn numa_stat<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in self.cgs.memory_numa_stat(self.id).py_err()? {
            d.set_item(k, v)?;
        }
        Ok(d)
    }

    /// memory.events as a dict (`local=True`: memory.events.local).
    #[pyo3(signature = (local = false))]
    fn events<'py>(&self, py: Python<'py>, local: bool) -> PyResult<Bound<'py, PyDict>> {
        pairs_dict(py, &self.cgs.memory_events(self.id, local).py_err()?)
    }

    fn __eq__(&self, other: &PyCgroup) -> bool {
        Arc::ptr_eq(&self.cgs, &other.cgs) && self.id == other.id
    }

    fn __hash__(&self) -> u64 {
        u64::from(self.id)
    }

    fn __repr__(&self) -> String {
        match self.cgs.path(self.id) {
            Ok(p) => format!("Cgroup({p:?})"),
            Err(_) => format!("Cgroup(<removed, id {}>)", self.id),
        }
    }
}

/// A cgroup argument — a `Cgroup` of `cgs` or a path in it — as its id; a `Cgroup` of another
/// hierarchy is refused rather than mistaken for the one with the same id here.
pub fn resolve_cgroup(cgs: &Arc<Cgroups>, c: &Bound<'_, PyAny>) -> PyResult<MemcgId> {
    if let Ok(cg) = c.downcast::<PyCgroup>() {
        let cg = cg.get();
        if !Arc::ptr_eq(&cg.cgs, cgs) {
            return Err(ZsError::Cgroup("a cgroup of another hierarchy".into())).py_err();
        }
        return Ok(cg.id);
    }
    let path: String = c.extract().map_err(|_| {
        let ty = c
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| "?".into());
        pyo3::exceptions::PyTypeError::new_err(format!(
            "cgroup must be a Cgroup or a path such as \"/a/b\", got {ty}"
        ))
    })?;
    cgs.lookup(&path).py_err()
}
