//! Byte inputs and outputs: `bytes` without a copy, anything else exposing the buffer protocol
//! (bytearray, memoryview, numpy arrays) through `PyBuffer`.

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// The bytes of a bytes-like object (copied unless it is `bytes`).
pub fn with_bytes<R>(obj: &Bound<'_, PyAny>, f: impl FnOnce(&[u8]) -> PyResult<R>) -> PyResult<R> {
    if let Ok(b) = obj.downcast::<PyBytes>() {
        return f(b.as_bytes());
    }
    let buf = PyBuffer::<u8>::get(obj)
        .map_err(|_| PyTypeError::new_err("expected a bytes-like object of unsigned bytes"))?;
    let v = buf.to_vec(obj.py())?;
    f(&v)
}

/// Copies `data` into the front of a writable buffer.
pub fn fill_buffer(out: &Bound<'_, PyAny>, data: &[u8]) -> PyResult<()> {
    let buf = PyBuffer::<u8>::get(out)
        .map_err(|_| PyTypeError::new_err("out must be a writable buffer of unsigned bytes"))?;
    if buf.readonly() {
        return Err(PyTypeError::new_err("out is read-only"));
    }
    if buf.item_count() < data.len() {
        return Err(PyValueError::new_err(format!(
            "out holds {} bytes, the object has {}",
            buf.item_count(),
            data.len()
        )));
    }
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

/// The elements of a 1-D array: borrowed when contiguous, copied otherwise (slices, strides).
pub fn vec1<'a, T: numpy::Element + Copy>(
    a: &'a numpy::PyReadonlyArray1<'_, T>,
) -> std::borrow::Cow<'a, [T]> {
    match a.as_slice() {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => std::borrow::Cow::Owned(a.as_array().iter().copied().collect()),
    }
}

/// The rows of a 2-D array in C order: borrowed when contiguous, copied otherwise.
pub fn vec2<'a, T: numpy::Element + Copy>(
    a: &'a numpy::PyReadonlyArray2<'_, T>,
) -> std::borrow::Cow<'a, [T]> {
    match a.as_slice() {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => std::borrow::Cow::Owned(a.as_array().iter().copied().collect()),
    }
}
