//! Tree, objcg, page-counter and counter rules.

use super::*;
use crate::error::ZsError;

const PS: u64 = 4096;

fn cg() -> Cgroups {
    Cgroups::new(2, PS as usize).unwrap()
}

fn is_cgroup_err<T: std::fmt::Debug>(r: Result<T>) -> bool {
    matches!(r, Err(ZsError::Cgroup(_)))
}

fn stat(c: &Cgroups, m: MemcgId, key: &str) -> u64 {
    c.memory_stat(m)
        .unwrap()
        .into_iter()
        .find(|(k, _)| *k == key)
        .unwrap()
        .1
}

#[test]
fn root_always_exists() {
    let c = cg();
    assert_eq!(c.lookup("/").unwrap(), ROOT_MEMCG);
    assert_eq!(c.path(ROOT_MEMCG).unwrap(), "/");
    assert_eq!(c.parent(ROOT_MEMCG).unwrap(), None);
    assert!(c.children(ROOT_MEMCG).unwrap().is_empty());
    assert!(is_cgroup_err(c.remove("/")));
    assert!(is_cgroup_err(c.create("/")));
    assert_eq!(c.get_objcg(ROOT_MEMCG).unwrap(), None, "root has no objcg");
}

#[test]
fn create_lookup_parent_children() {
    let c = cg();
    let a = c.create("/a").unwrap();
    let b = c.create("/a/b/").unwrap();
    let d = c.create("//a//d").unwrap();
    assert_eq!(c.lookup("/a/b").unwrap(), b);
    assert_eq!(c.path(d).unwrap(), "/a/d");
    assert_eq!(c.parent(b).unwrap(), Some(a));
    assert_eq!(c.children(a).unwrap(), vec![b, d]);
    assert!(c.is_descendant(b, ROOT_MEMCG).unwrap());
    assert!(!c.is_descendant(a, b).unwrap());
    let names: Vec<String> = c.list().into_iter().map(|(_, p)| p).collect();
    assert_eq!(names, ["/", "/a", "/a/b", "/a/d"]);
}

#[test]
fn tree_errors() {
    let c = cg();
    c.create("/a").unwrap();
    c.create("/a/b").unwrap();
    assert!(is_cgroup_err(c.create("/a")), "duplicate");
    assert!(is_cgroup_err(c.create("/x/y")), "missing parent");
    assert!(is_cgroup_err(c.create("a")), "relative");
    assert!(is_cgroup_err(c.create("/a/../b")));
    assert!(is_cgroup_err(c.lookup("/nope")));
    assert!(is_cgroup_err(c.remove("/nope")));
    match c.remove("/a") {
        Err(ZsError::Cgroup(m)) => assert!(m.contains("EBUSY"), "{m}"),
        r => panic!("{r:?}"),
    }
    assert!(is_cgroup_err(c.path(99)));
}

#[test]
fn remove_offlines_and_ids_are_not_reused() {
    let c = cg();
    let a = c.create("/a").unwrap();
    c.remove("/a").unwrap();
    assert!(!c.is_online(a).unwrap());
    assert!(is_cgroup_err(c.lookup("/a")));
    // Freed at once: nothing is left to read but where its charges went.
    assert!(is_cgroup_err(c.path(a)));
    assert_eq!(c.parent(a).unwrap(), Some(ROOT_MEMCG));
    assert!(c.is_descendant(a, ROOT_MEMCG).unwrap());
    assert!(c.children(ROOT_MEMCG).unwrap().is_empty());
    let a2 = c.create("/a").unwrap();
    assert_ne!(a, a2);
    assert_eq!(c.online_ancestor(a).unwrap(), ROOT_MEMCG);
    assert!(is_cgroup_err(c.read_file(a, "memory.stat")));
}

