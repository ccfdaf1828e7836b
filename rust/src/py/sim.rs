//! `zsrs.Machine` and `zsrs.Process`: the simulated kernel, driven by numpy arrays.

use std::sync::Arc;

use numpy::{PyArray2, PyArrayMethods};
use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyInt, PyString};

use super::buffers::{rows_in, vec1_in, zeroed};
use super::cgroups::{resolve_cgroup, PyCgroups};
use super::errors::{to_py, IntoPy};
use super::memory::PyMemory;
use super::zswap::PyZswap;
use crate::error::ZsError;
use crate::parse::memparse_some;
use crate::sim::{Machine, RamSwap, SwapBackend};

/// A simulated machine: memory, cgroups and a swap layer, running processes.
#[pyclass(name = "Machine", module = "zsrs", frozen)]
pub struct PyMachine {
    pub inner: Arc<Machine>,
}

/// A process of a `Machine`.
#[pyclass(name = "Process", module = "zsrs", frozen)]
pub struct PyProcess {
    machine: Arc<Machine>,
    #[pyo3(get)]
    pid: u32,
}

/// Bytes from an int or a memparse string ("4M"): a negative or too large int is a ValueError
/// or OverflowError, another type a TypeError, all naming `what`.
pub fn bytes_arg(v: &Bound<'_, PyAny>, what: &str) -> PyResult<u64> {
    if let Ok(s) = v.downcast::<PyString>() {
        let s = s.to_str()?;
        return match memparse_some(s) {
            Some(n) => Ok(n),
            None => Err(PyValueError::new_err(format!(
                "bad {what} {s:?}: expected bytes or a size such as \"256M\""
            ))),
        };
    }
    if v.downcast::<PyInt>().is_ok() {
        return v.extract::<u64>().map_err(|_| {
            if v.lt(0).unwrap_or(false) {
                PyValueError::new_err(format!("{what} must not be negative, got {v}"))
            } else {
                PyOverflowError::new_err(format!("{what} {v} does not fit in 64 bits"))
            }
        });
    }
    let ty = v
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into());
    Err(PyTypeError::new_err(format!(
        "{what} must be an int (bytes) or a string such as \"256M\", got {ty}"
    )))
}

impl PyMachine {
    /// Builds a machine over an already-made swap layer.
    pub fn with_backend(
        memory: &PyMemory,
        cgroups: &PyCgroups,
        swap: Arc<dyn SwapBackend>,
    ) -> PyResult<Self> {
        let m = Machine::new(memory.inner.clone(), cgroups.inner.clone(), swap).py_err()?;
        Ok(Self { inner: Arc::new(m) })
    }
}

#[pymethods]
impl PyMachine {
    /// A machine whose reclaim writes to a plain in-RAM swap space of `swap_slots` pages (zero
    /// pages in a zero map, no compression): the baseline without zswap.
    /// With `zswap` (which must have a swap file), reclaim goes through the real swap layer:
    /// zero map, zswap, then the file.
    #[new]
    #[pyo3(signature = (memory, cgroups, zswap = None, swap_slots = 1 << 20))]
    fn new(
        memory: &PyMemory,
        cgroups: &PyCgroups,
        zswap: Option<&PyZswap>,
        swap_slots: u64,
    ) -> PyResult<Self> {
        match zswap {
            None => Self::with_backend(memory, cgroups, Arc::new(RamSwap::new(swap_slots))),
            Some(z) => {
                // The machine owns the entries from now on (EBUSY for Python's own loads).
                z.attach()?;
                let m = crate::zswap::Swap::new(z.inner.clone())
                    .py_err()
                    .and_then(|swap| Self::with_backend(memory, cgroups, Arc::new(swap)));
                if m.is_err() {
                    z.attached
                        .store(false, std::sync::atomic::Ordering::Release);
                }
                m
            }
        }
    }

    /// Starts a process in `cgroup` (a Cgroup or a path) bound to `mems` (all nodes if empty).
    #[pyo3(signature = (cgroup, mems = Vec::new()))]
    fn spawn(&self, cgroup: &Bound<'_, PyAny>, mems: Vec<usize>) -> PyResult<PyProcess> {
        let memcg = resolve_cgroup(self.inner.cgroups(), cgroup)?;
        let pid = self.inner.spawn(memcg, &mems).py_err()?;
        Ok(PyProcess {
            machine: self.inner.clone(),
            pid,
        })
    }

    /// `memory.reclaim`: reclaims `amount` (bytes or "4M") from a cgroup's subtree; raises
    /// KernelError(EAGAIN) when it cannot, like the kernel. Returns the pages reclaimed.
    fn reclaim(
        &self,
        py: Python<'_>,
        cgroup: &Bound<'_, PyAny>,
        amount: &Bound<'_, PyAny>,
    ) -> PyResult<u64> {
        let memcg = resolve_cgroup(self.inner.cgroups(), cgroup)?;
        let pages = bytes_arg(amount, "amount")?.div_ceil(self.inner.memory().page_size() as u64);
        py.allow_threads(|| self.inner.reclaim(memcg, pages))
            .py_err()
    }

    /// `vm.min_free_kbytes`: below it kswapd reclaims machine-wide (0 turns kswapd off).
    fn set_min_free_kbytes(&self, kbytes: u64) -> PyResult<()> {
        self.inner.set_min_free_kbytes(kbytes).py_err()
    }

