//! `zsrs.Zswap`: the compressed swap cache, per page and in numpy batches.

use std::sync::Arc;

use numpy::PyArray1;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use super::buffers::{rows_in, rows_out, vec1_in, with_bytes};
use super::cgroups::{resolve_cgroup, PyCgroups};
use super::errors::{to_py, IntoPy};
use super::memory::PyMemory;
use crate::error::{Errno, ZsError};
use crate::memcg::MemcgId;
use crate::zsmalloc::AccountingMode;
use crate::zswap::{LoadStatus, ShrinkMemcg, SwapDevices, SwapSlot, Zswap, ZswapConfig};

/// zswap over a zsmalloc pool, with an optional real swap file behind it for writeback.
#[pyclass(name = "Zswap", module = "zsrs", frozen)]
pub struct PyZswap {
    pub inner: Arc<Zswap>,
    /// Set when a `Machine` takes this zswap as its swap layer: from then on its entries are
    /// the machine's processes' pages, and Python may inspect but not store, load or drop them.
    pub attached: std::sync::atomic::AtomicBool,
}

/// The outcome of one store: truthy when stored; `reason` names a reject.
#[pyclass(name = "StoreResult", module = "zsrs", frozen)]
pub struct PyStoreResult {
    /// Whether the page is now in zswap.
    #[pyo3(get)]
    stored: bool,
    /// The kernel counter (or cause) of a reject, None when stored.
    #[pyo3(get)]
    reason: Option<&'static str>,
    /// Compressed bytes stored (PAGE_SIZE for a page kept as-is), 0 when refused.
    #[pyo3(get)]
    length: usize,
}

#[pymethods]
impl PyStoreResult {
    fn __bool__(&self) -> bool {
        self.stored
    }

    fn __repr__(&self) -> String {
        match self.reason {
            None => format!("StoreResult(stored, length={})", self.length),
            Some(r) => format!("StoreResult(rejected: {r})"),
        }
    }
}

impl PyZswap {
    /// EBUSY once a machine owns the entries.
    fn check_unowned(&self) -> PyResult<()> {
        if self.attached.load(std::sync::atomic::Ordering::Acquire) {
            return Err(to_py(ZsError::errno_msg(
                Errno::EBUSY,
                "this zswap is a Machine's swap layer: its entries are the machine's pages",
            )));
        }
        Ok(())
    }

    /// Marks the zswap as a machine's (EBUSY if another machine has it).
    pub fn attach(&self) -> PyResult<()> {
        use std::sync::atomic::Ordering;
        self.attached
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .map(|_| ())
            .map_err(|_| {
                to_py(ZsError::errno_msg(
                    Errno::EBUSY,
                    "this zswap is already another Machine's swap layer",
                ))
            })
    }

    fn memcg(&self, cgroup: Option<&Bound<'_, PyAny>>) -> PyResult<Option<MemcgId>> {
        let Some(c) = cgroup else { return Ok(None) };
        let cgs = self.inner.cgroups().ok_or_else(|| {
            PyValueError::new_err("this zswap has no cgroups: store without cgroup=")
        })?;
        Ok(Some(resolve_cgroup(cgs, c)?))
    }
}

