//! Soak: millions of mixed operations over the whole stack — zsmalloc with the series'
//! accounting, compaction, page migration, the swap layer with zswap and writeback, cgroup
//! creation and removal with objects still charged, zram with writeback — checked against a
//! model as they go, with every counter compared with a recount of the layout every
//! `--check-every` operations, and at the end every byte read back and everything freed.
//!
//! ```text
//! cargo run --release --example soak -- --ops 10000000 --seed 1
//! ```
//!
//! Not part of CI (minutes); `tests/fuzz_stack.rs` runs the same model for a bounded time.

#[path = "../tests/stack_model/mod.rs"]
mod stack_model;

use std::time::Instant;

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use stack_model::{op, Mix, Stack};

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.replace('_', "").parse().expect("a number"))
        .unwrap_or(default)
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let ops = arg(&args, "--ops", 10_000_000);
    let seed = arg(&args, "--seed", 1);
    let every = arg(&args, "--check-every", 100_000).max(1);
    // The fuzz harness's strategy, drawn from a runner seeded with `seed`.
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let strategy = op(Mix::SOAK);
    let mut s = Stack::new();
    let t0 = Instant::now();
    let mut checks = 0u64;
    for i in 1..=ops {
        let next = strategy
            .new_tree(&mut runner)
            .expect("a strategy without filters");
        s.apply(&next.current());
        if i % every == 0 {
            s.check();
            checks += 1;
            eprintln!(
                "{i:>10} ops  {:>7.1} s  {:>9.0} ops/s",
                t0.elapsed().as_secs_f64(),
                i as f64 / t0.elapsed().as_secs_f64()
            );
        }
    }
    s.verify_all_and_drain();
    checks += 2;
    let secs = t0.elapsed().as_secs_f64();
    let t = &s.tally;
    println!("soak: {ops} operations, seed {seed}: every byte verified, every counter equal to a recount");
    println!(
        "  time {secs:.1} s ({:.0} ops/s), peak RSS {:.0} MiB, {checks} full recounts",
        ops as f64 / secs,
        peak_rss_mib()
    );
    println!(
        "  zsmalloc objects {}, pages compacted {}, migrations {}",
        t.pool_objects, t.pages_compacted, t.migrations
    );
    println!(
        "  swap-outs zero/zswap/disk/refused {:?}, swap-ins {}, zswap written back {}",
        t.swapouts, t.swapins, t.written_back
    );
    println!(
        "  cgroups created {}, removed {}; zram writes {}, written back {}",
        t.cgroups_created, t.cgroups_removed, t.zram_writes, t.zram_written_back
    );
    println!(
        "  refused cleanly (typed errors) {}, bytes verified {}",
        t.refused, t.bytes_verified
    );
}
