//! The seed series' accounting inside zsmalloc: the 15 acceptance facts of the series, each
//! with exact counter values, plus the pre-series consumer mode and random sequences proving
//! that compaction and page migration keep every per-node attribution equal to a recount.

use std::sync::Arc;

use proptest::prelude::*;
use zsrs::mem::Memory;
use zsrs::memcg::{Cgroups, MemcgConfig, MemcgId, StatLayout};
use zsrs::zsmalloc::{Accounting, Pool, PoolConfig};
use zsrs::ZsError;

const PAGE: i64 = 4096;

struct World {
    cg: Arc<Cgroups>,
    pool: Pool,
    a: MemcgId,
    b: MemcgId,
}

fn world(nodes: &[usize], mode: &str) -> World {
    let mem = Arc::new(Memory::new(nodes, 4096).unwrap());
    let mut cfg = MemcgConfig::new(nodes.len(), 4096);
    if mode == "consumer" {
        cfg.layout = StatLayout::Upstream;
    }
    let cg = Arc::new(Cgroups::with_config(cfg).unwrap());
    let a = cg.create("/a").unwrap();
    let b = cg.create("/a/b").unwrap();
    let mut pc = PoolConfig::new("zswap0");
    pc.accounting = Accounting::new(mode, cg.clone(), "zswap", "zswapped").unwrap();
    let pool = Pool::new(mem, pc).unwrap();
    World { cg, pool, a, b }
}

impl World {
    fn zswap(&self, m: MemcgId, nid: usize) -> i64 {
        self.cg.lruvec_state(m, nid, self.cg.items().zswap).unwrap()
    }
    fn zswapped(&self, m: MemcgId, nid: usize) -> i64 {
        self.cg
            .lruvec_state(m, nid, self.cg.items().zswapped)
            .unwrap()
    }
    fn node_pages(&self, nid: usize) -> i64 {
        self.cg.node_state(nid, self.cg.items().zswap).unwrap()
    }
    fn node_objs(&self, nid: usize) -> i64 {
        self.cg.node_state(nid, self.cg.items().zswapped).unwrap()
    }
    /// memory.current in bytes minus the objcg stock = bytes charged through objcgs.
    fn charged(&self, m: MemcgId) -> i64 {
        let o = self.cg.get_objcg(m).unwrap().unwrap();
        let stock = self.cg.objcg_stock(o).unwrap() as i64;
        self.cg.objcg_put(o).unwrap();
        self.cg.usage_pages(m).unwrap() as i64 * PAGE - stock
    }
    fn refs(&self, m: MemcgId) -> u64 {
        let o = self.cg.get_objcg(m).unwrap().unwrap();
        let r = self.cg.objcg_refcount(o).unwrap();
        self.cg.objcg_put(o).unwrap();
        r - 1
    }
    /// Counters equal a fresh recount of the layout (memcg lruvecs and node vmstat).
    fn check_attribution(&self) {
        let (per, pages) = self.pool.recount_attribution();
        let n = self.cg.nr_nodes();
        for (nid, &p) in pages.iter().enumerate() {
            assert_eq!(self.node_pages(nid), p, "node {nid} zswap pages");
            let objs: i64 = per
                .iter()
                .filter(|e| e.nid == nid)
                .map(|e| e.first_page_objects)
                .sum();
            assert_eq!(self.node_objs(nid), objs, "node {nid} zswapped objects");
        }
        for m in [self.a, self.b] {
            for nid in 0..n {
                let mine: Vec<_> = per
                    .iter()
                    .filter(|e| e.nid == nid && self.cg.objcg_memcg(e.objcg).unwrap() == m)
                    .collect();
                let c: i64 = mine.iter().map(|e| e.compressed).sum();
                let u: i64 = mine.iter().map(|e| e.uncompressed).sum();
                let local = |item| {
                    let own = self.cg.lruvec_state(m, nid, item).unwrap();
                    let kids: i64 = self
                        .cg
                        .children(m)
                        .unwrap()
                        .iter()
                        .map(|&k| self.cg.lruvec_state(k, nid, item).unwrap())
                        .sum();
                    own - kids
                };
                assert_eq!(
                    local(self.cg.items().zswap),
                    c,
                    "memcg {m} node {nid} zswap"
                );
                assert_eq!(
                    local(self.cg.items().zswapped),
                    u,
                    "memcg {m} node {nid} zswapped"
                );
            }
        }
        self.pool.check_invariants().unwrap();
    }
}

