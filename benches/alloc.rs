//! criterion: malloc+free, write and read on the kernel's size mix.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use zsrs::mem::Memory;
use zsrs::zsmalloc::{Pool, PoolConfig};

mod common;

const N: usize = 10_000;

fn pool() -> Pool {
    Pool::new(
        Arc::new(Memory::new(&[1 << 16, 1 << 16], 4096).unwrap()),
        PoolConfig::new("bench"),
    )
    .unwrap()
}

fn benches(c: &mut Criterion) {
    let sizes = common::kernel_sizes(N);
    let mut g = c.benchmark_group("zsmalloc");
    g.throughput(Throughput::Elements(N as u64));
    let p = pool();
    g.bench_function("malloc+free", |b| {
        b.iter(|| {
            let hs: Vec<u64> = sizes.iter().map(|&s| p.malloc(s, 0).unwrap()).collect();
            for h in hs {
                p.free(h).unwrap();
            }
        })
    });
    g.bench_function("malloc_many+free_many", |b| {
        let mut hs = vec![0u64; N];
        b.iter(|| {
            p.malloc_many(&sizes, 0, &mut hs).unwrap();
            p.free_many(&hs).unwrap();
        })
    });
    let hs: Vec<u64> = sizes.iter().map(|&s| p.malloc(s, 0).unwrap()).collect();
    let data = vec![0x5au8; 4096];
    g.bench_function("write", |b| {
        b.iter(|| {
            for (&h, &s) in hs.iter().zip(&sizes) {
                p.write(h, &data[..s]).unwrap();
            }
        })
    });
    let mut buf = vec![0u8; 4096];
    g.bench_function("read", |b| {
        b.iter(|| {
            for &h in &hs {
                p.read_into(h, &mut buf).unwrap();
            }
        })
    });
    g.bench_function("compact after 50% free", |b| {
        b.iter_batched(
            || {
                let q = pool();
                let hs: Vec<u64> = sizes.iter().map(|&s| q.malloc(s, 0).unwrap()).collect();
                for h in hs.iter().step_by(2) {
                    q.free(*h).unwrap();
                }
                q
            },
            |q| q.compact(),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(name = group; config = Criterion::default().sample_size(20); targets = benches);
criterion_main!(group);
