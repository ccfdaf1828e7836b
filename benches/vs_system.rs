//! zsmalloc vs the system allocator on the same sizes, in one run (machines here are shared
//! and noisy, so only ratios measured side by side mean anything):
//! 1. malloc+free throughput (goal: zsrs/system >= 1.0);
//! 2. memory held / bytes requested after a 50 % random-free churn, and after compaction
//!    (goal <= 1.10), beside the system allocator's figure (resident bytes after `malloc_trim`).

use std::alloc::{alloc, dealloc, Layout};
use std::sync::Arc;
use std::time::Instant;

use zsrs::mem::Memory;
use zsrs::zsmalloc::{Pool, PoolConfig};

mod common;

const N: usize = 200_000;
const ROUNDS: usize = 7;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn sys_malloc_free(sizes: &[usize], ptrs: &mut Vec<(*mut u8, Layout)>) {
    for &s in sizes {
        let l = Layout::from_size_align(s, 8).unwrap();
        // SAFETY: `l` has a non-zero size (every size is >= 1).
        let p = unsafe { alloc(l) };
        assert!(!p.is_null());
        // Touch the block like a user would, so lazy allocators pay for their pages.
        // SAFETY: `p` points to at least one writable byte we just allocated.
        unsafe { p.write(1) };
        ptrs.push((p, l));
    }
    for (p, l) in ptrs.drain(..) {
        // SAFETY: `p` came from `alloc` with this same layout and is freed once.
        unsafe { dealloc(p, l) };
    }
}

extern "C" {
    fn malloc_trim(pad: usize) -> i32;
    fn mallopt(param: i32, value: i32) -> i32;
}

/// glibc's `M_TRIM_THRESHOLD`.
const M_TRIM_THRESHOLD: i32 = -1;

fn main() {
    // Keep glibc from handing its heap top back to the kernel after every round: the system
    // allocator is then measured at its best (no page faults), as zsrs keeps its frames.
    // SAFETY: plain glibc tuning call with valid arguments.
    unsafe { mallopt(M_TRIM_THRESHOLD, 1 << 30) };
    let sizes = common::kernel_sizes(N);
    let requested: u64 = sizes.iter().map(|&s| s as u64).sum();
    let mem = Arc::new(Memory::new(&[1 << 17, 1 << 17], 4096).unwrap());
    let pool = Pool::new(mem.clone(), PoolConfig::new("bench")).unwrap();

    // 1. malloc+free throughput, per call and batched, interleaved rounds.
    let (mut zs, mut zs_batch, mut sys) = (Vec::new(), Vec::new(), Vec::new());
    let mut ptrs = Vec::with_capacity(N);
    let mut hs = vec![0u64; N];
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let v: Vec<u64> = sizes.iter().map(|&s| pool.malloc(s, 0).unwrap()).collect();
        for h in v {
            pool.free(h).unwrap();
        }
        zs.push(N as f64 / t.elapsed().as_secs_f64());
        let t = Instant::now();
        pool.malloc_many(&sizes, 0, &mut hs).unwrap();
        pool.free_many(&hs).unwrap();
        zs_batch.push(N as f64 / t.elapsed().as_secs_f64());
        let t = Instant::now();
        sys_malloc_free(&sizes, &mut ptrs);
        sys.push(N as f64 / t.elapsed().as_secs_f64());
    }
    let (zs, zs_batch, sys) = (median(zs), median(zs_batch), median(sys));
    println!("malloc+free of {N} kernel-sized objects (median of {ROUNDS} rounds):");
    println!("  system allocator      {:>8.2} M pairs/s", sys / 1e6);
    println!(
        "  zsrs malloc/free      {:>8.2} M pairs/s   ratio {:.2}x",
        zs / 1e6,
        zs / sys
    );
    println!(
        "  zsrs malloc_many/free {:>8.2} M pairs/s   ratio {:.2}x",
        zs_batch / 1e6,
        zs_batch / sys
    );

    // 2. Churn: allocate all, free a random half.
    let mut order: Vec<usize> = (0..N).collect();
    common::shuffle(&mut order, 7);
    let freed: Vec<usize> = order[..N / 2].to_vec();
    let live: u64 = requested - freed.iter().map(|&i| sizes[i] as u64).sum::<u64>();

    // SAFETY: malloc_trim only returns free heap memory to the kernel.
    unsafe { malloc_trim(0) };
    let rss0 = rss_bytes();
    let mut blocks: Vec<(*mut u8, Layout)> = Vec::with_capacity(N);
    for &s in &sizes {
        let l = Layout::from_size_align(s, 8).unwrap();
        // SAFETY: non-zero size layout.
        let p = unsafe { alloc(l) };
        // SAFETY: `p` is valid for `s` writable bytes; fill them as a real user would.
        unsafe { std::ptr::write_bytes(p, 0x5a, s) };
        blocks.push((p, l));
    }
    for &i in &freed {
        let (p, l) = blocks[i];
        // SAFETY: each freed block came from `alloc` with layout `l` and is freed once.
        unsafe { dealloc(p, l) };
    }
    // SAFETY: as above.
    unsafe { malloc_trim(0) };
    let sys_ratio = (rss_bytes().saturating_sub(rss0)) as f64 / live as f64;

    let pool = Pool::new(mem, PoolConfig::new("churn")).unwrap();
    let mut hs = vec![0u64; N];
    pool.malloc_many(&sizes, 0, &mut hs).unwrap();
    let gone: Vec<u64> = freed.iter().map(|&i| hs[i]).collect();
    pool.free_many(&gone).unwrap();
    let before = pool.stats().pages_allocated as f64 * 4096.0 / live as f64;
    pool.compact();
    let after = pool.stats().pages_allocated as f64 * 4096.0 / live as f64;
    println!(
        "memory held / bytes requested after freeing a random 50 % ({} MB live):",
        live / 1_000_000
    );
    println!("  system allocator (resident, after malloc_trim) {sys_ratio:.3}");
    println!("  zsrs before compaction                         {before:.3}");
    println!("  zsrs after compaction                          {after:.3}   (goal <= 1.10)");
    for (p, l) in order[N / 2..].iter().map(|&i| blocks[i]) {
        // SAFETY: the surviving blocks, each freed once.
        unsafe { dealloc(p, l) };
    }
}
