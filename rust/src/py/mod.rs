//! Python bindings: the only module that knows pyo3 and numpy. Thin classes over the core, batch
//! calls over numpy arrays that release the GIL, and core errors mapped to one exception tree.

mod buffers;
mod cgroups;
mod compress;
mod errors;
mod hwcount;
mod memory;
mod pool;
mod sim;
mod zram;
mod zswap;

use pyo3::prelude::*;

#[pymodule]
fn _zsrs(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    m.add_class::<memory::PyMemory>()?;
    m.add_class::<hwcount::PyInstructionCounter>()?;
    m.add_class::<pool::PyPool>()?;
    m.add_class::<cgroups::PyCgroups>()?;
    m.add_class::<cgroups::PyCgroup>()?;
    m.add_class::<compress::PyCompressor>()?;
    m.add_class::<zram::PyZram>()?;
    m.add_class::<sim::PyMachine>()?;
    m.add_class::<zswap::PyZswap>()?;
    m.add_class::<zswap::PyStoreResult>()?;
    m.add_class::<sim::PyProcess>()?;
    m.add_class::<zram::PyNbdServer>()?;
    m.add_function(wrap_pyfunction!(zram::replay, m)?)?;
    m.add_function(wrap_pyfunction!(compress::compressors, m)?)?;
    m.add_function(wrap_pyfunction!(pool::class_table, m)?)?;
    m.add_function(wrap_pyfunction!(pool::fidelity_page, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
