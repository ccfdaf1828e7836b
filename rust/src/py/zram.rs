//! `zsrs.Zram` (a zram block device), `zsrs.NbdServer` (the device over NBD) and `replay`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::exceptions::{PyOverflowError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use super::buffers::{
    check_fill_buffer, fill_buffer, rows_in, rows_out, vec1_in, with_bytes, zeroed,
};
use super::errors::{to_py, IntoPy};
use super::memory::PyMemory;
use crate::error::{Errno, ZsError};
use crate::mem::Memory;
use crate::nbd::{self, NbdServer};
use crate::zram::{self as zr, ReplaySlot, Zram, ZramConfig};
use crate::zsmalloc::Profile;

/// A zram device of page slots over a (not memcg-aware) zsmalloc pool.
#[pyclass(name = "Zram", module = "zsrs", frozen)]
pub struct PyZram {
    pub inner: Arc<Zram>,
}

fn fields_dict<'py>(py: Python<'py>, kv: &[(&str, u64)]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in kv {
        d.set_item(*k, *v)?;
    }
    Ok(d)
}

#[pymethods]
impl PyZram {
    /// `disksize` (bytes or "256M") initialises the device, as writing the sysfs file does;
    /// without it, set `comp_algorithm` and `disksize` with `write_file` like on a real system.
    /// Without `memory`, a one-node memory twice the disk size is made for it.
    #[new]
    #[pyo3(signature = (disksize = None, comp_algorithm = "lz4", *, memory = None, name = "zram0", kernel = "6.12", chain_size = None, nid = 0))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        disksize: Option<&Bound<'_, PyAny>>,
        comp_algorithm: &str,
        memory: Option<&PyMemory>,
        name: &str,
        kernel: &str,
        chain_size: Option<usize>,
        nid: usize,
    ) -> PyResult<Self> {
        let size = disksize
            .map(|v| super::sim::bytes_arg(v, "disksize"))
            .transpose()?;
        let mem = match memory {
            Some(m) => m.inner.clone(),
            None => {
                // Twice the disk, in frames that are only booked until touched; capped so that a
                // huge disksize meets the device's own ENOMEM rather than this bookkeeping.
                let pages = (size.unwrap_or(256 << 20) / 4096 * 2).clamp(1 << 12, 1 << 32) as usize;
                Arc::new(Memory::new(&[pages], 4096).py_err()?)
            }
        };
        let mut cfg = ZramConfig::new(name);
        cfg.profile = Profile::parse(kernel).py_err()?;
        cfg.chain_size = chain_size;
        cfg.nid = nid;
        cfg.default_algorithm = comp_algorithm.parse().map_err(|_| {
            to_py(ZsError::InvalidArgument(format!(
                "unknown default algorithm {comp_algorithm:?}"
            )))
        })?;
        let dev = Zram::new(mem, cfg).py_err()?;
        if let Some(s) = size {
            dev.set_disksize(s).py_err()?;
        }
        Ok(Self {
            inner: Arc::new(dev),
        })
    }

    /// Bytes of the device (0 before initialisation).
    #[getter]
    fn disksize(&self) -> u64 {
        self.inner.disksize()
    }

    /// Page slots of the device.
    #[getter]
    fn nr_pages(&self) -> u64 {
        self.inner.nr_pages()
    }

    /// Compressed lengths at or above this are stored raw.
    #[getter]
    fn huge_class_size(&self) -> usize {
        self.inner.huge_class_size()
    }

    /// Writes one page to slot `index`.
    fn write(&self, py: Python<'_>, index: u64, page: &Bound<'_, PyAny>) -> PyResult<()> {
        with_bytes(page, |p| {
            py.allow_threads(|| self.inner.write_page(index, p))
                .py_err()
        })
    }

    /// Reads slot `index`: returns bytes, or fills `out` (returns None).
    #[pyo3(signature = (index, out = None))]
    fn read<'py>(
        &self,
        py: Python<'py>,
        index: u64,
        out: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let ps = self.inner.page_size();
        if let Some(o) = out {
            check_fill_buffer(o, ps)?;
        }
        let mut buf = vec![0u8; ps];
        py.allow_threads(|| self.inner.read_page(index, &mut buf))
            .py_err()?;
        match out {
            Some(o) => fill_buffer(o, &buf).map(|_| None),
            None => Ok(Some(PyBytes::new(py, &buf))),
        }
    }

    /// Writes bytes at a byte offset (partial pages are read, modified and written).
    fn write_at(&self, py: Python<'_>, offset: u64, data: &Bound<'_, PyAny>) -> PyResult<()> {
        with_bytes(data, |d| {
            py.allow_threads(|| self.inner.write_at(offset, d)).py_err()
        })
    }

    /// Reads `length` bytes at a byte offset; a range past the end of the device is refused
    /// (KernelError EINVAL, like the device's own range check) before any buffer is allocated.
    fn read_at<'py>(
        &self,
        py: Python<'py>,
        offset: u64,
        length: u64,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let end = offset.checked_add(length);
        if end.is_none_or(|e| e > self.inner.disksize()) {
            return Err(to_py(ZsError::errno_msg(
                Errno::EINVAL,
                format!(
                    "range {offset}+{length} is beyond the device ({} bytes)",
                    self.inner.disksize()
                ),
            )));
        }
        let len = usize::try_from(length)
            .map_err(|_| PyOverflowError::new_err(format!("length {length} is too large")))?;
        let mut buf = zeroed(len, "read_at")?;
        py.allow_threads(|| self.inner.read_at(offset, &mut buf))
            .py_err()?;
        Ok(PyBytes::new(py, &buf))
    }

    /// Writes row k of a 2-D uint8 array (page-sized rows, any layout) to slot `indices[k]`;
    /// GIL released.
    fn write_many(
        &self,
        py: Python<'_>,
        indices: &Bound<'_, PyAny>,
        pages: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let i = vec1_in::<u64>(indices, "indices")?;
        let mut pages = rows_in(pages, "pages")?;
        if pages.rows != i.len() || pages.cols != self.inner.page_size() {
            return Err(PyValueError::new_err(
                "pages must be (len(indices), page_size)",
            ));
        }
        let p = pages.bytes()?;
        py.allow_threads(|| self.inner.write_many(&i, p)).py_err()
    }

    /// Reads slot `indices[k]` into row k of `out` (any layout; read-only or aliased `out` is
    /// refused first); GIL released.
    fn read_many(
        &self,
        py: Python<'_>,
        indices: &Bound<'_, PyAny>,
        out: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let i = vec1_in::<u64>(indices, "indices")?;
        let mut out = rows_out(out, "out")?;
        if out.rows != i.len() || out.cols != self.inner.page_size() {
            return Err(PyValueError::new_err(
                "out must be (len(indices), page_size)",
            ));
        }
        out.with_rows(|o| py.allow_threads(|| self.inner.read_many(&i, o)))?
            .py_err()
    }

    /// Discards `count` whole pages from slot `index`; returns the pages freed.
    #[pyo3(signature = (index, count = 1))]
    fn discard(&self, index: u64, count: u64) -> PyResult<u64> {
        self.inner.discard(index, count).py_err()
    }

    /// Compacts the pool; returns the pages freed.
    fn compact(&self) -> PyResult<u64> {
        self.inner.compact().py_err()
    }

    /// Frees everything and uninitialises the device (`reset`).
    fn reset(&self) -> PyResult<()> {
        self.inner.reset().py_err()
    }

    /// A sysfs attribute as the kernel prints it (mm_stat, io_stat, bd_stat, debug_stat,
    /// disksize, comp_algorithm, mem_limit, …).
    fn read_file(&self, name: &str) -> PyResult<String> {
        self.inner.read_file(name).py_err()
    }

    /// Writes a sysfs attribute with the kernel's parsing and errors (disksize, mem_limit,
    /// comp_algorithm, writeback, idle, recompress, compact, reset, …).
    fn write_file(&self, name: &str, value: &str) -> PyResult<()> {
        self.inner.write_file(name, value).py_err()
    }

    /// mm_stat as a dict.
    fn mm_stat<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        fields_dict(py, &self.inner.mm_stat().fields())
    }

    /// io_stat as a dict.
    fn io_stat<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        fields_dict(py, &self.inner.io_stat().fields())
    }

    /// bd_stat as a dict (values in pages).
    fn bd_stat<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        fields_dict(py, &self.inner.bd_stat().fields())
    }

    /// The pool's debugfs `classes` text.
    fn classes(&self) -> PyResult<String> {
        self.inner.classes_text().py_err()
    }

    /// Serves the device over NBD on a loopback address; returns the running server.
    ///
    /// The keyword arguments bound what a client can hold (times in seconds):
    /// `handshake_timeout` for the whole handshake, `max_options` options in it;
    /// `request_timeout` for a request to arrive whole once its first byte is in;
    /// `write_timeout` for a reply to be sent (a client that stops reading is dropped);
    /// `idle_timeout` from the last complete request; `buffer_budget` bytes of request and
    /// reply buffers for the whole server (one request carries at most min(32 MiB, budget);
    /// more gets NBD_EOVERFLOW), waited for at most `buffer_wait` before NBD_ENOMEM;
    /// `max_connections` at once. `stop()` returns within a fraction of a second whatever the
    /// clients do.
    #[pyo3(signature = (
        host = "127.0.0.1",
        port = 10809,
        *,
        export_name = "zram0",
        idle_timeout = 60.0,
        handshake_timeout = 10.0,
        request_timeout = 30.0,
        write_timeout = 30.0,
        max_options = 64,
        buffer_budget = 134217728,
        buffer_wait = 1.0,
        max_connections = 16,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn serve_nbd(
        &self,
        host: &str,
        port: u16,
        export_name: &str,
        idle_timeout: f64,
        handshake_timeout: f64,
        request_timeout: f64,
        write_timeout: f64,
        max_options: usize,
        buffer_budget: u64,
        buffer_wait: f64,
        max_connections: usize,
    ) -> PyResult<PyNbdServer> {
        let secs = |name: &str, v: f64| {
            Duration::try_from_secs_f64(v)
                .map_err(|_| PyValueError::new_err(format!("{name} must be >= 0 seconds, not {v}")))
        };
        let opts = nbd::ServeOptions {
            export_name: export_name.to_string(),
            idle_timeout: secs("idle_timeout", idle_timeout)?,
            handshake_timeout: secs("handshake_timeout", handshake_timeout)?,
            request_timeout: secs("request_timeout", request_timeout)?,
            write_timeout: secs("write_timeout", write_timeout)?,
            max_options,
            buffer_budget,
            buffer_wait: secs("buffer_wait", buffer_wait)?,
            max_connections,
        };
        let s = nbd::serve_with(self.inner.clone(), &format!("{host}:{port}"), opts).py_err()?;
        Ok(PyNbdServer {
            inner: Mutex::new(Some(s)),
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "Zram({:?}, disksize={})",
            self.inner.name(),
            self.inner.disksize()
        )
    }
}