#[pymethods]
impl PyZswap {
    /// `swapfile` (a path, created and truncated) with `swap_slots` pages gives zswap a backing
    /// device for writeback; `accounting` defaults to the one the `Cgroups` was built for.
    #[new]
    #[pyo3(signature = (memory, cgroups = None, compressor = "lz4", *, accounting = None, swapfile = None, swap_slots = 1 << 18, max_pool_percent = 20, accept_threshold_percent = 90, shrinker_enabled = false, enabled = true, pool_name = "zswap0"))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        memory: &PyMemory,
        cgroups: Option<&PyCgroups>,
        compressor: &str,
        accounting: Option<&str>,
        swapfile: Option<std::path::PathBuf>,
        swap_slots: u64,
        max_pool_percent: u32,
        accept_threshold_percent: u32,
        shrinker_enabled: bool,
        enabled: bool,
        pool_name: &str,
    ) -> PyResult<Self> {
        let cfg = ZswapConfig {
            compressor: compressor.parse().py_err()?,
            // Without cgroups the mode is unused (and, as ever, not checked).
            accounting: match (accounting, cgroups) {
                (Some(name), Some(_)) => name.parse().py_err()?,
                (None, Some(c)) => c.accounting(),
                (_, None) => AccountingMode::default(),
            },
            pool_name: pool_name.to_string(),
            enabled,
            max_pool_percent,
            accept_threshold_percent,
            shrinker_enabled,
            ..ZswapConfig::default()
        };
        let backing = match swapfile {
            None => None,
            Some(p) => {
                let d = SwapDevices::new(memory.inner.page_size());
                d.swapon(p, swap_slots).py_err()?;
                Some(Arc::new(d))
            }
        };
        let z = Zswap::new(
            memory.inner.clone(),
            cgroups.map(|c| c.inner.clone()),
            cfg,
            backing,
        )
        .py_err()?;
        Ok(Self {
            inner: Arc::new(z),
            attached: Default::default(),
        })
    }

    /// The compressor's name.
    #[getter]
    fn compressor(&self) -> &'static str {
        self.inner.compressor()
    }

    /// Stores one page in `slot` for `cgroup` from node `nid`.
    #[pyo3(signature = (slot, page, cgroup = None, nid = 0))]
    fn store(
        &self,
        py: Python<'_>,
        slot: u64,
        page: &Bound<'_, PyAny>,
        cgroup: Option<&Bound<'_, PyAny>>,
        nid: usize,
    ) -> PyResult<PyStoreResult> {
        self.check_unowned()?;
        let m = self.memcg(cgroup)?;
        let r = with_bytes(page, |p| {
            py.allow_threads(|| self.inner.store(SwapSlot::from(slot), p, m, nid))
                .py_err()
        })?;
        Ok(PyStoreResult {
            stored: r.stored(),
            reason: r.reject.map(|w| w.name()),
            length: r.length,
        })
    }

    /// Stores row k of a 2-D uint8 array (any layout) in `slots[k]`; returns a bool array of
    /// what was stored.
    #[pyo3(signature = (slots, pages, cgroup = None, nid = 0))]
    fn store_many<'py>(
        &self,
        py: Python<'py>,
        slots: &Bound<'py, PyAny>,
        pages: &Bound<'py, PyAny>,
        cgroup: Option<&Bound<'py, PyAny>>,
        nid: usize,
    ) -> PyResult<Bound<'py, PyArray1<bool>>> {
        self.check_unowned()?;
        let s: Vec<SwapSlot> = vec1_in::<u64>(slots, "slots")?
            .into_iter()
            .map(SwapSlot::from)
            .collect();
        let mut pages = rows_in(pages, "pages")?;
        if pages.rows != s.len() || pages.cols != self.inner.page_size() {
            return Err(PyValueError::new_err(
                "pages must be (len(slots), page_size)",
            ));
        }
        let m = self.memcg(cgroup)?;
        let p = pages.bytes()?;
        let r = py
            .allow_threads(|| self.inner.store_many(&s, p, m, nid))
            .py_err()?;
        Ok(PyArray1::from_vec(
            py,
            r.iter().map(|x| x.stored()).collect(),
        ))
    }

    /// Loads (exclusively: the entry is freed) `slot`; returns the page, or None if absent.
    fn load<'py>(&self, py: Python<'py>, slot: u64) -> PyResult<Option<Bound<'py, PyBytes>>> {
        self.check_unowned()?;
        let mut buf = vec![0u8; self.inner.page_size()];
        let hit = py
            .allow_threads(|| self.inner.load(SwapSlot::from(slot), &mut buf))
            .py_err()?;
        Ok(hit.then(|| PyBytes::new(py, &buf)))
    }

    /// Loads `slots[k]` into row k of `out`; returns a bool array of hits. `out` may have any
    /// layout; one that is read-only, aliased or of the wrong shape is refused before anything
    /// is loaded (loads are exclusive: a page loaded is gone from zswap).
    fn load_many<'py>(
        &self,
        py: Python<'py>,
        slots: &Bound<'py, PyAny>,
        out: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray1<bool>>> {
        self.check_unowned()?;
        let s: Vec<SwapSlot> = vec1_in::<u64>(slots, "slots")?
            .into_iter()
            .map(SwapSlot::from)
            .collect();
        let mut out = rows_out(out, "out")?;
        if out.rows != s.len() || out.cols != self.inner.page_size() {
            return Err(PyValueError::new_err("out must be (len(slots), page_size)"));
        }
        let st = out
            .with_rows(|o| py.allow_threads(|| self.inner.load_many(&s, o)))?
            .py_err()?;
        Ok(PyArray1::from_vec(
            py,
            st.iter().map(|x| *x == LoadStatus::Loaded).collect(),
        ))
    }

    /// Drops `slot`'s entry without loading it; whether there was one.
    fn invalidate(&self, slot: u64) -> PyResult<bool> {
        self.check_unowned()?;
        Ok(self.inner.invalidate(SwapSlot::from(slot)))
    }

    /// Whether `slot` has an entry.
    fn __contains__(&self, slot: u64) -> bool {
        self.inner.contains(SwapSlot::from(slot))
    }

    /// Writes back (to the swap file) entries of `cgroup`'s LRU, as `shrink_memcg` does; returns
    /// the kernel's code (0, -EAGAIN or -ENOENT).
    #[pyo3(signature = (cgroup = None))]
    fn shrink_memcg(&self, cgroup: Option<&Bound<'_, PyAny>>) -> PyResult<i32> {
        let m = self.memcg(cgroup)?;
        let r: ShrinkMemcg = self.inner.shrink_memcg(m).py_err()?;
        Ok(r.code())
    }

    /// Runs the global shrink worker now; returns the entries written back.
    fn run_shrink_worker(&self) -> PyResult<u64> {
        self.inner.run_shrink_worker().py_err()
    }

    /// `/sys/kernel/debug/zswap/*` as a dict.
    fn debugfs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in self.inner.debugfs() {
            d.set_item(k, v)?;
        }
        Ok(d)
    }

    /// A debugfs file (`stored_pages`, `pool_total_size`, …) or a module parameter
    /// (`parameters/max_pool_percent`, …) as the kernel prints it.
    fn read_file(&self, name: &str) -> PyResult<String> {
        match name.strip_prefix("parameters/") {
            Some(p) => self.inner.read_param(p).py_err(),
            None => self.inner.read_debugfs(name).py_err(),
        }
    }

    /// Writes a module parameter (`parameters/enabled`, `parameters/max_pool_percent`, …).
    fn write_file(&self, name: &str, value: &str) -> PyResult<()> {
        let p = name.strip_prefix("parameters/").unwrap_or(name);
        self.inner.write_param(p, value).py_err()
    }

    /// The pool's debugfs `classes` text.
    fn classes(&self) -> String {
        self.inner.pool().classes_text()
    }

    /// The true placement of compressed memory, from the pool's layout, in either accounting
    /// mode: `{(cgroup path, node): slot bytes}` summed over each memcg's objects (not
    /// hierarchical), plus `{node: pool pages}`.
    /// The pool's work so far: `{"pool_locks": …, "charge_calls": …}`.
    fn pool_ops(&self) -> std::collections::HashMap<&'static str, u64> {
        let p = self.inner.pool();
        [
            ("pool_locks", p.lock_acquisitions()),
            ("charge_calls", p.charge_calls()),
        ]
        .into_iter()
        .collect()
    }

    #[allow(clippy::type_complexity)]
    fn placement(&self) -> PyResult<(std::collections::HashMap<(String, usize), i64>, Vec<i64>)> {
        let (per, pages) = self.inner.pool().recount_attribution();
        let mut out = std::collections::HashMap::new();
        if let Some(cg) = self.inner.cgroups() {
            for a in per {
                let m = cg.objcg_memcg(a.objcg).py_err()?;
                *out.entry((cg.path(m).py_err()?, a.nid)).or_insert(0) += a.compressed;
            }
        }
        Ok((out, pages))
    }

    /// Checks every internal invariant; raises on the first broken one.
    fn check_invariants(&self) -> PyResult<()> {
        self.inner.check_invariants().py_err()
    }
}
