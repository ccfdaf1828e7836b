//! `zsrs.Pool`: a zsmalloc pool, per object and in numpy batches.

use std::sync::Arc;

use numpy::PyArray1;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use super::buffers::{fill_buffer, rows_in, rows_out, vec1_in, with_bytes};
use super::cgroups::{resolve_cgroup, PyCgroup, PyCgroups};
use super::errors::{to_py, IntoPy};
use super::memory::PyMemory;
use crate::error::ZsError;
use crate::memcg::MemcgId;
use crate::zsmalloc::{Accounting, AccountingMode, ChainRule, Pool, PoolConfig, Profile};

/// A zsmalloc pool over simulated memory.
#[pyclass(name = "Pool", module = "zsrs", frozen)]
pub struct PyPool {
    inner: Arc<Pool>,
    /// The hierarchy charged, for turning owners back into `Cgroup`s.
    cgroups: Option<Arc<crate::memcg::Cgroups>>,
}

/// A cgroup argument: a `Cgroup` of the pool's hierarchy or a path in it.
fn memcg_arg(pool: &PyPool, cgroup: Option<&Bound<'_, PyAny>>) -> PyResult<Option<MemcgId>> {
    let Some(c) = cgroup else { return Ok(None) };
    let Some(cgs) = &pool.cgroups else {
        return Err(to_py(ZsError::InvalidArgument(format!(
            "pool {} is not memcg-aware: write without a cgroup",
            pool.inner.name()
        ))));
    };
    Ok(Some(resolve_cgroup(cgs, c)?))
}

fn config(
    name: &str,
    kernel: &str,
    chain_size: Option<usize>,
    class_delta: Option<usize>,
    chain_rule: Option<&str>,
) -> PyResult<PoolConfig> {
    let mut cfg = PoolConfig::new(name);
    cfg.profile = Profile::parse(kernel).py_err()?;
    cfg.chain_size = chain_size;
    cfg.class_delta = class_delta;
    cfg.chain_rule = chain_rule.map(ChainRule::parse).transpose().py_err()?;
    Ok(cfg)
}

fn row_dict<'py>(
    py: Python<'py>,
    labels: &[(&str, usize)],
    r: &crate::zsmalloc::ClassRow,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("class", r.class)?;
    d.set_item("size", r.size)?;
    for ((label, _), v) in labels.iter().zip(&r.groups) {
        d.set_item(*label, *v)?;
    }
    d.set_item("obj_allocated", r.obj_allocated)?;
    d.set_item("obj_used", r.obj_used)?;
    d.set_item("pages_used", r.pages_used)?;
    d.set_item("pages_per_zspage", r.pages_per_zspage)?;
    d.set_item("freeable", r.freeable)?;
    Ok(d)
}

