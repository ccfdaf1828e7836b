//! The batch executor: how a large batch of independent per-page work (zswap's compressions on
//! store, decompressions on load) is cut into chunks and spread over worker threads, and the
//! per-thread scratch buffers that let a page-at-a-time call allocate nothing.
//!
//! None of this is kernel semantics — the kernel compresses and decompresses on whichever CPU
//! swaps — so it lives apart from the code that follows the kernel's per-page rules (zswap's
//! `store.rs` and `load.rs`, zsmalloc's `Pool::read_free_parallel`). Everything here keeps the
//! outcome of a batch exactly the one-thread outcome: the work spread over threads touches no
//! shared state, and whatever does (allocation, counters, frees) runs on the caller's thread in
//! item order.

use std::any::Any;
use std::cell::RefCell;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{mpsc, Mutex};

use crate::error::Result;

/// Batches at least this large are spread over several threads; below it, starting the threads
/// costs more than it saves.
pub(crate) const PARALLEL_MIN: usize = 512;

/// Threads for large batches: the CPUs this process may use, at most 8. Asked once:
/// `available_parallelism` reads the cgroup's CPU quota files on every call.
pub(crate) fn workers() -> usize {
    static N: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *N.get_or_init(|| std::thread::available_parallelism().map_or(1, |c| c.get().min(8)))
}

/// The threads a batch of `n` items may use: every worker for a large batch when `may_split`
/// (callers pass false when the one-thread order of side effects matters, e.g. injected
/// failures that must hit exact passes), else 1.
pub(crate) fn threads_for(n: usize, may_split: bool) -> usize {
    if n >= PARALLEL_MIN && may_split {
        workers()
    } else {
        1
    }
}

thread_local! {
    /// This thread's scratch values, one per type (see `with_scratch`).
    static SCRATCH: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's scratch value of type `T` — kept between calls, so that a
/// page-at-a-time call allocates nothing for its buffers — and puts it back afterwards if
/// `keep` says it is worth keeping (a huge batch's buffers are dropped instead). The value is
/// taken out for the call, so a nested call finds a fresh one instead of a borrow panic.
pub(crate) fn with_scratch<T: Default + 'static, R>(
    keep: impl FnOnce(&T) -> bool,
    f: impl FnOnce(&mut T) -> R,
) -> R {
    let mut scratch: Box<T> = SCRATCH
        .with(|v| {
            let mut v = v.borrow_mut();
            let i = v.iter().position(|b| b.is::<T>())?;
            v.swap_remove(i).downcast().ok()
        })
        .unwrap_or_default();
    let r = f(&mut scratch);
    if keep(&scratch) {
        SCRATCH.with(|v| v.borrow_mut().push(scratch));
    }
    r
}

/// Runs a batch of `n` items in chunks of `chunk` items, in order: `produce(range, scratch)`
/// then `consume(range, scratch)` for each chunk, stopping at the first error from `consume`.
/// With `threads > 1`, the chunks are produced on worker threads (`pipeline`) and consumed on
/// this one in order; otherwise, or when the system starts no thread, both run here with this
/// thread's scratch value (`with_scratch`, kept if `keep` says so).
pub(crate) fn run_chunked<S: Default + Send + 'static>(
    n: usize,
    chunk: usize,
    threads: usize,
    keep: impl FnOnce(&S) -> bool,
    produce: impl Fn(Range<usize>, &mut S) + Sync,
    mut consume: impl FnMut(Range<usize>, &mut S) -> Result<()>,
) -> Result<()> {
    let range = |c: usize| c * chunk..((c + 1) * chunk).min(n);
    if threads > 1 {
        let piped = pipeline(
            n.div_ceil(chunk),
            threads,
            |c, s| produce(range(c), s),
            |c, s| consume(range(c), s),
        );
        if let Some(r) = piped {
            return r;
        }
    }
    with_scratch(keep, |s| {
        for c in 0..n.div_ceil(chunk) {
            produce(range(c), s);
            consume(range(c), s)?;
        }
        Ok(())
    })
}

/// Sends the "a worker panicked" marker (chunk `usize::MAX`) when dropped by a panic.
struct PanicSignal<'a, T: Default>(&'a mpsc::Sender<(usize, T)>);

impl<T: Default> Drop for PanicSignal<'_, T> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = self.0.send((usize::MAX, T::default()));
        }
    }
}

