//! Instructions retired, counted by the CPU's performance monitoring unit through
//! `perf_event_open(2)` (the perf-event2 crate): the deterministic cost the experiments report
//! first when the machine has a PMU. The counter observes the calling thread and the threads it
//! starts (inherit), user space only (`exclude_kernel`, `exclude_hv`): the scope callgrind
//! counts under `--metric callgrind`, and the only one `perf_event_paranoid` 2 allows.
//!
//! Virtual machines without a virtual PMU (like the one this project is developed on) have no
//! hardware events: opening one fails with ENOENT, which [`InstructionCounter::new`] reports as
//! `Errno(ENOENT)` so callers fall back to callgrind.

use perf_event::events::Hardware;
use perf_event::{Builder, Counter};

use crate::error::{Errno, Result, ZsError};

/// A user-space instruction counter for this thread and the threads it starts, created
/// disabled.
#[derive(Debug)]
pub struct InstructionCounter {
    counter: Counter,
}

fn os_error(what: &str, e: std::io::Error) -> ZsError {
    let errno = match e.kind() {
        std::io::ErrorKind::NotFound => Errno::ENOENT,
        std::io::ErrorKind::PermissionDenied => Errno::EACCES,
        _ => match e.raw_os_error() {
            Some(1) => Errno::EPERM,
            Some(19) => Errno::ENODEV,
            _ => return ZsError::Io(format!("{what}: {e}")),
        },
    };
    ZsError::errno_msg(errno, format!("{what}: {e}"))
}

impl InstructionCounter {
    /// Opens the counter (disabled, at 0). ENOENT where the machine has no PMU (most VMs),
    /// EACCES/EPERM where `perf_event_paranoid` forbids it.
    pub fn new() -> Result<Self> {
        let counter = Builder::new(Hardware::INSTRUCTIONS)
            .inherit(true)
            .exclude_kernel(true)
            .exclude_hv(true)
            .enabled(false)
            .build()
            .map_err(|e| os_error("no hardware instruction counter (perf_event_open)", e))?;
        Ok(Self { counter })
    }

    /// Starts counting.
    pub fn enable(&mut self) -> Result<()> {
        self.counter.enable().map_err(|e| os_error("enable", e))
    }

    /// Stops counting; the count is kept.
    pub fn disable(&mut self) -> Result<()> {
        self.counter.disable().map_err(|e| os_error("disable", e))
    }

    /// Sets the count back to 0.
    pub fn reset(&mut self) -> Result<()> {
        self.counter.reset().map_err(|e| os_error("reset", e))
    }

    /// Instructions counted while enabled (threads that have exited included).
    pub fn read(&mut self) -> Result<u64> {
        self.counter.read().map_err(|e| os_error("read", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_instructions_or_says_why_not() {
        match InstructionCounter::new() {
            Ok(mut c) => {
                c.enable().unwrap();
                let mut x = 0u64;
                for i in 0..1_000_000u64 {
                    x = x.wrapping_add(std::hint::black_box(i));
                }
                c.disable().unwrap();
                let n = c.read().unwrap();
                assert!(
                    x > 0 && n >= 1_000_000,
                    "{n} instructions for a million adds"
                );
                c.reset().unwrap();
                assert_eq!(c.read().unwrap(), 0);
            }
            // No PMU (this project's VMs): a typed errno, never a panic.
            Err(e) => assert!(
                matches!(
                    e.errno(),
                    Errno::ENOENT | Errno::EACCES | Errno::EPERM | Errno::ENODEV
                ),
                "{e}"
            ),
        }
    }
}
