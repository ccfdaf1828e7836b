//! Byte inputs and outputs: `bytes` without a copy, anything else exposing the buffer protocol
//! (bytearray, memoryview, numpy arrays) through `PyBuffer`; numpy batches through [`rows_in`],
//! [`rows_out`] and [`vec1_in`].
//!
//! Every batch argument goes through these helpers, so that all bindings agree on what they
//! accept: rows are read and written in logical (C) order whatever the array's layout (Fortran
//! order, transposes, slices, negative strides), and a bad array — wrong type, dtype or number of
//! dimensions, read-only, or already borrowed (aliasing another argument, or in use by another
//! thread) — is refused with a TypeError or ValueError before anything is done, never a panic.

use numpy::{
    Element, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray2, PyReadwriteArray2,
    PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyMemoryError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// The bytes of a bytes-like object (copied unless it is `bytes`).
pub fn with_bytes<R>(obj: &Bound<'_, PyAny>, f: impl FnOnce(&[u8]) -> PyResult<R>) -> PyResult<R> {
    if let Ok(b) = obj.downcast::<PyBytes>() {
        return f(b.as_bytes());
    }
    let buf = PyBuffer::<u8>::get(obj)
        .map_err(|_| PyTypeError::new_err("expected a bytes-like object of unsigned bytes"))?;
    // `to_vec` reads in C order, so non-contiguous memoryviews and Fortran arrays come out in
    // logical order.
    let v = buf.to_vec(obj.py())?;
    f(&v)
}

/// Copies `data` into the front of a writable buffer (any layout; written in C order).
pub fn fill_buffer(out: &Bound<'_, PyAny>, data: &[u8]) -> PyResult<()> {
    let buf = check_fill_buffer(out, data.len())?;
    let mut padded;
    let src = if buf.item_count() == data.len() {
        data
    } else {
        padded = buf.to_vec(out.py())?;
        padded[..data.len()].copy_from_slice(data);
        &padded
    };
    buf.copy_from_slice(out.py(), src)
}

/// The writable byte buffer `out`, refused (TypeError/ValueError) unless it can take `len` bytes:
/// run it before the operation whose result goes there, so that a bad `out` changes nothing.
pub fn check_fill_buffer(out: &Bound<'_, PyAny>, len: usize) -> PyResult<PyBuffer<u8>> {
    let buf = PyBuffer::<u8>::get(out)
        .map_err(|_| PyTypeError::new_err("out must be a writable buffer of unsigned bytes"))?;
    if buf.readonly() {
        return Err(PyTypeError::new_err("out is read-only"));
    }
    if buf.item_count() < len {
        return Err(PyValueError::new_err(format!(
            "out holds {} bytes, at least {len} are needed",
            buf.item_count(),
        )));
    }
    Ok(buf)
}

/// Why `obj` is not an array of `T` with `ndim` dimensions: a TypeError for another type or
/// dtype, a ValueError for the wrong number of dimensions.
fn not_array<T: Element>(obj: &Bound<'_, PyAny>, what: &str, ndim: usize) -> PyErr {
    let dtype_name = match std::any::type_name::<T>() {
        "u8" => "uint8",
        "u32" => "uint32",
        "u64" => "uint64",
        "i64" => "int64",
        "bool" => "bool_",
        other => other,
    };
    let want = format!("{what} must be a {ndim}-D numpy array of {dtype_name}");
    match obj.downcast::<PyUntypedArray>() {
        Err(_) => {
            let ty = obj
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_else(|_| "?".into());
            PyTypeError::new_err(format!("{want}, got {ty}"))
        }
        Ok(a) => {
            let dtype = a
                .dtype()
                .str()
                .map(|s| s.to_string())
                .unwrap_or_else(|_| "?".into());
            if a.ndim() != ndim && obj.downcast::<numpy::PyArrayDyn<T>>().is_ok() {
                PyValueError::new_err(format!("{want}, got a {}-D array", a.ndim()))
            } else {
                PyTypeError::new_err(format!("{want}, got dtype {dtype} ({}-D)", a.ndim()))
            }
        }
    }
}

/// Maps a failed numpy borrow to a Python error naming the argument.
fn borrow_err(what: &str, e: numpy::BorrowError) -> PyErr {
    match e {
        numpy::BorrowError::NotWriteable => {
            PyTypeError::new_err(format!("{what} is read-only (not writeable)"))
        }
        _ => PyValueError::new_err(format!(
            "{what} shares memory with another argument or is in use by another call ({e})"
        )),
    }
}

/// A `Vec` of `n` zeroes, or MemoryError instead of aborting when it cannot be had.
pub fn zeroed(n: usize, what: &str) -> PyResult<Vec<u8>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| PyMemoryError::new_err(format!("cannot allocate {n} bytes for {what}")))?;
    v.resize(n, 0);
    Ok(v)
}

