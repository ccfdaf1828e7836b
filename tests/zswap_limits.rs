//! zswap's limits (`zswap_check_limits`, `obj_cgroup_may_zswap`, `memory.zswap.writeback` in
//! `mm/zswap.c` and `mm/memcontrol.c`): the global pool limit, memory.zswap.max and the
//! writeback knob.
//! Each test runs in both accounting modes where the mode matters (`zsmalloc`: the series,
//! memcg `zswap` = slot sizes with per-node numa_stat lines; `consumer`: compressed lengths,
//! memcg-wide only).

#[path = "common/zswap_world.rs"]
mod zswap_world;

use zswap_world::*;

// ---------------------------------------------------------------- global limit (8, 9)

fn limited(mode: &'static str, sync: bool) -> W {
    // 1000 pages of RAM, 1 % → max 10 pages, accept 50 % → thr 5 pages. Incompressible pages
    // take one zspage page each, so pool pages = entries.
    world_with(
        mode,
        &[1000],
        ZswapConfig {
            max_pool_percent: 1,
            accept_threshold_percent: 50,
            sync_shrink_worker: sync,
            ..Default::default()
        },
    )
}

/// Fact 8 of zswap's acceptance facts.
#[test]
fn the_pool_limit_has_hysteresis() {
    for mode in MODES {
        let w = limited(mode, false);
        assert_eq!((w.zs.max_pool_pages(), w.zs.accept_thr_pages()), (10, 5));
        for i in 0..10 {
            assert!(w
                .zs
                .store(s(i), &random_page(i), Some(w.b), 0)
                .unwrap()
                .stored());
        }
        assert_eq!(w.zs.total_pages(), 10);
        let r = w.zs.store(s(10), &random_page(10), Some(w.b), 0).unwrap();
        assert_eq!(r.reject, Some(RejectReason::PoolLimit));
        assert_eq!(w.dbg("pool_limit_hit"), 1);
        assert!(w.zs.shrink_worker_pending());
        for i in 0..3 {
            w.zs.invalidate(s(i));
        }
        assert_eq!(w.zs.total_pages(), 7);
        let r = w.zs.store(s(11), &random_page(11), Some(w.b), 0).unwrap();
        assert_eq!(r.reject, Some(RejectReason::PoolLimit), "thr < 7 < max");
        assert_eq!(w.dbg("pool_limit_hit"), 1, "not counted in the band");
        w.zs.invalidate(s(3));
        w.zs.invalidate(s(4));
        assert!(w
            .zs
            .store(s(12), &random_page(12), Some(w.b), 0)
            .unwrap()
            .stored());
        assert!(!w.zs.reached_full());
        assert_eq!(w.dbg("pool_total_size"), 6 * PS as u64);
        w.check();
    }
}

/// Fact 9 of zswap's acceptance facts.
#[test]
fn the_shrink_worker_writes_back_to_the_accept_threshold() {
    for mode in MODES {
        let w = limited(mode, true);
        for i in 0..10 {
            w.swap
                .writeout(s(i), &random_page(i), Some(w.b), 0)
                .unwrap();
        }
        // The 11th is refused, goes to disk, and the worker brings the pool to 5 pages: every
        // entry first loses its referenced bit (10 rotations, each a failed shrink_memcg), then
        // the 5 oldest are written back.
        let r = w
            .swap
            .writeout(s(10), &random_page(10), Some(w.b), 0)
            .unwrap();
        assert_eq!(r, Writeout::Disk(RejectReason::PoolLimit));
        assert!(!w.zs.shrink_worker_pending());
        assert_eq!(w.zs.total_pages(), 5);
        assert_eq!(w.dbg("written_back_pages"), 5);
        assert_eq!(w.dbg("reject_reclaim_fail"), 0);
        assert_eq!(w.stat(w.b, "zswpwb"), 5);
        assert_eq!(w.stat(w.b, "pswpout"), 6, "5 writebacks + the refused page");
        for i in 0..11 {
            assert_eq!(w.zs.contains(s(i)), (5..10).contains(&i), "slot {i}");
        }
        // Every page reads back identical, from disk or zswap.
        let mut out = vec![0u8; PS];
        for i in 0..11 {
            let src = w.swap.swapin(s(i), &mut out, Some(w.b), 0).unwrap();
            assert_eq!(
                src,
                if (5..10).contains(&i) {
                    Swapin::Zswap
                } else {
                    Swapin::Disk
                }
            );
            assert_eq!(out, random_page(i));
        }
        assert_eq!(w.stat(w.b, "pswpin"), 6);
        assert_eq!(w.zs.nr_disk_swapins(Some(w.b), 0), 6, "fact 17");
        w.check();
    }
}

// ---------------------------------------------------------------- per-memcg limit (10–13)