#[test]
fn objcg_refcounts_and_reparenting() {
    let c = cg();
    let a = c.create("/a").unwrap();
    let b = c.create("/a/b").unwrap();
    let ob = c.get_objcg(b).unwrap().unwrap();
    assert_eq!(c.objcg_refcount(ob).unwrap(), 2, "initial + ours");
    c.objcg_get(ob).unwrap();
    c.objcg_put(ob).unwrap();
    assert_eq!(c.objcg_memcg(ob).unwrap(), b);
    assert_eq!(c.memcg_objcgs(b).unwrap(), (Some(ob), vec![]));

    c.remove("/a/b").unwrap();
    assert_eq!(c.objcg_refcount(ob).unwrap(), 1, "initial ref dropped");
    assert_eq!(c.objcg_memcg(ob).unwrap(), a);
    let oa = c.get_objcg(a).unwrap().unwrap();
    assert_eq!(c.memcg_objcgs(a).unwrap(), (Some(oa), vec![ob]));
    assert_eq!(
        c.get_objcg(b).unwrap(),
        Some(oa),
        "dead memcg → ancestor's objcg"
    );
    assert_eq!(c.objcg_refcount(oa).unwrap(), 3);
    c.objcg_put(oa).unwrap();
    c.objcg_put(oa).unwrap();

    c.remove("/a").unwrap();
    assert_eq!(c.objcg_memcg(ob).unwrap(), ROOT_MEMCG);
    let (active, list) = c.memcg_objcgs(ROOT_MEMCG).unwrap();
    assert_eq!(active, None);
    assert_eq!(
        list,
        vec![ob],
        "a's own objcg was released with its last ref"
    );
    assert_eq!(c.objcg_refcount(oa).unwrap(), 0);
    assert!(is_cgroup_err(c.objcg_memcg(oa)), "released");

    c.objcg_put(ob).unwrap();
    assert!(is_cgroup_err(c.objcg_put(ob)), "put after release");
}

#[test]
fn try_charge_respects_every_ancestor() {
    let c = cg();
    let a = c.create("/a").unwrap();
    let b = c.create("/a/b").unwrap();
    c.write_file(a, "memory.max", "40K").unwrap(); // 10 pages
    c.write_file(b, "memory.max", "80K").unwrap(); // 20 pages
    c.charge(b, 8, false).unwrap();
    assert_eq!(c.usage_pages(b).unwrap(), 8);
    assert_eq!(c.usage_pages(a).unwrap(), 8);
    assert_eq!(c.usage_pages(ROOT_MEMCG).unwrap(), 8);
    let r = c.charge(b, 3, false);
    assert!(
        matches!(r, Err(ZsError::LimitExceeded(ref m)) if m.contains("/a:")),
        "{r:?}"
    );
    assert_eq!(c.usage_pages(b).unwrap(), 8, "nothing charged on failure");
    assert_eq!(c.usage_pages(a).unwrap(), 8);
    assert_eq!(c.failcnt(a).unwrap(), 1);
    c.charge(b, 2, false).unwrap();
    assert_eq!(
        c.usage_pages(a).unwrap(),
        10,
        "exactly at the limit is allowed"
    );
    c.uncharge(b, 10).unwrap();
    assert_eq!(c.usage_pages(ROOT_MEMCG).unwrap(), 0);
    assert_eq!(c.peak_pages(a).unwrap(), 10);
    c.uncharge(b, 5).unwrap();
    assert_eq!(c.usage_pages(b).unwrap(), 0, "clamped at 0");
}

#[test]
fn forced_charge_exceeds_and_raises_max_event() {
    let c = cg();
    let a = c.create("/a").unwrap();
    let b = c.create("/a/b").unwrap();
    c.write_file(a, "memory.max", "8K").unwrap();
    c.charge(b, 2, false).unwrap();
    assert!(c.charge(b, 1, false).is_err());
    c.charge(b, 3, true).unwrap();
    assert_eq!(c.usage_pages(b).unwrap(), 5);
    assert_eq!(c.usage_pages(a).unwrap(), 5);
    let ev = |m, local| c.memory_events(m, local).unwrap()[2];
    assert_eq!(
        ev(a, true),
        ("max", 2),
        "failed try + forced charge, both at /a"
    );
    assert_eq!(ev(a, false), ("max", 2));
    assert_eq!(ev(b, false), ("max", 0), "events go up, not down");
    assert_eq!(ev(ROOT_MEMCG, false), ("max", 0), "root is not counted");
    c.charge(b, 1, true).unwrap();
    assert_eq!(ev(a, true), ("max", 3));
    c.write_file(a, "memory.max", "max").unwrap();
    c.charge(b, 1, true).unwrap();
    assert_eq!(ev(a, true), ("max", 3), "no event when within the limit");
}

