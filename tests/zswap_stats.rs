//! zswap's debugfs files, the node its data lands on, forced charges and the memcg stat files
//! (`mm/zswap.c`, `mm/memcontrol.c`).
//! Each test runs in both accounting modes where the mode matters (`zsmalloc`: the series,
//! memcg `zswap` = slot sizes with per-node numa_stat lines; `consumer`: compressed lengths,
//! memcg-wide only).

#[path = "common/zswap_world.rs"]
mod zswap_world;

use zswap_world::*;

// ---------------------------------------------------------------- debugfs, placement (25–27)

/// Fact 25 of zswap's acceptance facts.
#[test]
fn debugfs_files_and_totals() {
    for mode in MODES {
        let w = world(mode);
        let mut sum = 0;
        for i in 0..50 {
            sum +=
                w.zs.store(s(i), &page(300 + 37 * i as usize, i), Some(w.b), 0)
                    .unwrap()
                    .length;
        }
        let names: Vec<&str> = w.zs.debugfs().iter().map(|(n, _)| *n).collect();
        assert_eq!(names, DEBUGFS_FILES);
        assert_eq!(w.dbg("pool_total_size"), w.zs.total_pages() * PS as u64);
        assert!(w.dbg("pool_total_size") >= sum as u64);
        assert_eq!(w.zs.read_debugfs("stored_pages").unwrap(), "50\n");
        assert!(w.zs.read_debugfs("same_filled_pages").is_err());
    }
}

/// Fact 27 of zswap's acceptance facts.
#[test]
fn compressed_data_lives_on_the_pages_node() {
    let w = world("zsmalloc");
    let before: Vec<usize> = w.mem.node_stats().iter().map(|n| n.used).collect();
    w.zs.store(s(1), &random_page(1), Some(w.b), 1).unwrap();
    let after: Vec<usize> = w.mem.node_stats().iter().map(|n| n.used).collect();
    assert_eq!((after[0] - before[0], after[1] - before[1]), (0, 1));
    let numa = w.cg.read_file(w.b, "memory.numa_stat").unwrap();
    assert!(numa.contains("zswap N0=0 N1=4096\n"), "{numa}");
}

// ---------------------------------------------------------------- charging, stat files (28–33)

/// Facts 28, 30 of zswap's acceptance facts.
#[test]
fn charges_are_forced_and_root_is_never_charged() {
    for mode in MODES {
        let w = world(mode);
        w.cg.write_file(w.b, "memory.max", "0").unwrap();
        assert!(w
            .zs
            .store(s(1), &random_page(1), Some(w.b), 0)
            .unwrap()
            .stored());
        assert_eq!(w.cg.usage_pages(w.b).unwrap(), 1, "forced above memory.max");
        assert_eq!(
            w.stat(w.b, "kernel"),
            PS as u64,
            "metadata not charged: only the page"
        );
        assert!(w
            .cg
            .read_file(w.b, "memory.events")
            .unwrap()
            .contains("max 1"));
        // Root-owned pages are stored but never charged.
        let root_zswap = w.stat(ROOT_MEMCG, "zswap");
        assert!(w.zs.store(s(2), &page(100, 2), None, 0).unwrap().stored());
        assert_eq!(w.stat(ROOT_MEMCG, "zswap"), root_zswap);
        assert_eq!(w.stat(ROOT_MEMCG, "zswpout"), 1, "only the child's event");
        assert_eq!(w.vm("zswpout"), 2);
        w.check();
    }
}

/// Facts 31, 32, 33 of zswap's acceptance facts.
#[test]
fn stat_files_have_the_kernels_keys_and_order() {
    for mode in MODES {
        let w = world(mode);
        w.zs.store(s(1), &page(1000, 1), Some(w.b), 0).unwrap();
        w.zs.store(s(2), &page(2000, 2), Some(w.c), 1).unwrap();
        w.zs.store(s(3), &page(300, 3), Some(w.a), 0).unwrap();
        let keys: Vec<&str> =
            w.cg.memory_stat(w.a)
                .unwrap()
                .iter()
                .map(|(k, _)| *k)
                .collect();
        let at = |k: &str| keys.iter().position(|x| *x == k).unwrap();
        assert_eq!(
            (at("zswap"), at("zswapped")),
            (at("shmem") + 1, at("shmem") + 2)
        );
        assert_eq!(at("file_mapped"), at("zswapped") + 1);
        assert_eq!(at("thp_fault_alloc"), at("zswpwb") + 1);
        assert_eq!(
            (at("zswpin") + 1, at("zswpout") + 1),
            (at("zswpout"), at("zswpwb"))
        );
        // 32: hierarchical.
        let own = w.charge_of(w.len_of(s(3)));
        assert_eq!(
            w.stat(w.a, "zswap"),
            own + w.stat(w.b, "zswap") + w.stat(w.c, "zswap")
        );
        assert_eq!(w.stat(w.a, "zswapped"), 3 * PS as u64);
        // 33: numa_stat has zswap lines only with the series.
        let numa = w.cg.read_file(w.a, "memory.numa_stat").unwrap();
        if mode == "consumer" {
            assert!(!numa.contains("zswap"), "{numa}");
        } else {
            let b_part = w.charge_of(w.len_of(s(1)));
            let c_part = w.charge_of(w.len_of(s(2)));
            let line = format!("zswap N0={} N1={}\n", own + b_part, c_part);
            assert!(numa.contains(&line), "{numa} lacks {line}");
            assert!(numa.contains(&format!("zswapped N0={} N1={}\n", 2 * PS, PS)));
        }
    }
}
