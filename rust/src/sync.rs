//! A lock whose release is a plain store.
//!
//! `std::sync::Mutex` releases with an atomic swap (it must learn whether to wake a sleeper).
//! On x86 every such read-modify-write waits until all earlier stores have left the store
//! buffer, so a release right after copying an object into cold memory — zs_obj_write, or a
//! decompression into the caller's page — stalls for the whole copy's cache misses, which plain
//! code would overlap with the next page's compression. The kernel's spin_unlock is a plain
//! release store; so is this lock's. Waiters spin briefly, then yield, then sleep: the critical
//! sections it guards are short (one object, one entry), and a holder descheduled on a busy
//! machine costs waiters a sleep instead of a spinning core.

use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

/// A mutual-exclusion lock released by a plain store (see the module's documentation).
#[derive(Default)]
pub struct Lock<T> {
    locked: AtomicBool,
    /// Threads in `lock_contended`, so that a holder running a long batch can step aside
    /// between chunks (the lock itself is not fair).
    waiters: AtomicU32,
    data: UnsafeCell<T>,
}

// SAFETY: the lock hands out access to `data` to one thread at a time (the guard exists only
// while `locked` is held), so sharing the lock is as safe as sending `T` between threads.
unsafe impl<T: Send> Sync for Lock<T> {}
// SAFETY: the lock owns `data`; sending the lock sends `T`.
unsafe impl<T: Send> Send for Lock<T> {}

impl<T: std::fmt::Debug> std::fmt::Debug for Lock<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lock").finish_non_exhaustive()
    }
}

impl<T> Lock<T> {
    /// A new, unlocked lock holding `data`.
    pub const fn new(data: T) -> Self {
        Lock {
            locked: AtomicBool::new(false),
            waiters: AtomicU32::new(0),
            data: UnsafeCell::new(data),
        }
    }

    /// Waits for the lock; released when the guard drops (also on unwind, so a panic leaves
    /// the data as the panicking code left it, like an ignored poison).
    #[inline]
    pub fn lock(&self) -> LockGuard<'_, T> {
        if self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_contended();
        }
        LockGuard {
            lock: self,
            _data: PhantomData,
        }
    }

    #[cold]
    fn lock_contended(&self) {
        self.waiters.fetch_add(1, Ordering::Relaxed);
        self.spin_until_locked();
        self.waiters.fetch_sub(1, Ordering::Relaxed);
    }

    /// Whether another thread is waiting for the lock. A caller that takes the lock once per
    /// chunk of a long batch yields between chunks when it is, so that waiters get a turn.
    pub fn has_waiters(&self) -> bool {
        self.waiters.load(Ordering::Relaxed) != 0
    }

    /// Gives waiting threads a turn, if there are any: call without holding the lock, between
    /// the chunks of a long batch. Returns once one of them has the lock, none is left, or after
    /// about 200 µs (a waiter may be asleep for up to 50 µs).
    pub fn yield_to_waiters(&self) {
        if !self.has_waiters() {
            return;
        }
        let start = std::time::Instant::now();
        while self.has_waiters()
            && !self.locked.load(Ordering::Relaxed)
            && start.elapsed() < Duration::from_micros(200)
        {
            std::thread::yield_now();
        }
    }

    fn spin_until_locked(&self) {
        let mut tries = 0u32;
        loop {
            while self.locked.load(Ordering::Relaxed) {
                tries += 1;
                if tries < 64 {
                    std::hint::spin_loop();
                } else if tries < 256 {
                    std::thread::yield_now();
                } else {
                    std::thread::sleep(Duration::from_micros(50));
                }
            }
            if self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }

    /// The data, through exclusive access to the lock.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

/// Access to a [`Lock`]'s data while it is held. Like `MutexGuard`, it is `Sync` only for a
/// `T: Sync` (a shared guard hands out `&T`), which the marker sees to:
///
/// ```compile_fail
/// fn sync<T: Sync>() {}
/// sync::<zsrs::sync::LockGuard<'static, std::cell::Cell<u8>>>();
/// ```
pub struct LockGuard<'a, T> {
    lock: &'a Lock<T>,
    _data: PhantomData<&'a mut T>,
}

impl<T> Deref for LockGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while this thread holds the lock, so no other
        // reference to the data is live.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> DerefMut for LockGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; the guard is borrowed mutably, so this is the only reference.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T> Drop for LockGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

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
                    l.yield_to_waiters();
                }
            })
        };
        while !started.load(Ordering::Relaxed) {
            std::hint::spin_loop();
        }
        // The waiter gets in long before the 200 chunks (40 ms) are done.
        let seen = l.lock().len();
        holder.join().unwrap();
        assert!(seen < 150, "waited through {seen} chunks");
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