/// A running NBD export of a zram device (stop it, or use it as a context manager).
#[pyclass(name = "NbdServer", module = "zsrs", frozen)]
pub struct PyNbdServer {
    inner: Mutex<Option<NbdServer>>,
}

impl Drop for PyNbdServer {
    /// Dropped by Python (del, the garbage collector, interpreter exit), so with the GIL held:
    /// never wait for the server's threads here. They are told to stop, their sockets are shut
    /// down, and they end on their own within a poll interval (releasing the device then).
    fn drop(&mut self) {
        let s = match self.inner.get_mut() {
            Ok(g) => g.take(),
            Err(e) => e.into_inner().take(),
        };
        if let Some(s) = s {
            s.stop_detached();
        }
    }
}

impl PyNbdServer {
    /// `f` of the running server, None once stopped.
    fn with_server<R>(&self, f: impl FnOnce(&NbdServer) -> R) -> Option<R> {
        self.inner.lock().ok()?.as_ref().map(f)
    }
}

#[pymethods]
impl PyNbdServer {
    /// `nbd://host:port` for clients such as qemu-img.
    #[getter]
    fn url(&self) -> Option<String> {
        self.with_server(|s| s.url())
    }

    /// The bound port.
    #[getter]
    fn port(&self) -> Option<u16> {
        self.with_server(|s| s.local_addr().port())
    }

