//! Shared by the benches: a kernel-like size mix (the lengths Linux 6.12's zram stored for the
//! fidelity workload, lz4), shuffled deterministically.

#![allow(dead_code)]

/// Kernel compressed lengths (huge pages as 4096), repeated and shuffled to `n` entries.
pub fn kernel_sizes(n: usize) -> Vec<usize> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/linux-6.12-zram-w1.sizes.txt"
    );
    let base: Vec<usize> = std::fs::read_to_string(path)
        .expect("size data")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("same"))
        .map(|l| l.trim_start_matches("huge ").parse().unwrap())
        .collect();
    let mut out: Vec<usize> = base.iter().copied().cycle().take(n).collect();
    shuffle(&mut out, 42);
    out
}

/// Fisher-Yates with xorshift, so every run and both allocators see the same order.
pub fn shuffle<T>(v: &mut [T], seed: u64) {
    let mut x = seed | 1;
    for i in (1..v.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.swap(i, (x % (i as u64 + 1)) as usize);
    }
}