#[test]
fn obj_cgroup_charge_byte_arithmetic() {
    let c = cg();
    let a = c.create("/a").unwrap();
    let o = c.get_objcg(a).unwrap().unwrap();
    let check = |pages: u64, stock: u64, live: u64| {
        assert_eq!(c.usage_pages(a).unwrap(), pages);
        assert_eq!(c.objcg_stock(o).unwrap(), stock);
        assert_eq!(stat(&c, a, "kernel"), pages * PS);
        assert_eq!(pages * PS, live + stock, "charged = live + stock");
    };
    c.obj_cgroup_charge(o, 100, false).unwrap();
    check(1, 3996, 100);
    c.obj_cgroup_charge(o, 3996, false).unwrap();
    check(1, 0, 4096);
    c.obj_cgroup_charge(o, 5000, false).unwrap();
    check(3, 3192, 9096);
    c.obj_cgroup_uncharge(o, 100).unwrap();
    check(3, 3292, 8996);
    c.obj_cgroup_uncharge(o, 3996).unwrap();
    check(2, 3192, 5000);
    c.obj_cgroup_uncharge(o, 5000).unwrap();
    check(0, 0, 0);
    // The charge path ignores a too-small stock and never uncharges.
    c.obj_cgroup_charge(o, 1096, false).unwrap();
    check(1, 3000, 1096);
    c.obj_cgroup_charge(o, 5000, false).unwrap();
    check(3, 6192, 6096);
    c.obj_cgroup_uncharge(o, 1).unwrap();
    check(2, 2097, 6095);
    c.obj_cgroup_charge(o, 0, false).unwrap();
    check(2, 2097, 6095);
}

#[test]
fn obj_cgroup_charge_limits_and_force() {
    let c = cg();
    let a = c.create("/a").unwrap();
    let o = c.get_objcg(a).unwrap().unwrap();
    c.write_file(a, "memory.max", "4096").unwrap();
    c.obj_cgroup_charge(o, 4096, false).unwrap();
    let r = c.obj_cgroup_charge(o, 1, false);
    assert!(matches!(r, Err(ZsError::LimitExceeded(_))));
    assert_eq!(
        c.objcg_stock(o).unwrap(),
        0,
        "failed charge leaves the stock alone"
    );
    assert_eq!(stat(&c, a, "kernel"), PS);
    c.obj_cgroup_charge(o, 1, true).unwrap();
    assert_eq!(c.usage_pages(a).unwrap(), 2);
    assert_eq!(c.objcg_stock(o).unwrap(), 4095);
}

/// Stores like the series: class-size bytes charged, lruvec bytes split, events counted.
fn store(c: &Cgroups, o: ObjcgId, nid: usize, size: i64) {
    let k = *c.items();
    c.obj_cgroup_charge(o, size as u64, true).unwrap();
    c.mod_objcg_lruvec_state(o, nid, k.zswap, size).unwrap();
    c.mod_objcg_lruvec_state(o, nid, k.zswapped, PS as i64)
        .unwrap();
    c.count_objcg_event(o, k.zswpout, 1).unwrap();
}

fn free(c: &Cgroups, o: ObjcgId, nid: usize, size: i64) {
    let k = *c.items();
    c.obj_cgroup_uncharge(o, size as u64).unwrap();
    c.mod_objcg_lruvec_state(o, nid, k.zswap, -size).unwrap();
    c.mod_objcg_lruvec_state(o, nid, k.zswapped, -(PS as i64))
        .unwrap();
    c.count_objcg_event(o, k.zswpin, 1).unwrap();
}

