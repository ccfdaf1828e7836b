//! zswap's LRU, shrinker and writeback (`shrink_memcg_cb`, `zswap_shrinker_count`,
//! `zswap_shrinker_scan`, `zswap_writeback_entry` in `mm/zswap.c`).
//! Each test runs in both accounting modes where the mode matters (`zsmalloc`: the series,
//! memcg `zswap` = slot sizes with per-node numa_stat lines; `consumer`: compressed lengths,
//! memcg-wide only).

#[path = "common/zswap_world.rs"]
mod zswap_world;

use zswap_world::*;

// ---------------------------------------------------------------- LRU, shrinker (20–24)

/// Facts 20, 22 of zswap's acceptance facts.
#[test]
fn the_lru_gives_a_second_chance_then_writes_back() {
    for mode in MODES {
        let w = world(mode);
        w.zs.set_shrinker_enabled(true);
        let p = page(900, 1);
        w.zs.store(s(1), &p, Some(w.b), 0).unwrap();
        let r = w.zs.shrinker_scan(Some(w.b), 0, 1).unwrap();
        assert_eq!((r.freed, r.scanned, r.stop), (0, 1, true));
        assert!(w.zs.contains(s(1)));
        let r = w.zs.shrinker_scan(Some(w.b), 0, 1).unwrap();
        assert_eq!((r.freed, r.scanned, r.stop), (1, 1, false));
        // 22
        assert_eq!(w.stat(w.b, "zswpwb"), 1);
        assert_eq!(w.vm("zswpwb"), 1);
        assert_eq!(w.dbg("written_back_pages"), 1);
        assert_eq!(w.vm("pswpout"), 1);
        assert_eq!((w.stat(w.b, "zswap"), w.stat(w.b, "zswapped")), (0, 0));
        let mut disk = vec![0u8; PS];
        w.swap.devices().read_page(s(1), &mut disk).unwrap();
        assert_eq!(disk, p);
        w.check();
    }
}

/// Fact 21 of zswap's acceptance facts.
#[test]
fn the_shrinker_count_follows_the_kernels_formula() {
    for mode in MODES {
        let w = world(mode);
        assert_eq!(
            w.zs.shrinker_count(Some(w.b), 0).unwrap(),
            0,
            "shrinker disabled"
        );
        w.zs.set_shrinker_enabled(true);
        assert_eq!(
            w.zs.shrinker_count(Some(w.b), 0).unwrap(),
            0,
            "nr_stored = 0"
        );
        for i in 0..10 {
            w.zs.store(s(i), &page(1000 + 100 * i as usize, i), Some(w.b), 0)
                .unwrap();
        }
        for i in 10..13 {
            w.zs.store(s(i), &random_page(i), Some(w.b), 0).unwrap();
        }
        let backing = w.stat(w.b, "zswap") / PS as u64;
        let stored = 13;
        let expect = |freeable: u64| freeable * backing / stored;
        assert_eq!(w.zs.shrinker_count(Some(w.b), 0).unwrap(), expect(13));
        assert_eq!(
            w.zs.shrinker_count(Some(w.b), 1).unwrap(),
            0,
            "no entries on node 1"
        );
        for _ in 0..4 {
            w.zs.record_disk_swapin(Some(w.b), 0);
        }
        assert_eq!(w.zs.shrinker_count(Some(w.b), 0).unwrap(), expect(9));
        assert_eq!(w.zs.nr_disk_swapins(Some(w.b), 0), 0, "consumed");
        for _ in 0..20 {
            w.zs.record_disk_swapin(Some(w.b), 0);
        }
        assert_eq!(w.zs.shrinker_count(Some(w.b), 0).unwrap(), 0);
        assert_eq!(w.zs.nr_disk_swapins(Some(w.b), 0), 7);
        w.cg.write_file(w.a, "memory.zswap.writeback", "0").unwrap();
        assert_eq!(
            w.zs.shrinker_count(Some(w.b), 0).unwrap(),
            0,
            "writeback disabled"
        );
        let r = w.zs.shrinker_scan(Some(w.b), 0, 10).unwrap();
        assert!(r.stop && r.freed == 0 && r.scanned == 0);
    }
}

/// Fact 23 of zswap's acceptance facts.
#[test]
fn a_swapcache_hit_fails_writeback_with_eexist_and_stops_it() {
    let w = world("zsmalloc");
    w.zs.set_shrinker_enabled(true);
    for i in 0..3 {
        w.zs.store(s(i), &page(800, i), Some(w.b), 0).unwrap();
    }
    w.zs.shrinker_scan(Some(w.b), 0, 3).unwrap(); // clears every referenced bit
    assert!(w.swap.devices().swapcache_add(s(0)).unwrap());
    let r = w.zs.shrinker_scan(Some(w.b), 0, 3).unwrap();
    assert_eq!((r.freed, r.scanned, r.stop), (0, 1, true));
    assert_eq!(w.dbg("reject_reclaim_fail"), 1);
    assert!(w.zs.contains(s(0)));
    // The failed entry was rotated: the next walk writes back the others first.
    let r = w.zs.shrinker_scan(Some(w.b), 0, 2).unwrap();
    assert_eq!(r.freed, 2);
    assert!(w.zs.contains(s(0)) && !w.zs.contains(s(1)) && !w.zs.contains(s(2)));
    w.zs.check_invariants().unwrap();
}

/// Facts 24, 29 of zswap's acceptance facts.
#[test]
fn the_lru_is_per_memcg_and_node_and_rmdir_splices_it_onto_the_parent() {
    for mode in MODES {
        let w = world(mode);
        for i in 0..3 {
            w.zs.store(s(i), &page(600, i), Some(w.b), 1).unwrap();
        }
        w.zs.store(s(10), &page(600, 10), Some(w.a), 1).unwrap();
        assert_eq!(w.zs.lru_len(Some(w.b), 1), 3);
        assert_eq!(w.zs.lru_len(Some(w.b), 0), 0);
        assert_eq!(w.zs.lru_len(Some(w.a), 1), 1);
        let (zswap_a, zswapped_a) = (w.stat(w.a, "zswap"), w.stat(w.a, "zswapped"));
        w.cg.remove("/a/b").unwrap();
        assert_eq!(
            (w.stat(w.a, "zswap"), w.stat(w.a, "zswapped")),
            (zswap_a, zswapped_a)
        );
        assert_eq!(
            w.zs.lru_len(Some(w.a), 1),
            4,
            "spliced onto the parent, same node"
        );
        assert_eq!(
            w.zs.shrink_memcg(Some(w.b)).unwrap(),
            ShrinkMemcg::NoEntry,
            "zombie"
        );
        let mut out = vec![0u8; PS];
        assert!(w.zs.load(s(0), &mut out).unwrap());
        assert_eq!(w.stat(w.a, "zswpin"), 1, "event lands on the parent");
        assert_eq!(w.stat(w.a, "zswapped"), zswapped_a - PS as u64);
        // The dead memcg's entries are walked first (spliced at the head).
        w.zs.set_shrinker_enabled(true);
        w.zs.shrinker_scan(Some(w.a), 1, 3).unwrap();
        let r = w.zs.shrinker_scan(Some(w.a), 1, 1).unwrap();
        assert_eq!(r.freed, 1);
        assert!(!w.zs.contains(s(1)));
        assert_eq!(w.stat(w.a, "zswpwb"), 1);
        w.check();
    }
}