/// Fact 10 of zswap's acceptance facts.
#[test]
fn zswap_max_zero_sends_pages_to_disk() {
    for mode in MODES {
        let w = world(mode);
        w.cg.write_file(w.a, "memory.zswap.max", "0").unwrap();
        let r = w.swap.writeout(s(1), &page(100, 1), Some(w.b), 0).unwrap();
        assert_eq!(r, Writeout::Disk(RejectReason::ZswapMax));
        assert_eq!(w.stat(w.b, "zswpout"), 0);
        assert_eq!(w.stat(w.b, "pswpout"), 1);
        assert_eq!(w.swap.devices().io_counts(0).unwrap().1, 1);
        let mut out = vec![0u8; PS];
        assert_eq!(
            w.swap.swapin(s(1), &mut out, Some(w.b), 0).unwrap(),
            Swapin::Disk
        );
        assert_eq!(out, page(100, 1));
        // With writeback off the page stays resident instead.
        w.cg.write_file(w.b, "memory.zswap.writeback", "0").unwrap();
        let r = w.swap.writeout(s(2), &page(100, 2), Some(w.b), 0).unwrap();
        assert_eq!(r, Writeout::Activate(RejectReason::ZswapMax));
    }
}

/// Fact 11 of zswap's acceptance facts.
#[test]
fn zswap_max_rounds_down_to_pages() {
    let w = world("consumer");
    w.cg.write_file(w.b, "memory.zswap.max", "10K").unwrap();
    assert_eq!(w.cg.read_file(w.b, "memory.zswap.max").unwrap(), "8192\n");
}

/// Facts 12, 13 of zswap's acceptance facts.
#[test]
fn limit_writeback_targets_the_storing_memcg() {
    for mode in MODES {
        let w = world(mode);
        // The sibling /a/c holds old, unreferenced-after-one-pass entries.
        for i in 100..103 {
            w.zs.store(s(i), &random_page(i), Some(w.c), 0).unwrap();
        }
        // Limit on the parent: 5 pages; /a/c uses 3, /a/b stores 2 → at the limit.
        w.cg.write_file(w.a, "memory.zswap.max", "20K").unwrap();
        for i in 0..2 {
            assert!(w
                .zs
                .store(s(i), &random_page(i), Some(w.b), 0)
                .unwrap()
                .stored());
        }
        // Over the limit: shrink_memcg(/a/b) walks one entry per node. Both of b's entries are
        // referenced: two refused stores only rotate them.
        for i in 2..4 {
            let r = w.zs.store(s(i), &random_page(i), Some(w.b), 0).unwrap();
            assert_eq!(r.reject, Some(RejectReason::ZswapMax));
        }
        assert_eq!(w.dbg("written_back_pages"), 0);
        // Third time the head is unreferenced: written back, and the store proceeds unchecked.
        assert!(w
            .zs
            .store(s(4), &random_page(4), Some(w.b), 0)
            .unwrap()
            .stored());
        assert_eq!(w.dbg("written_back_pages"), 1);
        assert_eq!(w.stat(w.b, "zswpwb"), 1);
        assert_eq!(w.stat(w.c, "zswpwb"), 0, "fact 13");
        assert!(!w.zs.contains(s(0)) && w.zs.contains(s(1)) && w.zs.contains(s(4)));
        assert_eq!(w.dbg("reject_reclaim_fail"), 0);
        let mut out = vec![0u8; PS];
        assert_eq!(
            w.swap.swapin(s(0), &mut out, Some(w.b), 0).unwrap(),
            Swapin::Disk
        );
        assert_eq!(out, random_page(0));
        w.check();
    }
}

// ---------------------------------------------------------------- writeback knob (14, 15)

/// Facts 14, 15 of zswap's acceptance facts.
#[test]
fn the_writeback_knob_is_hierarchical() {
    let w = world("zsmalloc");
    w.cg.write_file(w.a, "memory.zswap.writeback", "0").unwrap();
    w.cg.write_file(w.b, "memory.zswap.writeback", "1").unwrap();
    assert!(!w.zs.writeback_enabled(Some(w.b)).unwrap());
    w.zs.store(s(1), &page(100, 1), Some(w.b), 0).unwrap();
    assert_eq!(w.zs.shrink_memcg(Some(w.b)).unwrap(), ShrinkMemcg::NoEntry);
    let r = w
        .swap
        .writeout(s(2), &random_page(2), Some(w.b), 0)
        .unwrap();
    assert_eq!(r, Writeout::Activate(RejectReason::CompressFail));
    // zswap disabled: the knob no longer blocks disk swap.
    w.zs.set_enabled(false);
    let r = w.swap.writeout(s(3), &page(100, 3), Some(w.b), 0).unwrap();
    assert_eq!(r, Writeout::Disk(RejectReason::Disabled));
    assert!(w.zs.contains(s(1)), "disabling keeps old entries");
    let mut out = vec![0u8; PS];
    assert_eq!(
        w.swap.swapin(s(1), &mut out, Some(w.b), 0).unwrap(),
        Swapin::Zswap
    );
    assert_eq!(out, page(100, 1));
}
