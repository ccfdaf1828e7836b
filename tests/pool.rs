//! Behaviour of the zsmalloc pool through its public API: byte-exact round trips (spanning and
//! huge objects, objects on two nodes), every error path, the kernel's bookkeeping order,
//! compaction, page migration, and the class table Linux 6.12 printed for a known workload.

use std::collections::HashMap;
use std::sync::Arc;

use proptest::prelude::*;
use zsrs::mem::Memory;
use zsrs::zsmalloc::{Pool, PoolConfig, Profile};
use zsrs::ZsError;

fn pool_on(nodes: &[usize]) -> Pool {
    Pool::new(
        Arc::new(Memory::new(nodes, 4096).unwrap()),
        PoolConfig::new("test"),
    )
    .unwrap()
}

fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn objects_round_trip_including_spanning_ones_on_two_nodes() {
    // Node 0 has one frame, so a 3-page zspage of class 48 gets page 0 on node 0 and pages 1-2
    // on node 1: object 85 (bytes 4080..4128 of the chain) spans both nodes.
    let pool = pool_on(&[1, 64]);
    let hs: Vec<u64> = (0..256).map(|_| pool.malloc(40, 0).unwrap()).collect();
    let z = &pool.zspages(1).unwrap()[0];
    assert_eq!(
        z.pages.iter().map(|p| p.1).collect::<Vec<_>>(),
        vec![0, 1, 1]
    );
    for (k, &h) in hs.iter().enumerate() {
        pool.write(h, &pattern(40, k as u64)).unwrap();
    }
    for (k, &h) in hs.iter().enumerate() {
        assert_eq!(pool.read(h).unwrap(), pattern(40, k as u64), "object {k}");
    }
    assert_eq!(pool.stats().pages_allocated, 3);
    pool.check_invariants().unwrap();
}

#[test]
fn combined_malloc_write_and_in_place_reads_match_the_separate_calls() {
    // Class 48 slots: object 85 spans pages 0 and 1, and read_with must hand out its bytes whole
    // like the others'; a combined malloc+write must land in the same slots as malloc then write.
    let (a, b) = (pool_on(&[64]), pool_on(&[64]));
    for k in 0..256u64 {
        let data = pattern(40, k);
        let ha = a.malloc(40, 0).unwrap();
        a.write(ha, &data).unwrap();
        let hb = b.malloc_write_owned(&data, 0, None).unwrap();
        assert_eq!(b.read_with(hb, |s| s.to_vec()).unwrap(), data);
        assert_eq!(a.read(ha).unwrap(), b.read(hb).unwrap());
    }
    assert_eq!(a.zspages(1).unwrap(), b.zspages(1).unwrap());
    // An allocated but never written object reads as zeros through either call.
    let h = b.malloc(100, 0).unwrap();
    assert_eq!(b.read_with(h, |s| s.to_vec()).unwrap(), vec![0; 100]);
    b.check_invariants().unwrap();
}

#[test]
fn huge_objects_own_a_page_and_short_writes_read_back_zero_padded() {
    let pool = pool_on(&[16]);
    assert_eq!(pool.huge_class_size(), 3625);
    let h = pool.malloc(4096, 0).unwrap();
    let data = pattern(4096, 9);
    pool.write(h, &data).unwrap();
    assert_eq!(pool.read(h).unwrap(), data);
    let rows = pool.classes();
    let huge = rows.iter().find(|r| r.class == 254).unwrap();
    assert_eq!((huge.obj_used, huge.pages_used), (1, 1));
    let s = pool.malloc(3625, 0).unwrap();
    assert_eq!(
        pool.classes()
            .iter()
            .find(|r| r.class == 254)
            .unwrap()
            .obj_used,
        2
    );
    pool.write(s, &[7u8; 10]).unwrap();
    let back = pool.read(s).unwrap();
    assert_eq!(back.len(), 3625);
    assert_eq!(&back[..10], &[7u8; 10]);
    assert!(back[10..].iter().all(|&b| b == 0));
    // Never written: zeros, not a previous object's bytes.
    pool.free(h).unwrap();
    let again = pool.malloc(4096, 0).unwrap();
    assert!(pool.read(again).unwrap().iter().all(|&b| b == 0));
}