/// Fact 1 of the series.
#[test]
fn non_aware_pools_touch_no_memcg_state() {
    let w = world(&[64, 64], "zsmalloc");
    let pool = Pool::new(
        Arc::new(Memory::new(&[64], 4096).unwrap()),
        PoolConfig::new("zram0"),
    )
    .unwrap();
    let h = pool.malloc(100, 0).unwrap();
    assert!(matches!(
        pool.write_owned(h, b"x", Some(w.b)),
        Err(ZsError::InvalidArgument(_))
    ));
    pool.write(h, b"x").unwrap();
    assert!(pool.zspages(5).unwrap()[0].objcgs.is_empty());
    assert_eq!(pool.charge_calls(), 0);
    assert_eq!(
        (w.node_pages(0), w.node_objs(0), w.zswap(w.b, 0)),
        (0, 0, 0)
    );
}

/// Facts 2–7 of the series.
#[test]
fn write_charges_the_slot_and_free_reverses_it_exactly() {
    let w = world(&[64, 64], "zsmalloc");
    let refs0 = w.refs(w.b);
    let h = w.pool.malloc(100, 1).unwrap(); // class 112: 7 pages, 256 objects
    let z = &w.pool.zspages(5).unwrap()[0];
    assert_eq!(z.objcgs, vec![None; 256]);
    assert_eq!(w.node_pages(1), 7);
    w.pool.write_owned(h, &[1u8; 100], Some(w.b)).unwrap();
    assert_eq!(w.refs(w.b), refs0 + 1);
    assert_eq!(
        w.charged(w.b),
        112,
        "the slot size, not the 100-byte length"
    );
    assert_eq!((w.zswap(w.b, 1), w.zswapped(w.b, 1)), (112, PAGE));
    assert_eq!((w.zswap(w.b, 0), w.zswapped(w.b, 0)), (0, 0));
    assert_eq!((w.node_objs(1), w.node_objs(0)), (1, 0));
    assert_eq!(w.zswap(w.a, 1), 112, "hierarchical");
    assert_eq!(w.pool.owner(h).unwrap(), Some(w.b));
    // Rewriting with the same owner charges nothing; another owner is refused.
    w.pool.write_owned(h, &[2u8; 100], Some(w.b)).unwrap();
    assert_eq!(w.charged(w.b), 112);
    assert!(matches!(
        w.pool.write_owned(h, b"y", Some(w.a)),
        Err(ZsError::Cgroup(_))
    ));
    assert_eq!(w.pool.read(h).unwrap(), vec![2u8; 100]);
    w.check_attribution();
    w.pool.free(h).unwrap();
    assert_eq!(w.refs(w.b), refs0);
    assert_eq!(w.charged(w.b), 0);
    for nid in 0..2 {
        assert_eq!(
            (
                w.zswap(w.b, nid),
                w.zswapped(w.b, nid),
                w.node_pages(nid),
                w.node_objs(nid)
            ),
            (0, 0, 0, 0)
        );
    }
    assert_eq!(w.cg.read_file(w.b, "memory.zswap.current").unwrap(), "0\n");
}

