//! The lock for the hot paths' shared state (the pool, zswap's entries, `Memory`, objcg
//! stocks): `std::sync::Mutex` with poisoning ignored. A panic leaves the data as the
//! panicking code left it, and every structure behind these locks is checked by its
//! invariants, so a poisoned lock carries no information worth a second panic.

use std::sync::{Mutex, MutexGuard};

/// A mutex that ignores poisoning.
#[derive(Debug, Default)]
pub(crate) struct Lock<T>(Mutex<T>);

/// Access to a [`Lock`]'s data while it is held: `std`'s guard, `Sync` only for `T: Sync`:
///
/// ```compile_fail
/// fn sync<T: Sync>() {}
/// sync::<zsrs::sync::LockGuard<'static, std::cell::Cell<u8>>>();
/// ```
pub(crate) type LockGuard<'a, T> = MutexGuard<'a, T>;

impl<T> Lock<T> {
    /// A new, unlocked lock holding `data`.
    pub const fn new(data: T) -> Self {
        Lock(Mutex::new(data))
    }

    /// Waits for the lock; released when the guard drops.
    #[inline]
    pub fn lock(&self) -> LockGuard<'_, T> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The data, through exclusive access to the lock.
    pub fn get_mut(&mut self) -> &mut T {
        self.0.get_mut().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn excludes_under_contention() {
        let l = Arc::new(Lock::new(0u64));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let l = l.clone();
                std::thread::spawn(move || {
                    for _ in 0..100_000 {
                        // A non-atomic read-modify-write: lost updates would show a lower sum.
                        let mut g = l.lock();
                        let v = *g;
                        std::hint::black_box(());
                        *g = v + 1;
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*l.lock(), 400_000);
    }

    #[test]
    fn a_batch_holder_lets_a_waiter_in_between_chunks() {
        let l = Arc::new(Lock::new(Vec::new()));
        let started = Arc::new(AtomicBool::new(false));
        let holder = {
            let (l, started) = (l.clone(), started.clone());
            std::thread::spawn(move || {
                for chunk in 0..200 {
                    {
                        let mut g = l.lock();
                        started.store(true, Ordering::Relaxed);
                        std::thread::sleep(Duration::from_micros(200));
                        g.push(chunk);
                    }
                }
            })
        };
        while !started.load(Ordering::Relaxed) {
            std::hint::spin_loop();
        }
        // The waiter gets in before the 200 chunks (40 ms) are done: it is not starved through
        // the whole batch. (How many chunks pass first depends on the scheduler: not asserted.)
        let seen = l.lock().len();
        holder.join().unwrap();
        assert!(seen < 200, "waited through all {seen} chunks");
        assert_eq!(l.lock().len(), 200);
    }

    #[test]
    fn released_on_panic() {
        let l = Arc::new(Lock::new(1u32));
        let l2 = l.clone();
        let r = std::thread::spawn(move || {
            let mut g = l2.lock();
            *g = 2;
            panic!("while holding");
        })
        .join();
        assert!(r.is_err());
        assert_eq!(*l.lock(), 2);
    }
}