#[test]
fn every_error_path_is_a_clear_error() {
    let pool = pool_on(&[4]);
    let other = pool_on(&[4]);
    assert!(matches!(
        pool.malloc(0, 0),
        Err(ZsError::InvalidSize(0, 4096))
    ));
    assert!(matches!(
        pool.malloc(4097, 0),
        Err(ZsError::ObjectTooLarge(4097, 4096))
    ));
    assert!(matches!(
        pool.malloc(10, 2),
        Err(ZsError::InvalidArgument(_))
    ));
    let h = pool.malloc(120, 0).unwrap();
    assert!(matches!(
        pool.write(h, &[0u8; 121]),
        Err(ZsError::InvalidArgument(_))
    ));
    let mut small = [0u8; 119];
    assert!(pool.read_into(h, &mut small).is_err());
    assert!(matches!(other.read(h), Err(ZsError::InvalidHandle(_))));
    assert!(matches!(other.free(h), Err(ZsError::InvalidHandle(_))));
    assert!(matches!(
        pool.read(h ^ (1 << 40)),
        Err(ZsError::InvalidHandle(_))
    ));
    assert!(matches!(pool.read(12345), Err(ZsError::InvalidHandle(_))));
    assert!(matches!(
        pool.free_many(&[h, h]),
        Err(ZsError::InvalidHandle(_))
    ));
    pool.free(h).unwrap();
    assert!(matches!(pool.free(h), Err(ZsError::InvalidHandle(_))));
    assert!(matches!(pool.read(h), Err(ZsError::InvalidHandle(_))));
    // The freed cell is reused by the next object; the stale handle still fails.
    let h2 = pool.malloc(120, 0).unwrap();
    assert_ne!(h, h2);
    assert!(pool.read(h).is_err());
    // Out of memory: 4 frames, then a clear error and nothing leaked.
    let before = pool.stats();
    let mut hs = Vec::new();
    loop {
        match pool.malloc(4096, 0) {
            Ok(h) => hs.push(h),
            Err(e) => {
                assert!(matches!(e, ZsError::OutOfMemory(_)));
                break;
            }
        }
    }
    assert_eq!(hs.len(), 3);
    let mut out = [0u64; 2];
    pool.free_many(&hs[..1]).unwrap();
    assert!(pool.malloc_many(&[4096, 4096], 0, &mut out).is_err());
    pool.free_many(&hs[1..]).unwrap();
    assert_eq!(pool.stats(), before);
    pool.check_invariants().unwrap();
}

#[test]
fn allocation_follows_the_kernel_order() {
    let pool = pool_on(&[64]);
    // Class 128: 1 page, 32 objects. Slots are handed out 0, 1, 2 … from a new zspage.
    let hs: Vec<u64> = (0..40).map(|_| pool.malloc(120, 0).unwrap()).collect();
    let zs = pool.zspages(6).unwrap();
    assert_eq!(zs.len(), 2);
    // The full zspage sits in group 11, the one with 8 objects (25 %) in group 3.
    assert_eq!((zs[0].fullness, zs[0].inuse), (3, 8));
    assert_eq!((zs[1].fullness, zs[1].inuse), (11, 32));
    assert_eq!(zs[0].free_list, (8..32).collect::<Vec<u32>>());
    // Freeing pushes on the free-list head (LIFO); the full zspage moves to group 10 (99 %).
    pool.free(hs[5]).unwrap();
    pool.free(hs[3]).unwrap();
    let full = pool
        .zspages(6)
        .unwrap()
        .into_iter()
        .find(|z| z.inuse == 30)
        .unwrap();
    assert_eq!(&full.free_list, &[3, 5]);
    assert_eq!(full.fullness, 10);
    // The next allocation comes from the fullest non-full zspage, slot 3.
    let h = pool.malloc(120, 0).unwrap();
    let full = pool
        .zspages(6)
        .unwrap()
        .into_iter()
        .find(|z| z.id == full.id)
        .unwrap();
    assert_eq!((full.inuse, full.free_list.clone()), (31, vec![5]));
    pool.free(h).unwrap();
    pool.check_invariants().unwrap();
}

