//! Accounting overhead, one run, ratios only (the machines are shared and noisy):
//! 1. malloc + write + free of kernel-sized objects: memcg-aware pool with an owner (the series)
//!    and consumer-charged pool (before it) against a pool without accounting;
//! 2. the seed's experiments 4 and 5 in miniature: reading memory.stat and memory.numa_stat
//!    10 000 times with 100 cgroups on 2 nodes, in both stat layouts.

use std::sync::Arc;
use std::time::Instant;

use zsrs::mem::Memory;
use zsrs::memcg::{Cgroups, MemcgConfig, MemcgId, StatLayout};
use zsrs::zsmalloc::{Accounting, Pool, PoolConfig};

mod common;

const N: usize = 100_000;
const ROUNDS: usize = 5;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn cgroups(layout: StatLayout, n: usize) -> (Arc<Cgroups>, Vec<MemcgId>) {
    let mut cfg = MemcgConfig::new(2, 4096);
    cfg.layout = layout;
    let cg = Arc::new(Cgroups::with_config(cfg).unwrap());
    cg.create("/w").unwrap();
    let ids = (0..n)
        .map(|i| cg.create(&format!("/w/c{i}")).unwrap())
        .collect();
    (cg, ids)
}

fn pool(mem: &Arc<Memory>, acct: Accounting) -> Pool {
    let mut cfg = PoolConfig::new("zswap");
    cfg.accounting = acct;
    Pool::new(mem.clone(), cfg).unwrap()
}

/// malloc + write (with an owner when `owner` is set) + free of every size; ops per second.
fn cycle(p: &Pool, sizes: &[usize], owner: Option<MemcgId>, data: &[u8]) -> f64 {
    let t = Instant::now();
    let mut hs = Vec::with_capacity(sizes.len());
    for (k, &s) in sizes.iter().enumerate() {
        let h = p.malloc(s, k % 2).unwrap();
        p.write_owned(h, &data[..s], owner).unwrap();
        hs.push(h);
    }
    for h in hs {
        p.free(h).unwrap();
    }
    sizes.len() as f64 / t.elapsed().as_secs_f64()
}

fn main() {
    let sizes = common::kernel_sizes(N);
    let data = vec![0x5au8; 4096];
    let mem = Arc::new(Memory::new(&[1 << 17, 1 << 17], 4096).unwrap());
    let (cg_series, ids_s) = cgroups(StatLayout::PerLruvecZswap, 4);
    let (cg_up, ids_u) = cgroups(StatLayout::Upstream, 4);
    let plain = pool(&mem, Accounting::None);
    let series = pool(
        &mem,
        Accounting::new("zsmalloc", cg_series.clone(), "zswap", "zswapped").unwrap(),
    );
    let consumer = pool(
        &mem,
        Accounting::new("consumer", cg_up.clone(), "zswap", "zswapped").unwrap(),
    );
    let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        a.push(cycle(&plain, &sizes, None, &data));
        b.push(cycle(&series, &sizes, Some(ids_s[0]), &data));
        c.push(cycle(&consumer, &sizes, Some(ids_u[0]), &data));
    }
    let (a, b, c) = (median(a), median(b), median(c));
    println!("malloc+write+free of {N} kernel-sized objects on 2 nodes (median of {ROUNDS}):");
    println!("  no accounting                 {:>7.2} M ops/s", a / 1e6);
    println!(
        "  series (zsmalloc, per lruvec) {:>7.2} M ops/s   {:.3}x of no accounting",
        b / 1e6,
        b / a
    );
    println!(
        "  pre-series (consumer)         {:>7.2} M ops/s   {:.3}x of no accounting",
        c / 1e6,
        c / a
    );
    println!("  series / pre-series           {:.3}x", b / c);

    // Experiments 4 and 5: stat file reads with 100 cgroups holding objects on 2 nodes.
    const READS: usize = 10_000;
    let mut per_read = Vec::new();
    for (name, layout, mode) in [
        ("series", StatLayout::PerLruvecZswap, "zsmalloc"),
        ("pre-series", StatLayout::Upstream, "consumer"),
    ] {
        let (cg, ids) = cgroups(layout, 100);
        let p = pool(
            &mem,
            Accounting::new(mode, cg.clone(), "zswap", "zswapped").unwrap(),
        );
        for (k, &s) in sizes.iter().take(20_000).enumerate() {
            let h = p.malloc(s, k % 2).unwrap();
            p.write_owned(h, &data[..s], Some(ids[k % 100])).unwrap();
        }
        let mut row = Vec::new();
        for file in ["memory.stat", "memory.numa_stat"] {
            // Warm up (first-touch of the counters and the allocator), then time.
            for i in 0..1000 {
                std::hint::black_box(cg.read_file(ids[i % 100], file).unwrap());
            }
            let t = Instant::now();
            let mut bytes = 0;
            for i in 0..READS {
                bytes += cg.read_file(ids[i % 100], file).unwrap().len();
            }
            let us = t.elapsed().as_secs_f64() * 1e6 / READS as f64;
            row.push((file, us, bytes / READS));
        }
        per_read.push((name, row));
    }
    println!("reading stat files {READS} times, 100 cgroups, 2 nodes (per read):");
    for (name, row) in &per_read {
        for (file, us, len) in row {
            println!("  {name:<10} {file:<17} {us:>7.2} us  ({len} bytes)");
        }
    }
    for k in 0..2 {
        let (f, s, _) = per_read[0].1[k];
        let p = per_read[1].1[k].1;
        println!("  {f}: series / pre-series time {:.3}x", s / p);
    }
}