/// A pipeline over chunks `0..n_chunks`: `threads` workers run `produce(c, scratch)` for each
/// chunk into a scratch value (recycled between chunks), and this thread runs
/// `consume(c, scratch)` for chunk 0, 1, 2, … in order as they arrive. Workers take chunks by
/// ticket, and a ticket for chunk `c` is issued only once chunk `c - 2 × threads` is consumed,
/// so at most that many produced chunks exist at any time, whatever the batch size. The first
/// error from `consume` stops the pipeline (workers finish the chunk in hand and stop) and is
/// returned. Returns None, having produced and consumed nothing, when the system starts no
/// worker thread: the caller then does the batch on its own thread.
pub(crate) fn pipeline<S: Default + Send>(
    n_chunks: usize,
    threads: usize,
    produce: impl Fn(usize, &mut S) + Sync,
    mut consume: impl FnMut(usize, &mut S) -> Result<()>,
) -> Option<Result<()>> {
    let window = 2 * threads;
    let stop = AtomicBool::new(false);
    let spare: Mutex<Vec<S>> = Mutex::new(Vec::new());
    let (ticket_tx, ticket_rx) = mpsc::channel::<usize>();
    let tickets = Mutex::new(ticket_rx);
    let (done_tx, done_rx) = mpsc::channel::<(usize, S)>();
    for c in 0..window.min(n_chunks) {
        // The receiver lives until the end of this call.
        let _ = ticket_tx.send(c);
    }
    let produce = &produce;
    std::thread::scope(|s| {
        let mut started = 0;
        for _ in 0..threads {
            let done_tx = done_tx.clone();
            let (tickets, spare, stop) = (&tickets, &spare, &stop);
            let worker = std::thread::Builder::new().spawn_scoped(s, move || {
                // A worker that panics says so, so that this thread stops waiting for its
                // chunk (the scope then passes the panic on).
                let _signal = PanicSignal(&done_tx);
                loop {
                    // Ends when the ticket sender is gone: the batch is done or failed.
                    let Ok(c) = tickets.lock().unwrap_or_else(|e| e.into_inner()).recv() else {
                        break;
                    };
                    if stop.load(Relaxed) {
                        break;
                    }
                    let mut scratch = spare
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .pop()
                        .unwrap_or_default();
                    produce(c, &mut scratch);
                    if done_tx.send((c, scratch)).is_err() {
                        break;
                    }
                }
            });
            started += usize::from(worker.is_ok());
        }
        drop(done_tx);
        if started == 0 {
            drop(ticket_tx);
            return None;
        }
        // Chunks that arrived ahead of their turn (at most `window` of them).
        let mut early: Vec<Option<S>> = (0..n_chunks).map(|_| None).collect();
        let mut want = 0;
        let mut result = Ok(());
        'recv: while want < n_chunks {
            let Ok((c, scratch)) = done_rx.recv() else {
                break;
            };
            if c == usize::MAX {
                break;
            }
            early[c] = Some(scratch);
            while let Some(mut scratch) = early.get_mut(want).and_then(Option::take) {
                result = consume(want, &mut scratch);
                spare
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(scratch);
                if result.is_err() {
                    break 'recv;
                }
                if want + window < n_chunks {
                    let _ = ticket_tx.send(want + window);
                }
                want += 1;
            }
        }
        // No more tickets: idle workers stop; busy ones finish their chunk and stop.
        stop.store(true, Relaxed);
        drop(ticket_tx);
        Some(result)
    })
}

/// Items per part when `n` items are split over `threads` threads (at most 64 parts).
pub(crate) fn part_len(n: usize, threads: usize) -> usize {
    n.div_ceil(threads.clamp(1, 64)).max(1)
}

/// Runs `run(part)` for every part, the parts spread over threads: each part is taken by
/// whoever gets to it first — its own thread, or this one once it has started the others (so
/// a thread the system refuses costs speed, not a panic). Returns when every part is done.
pub(crate) fn run_parts<P: Send>(parts: impl IntoIterator<Item = P>, run: impl Fn(P) + Sync) {
    let parts: Vec<Mutex<Option<P>>> = parts.into_iter().map(|p| Mutex::new(Some(p))).collect();
    let take = |p: &Mutex<Option<P>>| p.lock().unwrap_or_else(|e| e.into_inner()).take();
    let run = &run;
    std::thread::scope(|s| {
        for part in parts.iter().skip(1) {
            let _ = std::thread::Builder::new().spawn_scoped(s, move || {
                if let Some(p) = take(part) {
                    run(p);
                }
            });
        }
        for part in &parts {
            if let Some(p) = take(part) {
                run(p);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pipeline_consumes_every_chunk_in_order() {
        let mut seen = Vec::new();
        let r = pipeline(
            37,
            3,
            |c, s: &mut Vec<usize>| {
                s.clear();
                s.push(c * 10);
            },
            |c, s| {
                seen.push((c, s[0]));
                Ok(())
            },
        );
        assert!(r.unwrap().is_ok());
        assert_eq!(seen, (0..37).map(|c| (c, c * 10)).collect::<Vec<_>>());
    }

    #[test]
    fn a_pipeline_stops_at_the_first_error() {
        let mut seen = 0;
        let r = pipeline(
            100,
            2,
            |_, _: &mut u8| {},
            |c, _| {
                seen += 1;
                if c == 5 {
                    Err(crate::ZsError::InvalidArgument("stop".into()))
                } else {
                    Ok(())
                }
            },
        );
        assert!(r.unwrap().is_err());
        assert_eq!(seen, 6);
    }

    #[test]
    fn parts_run_once_each() {
        let mut out = vec![0u32; 1000];
        let per = part_len(out.len(), 4);
        run_parts(out.chunks_mut(per).enumerate(), |(k, part)| {
            for x in part {
                *x = k as u32 + 1;
            }
        });
        assert!(out.iter().all(|&x| x > 0));
        assert_eq!(out[999] as usize, 1000usize.div_ceil(per));
    }
}
