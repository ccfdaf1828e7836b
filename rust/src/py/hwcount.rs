//! `zsrs.InstructionCounter`: the CPU's instruction counter (see `crate::hwcount`).

use std::sync::Mutex;

use pyo3::prelude::*;

use super::errors::IntoPy;
use crate::hwcount::InstructionCounter;

/// User-space instructions of this thread and the threads it starts, from the CPU's PMU through
/// perf_event_open(2). Created disabled at 0; `ZsError` with errno ENOENT where the machine has
/// no PMU (most VMs).
#[pyclass(name = "InstructionCounter", module = "zsrs", frozen)]
pub struct PyInstructionCounter {
    inner: Mutex<InstructionCounter>,
}

impl PyInstructionCounter {
    fn with<T>(
        &self,
        f: impl FnOnce(&mut InstructionCounter) -> crate::error::Result<T>,
    ) -> PyResult<T> {
        let mut c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut c).py_err()
    }
}

#[pymethods]
impl PyInstructionCounter {
    #[new]
    fn new() -> PyResult<Self> {
        Ok(Self {
            inner: Mutex::new(InstructionCounter::new().py_err()?),
        })
    }

    /// Starts counting.
    fn enable(&self) -> PyResult<()> {
        self.with(|c| c.enable())
    }

    /// Stops counting; the count is kept.
    fn disable(&self) -> PyResult<()> {
        self.with(|c| c.disable())
    }

    /// Sets the count to 0.
    fn reset(&self) -> PyResult<()> {
        self.with(|c| c.reset())
    }

    /// Instructions counted while enabled.
    fn read(&self) -> PyResult<u64> {
        self.with(|c| c.read())
    }
}
