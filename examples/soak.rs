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

use rand::{Rng, SeedableRng};
use stack_model::{Op, Stack};

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.replace('_', "").parse().expect("a number"))
        .unwrap_or(default)
}

/// The fuzz harness's operation mix, drawn from a seeded generator.
fn op(r: &mut impl Rng) -> Op {
    let w = r.gen_range(0..38);
    match w {
        0..=5 => Op::Malloc {
            size: match r.gen_range(0..20) {
                0 => 0,
                1 => r.gen_range(3000..=5000),
                _ => r.gen_range(1..=4096),
            },
            nid: r.gen_range(0..4),
            cg: r.gen(),
            seed: r.gen(),
        },
        6..=8 => Op::Free { i: r.gen() },
        9..=10 => Op::Read { i: r.gen() },
        11 => Op::Stale { i: r.gen() },
        12 => Op::Forged { h: r.gen() },
        13 => Op::Compact,
        14..=15 => Op::Migrate {
            i: r.gen(),
            nid: r.gen_range(0..4),
        },
        16..=21 => Op::SwapOut {
            slot: r.gen_range(0..2060),
            kind: r.gen(),
            cg: r.gen(),
            nid: r.gen(),
            seed: r.gen(),
        },
        22..=25 => Op::SwapIn {
            slot: r.gen_range(0..2048),
            nid: r.gen(),
        },
        26 => Op::Shrink {
            cg: r.gen(),
            nid: r.gen(),
        },
        27 => Op::CgCreate {
            k: r.gen(),
            child: r.gen(),
        },
        28 => Op::CgRemove {
            k: r.gen(),
            child: r.gen(),
        },
        29..=32 => Op::ZramWrite {
            idx: r.gen_range(0..1030),
            kind: r.gen(),
            seed: r.gen(),
        },
        33..=34 => Op::ZramRead {
            idx: r.gen_range(0..1024),
        },
        35 => Op::ZramDiscard {
            idx: r.gen_range(0..1024),
        },
        36 => Op::ZramCompact,
        _ => {
            if r.gen_range(0..64) == 0 {
                Op::ZramWriteback
            } else {
                Op::ZramRead {
                    idx: r.gen_range(0..1024),
                }
            }
        }
    }
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
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut s = Stack::new();
    let t0 = Instant::now();
    let mut checks = 0u64;
    for i in 1..=ops {
        s.apply(&op(&mut rng));
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