#[test]
fn removal_keeps_parent_totals_and_later_uncharges_hit_parent() {
    let c = cg();
    let a = c.create("/a").unwrap();
    let b = c.create("/a/b").unwrap();
    let sib = c.create("/a/s").unwrap();
    let ob = c.get_objcg(b).unwrap().unwrap();
    let os = c.get_objcg(sib).unwrap().unwrap();
    store(&c, ob, 0, 1000);
    store(&c, ob, 1, 3000);
    store(&c, os, 0, 500);
    let before = (
        c.read_file(a, "memory.stat").unwrap(),
        c.read_file(a, "memory.numa_stat").unwrap(),
        c.read_file(a, "memory.current").unwrap(),
        c.read_file(ROOT_MEMCG, "memory.stat").unwrap(),
    );
    assert_eq!(stat(&c, a, "zswap"), 4500);
    assert_eq!(stat(&c, a, "zswapped"), 3 * PS);
    assert_eq!(c.memcg_state_local(a, c.items().zswap).unwrap(), 0);

    c.remove("/a/b").unwrap();
    let after = (
        c.read_file(a, "memory.stat").unwrap(),
        c.read_file(a, "memory.numa_stat").unwrap(),
        c.read_file(a, "memory.current").unwrap(),
        c.read_file(ROOT_MEMCG, "memory.stat").unwrap(),
    );
    assert_eq!(before, after, "no jump at removal");
    assert_eq!(
        c.memcg_state_local(a, c.items().zswap).unwrap(),
        4000,
        "the dead child's remainder is now the parent's own"
    );

    free(&c, ob, 0, 1000);
    free(&c, ob, 1, 3000);
    assert_eq!(stat(&c, a, "zswap"), 500);
    assert_eq!(stat(&c, a, "zswapped"), PS);
    assert_eq!(
        stat(&c, a, "zswpin"),
        2,
        "events after rmdir count in the parent"
    );
    assert_eq!(stat(&c, a, "zswpout"), 3);
    assert_eq!(c.lruvec_state(a, 1, c.items().zswap).unwrap(), 0);
    assert_eq!(c.memcg_state_local(a, c.items().zswap).unwrap(), 0);
    c.objcg_put(ob).unwrap(); // the last reference: its stock goes back
    assert_eq!(
        c.usage_pages(a).unwrap(),
        1,
        "only the sibling's page is left"
    );
    assert_eq!(stat(&c, a, "kernel"), PS);
    free(&c, os, 0, 500);
    c.objcg_put(os).unwrap();
    c.remove("/a/s").unwrap();
    assert_eq!(c.usage_pages(a).unwrap(), 0);
    assert_eq!(c.usage_pages(ROOT_MEMCG).unwrap(), 0);
    for (k, v) in c.memory_stat(ROOT_MEMCG).unwrap() {
        if !k.starts_with("zsw") {
            assert_eq!(v, 0, "{k}");
        }
    }
    assert_eq!(stat(&c, ROOT_MEMCG, "zswap"), 0);
    assert_eq!(c.vm_event(c.items().zswpout).unwrap(), 3);
}

#[test]
fn hierarchical_sums_and_local_values() {
    let c = cg();
    let a = c.create("/a").unwrap();
    let b = c.create("/a/b").unwrap();
    let d = c.create("/a/d").unwrap();
    let anon = c.stat_item("anon").unwrap();
    c.mod_lruvec_state(b, 0, anon, 3).unwrap();
    c.mod_lruvec_state(d, 1, anon, 4).unwrap();
    c.mod_lruvec_state(a, 1, anon, 5).unwrap();
    assert_eq!(c.memcg_state(a, anon).unwrap(), 12);
    assert_eq!(c.memcg_state(ROOT_MEMCG, anon).unwrap(), 12);
    assert_eq!(c.memcg_state_local(a, anon).unwrap(), 5);
    assert_eq!(c.memcg_state_local(ROOT_MEMCG, anon).unwrap(), 0);
    assert_eq!(c.lruvec_state(a, 0, anon).unwrap(), 3);
    assert_eq!(c.lruvec_state(a, 1, anon).unwrap(), 9);
    assert_eq!(c.node_state(1, anon).unwrap(), 9);
    assert_eq!(stat(&c, a, "anon"), 12 * PS);
}