#[test]
fn compaction_frees_pages_and_keeps_every_byte() {
    let pool = pool_on(&[4096, 4096]);
    let mut live = HashMap::new();
    for k in 0..6000u64 {
        let len = 64 + (k as usize * 37) % 3000;
        let h = pool.malloc(len, (k % 2) as usize).unwrap();
        pool.write(h, &pattern(len, k)).unwrap();
        live.insert(h, (len, k));
    }
    let hs: Vec<u64> = live.keys().copied().collect();
    for (i, h) in hs.iter().enumerate() {
        if i % 2 == 0 {
            pool.free(*h).unwrap();
            live.remove(h);
        }
    }
    let before = pool.stats();
    let freeable = pool.compactable_pages();
    assert!(freeable > 0);
    let freed = pool.compact();
    let after = pool.stats();
    assert_eq!(after.pages_allocated, before.pages_allocated - freed);
    assert_eq!(after.pages_compacted, freed);
    assert!(freed > 0 && freed <= freeable);
    assert_eq!(pool.compactable_pages(), 0);
    assert_eq!(pool.compact(), 0);
    pool.check_invariants().unwrap();
    for (h, (len, k)) in &live {
        assert_eq!(pool.read(*h).unwrap(), pattern(*len, *k));
    }
}

#[test]
fn page_migration_moves_bytes_not_handles() {
    let pool = pool_on(&[64, 64]);
    let hs: Vec<u64> = (0..256)
        .map(|k| {
            let h = pool.malloc(40, 0).unwrap();
            pool.write(h, &pattern(40, k)).unwrap();
            h
        })
        .collect();
    let pages = pool.pages();
    assert!(pages.iter().all(|p| p.1 == 0));
    let new = pool.migrate_page(pages[0].0, 1).unwrap();
    assert_eq!(pool.memory().pfn_to_nid(new).unwrap(), 1);
    assert!(
        pool.migrate_page(pages[0].0, 1).is_err(),
        "the old pfn is gone"
    );
    assert!(pool.migrate_page(999_999, 1).is_err());
    assert!(pool.migrate_page(pages[1].0, 5).is_err());
    let nodes: Vec<usize> = pool.pages().iter().map(|p| p.1).collect();
    assert_eq!(nodes, vec![1, 0, 0]);
    for (k, &h) in hs.iter().enumerate() {
        assert_eq!(pool.read(h).unwrap(), pattern(40, k as u64));
    }
    let st = pool.memory().node_stats();
    assert_eq!((st[0].used, st[1].used), (2, 1));
    pool.check_invariants().unwrap();
}

fn kernel_lengths() -> Vec<usize> {
    // One line per slot: `same <word>` (never reaches zsmalloc), `huge 4096` or the length.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/linux-6.12-zram-w1.sizes.txt"
    );
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("same"))
        .map(|l| l.trim_start_matches("huge ").parse().unwrap())
        .collect()
}

#[test]
fn replaying_kernel_lengths_gives_the_kernels_classes_file_byte_for_byte() {
    let lens = kernel_lengths();
    assert_eq!(lens.len(), 19995);
    let pool = pool_on(&[1 << 16]);
    for &l in &lens {
        pool.malloc(l, 0).unwrap();
    }
    assert_eq!(pool.stats().pages_allocated, 10764);
    let want = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/linux-6.12-zram-w1.classes.txt"
    ))
    .unwrap();
    assert_eq!(pool.classes_text(), want);
}

