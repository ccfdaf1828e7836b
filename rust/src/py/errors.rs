//! The exception tree: `ZsError` (an `Exception`) and one subclass per core error kind, so
//! callers can catch all of zsrs or exactly one failure.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

use crate::error::ZsError;

create_exception!(
    _zsrs,
    PyZsError,
    PyException,
    "Base class of every zsrs error."
);
create_exception!(
    _zsrs,
    InvalidHandle,
    PyZsError,
    "A freed, forged or foreign handle."
);
create_exception!(_zsrs, InvalidSize, PyZsError, "An object size of 0.");
create_exception!(
    _zsrs,
    ObjectTooLarge,
    PyZsError,
    "An object larger than a page."
);
create_exception!(
    _zsrs,
    OutOfMemory,
    PyZsError,
    "Simulated memory is exhausted."
);
create_exception!(
    _zsrs,
    LimitExceeded,
    PyZsError,
    "A limit refused the operation."
);
create_exception!(
    _zsrs,
    CgroupError,
    PyZsError,
    "Unknown, duplicate or busy cgroup."
);
create_exception!(
    _zsrs,
    CompressionError,
    PyZsError,
    "A compressor failed or is unknown."
);
create_exception!(
    _zsrs,
    InvalidArgument,
    PyZsError,
    "A bad argument or setting."
);
create_exception!(
    _zsrs,
    ZsIoError,
    PyZsError,
    "An I/O error of a backing file."
);

/// Converts a core error into its Python exception.
pub fn to_py(e: ZsError) -> PyErr {
    let msg = e.to_string();
    // Every error carries the errno the kernel would return for it (EINVAL, ENOMEM, EBUSY…).
    let errno = e.errno();
    let err = match e {
        ZsError::InvalidHandle(_) => InvalidHandle::new_err(msg),
        ZsError::InvalidSize(..) => InvalidSize::new_err(msg),
        ZsError::ObjectTooLarge(..) => ObjectTooLarge::new_err(msg),
        ZsError::OutOfMemory(_) => OutOfMemory::new_err(msg),
        ZsError::LimitExceeded(_) => LimitExceeded::new_err(msg),
        ZsError::Cgroup(_) => CgroupError::new_err(msg),
        ZsError::Compression(_) => CompressionError::new_err(msg),
        ZsError::InvalidArgument(_) => InvalidArgument::new_err(msg),
        ZsError::Io(_) => ZsIoError::new_err(msg),
        ZsError::Errno(..) => KernelError::new_err(msg),
    };
    Python::with_gil(|py| {
        let v = err.value(py);
        let _ = v.setattr("errno", errno.code());
        let _ = v.setattr("errno_name", errno.name());
    });
    err
}

/// `Result` → `PyResult`.
pub trait IntoPy<T> {
    /// Maps the error to its Python exception.
    fn py_err(self) -> PyResult<T>;
}

impl<T> IntoPy<T> for crate::error::Result<T> {
    fn py_err(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("ZsError", py.get_type::<PyZsError>())?;
    m.add("InvalidHandle", py.get_type::<InvalidHandle>())?;
    m.add("InvalidSize", py.get_type::<InvalidSize>())?;
    m.add("ObjectTooLarge", py.get_type::<ObjectTooLarge>())?;
    m.add("OutOfMemory", py.get_type::<OutOfMemory>())?;
    m.add("LimitExceeded", py.get_type::<LimitExceeded>())?;
    m.add("CgroupError", py.get_type::<CgroupError>())?;
    m.add("CompressionError", py.get_type::<CompressionError>())?;
    m.add("InvalidArgument", py.get_type::<InvalidArgument>())?;
    m.add("IoError", py.get_type::<ZsIoError>())?;
    m.add("KernelError", py.get_type::<KernelError>())?;
    Ok(())
}

create_exception!(
    _zsrs,
    KernelError,
    PyZsError,
    "An error the kernel reports as an errno (EBUSY, ENOENT, EACCES…); `.errno` holds the code and `.errno_name` its name."
);