/// Facts 4 and 5 of the series.
#[test]
fn spanning_slots_split_by_the_floor_rule() {
    // Node 0 has one frame: the 3-page zspage of class 48 has page 0 on node 0, pages 1-2 on
    // node 1. Object 85 starts at offset 4080 of page 0 and spans into page 1.
    let w = world(&[1, 64], "zsmalloc");
    let hs: Vec<u64> = (0..256).map(|_| w.pool.malloc(40, 0).unwrap()).collect();
    w.pool.write_owned(hs[85], b"span", Some(w.b)).unwrap();
    assert_eq!((w.zswap(w.b, 0), w.zswap(w.b, 1)), (16, 32));
    assert_eq!(
        (w.zswapped(w.b, 0), w.zswapped(w.b, 1)),
        (1365, 4096 - 1365)
    );
    assert_eq!((w.node_objs(0), w.node_objs(1)), (1, 0));
    // A slot spanning pages 1 and 2, both on node 1, goes wholly to node 1.
    w.pool
        .write_owned(hs[170], b"same node", Some(w.b))
        .unwrap();
    assert_eq!(
        (w.zswap(w.b, 1), w.zswapped(w.b, 1)),
        (32 + 48, 4096 - 1365 + 4096)
    );
    let numa = w.cg.read_file(w.b, "memory.numa_stat").unwrap();
    assert!(numa.contains("zswap N0=16 N1=80\n"), "{numa}");
    assert!(numa.contains("zswapped N0=1365 N1=6827\n"), "{numa}");
    let stat = w.cg.read_file(w.b, "memory.stat").unwrap();
    assert!(
        stat.contains("\nzswap 96\n") && stat.contains("\nzswapped 8192\n"),
        "{stat}"
    );
    assert_eq!(w.cg.read_file(w.b, "memory.zswap.current").unwrap(), "96\n");
    assert_eq!((w.node_pages(0), w.node_pages(1)), (1, 2));
    w.check_attribution();
}

/// Facts 8–10 of the series.
#[test]
fn compaction_and_migration_move_stats_never_charges() {
    let w = world(&[4096, 4096], "zsmalloc");
    let mut hs = Vec::new();
    for k in 0..3000usize {
        let h = w.pool.malloc(200 + (k * 131) % 3000, k % 2).unwrap();
        let owner = if k % 3 == 0 { w.a } else { w.b };
        w.pool.write_owned(h, &[k as u8; 10], Some(owner)).unwrap();
        hs.push(h);
    }
    for h in hs.iter().step_by(2) {
        w.pool.free(*h).unwrap();
    }
    w.check_attribution();
    let calls = w.pool.charge_calls();
    let (ca, cb, ra, rb) = (w.charged(w.a), w.charged(w.b), w.refs(w.a), w.refs(w.b));
    let stat_b = w.cg.read_file(w.b, "memory.stat").unwrap();
    assert!(w.pool.compact() > 0);
    w.check_attribution();
    for (pfn, nid) in w.pool.pages().into_iter().step_by(5) {
        w.pool.migrate_page(pfn, 1 - nid).unwrap();
    }
    w.check_attribution();
    assert_eq!(w.pool.charge_calls(), calls, "no migration path charges");
    assert_eq!(
        (w.charged(w.a), w.charged(w.b), w.refs(w.a), w.refs(w.b)),
        (ca, cb, ra, rb)
    );
    assert_eq!(
        w.cg.read_file(w.b, "memory.stat").unwrap(),
        stat_b,
        "memcg-wide totals unchanged"
    );
    for (k, h) in hs.iter().enumerate().skip(1).step_by(2) {
        assert_eq!(w.pool.read(*h).unwrap()[..10], [k as u8; 10]);
    }
}

/// Fact 14 of the series.
#[test]
fn root_objects_count_only_node_pages() {
    let w = world(&[64, 64], "zsmalloc");
    let h = w.pool.malloc(500, 0).unwrap();
    w.pool.write_owned(h, b"root", Some(0)).unwrap();
    assert_eq!(w.pool.owner(h).unwrap(), None);
    assert_eq!(w.node_objs(0), 0);
    assert!(w.node_pages(0) > 0);
    assert_eq!(w.cg.memcg_state(0, w.cg.items().zswap).unwrap(), 0);
    w.check_attribution();
}

