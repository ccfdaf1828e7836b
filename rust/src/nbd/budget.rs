//! One byte budget for the request and reply buffers of all of a server's sessions.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::session::POLL;

#[derive(Debug)]
pub(super) struct Budget {
    limit: u64,
    /// (bytes held, most bytes ever held)
    held: Mutex<(u64, u64)>,
    freed: Condvar,
}

/// Bytes charged to a [`Budget`], given back on drop.
#[derive(Debug)]
pub(crate) struct Charge {
    budget: Arc<Budget>,
    bytes: u64,
}

impl Budget {
    pub fn new(limit: u64) -> Self {
        Self {
            limit,
            held: Mutex::new((0, 0)),
            freed: Condvar::new(),
        }
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    pub fn peak(&self) -> u64 {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).1
    }

    /// Charges `bytes`, waiting up to `wait` for other sessions to give some back; None if
    /// the budget is still short then, or the server is stopping.
    pub fn charge(
        self: &Arc<Self>,
        bytes: u64,
        wait: Duration,
        stop: &AtomicBool,
    ) -> Option<Charge> {
        if bytes > self.limit {
            return None;
        }
        let deadline = Instant::now() + wait;
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if held.0 + bytes <= self.limit {
                held.0 += bytes;
                held.1 = held.1.max(held.0);
                return Some(Charge {
                    budget: self.clone(),
                    bytes,
                });
            }
            let now = Instant::now();
            if now >= deadline || stop.load(Ordering::Relaxed) {
                return None;
            }
            let step = POLL.min(deadline - now);
            held = self
                .freed
                .wait_timeout(held, step)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        let mut held = self.budget.held.lock().unwrap_or_else(|e| e.into_inner());
        held.0 -= self.bytes;
        drop(held);
        self.budget.freed.notify_all();
    }
}