#[test]
fn update_planes_and_level_checks() {
    let c = cg();
    let a = c.create("/a").unwrap();
    let k = *c.items();
    c.mod_memcg_lruvec_state(a, 1, k.zswap, 100).unwrap();
    assert_eq!(c.lruvec_state(a, 1, k.zswap).unwrap(), 100);
    assert_eq!(
        c.node_state(1, k.zswap).unwrap(),
        0,
        "memcg_lruvec skips the node"
    );
    c.mod_node_state(1, k.zswap, 1).unwrap();
    assert_eq!(c.node_state(1, k.zswap).unwrap(), 1);
    assert_eq!(
        c.memcg_state(a, k.zswap).unwrap(),
        100,
        "node update skips memcgs"
    );
    c.mod_node_state(0, k.nr_zspages, 4).unwrap();
    assert_eq!(c.node_state(0, k.nr_zspages).unwrap(), 4);
    c.mod_memcg_state(a, k.kernel, 2).unwrap();

    let bad = |r: Result<()>| assert!(matches!(r, Err(ZsError::InvalidArgument(_))), "{r:?}");
    bad(c.mod_memcg_state(a, k.zswap, 1)); // node item
    bad(c.mod_lruvec_state(a, 0, k.kernel, 1)); // memcg item
    bad(c.mod_memcg_lruvec_state(a, 0, k.nr_zspages, 1)); // node-only item
    bad(c.mod_node_state(0, k.kernel, 1));
    bad(c.count_memcg_event(a, k.zswap, 1));
    bad(c.mod_memcg_state(a, k.zswpin, 1));
    bad(c.mod_lruvec_state(a, 2, k.zswap, 1)); // no node 2
    bad(c.mod_memcg_state(a, 60000, 1)); // no such item
    assert!(is_cgroup_err(c.mod_memcg_state(77, k.kernel, 1)));
    assert!(c.stat_item("no_such_key").is_err());
    assert_eq!(
        c.stat_item("nr_file_pages").unwrap(),
        c.stat_item("file").unwrap()
    );
}

#[test]
fn events_are_hierarchical_and_global() {
    let c = cg();
    let a = c.create("/a").unwrap();
    let b = c.create("/a/b").unwrap();
    let k = *c.items();
    c.count_memcg_event(b, k.zswpwb, 2).unwrap();
    c.count_event(Some(a), k.zswpwb, 1).unwrap();
    c.count_event(None, k.zswpwb, 5).unwrap();
    c.count_vm_event(k.zswpwb, 1).unwrap();
    assert_eq!(stat(&c, b, "zswpwb"), 2);
    assert_eq!(stat(&c, a, "zswpwb"), 3);
    assert_eq!(stat(&c, ROOT_MEMCG, "zswpwb"), 3);
    assert_eq!(c.vm_event(k.zswpwb).unwrap(), 7);
}

#[test]
fn zswap_max_checks_every_level_below_root() {
    let c = cg();
    let a = c.create("/a").unwrap();
    let b = c.create("/a/b").unwrap();
    let ob = c.get_objcg(b).unwrap().unwrap();
    let zswap = c.items().zswap;
    assert!(c.may_zswap(b).unwrap());
    c.write_file(a, "memory.zswap.max", "10K").unwrap();
    assert_eq!(c.zswap_max_pages(a).unwrap(), 2);
    c.mod_objcg_lruvec_state(ob, 0, zswap, 8191).unwrap();
    assert!(c.may_zswap(b).unwrap(), "floor(8191 / 4096) = 1 < 2");
    c.mod_objcg_lruvec_state(ob, 1, zswap, 1).unwrap();
    assert_eq!(c.zswap_over_limit(b).unwrap(), Some(a));
    assert!(!c.may_zswap(b).unwrap());
    assert_eq!(c.zswap_current(a).unwrap(), 8192);
    c.write_file(a, "memory.zswap.max", "max").unwrap();
    c.write_file(b, "memory.zswap.max", "0").unwrap();
    assert_eq!(c.zswap_over_limit(b).unwrap(), Some(b));
    assert!(c.may_zswap(a).unwrap());
    let d = c.create("/d").unwrap();
    c.write_file(d, "memory.zswap.max", "0").unwrap();
    assert!(
        !c.may_zswap(d).unwrap(),
        "zswap.max 0 refuses even with nothing stored"
    );
}

#[test]
fn zswap_writeback_is_anded_up_to_root() {
    let c = cg();
    let a = c.create("/a").unwrap();
    let b = c.create("/a/b").unwrap();
    assert!(c.zswap_writeback_enabled(b).unwrap());
    c.write_file(a, "memory.zswap.writeback", "0").unwrap();
    c.write_file(b, "memory.zswap.writeback", "1").unwrap();
    assert!(!c.zswap_writeback_enabled(b).unwrap());
    c.write_file(a, "memory.zswap.writeback", "1\n").unwrap();
    c.write_file(ROOT_MEMCG, "memory.zswap.writeback", "0")
        .unwrap();
    assert!(!c.zswap_writeback_enabled(b).unwrap());
    assert_eq!(
        c.read_file(ROOT_MEMCG, "memory.zswap.writeback").unwrap(),
        "0\n"
    );
    assert_eq!(c.read_file(a, "memory.zswap.writeback").unwrap(), "1\n");
    for bad in ["2", "-1", "", "yes", "1 1"] {
        let r = c.write_file(a, "memory.zswap.writeback", bad);
        assert!(matches!(r, Err(ZsError::InvalidArgument(_))), "{bad:?}");
    }
}

