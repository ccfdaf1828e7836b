//! zswap's batch calls and threads: a batch stores exactly as page-by-page stores do, batches
//! round trip through every path, and threads store and load concurrently.
//! Each test runs in both accounting modes where the mode matters (`zsmalloc`: the series,
//! memcg `zswap` = slot sizes with per-node numa_stat lines; `consumer`: compressed lengths,
//! memcg-wide only).

#[path = "common/zswap_world.rs"]
mod zswap_world;

use zswap_world::*;

#[test]
fn a_large_batch_stores_exactly_as_page_by_page_stores_do() {
    // 1500 pages (pipelined over worker threads in chunks of 256) against the same pages
    // stored one call each: same results in order — the pool limit is reached part way — and
    // the same counters, files and class table.
    for mode in MODES {
        let cfg = || ZswapConfig {
            max_pool_percent: 10,
            sync_shrink_worker: false,
            ..Default::default()
        };
        let (a, b) = (
            world_with(mode, &[4000], cfg()),
            world_with(mode, &[4000], cfg()),
        );
        let n = 1500u64;
        let mut pages = Vec::with_capacity(n as usize * PS);
        for i in 0..n {
            let p = match i % 7 {
                0 => random_page(i),
                k => page(150 * k as usize + (i as usize % 300), i),
            };
            pages.extend_from_slice(&p);
        }
        let slots: Vec<SwapSlot> = (0..n).map(|i| s(i * 2)).collect();
        let batch = a.zs.store_many(&slots, &pages, Some(a.b), 0).unwrap();
        let single: Vec<_> = slots
            .iter()
            .zip(pages.chunks(PS))
            .map(|(&sl, p)| b.zs.store(sl, p, Some(b.b), 0).unwrap())
            .collect();
        assert_eq!(batch, single);
        let stored = batch.iter().filter(|r| r.stored()).count();
        assert!(stored > 300 && stored < n as usize, "{stored} stored");
        assert_eq!(a.zs.debugfs(), b.zs.debugfs());
        assert_eq!(a.zs.pool().classes_text(), b.zs.pool().classes_text());
        for m in [a.a, a.b] {
            assert_eq!(
                a.cg.read_file(m, "memory.stat").unwrap(),
                b.cg.read_file(m, "memory.stat").unwrap()
            );
        }
        // Loading all 1500 slots in one call (decompressed on every core, 1024 slots per lock
        // hold) against one call per slot: same pages, statuses and counters.
        // The first stored slot is listed again at the end: loaded once, then gone.
        let first = batch.iter().position(|r| r.stored()).unwrap();
        let mut lslots = slots.clone();
        lslots.push(slots[first]);
        let mut all = vec![0x55u8; lslots.len() * PS];
        let st = a.zs.load_many(&lslots, &mut all).unwrap();
        assert_eq!(st[first], zsrs::zswap::LoadStatus::Loaded);
        assert_eq!(st[slots.len()], zsrs::zswap::LoadStatus::Absent);
        assert!(all[slots.len() * PS..].iter().all(|&x| x == 0x55));
        let mut out = vec![0u8; PS];
        for (k, sl) in slots.iter().enumerate() {
            let hit = b.zs.load(*sl, &mut out).unwrap();
            assert_eq!(hit, batch[k].stored());
            let row = &all[k * PS..(k + 1) * PS];
            if hit {
                assert_eq!(st[k], zsrs::zswap::LoadStatus::Loaded);
                assert_eq!(row, &pages[k * PS..(k + 1) * PS]);
                assert_eq!(out, row);
            } else {
                assert_eq!(st[k], zsrs::zswap::LoadStatus::Absent);
                assert!(row.iter().all(|&x| x == 0x55));
            }
        }
        assert_eq!(a.zs.debugfs(), b.zs.debugfs());
        assert_eq!((a.vm("zswpin"), a.zs.total_pages()), (stored as u64, 0));
        for m in [a.a, a.b] {
            assert_eq!(
                a.cg.read_file(m, "memory.stat").unwrap(),
                b.cg.read_file(m, "memory.stat").unwrap()
            );
        }
        a.check();
        b.check();
    }
}

// ---------------------------------------------------------------- batches and threads

#[test]
fn batches_round_trip_through_every_path() {
    for mode in MODES {
        let w = world(mode);
        let n = 64u64;
        let mut pages = Vec::new();
        for i in 0..n {
            pages.extend(match i % 4 {
                0 => vec![0u8; PS],
                1 => random_page(i),
                _ => page(200 + 30 * i as usize, i),
            });
        }
        let slots: Vec<SwapSlot> = (0..n).map(s).collect();
        w.cg.write_file(w.b, "memory.zswap.max", "40K").unwrap();
        let outs = w.swap.writeout_many(&slots, &pages, Some(w.b), 0).unwrap();
        assert!(outs.contains(&Writeout::Zero) && outs.contains(&Writeout::Zswap));
        assert!(outs.iter().any(|o| matches!(o, Writeout::Disk(_))));
        let mut back = vec![0u8; pages.len()];
        w.swap.swapin_many(&slots, &mut back, Some(w.b), 0).unwrap();
        assert_eq!(back, pages);
        assert_eq!(w.dbg("stored_pages"), 0);
        assert_eq!(w.stat(w.b, "zswap"), 0);
        w.check();
    }
}

#[test]
fn threads_store_and_load_concurrently() {
    for mode in MODES {
        let w = world(mode);
        let threads = 4u64;
        let per = 200u64;
        std::thread::scope(|sc| {
            for t in 0..threads {
                let (zs, b, c) = (w.zs.clone(), w.b, w.c);
                sc.spawn(move || {
                    let memcg = if t % 2 == 0 { b } else { c };
                    let mut out = vec![0u8; PS];
                    for i in 0..per {
                        let k = t * per + i;
                        let p = if k.is_multiple_of(5) {
                            random_page(k)
                        } else {
                            page(100 + (k as usize % 3000), k)
                        };
                        assert!(zs
                            .store(s(k), &p, Some(memcg), (k % 2) as usize)
                            .unwrap()
                            .stored());
                        if i % 2 == 1 {
                            let j = k - 1;
                            assert!(zs.load(s(j), &mut out).unwrap());
                            let q = if j.is_multiple_of(5) {
                                random_page(j)
                            } else {
                                page(100 + (j as usize % 3000), j)
                            };
                            assert_eq!(out, q);
                        }
                    }
                });
            }
        });
        let left = threads * per / 2;
        assert_eq!(w.dbg("stored_pages"), left);
        assert_eq!(w.vm("zswpout"), threads * per);
        assert_eq!(w.vm("zswpin"), left);
        assert_eq!(w.stat(w.a, "zswapped"), left * PS as u64);
        w.check();
    }
}