#[pymethods]
impl PyPool {
    /// `cgroups` makes the pool account to a hierarchy: `accounting="zsmalloc"` (the series,
    /// a memcg-aware pool) or `"consumer"` (before it); the default follows how the `Cgroups`
    /// was built. `stat_items` are the consumer's compressed and uncompressed items.
    #[new]
    #[pyo3(signature = (memory, name = "zsrs", chain_size = None, *, kernel = "6.12", class_delta = None, chain_rule = None, cgroups = None, accounting = None, memcg_aware = None, stat_items = ("zswap".to_string(), "zswapped".to_string())))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        memory: &PyMemory,
        name: &str,
        chain_size: Option<usize>,
        kernel: &str,
        class_delta: Option<usize>,
        chain_rule: Option<&str>,
        cgroups: Option<&PyCgroups>,
        accounting: Option<&str>,
        memcg_aware: Option<bool>,
        stat_items: (String, String),
    ) -> PyResult<Self> {
        let mut cfg = config(name, kernel, chain_size, class_delta, chain_rule)?;
        let bad = |m: String| Err(to_py(ZsError::InvalidArgument(m)));
        match cgroups {
            None => {
                if memcg_aware == Some(true) || accounting.is_some() {
                    return bad("memcg accounting needs cgroups=".into());
                }
            }
            Some(c) => {
                let mode = match accounting {
                    Some(name) => name.parse().py_err()?,
                    None => c.accounting(),
                };
                if memcg_aware.is_some_and(|aware| aware != (mode == AccountingMode::Zsmalloc)) {
                    return bad(format!(
                        "memcg_aware={memcg_aware:?} contradicts accounting {:?}",
                        mode.name()
                    ));
                }
                let items = (
                    c.inner.stat_item(&stat_items.0).py_err()?,
                    c.inner.stat_item(&stat_items.1).py_err()?,
                );
                cfg.accounting =
                    Accounting::with_items(mode, c.inner.clone(), items.0, items.1).py_err()?;
            }
        }
        Ok(Self {
            inner: Arc::new(Pool::new(memory.inner.clone(), cfg).py_err()?),
            cgroups: cgroups.map(|c| c.inner.clone()),
        })
    }

    /// Whether zspages carry objcg arrays (the series' memcg-aware pool).
    #[getter]
    fn memcg_aware(&self) -> bool {
        self.inner.accounting().memcg_aware()
    }

    /// "zsmalloc", "consumer" or None.
    #[getter]
    fn accounting(&self) -> Option<&'static str> {
        self.inner.accounting().mode().map(AccountingMode::name)
    }

    /// The cgroup owning an object (None: no owner, or root).
    fn owner(&self, handle: u64) -> PyResult<Option<PyCgroup>> {
        let m = self.inner.owner(handle).py_err()?;
        Ok(match (m, &self.cgroups) {
            (Some(id), Some(cgs)) => Some(PyCgroup {
                cgs: cgs.clone(),
                id,
            }),
            _ => None,
        })
    }

    /// Calls of the memcg charge path so far (compaction and migration never add to it).
    fn charge_calls(&self) -> u64 {
        self.inner.charge_calls()
    }

    /// The pool's name.
    #[getter]
    fn name(&self) -> String {
        self.inner.name().to_string()
    }

    /// Compressed lengths at or above this go to the huge class (`zs_huge_class_size`).
    #[getter]
    fn huge_class_size(&self) -> usize {
        self.inner.huge_class_size()
    }

    /// Kernel profile: "6.12" (v6.4+) or "6.1" (before v6.4).
    #[getter]
    fn kernel(&self) -> &'static str {
        self.inner.profile().name()
    }

    /// Maximum pages per zspage.
    #[getter]
    fn chain_size(&self) -> usize {
        self.inner.geometry().chain_size
    }

    /// Allocates `size` bytes; new zspage pages come from node `nid` first. Returns a handle.
    #[pyo3(signature = (size, nid = 0))]
    fn malloc(&self, py: Python<'_>, size: usize, nid: usize) -> PyResult<u64> {
        py.allow_threads(|| self.inner.malloc(size, nid)).py_err()
    }

    /// Frees an object.
    fn free(&self, handle: u64) -> PyResult<()> {
        self.inner.free(handle).py_err()
    }

    /// Writes bytes at the start of the object (the rest reads back as zeros). In an
    /// accounting pool, `cgroup` (a Cgroup or a path) becomes the object's owner and is charged.
    #[pyo3(signature = (handle, data, cgroup = None))]
    fn write(
        &self,
        handle: u64,
        data: &Bound<'_, PyAny>,
        cgroup: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let m = memcg_arg(self, cgroup)?;
        with_bytes(data, |d| self.inner.write_owned(handle, d, m).py_err())
    }

    /// Reads the object: returns bytes, or fills `out` and returns the object's length. With
    /// `cgroup`, the read is made on that cgroup's behalf and refused (CgroupError) unless the
    /// object is owned by it (or, after a removal, by the ancestor its objcg now points to).
    #[pyo3(signature = (handle, out = None, cgroup = None))]
    fn read<'py>(
        &self,
        py: Python<'py>,
        handle: u64,
        out: Option<&Bound<'py, PyAny>>,
        cgroup: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<PyObject> {
        if let Some(want) = memcg_arg(self, cgroup)? {
            if self.inner.owner(handle).py_err()? != Some(want) {
                return Err(to_py(ZsError::Cgroup(format!(
                    "object {handle:#x} is not owned by this cgroup"
                ))));
            }
        }
        let data = self.inner.read(handle).py_err()?;
        match out {
            None => Ok(PyBytes::new(py, &data).into_any().unbind()),
            Some(o) => {
                fill_buffer(o, &data)?;
                Ok(data.len().into_pyobject(py)?.into_any().unbind())
            }
        }
    }

    /// Length of the object behind a handle.
    fn object_len(&self, handle: u64) -> PyResult<usize> {
        self.inner.object_len(handle).py_err()
    }

    /// One object per size (uint64 array in, handles out); all or nothing. GIL released.
    #[pyo3(signature = (sizes, nid = 0))]
    fn malloc_many<'py>(
        &self,
        py: Python<'py>,
        sizes: &Bound<'py, PyAny>,
        nid: usize,
    ) -> PyResult<Bound<'py, PyArray1<u64>>> {
        let s: Vec<usize> = vec1_in::<i64>(sizes, "sizes")?
            .into_iter()
            .map(|v| {
                usize::try_from(v).map_err(|_| PyValueError::new_err(format!("negative size {v}")))
            })
            .collect::<PyResult<_>>()?;
        let mut out = vec![0u64; s.len()];
        py.allow_threads(|| self.inner.malloc_many(&s, nid, &mut out))
            .py_err()?;
        Ok(PyArray1::from_vec(py, out))
    }

    /// Writes row k of a 2-D uint8 array to handle k (truncated to each object's length),
    /// all owned by `cgroup` in an accounting pool.
    #[pyo3(signature = (handles, pages, cgroup = None))]
    fn write_many(
        &self,
        py: Python<'_>,
        handles: &Bound<'_, PyAny>,
        pages: &Bound<'_, PyAny>,
        cgroup: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let h = vec1_in::<u64>(handles, "handles")?;
        let mut pages = rows_in(pages, "pages")?;
        let m = memcg_arg(self, cgroup)?;
        if pages.rows != h.len() {
            return Err(PyValueError::new_err(format!(
                "{} handles for {} rows",
                h.len(),
                pages.rows
            )));
        }
        let cols = pages.cols;
        let p = pages.bytes()?;
        py.allow_threads(|| self.inner.write_many_owned(&h, p, cols, m))
            .py_err()
    }

    /// Reads object k into row k of `out` (zero-padded); returns the lengths. `out` may have any
    /// layout; a read-only or aliased `out` is refused before anything is read.
    fn read_many<'py>(
        &self,
        py: Python<'py>,
        handles: &Bound<'py, PyAny>,
        out: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray1<u32>>> {
        let h = vec1_in::<u64>(handles, "handles")?;
        let mut out = rows_out(out, "out")?;
        let (rows, cols) = (out.rows, out.cols);
        if rows != h.len() {
            return Err(PyValueError::new_err(format!(
                "{} handles for {rows} rows",
                h.len()
            )));
        }
        let mut lens = vec![0u32; rows];
        out.with_rows(|o| py.allow_threads(|| self.inner.read_many(&h, o, cols, &mut lens)))?
            .py_err()?;
        Ok(PyArray1::from_vec(py, lens))
    }

    /// Frees every handle; nothing is freed if one is invalid or repeated.
    fn free_many(&self, py: Python<'_>, handles: &Bound<'_, PyAny>) -> PyResult<()> {
        let h = vec1_in::<u64>(handles, "handles")?;
        py.allow_threads(|| self.inner.free_many(&h)).py_err()
    }

    /// Compacts every class (`zs_compact`); returns the pages freed.
    fn compact(&self, py: Python<'_>) -> u64 {
        py.allow_threads(|| self.inner.compact())
    }

    /// Pages compaction could free now (the shrinker's count).
    fn compactable_pages(&self) -> u64 {
        self.inner.compactable_pages()
    }

    /// Moves page `pfn` of this pool to node `to_node`; returns the new PFN.
    fn migrate_page(&self, pfn: u64, to_node: usize) -> PyResult<u64> {
        self.inner.migrate_page(pfn, to_node).py_err()
    }

    /// `[(pfn, nid), …]` of every page the pool holds.
    fn pages(&self) -> Vec<(u64, usize)> {
        self.inner.pages()
    }

    /// Pool counters as a dict.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.stats();
        let d = PyDict::new(py);
        d.set_item("pages_allocated", s.pages_allocated)?;
        d.set_item("pages_compacted", s.pages_compacted)?;
        d.set_item("objs_allocated", s.objs_allocated)?;
        d.set_item("objs_used", s.objs_used)?;
        d.set_item("bytes_requested", s.bytes_requested)?;
        d.set_item("zspages", s.zspages)?;
        d.set_item(
            "bytes_used",
            s.pages_allocated * self.inner.geometry().page_size as u64,
        )?;
        Ok(d)
    }

    /// The debugfs `classes` rows as dicts (keys = the kernel's column names).
    fn classes<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let labels = self.inner.profile().group_columns();
        self.inner
            .classes()
            .iter()
            .map(|r| row_dict(py, labels, r))
            .collect()
    }

    /// A file of the pool's debugfs directory as the kernel prints it ("classes").
    fn read_file(&self, name: &str) -> PyResult<String> {
        match name {
            "classes" => Ok(self.inner.classes_text()),
            _ => Err(to_py(ZsError::InvalidArgument(format!(
                "no file {name:?} (the pool has \"classes\")"
            )))),
        }
    }

    /// The zspages of a class in fullness-list order, for inspection.
    fn zspages<'py>(
        &self,
        py: Python<'py>,
        class_index: usize,
    ) -> PyResult<Vec<Bound<'py, PyDict>>> {
        self.inner
            .zspages(class_index)
            .py_err()?
            .into_iter()
            .map(|z| {
                let d = PyDict::new(py);
                d.set_item("id", z.id)?;
                d.set_item("class", z.class)?;
                d.set_item("fullness", z.fullness)?;
                d.set_item("inuse", z.inuse)?;
                d.set_item("pages", z.pages)?;
                d.set_item("free_list", z.free_list)?;
                Ok(d)
            })
            .collect()
    }

    /// Recounts the allocator's counters (classes, fullness lists, free lists, handles, pages) from
    /// the layout; raises on the first mismatch. Memcg counters are checked against
    /// `Zswap.placement()` / the Rust `recount_attribution`, which know the hierarchy's other users.
    fn check_invariants(&self) -> PyResult<()> {
        self.inner
            .check_invariants()
            .map_err(|e| to_py(ZsError::InvalidArgument(format!("invariant broken: {e}"))))
    }

    fn __repr__(&self) -> String {
        let s = self.inner.stats();
        format!(
            "Pool({:?}, kernel={:?}, chain_size={}, objects={}, pages={})",
            self.inner.name(),
            self.inner.profile().name(),
            self.inner.geometry().chain_size,
            s.objs_used,
            s.pages_allocated
        )
    }
}