#[test]
fn removing_a_cgroup_reparents_and_later_frees_uncharge_the_parent() {
    let w = world(&[64, 64], "zsmalloc");
    let h = w.pool.malloc(300, 1).unwrap();
    w.pool.write_owned(h, b"x", Some(w.b)).unwrap();
    let before = w.cg.read_file(w.a, "memory.stat").unwrap();
    w.cg.remove("/a/b").unwrap();
    assert_eq!(w.cg.read_file(w.a, "memory.stat").unwrap(), before);
    assert_eq!(w.pool.owner(h).unwrap(), Some(w.a));
    w.pool.free(h).unwrap();
    assert_eq!(
        (w.zswap(w.a, 1), w.zswapped(w.a, 1), w.charged(w.a)),
        (0, 0, 0)
    );
}

#[test]
fn consumer_mode_charges_the_compressed_length_memcg_wide() {
    let w = world(&[64, 64], "consumer");
    let h = w.pool.malloc(100, 1).unwrap();
    w.pool.write_owned(h, &[1u8; 100], Some(w.b)).unwrap();
    assert_eq!(w.charged(w.b), 100);
    let stat = w.cg.read_file(w.b, "memory.stat").unwrap();
    assert!(
        stat.contains("\nzswap 100\n") && stat.contains("\nzswapped 4096\n"),
        "{stat}"
    );
    assert!(!w
        .cg
        .read_file(w.b, "memory.numa_stat")
        .unwrap()
        .contains("zswap"));
    assert!(
        w.pool.zspages(5).unwrap()[0].objcgs.is_empty(),
        "not memcg-aware"
    );
    assert_eq!(w.pool.owner(h).unwrap(), Some(w.b));
    w.pool.compact();
    w.pool.free(h).unwrap();
    assert_eq!(w.charged(w.b), 0);
    assert!(w
        .cg
        .read_file(w.b, "memory.stat")
        .unwrap()
        .contains("\nzswap 0\n"));
    // The modes refuse hierarchies built for the other one.
    let cg = Arc::new(Cgroups::new(2, 4096).unwrap());
    assert!(Accounting::new("consumer", cg.clone(), "zswap", "zswapped").is_err());
    assert!(Accounting::new("zsmalloc", w.cg.clone(), "zswap", "zswapped").is_err());
    assert!(Accounting::new("other", cg, "zswap", "zswapped").is_err());
}