#[test]
fn legacy_profile_has_four_page_chains_and_its_own_table() {
    let mem = Arc::new(Memory::new(&[1 << 14], 4096).unwrap());
    let mut cfg = PoolConfig::new("old");
    cfg.profile = Profile::parse("6.1").unwrap();
    let pool = Pool::new(mem, cfg).unwrap();
    assert_eq!(pool.huge_class_size(), 3257);
    assert!(pool
        .geometry()
        .classes
        .iter()
        .all(|c| c.pages_per_zspage <= 4));
    let text = pool.classes_text();
    assert!(text.starts_with(" class  size almost_full almost_empty obj_allocated   obj_used pages_used pages_per_zspage freeable\n"));
    let hs: Vec<u64> = (0..100).map(|_| pool.malloc(500, 0).unwrap()).collect();
    for h in hs.iter().step_by(3) {
        pool.free(*h).unwrap();
    }
    pool.compact();
    pool.check_invariants().unwrap();
}

#[derive(Debug, Clone)]
enum Op {
    Malloc(usize, usize),
    Free(usize),
    Write(usize, u64),
    Compact,
    Migrate(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1usize..=4096, 0usize..3).prop_map(|(s, n)| Op::Malloc(s, n)),
        3 => any::<usize>().prop_map(Op::Free),
        3 => (any::<usize>(), any::<u64>()).prop_map(|(i, s)| Op::Write(i, s)),
        1 => Just(Op::Compact),
        2 => (any::<usize>(), 0usize..3).prop_map(|(i, n)| Op::Migrate(i, n)),
    ]
}

fn run_model(profile: Profile, ops: Vec<Op>) {
    let mem = Arc::new(Memory::new(&[3000, 3000, 3000], 4096).unwrap());
    let mut cfg = PoolConfig::new("model");
    cfg.profile = profile;
    let pool = Pool::new(mem, cfg).unwrap();
    let mut model: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut freed: Vec<u64> = Vec::new();
    for op in ops {
        match op {
            Op::Malloc(size, nid) => {
                let h = pool.malloc(size, nid).unwrap();
                model.push((h, vec![0; size]));
            }
            Op::Free(i) if !model.is_empty() => {
                let (h, _) = model.swap_remove(i % model.len());
                pool.free(h).unwrap();
                freed.push(h);
            }
            Op::Write(i, seed) if !model.is_empty() => {
                let k = i % model.len();
                let len = model[k].1.len();
                let data = pattern(len, seed);
                pool.write(model[k].0, &data).unwrap();
                model[k].1 = data;
            }
            Op::Compact => {
                let before = pool.stats().pages_allocated;
                let freed_pages = pool.compact();
                assert_eq!(pool.stats().pages_allocated, before - freed_pages);
            }
            Op::Migrate(i, nid) => {
                let pages = pool.pages();
                if !pages.is_empty() {
                    pool.migrate_page(pages[i % pages.len()].0, nid).unwrap();
                }
            }
            _ => {}
        }
        pool.check_invariants().unwrap();
    }
    for (h, data) in &model {
        assert_eq!(&pool.read(*h).unwrap(), data);
    }
    for h in freed {
        assert!(pool.read(h).is_err());
    }
    assert_eq!(pool.stats().objs_used, model.len() as u64);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn random_sequences_keep_bytes_and_counters(ops in prop::collection::vec(op(), 1..300)) {
        run_model(Profile::Current, ops);
    }

    #[test]
    fn random_sequences_keep_bytes_and_counters_legacy(ops in prop::collection::vec(op(), 1..300)) {
        run_model(Profile::Legacy, ops);
    }
}

#[test]
fn dropping_a_pool_returns_its_frames() {
    let mem = Arc::new(Memory::new(&[512, 512], 4096).unwrap());
    {
        let pool = Pool::new(mem.clone(), PoolConfig::new("short-lived")).unwrap();
        for k in 0..50 {
            pool.malloc(100 + k * 70, k % 2).unwrap();
        }
        assert!(mem.node_stats().iter().map(|s| s.used).sum::<usize>() > 0);
    }
    assert_eq!(mem.node_stats().iter().map(|s| s.used).sum::<usize>(), 0);
}