/// The size-class table for a geometry, every nominal class: dicts with index, size,
/// pages_per_zspage, objs_per_zspage, rep (serving class) and huge; plus huge_class_size.
#[pyfunction]
#[pyo3(signature = (chain_size = None, page_size = 4096, *, kernel = "6.12", class_delta = None, chain_rule = None))]
pub fn class_table<'py>(
    py: Python<'py>,
    chain_size: Option<usize>,
    page_size: usize,
    kernel: &str,
    class_delta: Option<usize>,
    chain_rule: Option<&str>,
) -> PyResult<(Vec<Bound<'py, PyDict>>, usize)> {
    crate::mem::check_page_size(page_size).py_err()?;
    let g = config("table", kernel, chain_size, class_delta, chain_rule)?
        .geometry(page_size)
        .py_err()?;
    let rows = g
        .classes
        .iter()
        .map(|c| {
            let d = PyDict::new(py);
            d.set_item("index", c.index)?;
            d.set_item("size", c.size)?;
            d.set_item("pages_per_zspage", c.pages_per_zspage)?;
            d.set_item("objs_per_zspage", c.objs_per_zspage)?;
            d.set_item("rep", c.rep)?;
            d.set_item("huge", c.huge)?;
            Ok(d)
        })
        .collect::<PyResult<_>>()?;
    Ok((rows, g.huge_class_size))
}

/// Page `i` of the fidelity workload W1 (docs/fidelity.md), bit for bit; `page_size`
/// must be a kernel page size (a power of two in 4096..=65536).
#[pyfunction]
#[pyo3(signature = (i, page_size = 4096))]
pub fn fidelity_page<'py>(
    py: Python<'py>,
    i: u64,
    page_size: usize,
) -> PyResult<Bound<'py, PyBytes>> {
    let ps = crate::mem::check_page_size(page_size).py_err()?;
    Ok(PyBytes::new(py, &crate::pagegen::w1_page(i, ps)))
}