    /// Connections accepted so far.
    #[getter]
    fn connections(&self) -> u64 {
        self.with_server(|s| s.connections()).unwrap_or(0)
    }

    /// Connections being served now.
    #[getter]
    fn active(&self) -> usize {
        self.with_server(|s| s.active()).unwrap_or(0)
    }

    /// Stops serving and waits for every connection to end (idempotent). The GIL is released
    /// while waiting, and the wait is bounded: a fraction of a second whatever the clients do.
    fn stop(&self, py: Python<'_>) {
        let s = self.inner.lock().ok().and_then(|mut g| g.take());
        if let Some(s) = s {
            py.allow_threads(|| s.stop());
        }
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(&self, py: Python<'_>, _t: PyObject, _v: PyObject, _tb: PyObject) -> bool {
        self.stop(py);
        false
    }
}

/// Replays per-slot outcomes (an int = compressed length, None = same-filled page) into a fresh
/// pool as zram would; returns (mm_stat text, classes text, mm_stat dict).
#[pyfunction]
#[pyo3(signature = (slots, page_size = 4096, kernel = "6.12", chain_size = None))]
pub fn replay<'py>(
    py: Python<'py>,
    slots: Vec<Option<usize>>,
    page_size: usize,
    kernel: &str,
    chain_size: Option<usize>,
) -> PyResult<(String, String, Bound<'py, PyDict>)> {
    let s: Vec<ReplaySlot> = slots
        .into_iter()
        .map(|v| v.map_or(ReplaySlot::Same, ReplaySlot::Len))
        .collect();
    let r = zr::replay(&s, page_size, Profile::parse(kernel).py_err()?, chain_size).py_err()?;
    Ok((
        r.mm_stat.text(),
        r.classes,
        fields_dict(py, &r.mm_stat.fields())?,
    ))
}
