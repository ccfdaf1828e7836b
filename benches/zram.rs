//! zram page throughput against the bare compressor on the same pages, as ratios measured in
//! the same run: how much the device (same-fill check, zsmalloc, slot bookkeeping, locking) adds
//! on top of lz4 itself. Run with `cargo bench --bench zram`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use zsrs::compress::by_name;
use zsrs::mem::Memory;
use zsrs::pagegen::w1_fill_page;
use zsrs::zram::{Zram, ZramConfig};

const PS: usize = 4096;
const PAGES: usize = 20_000;
const ROUNDS: usize = 5;

fn best(mut f: impl FnMut()) -> Duration {
    (0..ROUNDS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap()
}

fn mib_s(d: Duration) -> f64 {
    (PAGES * PS) as f64 / (1 << 20) as f64 / d.as_secs_f64()
}

fn main() {
    let mut pages = vec![0u8; PAGES * PS];
    for (i, p) in pages.chunks_exact_mut(PS).enumerate() {
        w1_fill_page(i as u64, p);
    }
    let lz4 = by_name("lz4").unwrap();
    let mut compressed: Vec<Vec<u8>> = Vec::with_capacity(PAGES);
    let mut buf = Vec::new();
    let t_comp = best(|| {
        compressed.clear();
        for p in pages.chunks_exact(PS) {
            let n = lz4.compress(p, &mut buf).unwrap();
            compressed.push(buf[..n].to_vec());
        }
    });
    let mut out = vec![0u8; PS];
    let t_decomp = best(|| {
        for (c, p) in compressed.iter().zip(pages.chunks_exact(PS)) {
            // Pages the device would keep raw are copied rather than decompressed.
            if c.len() >= 3625 {
                out.copy_from_slice(p);
            } else {
                lz4.decompress(c, &mut out).unwrap();
            }
        }
    });

    let mem = Arc::new(Memory::new(&[1 << 16], PS).unwrap());
    let indices: Vec<u64> = (0..PAGES as u64).collect();
    let mut dev = None;
    let t_write = best(|| {
        let d = Zram::new(mem.clone(), ZramConfig::new("zram0")).unwrap();
        d.write_file("disksize", "256M").unwrap();
        d.write_many(&indices, &pages).unwrap();
        if let Some(old) = dev.replace(d) {
            old.reset().unwrap();
        }
    });
    let dev = dev.unwrap();
    let mut back = vec![0u8; PAGES * PS];
    let t_read = best(|| dev.read_many(&indices, &mut back).unwrap());
    assert!(back == pages);
    let t_write1 = best(|| {
        for (i, p) in pages.chunks_exact(PS).enumerate() {
            dev.write_page(i as u64, p).unwrap();
        }
    });

    println!("W1 pages: {PAGES} x {PS} B (best of {ROUNDS})");
    println!("lz4 compress            {:8.1} MiB/s", mib_s(t_comp));
    println!("lz4 decompress          {:8.1} MiB/s", mib_s(t_decomp));
    println!("zram write_many         {:8.1} MiB/s", mib_s(t_write));
    println!(
        "zram write_page (each)  {:8.1} MiB/s (overwrites)",
        mib_s(t_write1)
    );
    println!("zram read_many          {:8.1} MiB/s", mib_s(t_read));
    println!(
        "ratio write/compress    {:8.3}",
        t_comp.as_secs_f64() / t_write.as_secs_f64()
    );
    println!(
        "ratio read/decompress   {:8.3}",
        t_decomp.as_secs_f64() / t_read.as_secs_f64()
    );
}
