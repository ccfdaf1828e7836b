//! A small pool of reusable library contexts, so that `Compressor` methods can take `&self`
//! (compressors are shared between threads) while zstd and zlib contexts need `&mut`. Creating a
//! context per page would allocate and initialise ~100-300 KiB of tables for every 4 KiB page.

use std::sync::{Mutex, PoisonError};

use crate::error::Result;

/// Contexts kept for reuse; more than this many concurrent users just create extra ones.
const MAX_IDLE: usize = 16;

/// A pool of `T`: take one (or make one), use it, give it back.
pub(crate) struct Pool<T> {
    idle: Mutex<Vec<T>>,
}

impl<T> Default for Pool<T> {
    fn default() -> Self {
        Self {
            idle: Mutex::new(Vec::new()),
        }
    }
}

impl<T> Pool<T> {
    /// Runs `f` on an idle context, or on a fresh one from `make` if none is idle.
    pub(crate) fn with<R>(
        &self,
        make: impl FnOnce() -> Result<T>,
        f: impl FnOnce(&mut T) -> Result<R>,
    ) -> Result<R> {
        // A poisoned lock only means another thread panicked while pushing or popping; the Vec
        // itself is still valid, and contexts in use during a panic are never returned to it.
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut ctx = match idle {
            Some(ctx) => ctx,
            None => make()?,
        };
        let out = f(&mut ctx);
        // Backends reset a context before each use, but one that just failed is dropped anyway:
        // a fresh context costs little next to a wrong result.
        if out.is_ok() {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            if idle.len() < MAX_IDLE {
                idle.push(ctx);
            }
        }
        out
    }
}