#[test]
fn upstream_layout_keeps_zswap_memcg_wide() {
    let cfg = MemcgConfig {
        layout: StatLayout::Upstream,
        ..MemcgConfig::new(2, PS as usize)
    };
    let c = Cgroups::with_config(cfg).unwrap();
    let a = c.create("/a").unwrap();
    let k = *c.items();
    assert!(c.mod_lruvec_state(a, 0, k.zswap, 1).is_err());
    c.mod_memcg_state(a, k.zswap, 1234).unwrap();
    c.mod_memcg_state(a, k.zswapped, 1).unwrap(); // MEMCG_ZSWAPPED counts pages
    assert_eq!(stat(&c, a, "zswap"), 1234);
    assert_eq!(stat(&c, a, "zswapped"), PS);
    assert_eq!(c.zswap_current(a).unwrap(), 1234);
    let numa = c.read_file(a, "memory.numa_stat").unwrap();
    assert!(!numa.contains("zswap"), "{numa}");
    assert!(!c.node_vmstat(0).unwrap().contains("zswap"));
}

#[test]
fn config_is_validated() {
    assert!(Cgroups::new(0, 4096).is_err());
    assert!(Cgroups::new(1, 3000).is_err());
    let dup = MemcgConfig {
        extra_items: vec![StatItemDef::new(
            "anon",
            StatLevel::Memcg,
            StatUnit::Bytes,
            None,
        )],
        ..MemcgConfig::new(1, 4096)
    };
    assert!(Cgroups::with_config(dup).is_err());
}

#[test]
fn concurrent_updates_with_tree_changes_are_exact() {
    use std::sync::Arc;
    let c = Arc::new(cg());
    let a = c.create("/a").unwrap();
    let b = c.create("/a/b").unwrap();
    let ob = c.get_objcg(b).unwrap().unwrap();
    let k = *c.items();
    std::thread::scope(|s| {
        for t in 0..4 {
            let c = Arc::clone(&c);
            s.spawn(move || {
                for i in 0..2000 {
                    let size = 100 + (i % 37) as i64 * 50;
                    store(&c, ob, t % 2, size);
                    free(&c, ob, t % 2, size);
                    c.count_objcg_event(ob, k.zswpwb, 1).unwrap();
                }
            });
        }
        let c2 = Arc::clone(&c);
        s.spawn(move || {
            for i in 0..200 {
                let p = format!("/a/x{i}");
                c2.create(&p).unwrap();
                c2.remove(&p).unwrap();
            }
            c2.remove("/a/b").unwrap();
        });
    });
    assert_eq!(c.memcg_state(a, k.zswap).unwrap(), 0);
    assert_eq!(c.memcg_state(a, k.zswapped).unwrap(), 0);
    assert_eq!(stat(&c, a, "zswpwb"), 8000);
    assert_eq!(stat(&c, a, "zswpout"), 8000);
    c.objcg_put(ob).unwrap();
    assert_eq!(c.usage_pages(a).unwrap(), 0);
    assert_eq!(c.usage_pages(ROOT_MEMCG).unwrap(), 0);
    assert_eq!(stat(&c, ROOT_MEMCG, "kernel"), 0);
}

#[test]
fn cgroups_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Cgroups>();
}