/// The elements of a 1-D numpy array of `T` of any stride, copied (the borrow ends here, so an
/// argument aliasing it is harmless).
pub fn vec1_in<T: Element + Copy>(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<T>> {
    let a = obj
        .downcast::<PyArray1<T>>()
        .map_err(|_| not_array::<T>(obj, what, 1))?;
    let ro = a.try_readonly().map_err(|e| borrow_err(what, e))?;
    let v = ro.as_array().iter().copied().collect();
    Ok(v)
}

/// A 2-D uint8 input (`(rows, cols)`), borrowed for as long as this lives. Its bytes are
/// copied (into C order) only when [`Rows::bytes`] is called, so check the shape first: a
/// refused call never copies a huge (say, broadcast) array.
pub struct Rows<'py> {
    arr: PyReadonlyArray2<'py, u8>,
    what: String,
    copy: Option<Vec<u8>>,
    /// Rows (first dimension).
    pub rows: usize,
    /// Bytes per row (second dimension).
    pub cols: usize,
}

impl Rows<'_> {
    /// The rows one after another (C order): row k is `[k * cols, (k + 1) * cols)`. Borrowed
    /// when the array is C-contiguous, else copied (MemoryError if the copy cannot be had).
    pub fn bytes(&mut self) -> PyResult<&[u8]> {
        // `as_slice` also accepts Fortran order (memory order, not row order): require C order.
        if self.copy.is_none() && !self.arr.is_c_contiguous() {
            let n = self
                .rows
                .checked_mul(self.cols)
                .ok_or_else(|| PyValueError::new_err(format!("{} is too large", self.what)))?;
            let mut v = Vec::new();
            v.try_reserve_exact(n).map_err(|_| {
                PyMemoryError::new_err(format!(
                    "cannot copy {} ({n} bytes) into C order",
                    self.what
                ))
            })?;
            v.extend(self.arr.as_array().iter().copied());
            self.copy = Some(v);
        }
        match &self.copy {
            Some(v) => Ok(v),
            // C-contiguous (checked above), so the slice exists; its error is still a PyErr.
            None => Ok(self.arr.as_slice()?),
        }
    }
}

/// A 2-D uint8 array argument read as rows, in logical order whatever its memory layout.
pub fn rows_in<'py>(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Rows<'py>> {
    let a = obj
        .downcast::<PyArray2<u8>>()
        .map_err(|_| not_array::<u8>(obj, what, 2))?;
    let arr = a.try_readonly().map_err(|e| borrow_err(what, e))?;
    let (rows, cols) = (a.shape()[0], a.shape()[1]);
    Ok(Rows {
        arr,
        what: what.to_string(),
        copy: None,
        rows,
        cols,
    })
}

/// A writable 2-D uint8 `out` argument, borrowed exclusively for as long as this lives.
pub struct RowsOut<'py> {
    arr: PyReadwriteArray2<'py, u8>,
    /// Rows (first dimension).
    pub rows: usize,
    /// Bytes per row (second dimension).
    pub cols: usize,
}

/// `out` as a writable 2-D uint8 array, refused (TypeError/ValueError) if it is not one, is
/// read-only, or shares memory with a borrowed argument. Take it before doing anything.
pub fn rows_out<'py>(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<RowsOut<'py>> {
    let a = obj
        .downcast::<PyArray2<u8>>()
        .map_err(|_| not_array::<u8>(obj, what, 2))?;
    let arr = a.try_readwrite().map_err(|e| borrow_err(what, e))?;
    let (rows, cols) = (a.shape()[0], a.shape()[1]);
    Ok(RowsOut { arr, rows, cols })
}

impl RowsOut<'_> {
    /// Runs `f` on the rows as one C-ordered buffer: `out` itself when it is C-contiguous,
    /// otherwise a copy of it that is written back through the array's strides afterwards
    /// (whatever `f` returns, so data moved into it — an exclusive load — is never lost).
    pub fn with_rows<R>(&mut self, f: impl FnOnce(&mut [u8]) -> R) -> PyResult<R> {
        if self.arr.is_c_contiguous() {
            if let Ok(s) = self.arr.as_slice_mut() {
                return Ok(f(s));
            }
        }
        let n = self.rows.saturating_mul(self.cols);
        let mut tmp = Vec::new();
        tmp.try_reserve_exact(n).map_err(|_| {
            PyMemoryError::new_err(format!("cannot stage {n} bytes for a non-contiguous out"))
        })?;
        tmp.extend(self.arr.as_array().iter().copied());
        let r = f(&mut tmp);
        for (d, s) in self.arr.as_array_mut().iter_mut().zip(tmp) {
            *d = s;
        }
        Ok(r)
    }
}