#[derive(Debug, Clone)]
enum Op {
    Write(usize, usize, u8),
    Free(usize),
    Compact,
    Migrate(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (1usize..=4096, 0usize..3, 0u8..3).prop_map(|(s, n, o)| Op::Write(s, n, o)),
        3 => any::<usize>().prop_map(Op::Free),
        1 => Just(Op::Compact),
        2 => (any::<usize>(), 0usize..3).prop_map(|(i, n)| Op::Migrate(i, n)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// Fact 15: conservation and exact per-node attribution under any interleaving.
    #[test]
    fn random_sequences_keep_attribution_exact(ops in prop::collection::vec(op(), 1..200)) {
        let w = world(&[3000, 3000, 3000], "zsmalloc");
        let owners = [w.a, w.b, 0];
        let mut live: Vec<(u64, usize, usize)> = Vec::new(); // handle, owner index, slot size
        for op in ops {
            match op {
                Op::Write(size, nid, o) => {
                    let h = w.pool.malloc(size, nid).unwrap();
                    w.pool.write_owned(h, &[o; 1], Some(owners[o as usize])).unwrap();
                    let slot = w.pool.geometry().classes[w.pool.geometry().class_for_request(size)].size;
                    live.push((h, o as usize, slot));
                }
                Op::Free(i) if !live.is_empty() => {
                    let (h, _, _) = live.swap_remove(i % live.len());
                    w.pool.free(h).unwrap();
                }
                Op::Compact => { w.pool.compact(); }
                Op::Migrate(i, nid) => {
                    let pages = w.pool.pages();
                    if !pages.is_empty() {
                        w.pool.migrate_page(pages[i % pages.len()].0, nid).unwrap();
                    }
                }
                _ => {}
            }
            w.check_attribution();
            for (k, m) in [w.a, w.b].into_iter().enumerate() {
                // a's hierarchical totals include b's.
                let mine = |o: usize| o == k || (k == 0 && o == 1);
                let slots: i64 = live.iter().filter(|e| mine(e.1)).map(|e| e.2 as i64).sum();
                let objs = live.iter().filter(|e| mine(e.1)).count() as i64;
                let c: i64 = (0..3).map(|n| w.zswap(m, n)).sum();
                let u: i64 = (0..3).map(|n| w.zswapped(m, n)).sum();
                prop_assert_eq!(c, slots);
                prop_assert_eq!(u, PAGE * objs);
            }
        }
        for (h, _, _) in live {
            w.pool.free(h).unwrap();
        }
        for n in 0..3 {
            prop_assert_eq!((w.node_pages(n), w.node_objs(n), w.zswap(w.a, n), w.zswapped(w.a, n)), (0, 0, 0, 0));
        }
    }
}

#[test]
fn dropping_an_aware_pool_uncharges_its_owners() {
    let w = world(&[64, 64], "zsmalloc");
    let World { cg, pool, b, .. } = w;
    let h = pool.malloc(700, 1).unwrap();
    pool.write_owned(h, b"x", Some(b)).unwrap();
    assert!(cg.lruvec_state(b, 1, cg.items().zswap).unwrap() > 0);
    drop(pool);
    assert_eq!(cg.lruvec_state(b, 1, cg.items().zswap).unwrap(), 0);
    assert_eq!(cg.node_state(1, cg.items().zswap).unwrap(), 0);
    let o = cg.get_objcg(b).unwrap().unwrap();
    let stock = cg.objcg_stock(o).unwrap() as i64;
    cg.objcg_put(o).unwrap();
    assert_eq!(
        cg.usage_pages(b).unwrap() as i64 * PAGE - stock,
        0,
        "only the objcg stock remains"
    );
}

/// Fact 2 of the series.
#[test]
fn a_zspage_that_fails_part_way_leaves_nothing_behind() {
    // Three frames: a class-112 zspage needs seven, so its allocation fails after taking some.
    let w = world(&[3], "zsmalloc");
    assert!(matches!(
        w.pool.malloc(100, 0),
        Err(ZsError::OutOfMemory(_))
    ));
    assert_eq!(w.node_pages(0), 0, "no node zswap page was counted");
    assert_eq!(
        w.pool.memory().node_stats()[0].used,
        0,
        "every frame went back"
    );
    assert_eq!(w.pool.stats().zspages, 0);
    let h = w.pool.malloc(120, 0).unwrap(); // class 128: one page
    w.pool.write_owned(h, b"x", Some(w.b)).unwrap();
    assert_eq!(w.pool.zspages(6).unwrap()[0].objcgs.len(), 32);
    assert_eq!((w.node_pages(0), w.node_objs(0)), (1, 1));
    w.check_attribution();
}

#[test]
fn a_batch_write_with_one_foreign_object_charges_nothing() {
    let w = world(&[64, 64], "zsmalloc");
    let hs: Vec<u64> = (0..3).map(|_| w.pool.malloc(100, 0).unwrap()).collect();
    w.pool.write_owned(hs[2], b"a", Some(w.a)).unwrap();
    let rows = vec![7u8; 3 * 100];
    assert!(matches!(
        w.pool.write_many_owned(&hs, &rows, 100, Some(w.b)),
        Err(ZsError::Cgroup(_))
    ));
    assert_eq!(w.zswap(w.b, 0), 0, "nothing charged to b");
    assert_eq!(
        w.pool.read(hs[0]).unwrap(),
        vec![0u8; 100],
        "nothing written"
    );
    w.pool
        .write_many_owned(&hs[..2], &rows[..200], 100, Some(w.b))
        .unwrap();
    assert_eq!(w.zswap(w.b, 0), 2 * 112);
}

#[test]
fn batch_frees_uncharge_exactly_as_one_free_per_object() {
    // Two memcgs' objects interleaved on two nodes, spanning and not, with the objcg stock
    // crossing page boundaries many times: freeing them with read_free_each (one memcg call
    // per objcg per 64 objects) must leave every counter where one free per object leaves it,
    // after every batch.
    for mode in ["zsmalloc", "consumer"] {
        let (x, y) = (world(&[512, 512], mode), world(&[512, 512], mode));
        let mut hx = Vec::new();
        let mut hy = Vec::new();
        for k in 0..300usize {
            let len = 30 + (k * 397) % 3000;
            let data = vec![k as u8; len];
            let (m, nid) = if k % 3 == 0 { (x.a, 1) } else { (x.b, k % 2) };
            let h = x.pool.malloc(len, nid).unwrap();
            x.pool.write_owned(h, &data, Some(m)).unwrap();
            hx.push(h);
            let m = if m == x.a { y.a } else { y.b };
            let h = y.pool.malloc(len, nid).unwrap();
            y.pool.write_owned(h, &data, Some(m)).unwrap();
            hy.push(h);
        }
        let files = |w: &World| {
            let mut v = Vec::new();
            let online: Vec<MemcgId> = [w.a, w.b]
                .into_iter()
                .filter(|&m| w.cg.is_online(m).unwrap())
                .collect();
            for m in online {
                for f in ["memory.stat", "memory.numa_stat", "memory.current"] {
                    v.push(w.cg.read_file(m, f).unwrap());
                }
                v.push(w.charged(m).to_string());
                v.push(w.refs(m).to_string());
            }
            for nid in 0..2 {
                v.push(w.cg.node_vmstat(nid).unwrap());
            }
            v
        };
        assert_eq!(files(&x), files(&y));
        // Batches of uneven sizes (7, 64, 100, ...), every other object kept.
        let mut at = 0;
        for n in [7usize, 64, 100, 129] {
            if n == 129 {
                // rmdir /a/b: its objcg moves to /a, and the last frees of its objects release
                // it (uncharging its stock to /a) inside a batch.
                x.cg.remove("/a/b").unwrap();
                y.cg.remove("/a/b").unwrap();
                assert_eq!(files(&x), files(&y), "{mode}: after rmdir");
            }
            let end = (at + n).min(hx.len());
            let mut kept = 0;
            x.pool
                .read_free_each(&hx[at..end], |i, _| {
                    let free = (at + i) % 2 == 0 || n == 7;
                    kept += usize::from(!free);
                    free
                })
                .unwrap();
            for (i, &h) in hy[at..end].iter().enumerate() {
                if (at + i) % 2 == 0 || n == 7 {
                    y.pool.free(h).unwrap();
                }
            }
            assert_eq!(files(&x), files(&y), "{mode}: after the batch at {at}");
            assert!(kept > 0 || n == 7);
            at = end;
        }
        // The rest in one call: the removed cgroup's last objects go inside a batch, whose
        // flush releases its objcg (uncharging the stock to /a).
        assert_eq!(at, hx.len());
        let kept: Vec<usize> = (7..at).filter(|i| i % 2 == 1).collect();
        let kx: Vec<u64> = kept.iter().map(|&i| hx[i]).collect();
        x.pool.read_free_each(&kx, |_, _| true).unwrap();
        for &i in &kept {
            y.pool.free(hy[i]).unwrap();
        }
        assert_eq!(files(&x), files(&y), "{mode}: all freed");
        assert_eq!(x.pool.stats().pages_allocated, 0);
        x.pool.check_invariants().unwrap();
        y.pool.check_invariants().unwrap();
    }
}