#[test]
fn high_swap_and_the_over_limit_level() {
    let c = Cgroups::new(2, 4096).unwrap();
    let a = c.create("/a").unwrap();
    let b = c.create("/a/b").unwrap();
    c.write_file(a, "memory.max", "16K").unwrap(); // 4 pages
    assert_eq!(c.try_charge_at(b, 3).unwrap(), None);
    assert_eq!(
        c.try_charge_at(b, 2).unwrap(),
        Some(a),
        "the parent's limit is hit"
    );
    assert_eq!(c.usage_pages(b).unwrap(), 3, "nothing charged on failure");
    c.write_file(b, "memory.high", "8K").unwrap();
    assert_eq!(c.read_file(b, "memory.high").unwrap(), "8192\n");
    assert_eq!(c.over_high(b).unwrap(), vec![(b, 1)]);
    assert_eq!(c.memory_events(b, false).unwrap()[1], ("high", 1));
    c.write_file(b, "memory.high", "max").unwrap();
    assert_eq!(c.over_high(b).unwrap(), vec![]);
    c.write_file(a, "memory.swap.max", "8K").unwrap();
    c.swap_try_charge(b, 2).unwrap();
    assert!(c.swap_try_charge(b, 1).is_err());
    c.swap_uncharge(b, 2).unwrap();
    assert_eq!(c.read_file(b, "memory.swap.current").unwrap(), "0\n");
    // As page_counter_try_charge does, levels below the failing one saw the attempt.
    assert_eq!(c.read_file(b, "memory.swap.peak").unwrap(), "12288\n");
    assert_eq!(c.read_file(a, "memory.swap.peak").unwrap(), "8192\n");
    assert_eq!(c.read_file(a, "memory.swap.max").unwrap(), "8192\n");
    assert_eq!(c.read_file(b, "memory.swap.max").unwrap(), "max\n");
}

#[test]
fn names_the_kernel_refuses_are_refused() {
    let c = cg();
    c.create("/a").unwrap();
    let long = format!("/{}", "x".repeat(256));
    let very_long = format!("/{}", "y/".repeat(3000));
    for bad in [
        "/a\nb", "/a\0b", &long, &very_long, "/.", "/..", "/a/./b", "a", "",
    ] {
        assert!(is_cgroup_err(c.create(bad)), "{bad:?}");
        assert!(is_cgroup_err(c.lookup(bad)), "{bad:?}");
    }
    // The VFS resolves "//" and a trailing "/": the same cgroup.
    let b = c.create("/a//b/").unwrap();
    assert_eq!(c.path(b).unwrap(), "/a/b");
    assert_eq!(c.lookup("//a/b//").unwrap(), b);
    assert!(c.create(&format!("/{}", "x".repeat(255))).is_ok());
}

#[test]
fn known_items_are_the_named_items_for_every_reclaimer() {
    for layout in [StatLayout::PerLruvecZswap, StatLayout::Upstream] {
        let mut cfg = MemcgConfig::new(1, 4096);
        cfg.layout = layout;
        let c = Cgroups::with_config(cfg).unwrap();
        let k = c.items();
        for r in Reclaimer::ALL {
            let scan = c.stat_item(&format!("pgscan_{}", r.suffix())).unwrap();
            let steal = c.stat_item(&format!("pgsteal_{}", r.suffix())).unwrap();
            assert_eq!(k.pgscan(r), scan);
            assert_eq!(k.pgsteal(r), steal);
        }
        for (item, name) in [
            (k.anon, "anon"),
            (k.pgfault, "pgfault"),
            (k.pgmajfault, "pgmajfault"),
            (k.pswpin, "pswpin"),
            (k.pswpout, "pswpout"),
            (k.swpin_zero, "swpin_zero"),
            (k.swpout_zero, "swpout_zero"),
            (k.zswap, "zswap"),
            (k.zswapped, "zswapped"),
        ] {
            assert_eq!(c.stat_item(name).unwrap(), item, "{name}");
        }
        assert_eq!(Reclaimer::default(), Reclaimer::Direct);
    }
}

#[test]
fn operations_are_counted_only_while_counting_is_on() {
    let c = cg();
    let a = c.create("/a").unwrap();
    let item = c.items().zswapped;
    let total = |c: &Cgroups| c.op_counts().iter().map(|e| e.1).sum::<u64>();
    c.mod_memcg_lruvec_state(a, 0, item, 1).unwrap();
    assert_eq!(total(&c), 0, "off at creation");
    c.set_op_counting(true);
    c.mod_memcg_lruvec_state(a, 0, item, 1).unwrap();
    let counts: std::collections::HashMap<_, _> = c.op_counts().into_iter().collect();
    // /a and its parent "/": one lruvec update per level; the tree lock taken once.
    assert_eq!(counts["lruvec_stat_updates"], 2);
    assert_eq!(counts["memcg_tree_locks"], 1);
    c.set_op_counting(false);
    c.mod_memcg_lruvec_state(a, 0, item, 1).unwrap();
    assert_eq!(c.op_counts().iter().map(|e| e.1).sum::<u64>(), 3);
}