#[test]
fn read_free_each_hands_out_objects_in_order_and_frees_only_those_accepted() {
    let pool = pool_on(&[64]);
    // Sizes across classes, spanning objects among them (class 2048 + 8 spans pages).
    let sizes = [40usize, 3000, 2000, 100, 2000, 4096, 700];
    let hs: Vec<u64> = sizes
        .iter()
        .enumerate()
        .map(|(k, &n)| {
            pool.malloc_write_owned(&pattern(n, k as u64), 0, None)
                .unwrap()
        })
        .collect();
    let unwritten = pool.malloc(64, 0).unwrap();
    let mut all = hs.clone();
    all.push(unwritten);
    let mut seen = Vec::new();
    pool.read_free_each(&all, |i, bytes| {
        seen.push((i, bytes.to_vec()));
        i % 2 == 0
    })
    .unwrap();
    for (k, (i, bytes)) in seen.iter().enumerate() {
        assert_eq!(*i, k);
        let want = if k < sizes.len() {
            pattern(sizes[k], k as u64)
        } else {
            vec![0; 64]
        };
        assert_eq!(bytes, &want, "object {k}");
    }
    assert_eq!(seen.len(), all.len());
    for (k, &h) in all.iter().enumerate() {
        assert_eq!(
            pool.read(h).is_ok(),
            k % 2 == 1,
            "object {k} freed iff accepted"
        );
    }
    // A bad handle anywhere: nothing is read or freed.
    let mut calls = 0;
    let r = pool.read_free_each(&[hs[1], hs[0]], |_, _| {
        calls += 1;
        true
    });
    assert!(matches!(r, Err(ZsError::InvalidHandle(_))));
    assert_eq!(calls, 0);
    assert_eq!(pool.read(hs[1]).unwrap(), pattern(3000, 1));
    // A handle twice: refused before anything is read or freed.
    let r = pool.read_free_each(&[hs[1], hs[3], hs[1]], |_, _| {
        calls += 1;
        true
    });
    assert!(matches!(r, Err(ZsError::InvalidHandle(h)) if h == hs[1]));
    assert_eq!(calls, 0);
    assert_eq!(pool.read(hs[1]).unwrap(), pattern(3000, 1));
    assert_eq!(pool.read(hs[3]).unwrap(), pattern(100, 3));
    pool.check_invariants().unwrap();
}

#[test]
fn read_free_parallel_matches_the_one_thread_reads() {
    let pool = pool_on(&[256]);
    let sizes: Vec<usize> = (0..100)
        .map(|k| [40, 3000, 2000, 100, 4096, 700][k % 6])
        .collect();
    let mut hs: Vec<u64> = sizes
        .iter()
        .enumerate()
        .map(|(k, &n)| {
            pool.malloc_write_owned(&pattern(n, k as u64), 0, None)
                .unwrap()
        })
        .collect();
    hs.push(pool.malloc(64, 0).unwrap()); // never written: reads as zeros
    let mut rows = vec![0xEEu8; hs.len() * 4096];
    let mut outs: Vec<&mut [u8]> = rows.chunks_mut(4096).collect();
    let mut seen = None;
    let oks = pool
        .read_free_parallel(
            &hs,
            &mut outs,
            3,
            |src, dst| {
                dst[..src.len()].copy_from_slice(src);
                src.len() != 700 // objects of 700 bytes are "refused"
            },
            |oks| seen = Some(oks.to_vec()),
        )
        .unwrap();
    assert_eq!(seen.as_deref(), Some(&oks[..]));
    for (k, &h) in hs.iter().enumerate() {
        let row = &rows[k * 4096..(k + 1) * 4096];
        let want = if k < sizes.len() {
            pattern(sizes[k], k as u64)
        } else {
            vec![0; 64]
        };
        assert_eq!(&row[..want.len()], &want[..], "object {k}");
        let refused = k < sizes.len() && sizes[k] == 700;
        assert_eq!(oks[k], !refused);
        assert_eq!(
            pool.read(h).is_ok(),
            refused,
            "object {k} freed iff accepted"
        );
    }
    // Errors change nothing: a repeated handle, a freed one, outputs of the wrong count.
    let live: Vec<u64> = hs
        .iter()
        .zip(&oks)
        .filter(|(_, &ok)| !ok)
        .map(|(&h, _)| h)
        .collect();
    let mut buf = vec![0u8; 3 * 4096];
    let mut outs: Vec<&mut [u8]> = buf.chunks_mut(4096).collect();
    let r = pool.read_free_parallel(
        &[live[0], live[1], live[0]],
        &mut outs,
        2,
        |_, _| true,
        |_| {},
    );
    assert!(matches!(r, Err(ZsError::InvalidHandle(_))));
    let r = pool.read_free_parallel(
        &[live[0], hs[0], live[1]],
        &mut outs,
        2,
        |_, _| true,
        |_| {},
    );
    assert!(matches!(r, Err(ZsError::InvalidHandle(_))));
    let r = pool.read_free_parallel(&live[..2], &mut outs, 2, |_, _| true, |_| {});
    assert!(matches!(r, Err(ZsError::InvalidArgument(_))));
    assert!(live.iter().all(|&h| pool.read(h).is_ok()));
    pool.check_invariants().unwrap();
}