    /// What the simulated kernel has done: faults, swap-outs and swap-ins by destination, …
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.stats();
        let d = PyDict::new(py);
        for (k, v) in [
            ("faults", s.faults),
            ("major_faults", s.major_faults),
            ("swapout_zero", s.swapout_zero),
            ("swapout_zswap", s.swapout_zswap),
            ("swapout_disk", s.swapout_disk),
            ("swapout_rejected", s.swapout_rejected),
            ("swapin_zero", s.swapin_zero),
            ("swapin_zswap", s.swapin_zswap),
            ("swapin_disk", s.swapin_disk),
            ("reclaimed", s.reclaimed),
            ("scanned", s.scanned),
            ("ooms", s.ooms),
        ] {
            d.set_item(k, v)?;
        }
        Ok(d)
    }
}

impl PyProcess {
    /// Page numbers `start..start + count`, refused (InvalidArgument, the SIGSEGV of an access)
    /// unless all are mapped: checked before anything is allocated or touched.
    fn range(&self, start: u64, count: usize) -> PyResult<std::ops::Range<u64>> {
        let mapped = self.machine.nr_pages(self.pid).py_err()?;
        match start.checked_add(count as u64) {
            Some(end) if end <= mapped => Ok(start..end),
            _ => Err(to_py(ZsError::InvalidArgument(format!(
                "pages {start}..{start}+{count} are not all mapped (the process maps {mapped}; SIGSEGV)"
            )))),
        }
    }
}

#[pymethods]
impl PyProcess {
    /// Maps the rows of a 2-D uint8 array (one page each, any layout) and touches them; returns
    /// the first page number of the new range.
    fn mmap(&self, py: Python<'_>, pages: &Bound<'_, PyAny>) -> PyResult<u64> {
        let mut pages = rows_in(pages, "pages")?;
        if pages.cols != self.machine.memory().page_size() {
            return Err(PyValueError::new_err("rows must be PAGE_SIZE bytes"));
        }
        let data = pages.bytes()?;
        py.allow_threads(|| self.machine.mmap(self.pid, data))
            .py_err()
    }

    /// Accesses pages in trace order (a numpy array of page numbers, plus `base`), in Rust;
    /// returns the major faults it took. A trace with an unmapped page (or one whose page number
    /// overflows with `base`) is refused before any page is touched.
    #[pyo3(signature = (trace, base = 0))]
    fn access(&self, py: Python<'_>, trace: &Bound<'_, PyAny>, base: u64) -> PyResult<u64> {
        let t: Vec<u64> = vec1_in::<u64>(trace, "trace")?
            .into_iter()
            .map(|v| {
                v.checked_add(base).ok_or_else(|| {
                    to_py(ZsError::InvalidArgument(format!(
                        "page {v} + base {base} is beyond the address space (SIGSEGV)"
                    )))
                })
            })
            .collect::<PyResult<_>>()?;
        py.allow_threads(|| self.machine.access(self.pid, &t))
            .py_err()
    }

    /// Reads `count` pages from `start` (faulting them in) into a new (count, PAGE_SIZE) array;
    /// the whole range must be mapped (checked before anything is allocated).
    fn read<'py>(
        &self,
        py: Python<'py>,
        start: u64,
        count: usize,
    ) -> PyResult<Bound<'py, PyArray2<u8>>> {
        let ps = self.machine.memory().page_size();
        let bytes = count
            .checked_mul(ps)
            .filter(|&b| b <= isize::MAX as usize)
            .ok_or_else(|| PyValueError::new_err(format!("{count} pages is too many to read")))?;
        let vpns: Vec<u64> = self.range(start, count)?.collect();
        let mut out = zeroed(bytes, "Process.read")?;
        py.allow_threads(|| self.machine.read_pages(self.pid, &vpns, &mut out))
            .py_err()?;
        numpy::PyArray1::from_vec(py, out).reshape([count, ps])
    }

    /// Whether the pages from `start` (faulted in as needed) equal the rows of `expected` (any
    /// layout); returns the indices of the rows that differ (empty: all equal).
    fn verify(
        &self,
        py: Python<'_>,
        start: u64,
        expected: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<usize>> {
        let ps = self.machine.memory().page_size();
        let mut expected = rows_in(expected, "expected")?;
        let n = expected.rows;
        if expected.cols != ps {
            return Err(PyValueError::new_err("rows must be PAGE_SIZE bytes"));
        }
        let vpns: Vec<u64> = self.range(start, n)?.collect();
        let want = expected.bytes()?;
        let mut got = zeroed(want.len(), "Process.verify")?;
        py.allow_threads(|| self.machine.read_pages(self.pid, &vpns, &mut got))
            .py_err()?;
        Ok((0..n)
            .filter(|&k| got[k * ps..(k + 1) * ps] != want[k * ps..(k + 1) * ps])
            .collect())
    }

    /// Overwrites pages from `start` with the rows of a 2-D uint8 array (any layout); a range
    /// that is not all mapped, or rows that are not PAGE_SIZE bytes, change nothing.
    fn write(&self, py: Python<'_>, start: u64, pages: &Bound<'_, PyAny>) -> PyResult<()> {
        let mut pages = rows_in(pages, "pages")?;
        if pages.cols != self.machine.memory().page_size() {
            return Err(PyValueError::new_err("rows must be PAGE_SIZE bytes"));
        }
        let vpns: Vec<u64> = self.range(start, pages.rows)?.collect();
        let data = pages.bytes()?;
        py.allow_threads(|| self.machine.write_pages(self.pid, &vpns, data))
            .py_err()
    }

    /// Per page: the node it is resident on (−1 if not), and whether it is swapped out.
    fn placement(&self) -> PyResult<Vec<(i64, bool)>> {
        self.machine.placement(self.pid).py_err()
    }

    /// Binds future pages to `mems`.
    fn set_mems(&self, mems: Vec<usize>) -> PyResult<()> {
        self.machine.set_mems(self.pid, &mems).py_err()
    }

    /// Ends the process, freeing its memory and swap.
    fn exit(&self) -> PyResult<()> {
        self.machine.exit(self.pid).py_err()
    }
}
