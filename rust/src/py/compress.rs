//! `zsrs.Compressor`: the kernel's compressors, one page or a batch at a time.

use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::buffers::{rows_in, with_bytes};
use super::errors::{to_py, IntoPy};
use crate::compress::{Algorithm, Compressor};
use crate::error::ZsError;

/// A compressor configured like the kernel's backend of the same name.
#[pyclass(name = "Compressor", module = "zsrs", frozen)]
pub struct PyCompressor {
    inner: Box<dyn Compressor>,
}

#[pymethods]
impl PyCompressor {
    #[new]
    fn new(name: &str) -> PyResult<Self> {
        Ok(Self {
            inner: name.parse::<Algorithm>().py_err()?.compressor(),
        })
    }

    /// The algorithm's kernel name.
    #[getter]
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    /// Compresses a page; returns the compressed bytes.
    fn compress<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let mut out = Vec::new();
        with_bytes(data, |d| self.inner.compress(d, &mut out).py_err())?;
        Ok(PyBytes::new(py, &out))
    }

    /// Decompresses into exactly `size` bytes: a page, so at most the largest kernel page size
    /// (65536); a larger `size` is refused (InvalidArgument) before anything is allocated.
    fn decompress<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
        size: usize,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let max = *crate::mem::PAGE_SIZES.end();
        if size > max {
            return Err(to_py(ZsError::InvalidArgument(format!(
                "decompressed size {size} is larger than a page (at most {max})"
            ))));
        }
        let mut out = vec![0u8; size];
        with_bytes(data, |d| self.inner.decompress(d, &mut out).py_err())?;
        Ok(PyBytes::new(py, &out))
    }

    /// Compressed length of every row of a 2-D uint8 array, any layout (GIL released).
    fn compressed_lengths<'py>(
        &self,
        py: Python<'py>,
        pages: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray1<u32>>> {
        let mut pages = rows_in(pages, "pages")?;
        let (rows, cols) = (pages.rows, pages.cols);
        let flat = pages.bytes()?;
        let lens = py.allow_threads(|| {
            let mut out = Vec::new();
            (0..rows)
                .map(|r| {
                    self.inner
                        .compress(&flat[r * cols..(r + 1) * cols], &mut out)
                        .map(|n| n as u32)
                })
                .collect::<crate::error::Result<Vec<u32>>>()
        });
        Ok(PyArray1::from_vec(py, lens.py_err()?))
    }

    fn __repr__(&self) -> String {
        format!("Compressor({:?})", self.inner.name())
    }
}

/// The names `Compressor` accepts.
#[pyfunction]
pub fn compressors() -> Vec<&'static str> {
    Algorithm::ALL.iter().map(|a| a.name()).collect()
}