#[test]
fn a_handle_names_one_object_for_the_life_of_the_process() {
    // LIFO reuse gives the same cell back on every malloc after a free. Past 65 536 reuses a
    // 16-bit generation wrapped and the first handle validated again for a new object; now a
    // cell is retired when its generations are spent, so every handle ever issued is distinct
    // and a stale one is refused.
    let pool = pool_on(&[64]);
    let keep = pool.malloc(100, 0).unwrap();
    pool.write(keep, b"keep").unwrap();
    let mut seen = std::collections::HashSet::new();
    let mut first = None;
    for i in 0..70_000u32 {
        let h = pool.malloc(100, 0).unwrap();
        assert!(seen.insert(h), "handle {h:#x} issued twice (cycle {i})");
        first.get_or_insert(h);
        pool.free(h).unwrap();
    }
    let live = pool.malloc(100, 0).unwrap();
    pool.write(live, b"new owner").unwrap();
    let stale = first.unwrap();
    assert!(matches!(pool.read(stale), Err(ZsError::InvalidHandle(_))));
    assert!(matches!(pool.free(stale), Err(ZsError::InvalidHandle(_))));
    assert_eq!(&pool.read(live).unwrap()[..9], b"new owner");
    assert_eq!(&pool.read(keep).unwrap()[..4], b"keep");
    // Handles of another pool never validate here, whatever their fields.
    let other = pool_on(&[64]);
    let h2 = other.malloc(100, 0).unwrap();
    assert!(matches!(pool.read(h2), Err(ZsError::InvalidHandle(_))));
    pool.check_invariants().unwrap();
}

#[test]
fn page_migration_costs_memory_for_the_pools_pages_not_for_the_highest_pfn() {
    // Node 1 starts at PFN 2^38: a reverse map indexed by PFN would need 2^38 entries.
    let mem = Arc::new(Memory::new(&[1 << 38, 64], 4096).unwrap());
    let pool = Pool::new(mem, PoolConfig::new("test")).unwrap();
    let h = pool.malloc(3000, 1).unwrap();
    pool.write(h, &pattern(3000, 9)).unwrap();
    let (pfn, nid) = pool.pages()[0];
    assert_eq!(nid, 1);
    assert!(pfn >= 1 << 38);
    let moved = pool.migrate_page(pfn, 0).unwrap();
    assert!(moved < 1 << 38);
    let back = pool.migrate_page(moved, 1).unwrap();
    assert!(back >= 1 << 38);
    assert_eq!(pool.read(h).unwrap(), pattern(3000, 9));
    pool.check_invariants().unwrap();
}
