//! `zsrs.Memory`: simulated NUMA memory.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::errors::IntoPy;
use crate::mem::Memory;

/// Simulated physical memory: NUMA nodes with capacities in pages.
#[pyclass(name = "Memory", module = "zsrs", frozen)]
pub struct PyMemory {
    pub inner: Arc<Memory>,
}

#[pymethods]
impl PyMemory {
    #[new]
    #[pyo3(signature = (nodes = vec![1 << 18, 1 << 18], page_size = 4096))]
    fn new(nodes: Vec<usize>, page_size: usize) -> PyResult<Self> {
        Ok(Self {
            inner: Arc::new(Memory::new(&nodes, page_size).py_err()?),
        })
    }

    /// Bytes per page.
    #[getter]
    fn page_size(&self) -> usize {
        self.inner.page_size()
    }

    /// Number of NUMA nodes.
    #[getter]
    fn nr_nodes(&self) -> usize {
        self.inner.nr_nodes()
    }

    /// The node a PFN belongs to.
    fn pfn_to_nid(&self, pfn: u64) -> PyResult<usize> {
        self.inner.pfn_to_nid(pfn).py_err()
    }

    /// Touches page buffers for up to `pages` frames of node `nid` ahead of use, so a timed
    /// region does not pay the host's first-touch faults (see `Memory::prefault`); returns how
    /// many prepared buffers the node holds. OutOfMemory beyond half the host's available memory.
    fn prefault(&self, py: Python<'_>, nid: usize, pages: usize) -> PyResult<usize> {
        let mem = &self.inner;
        py.allow_threads(|| mem.prefault(nid, pages)).py_err()
    }

    /// `[{"node", "capacity", "used", "free"}, …]`.
    fn node_stats<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        self.inner
            .node_stats()
            .into_iter()
            .map(|s| {
                let d = PyDict::new(py);
                d.set_item("node", s.node)?;
                d.set_item("capacity", s.capacity)?;
                d.set_item("used", s.used)?;
                d.set_item("free", s.capacity - s.used)?;
                Ok(d)
            })
            .collect()
    }

    fn __repr__(&self) -> String {
        let caps: Vec<String> = self
            .inner
            .node_stats()
            .iter()
            .map(|s| s.capacity.to_string())
            .collect();
        format!(
            "Memory(nodes=[{}], page_size={})",
            caps.join(", "),
            self.inner.page_size()
        )
    }
}
