//! zswap against the kernel's rules (`mm/zswap.c`): the acceptance facts 1–33 that apply to zswap, each with
//! exact counter values, in both accounting modes where the mode matters (`zsmalloc`: the series,
//! memcg `zswap` = slot sizes with per-node numa_stat lines; `consumer`: compressed lengths,
//! memcg-wide only); writeback round trips through a real swap file; threads.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use zsrs::mem::Memory;
use zsrs::memcg::{Cgroups, MemcgConfig, MemcgId, StatLayout, ROOT_MEMCG};
use zsrs::pagegen::random_bytes;
use zsrs::zswap::{
    FailPoint, RejectReason, ShrinkMemcg, Swap, SwapDevices, SwapSlot, Swapin, Writeout, Zswap,
    ZswapConfig, DEBUGFS_FILES,
};
use zsrs::Errno;

const PS: usize = 4096;
const MODES: [&str; 2] = ["zsmalloc", "consumer"];
static FILES: AtomicUsize = AtomicUsize::new(0);

struct W {
    mode: &'static str,
    mem: Arc<Memory>,
    cg: Arc<Cgroups>,
    zs: Arc<Zswap>,
    swap: Swap,
    a: MemcgId,
    b: MemcgId,
    c: MemcgId,
    path: PathBuf,
}

impl Drop for W {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn world_with(mode: &'static str, nodes: &[usize], cfg: ZswapConfig) -> W {
    let mem = Arc::new(Memory::new(nodes, PS).unwrap());
    let mut mc = MemcgConfig::new(nodes.len(), PS);
    if mode == "consumer" {
        mc.layout = StatLayout::Upstream;
    }
    let cg = Arc::new(Cgroups::with_config(mc).unwrap());
    let a = cg.create("/a").unwrap();
    let b = cg.create("/a/b").unwrap();
    let c = cg.create("/a/c").unwrap();
    let n = FILES.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("zsrs-zswap-{}-{n}.swap", std::process::id()));
    let dev = Arc::new(SwapDevices::new(PS));
    assert_eq!(dev.swapon(&path, 4096).unwrap(), 0);
    let cfg = ZswapConfig {
        accounting: mode.parse().unwrap(),
        ..cfg
    };
    let zs = Arc::new(Zswap::new(mem.clone(), Some(cg.clone()), cfg, Some(dev)).unwrap());
    let swap = Swap::new(zs.clone()).unwrap();
    W {
        mode,
        mem,
        cg,
        zs,
        swap,
        a,
        b,
        c,
        path,
    }
}

fn world(mode: &'static str) -> W {
    world_with(mode, &[1 << 14, 1 << 14], ZswapConfig::default())
}

/// A page that lz4 compresses to a little over `k` bytes.
fn page(k: usize, i: u64) -> Vec<u8> {
    let mut p = random_bytes(k, 7, i);
    p.resize(PS, 0);
    p
}

fn random_page(i: u64) -> Vec<u8> {
    random_bytes(PS, 9, i)
}

fn s(off: u64) -> SwapSlot {
    SwapSlot::from(off)
}

impl W {
    fn stat(&self, m: MemcgId, key: &str) -> u64 {
        self.cg
            .memory_stat(m)
            .unwrap()
            .into_iter()
            .find(|(k, _)| *k == key)
            .unwrap_or_else(|| panic!("no memory.stat key {key}"))
            .1
    }
    fn vm(&self, key: &str) -> u64 {
        self.cg.vm_event(self.cg.stat_item(key).unwrap()).unwrap()
    }
    fn dbg(&self, name: &str) -> u64 {
        self.zs.read_debugfs(name).unwrap().trim().parse().unwrap()
    }
    /// What memcg `zswap` grows by for a stored length: the length before the series, the
    /// slot size with it.
    fn charge_of(&self, len: usize) -> u64 {
        if self.mode == "consumer" {
            return len as u64;
        }
        let g = self.zs.pool().geometry();
        let idx = g.class_for_request(len);
        g.distinct().find(|c| c.index == idx).unwrap().size as u64
    }
    /// Bytes charged through objcgs: memory.current minus the objcg stock.
    fn charged(&self, m: MemcgId) -> i64 {
        let o = self.cg.get_objcg(m).unwrap().unwrap();
        let stock = self.cg.objcg_stock(o).unwrap() as i64;
        self.cg.objcg_put(o).unwrap();
        self.cg.usage_pages(m).unwrap() as i64 * PS as i64 - stock
    }
    fn len_of(&self, slot: SwapSlot) -> usize {
        self.zs.entry_length(slot).unwrap()
    }
    fn check(&self) {
        self.zs.check_invariants().unwrap();
    }
}

// ---------------------------------------------------------------- store (facts 1–7)

#[test]
fn fact01_zero_pages_never_reach_zswap() {
    for mode in MODES {
        let w = world(mode);
        let zero = vec![0u8; PS];
        assert_eq!(
            w.swap.writeout(s(1), &zero, Some(w.b), 0).unwrap(),
            Writeout::Zero
        );
        assert_eq!(w.stat(w.b, "zswpout"), 0);
        assert_eq!(w.dbg("stored_pages"), 0);
        assert_eq!(w.stat(w.b, "zswap"), 0);
        assert_eq!(w.stat(w.b, "zswapped"), 0);
        assert_eq!(w.stat(w.b, "swpout_zero"), 1);
        assert_eq!(w.vm("swpout_zero"), 1);
        let mut out = vec![1u8; PS];
        assert_eq!(
            w.swap.swapin(s(1), &mut out, Some(w.b), 0).unwrap(),
            Swapin::Zero
        );
        assert_eq!(out, zero);
        assert_eq!(w.stat(w.b, "swpin_zero"), 1);
        assert_eq!(w.swap.devices().io_counts(0).unwrap(), (0, 0));
    }
}

#[test]
fn fact02_store_charges_length_and_counts() {
    for mode in MODES {
        let w = world(mode);
        let p = page(1000, 1);
        let r = w.zs.store(s(5), &p, Some(w.b), 1).unwrap();
        assert!(r.stored());
        let len = r.length;
        assert_eq!(w.len_of(s(5)), len);
        assert!(len > 1000 && len < 1100, "{len}");
        let charge = w.charge_of(len);
        assert_eq!(w.stat(w.b, "zswap"), charge);
        assert_eq!(w.stat(w.b, "zswapped"), PS as u64);
        assert_eq!(w.stat(w.a, "zswap"), charge, "hierarchical");
        assert_eq!(w.dbg("stored_pages"), 1);
        assert_eq!(w.stat(w.b, "zswpout"), 1);
        assert_eq!(w.vm("zswpout"), 1);
        assert_eq!(w.zs.read_param("compressor").unwrap(), "lz4\n");
        // Fact 28: charged to memory.current and kernel.
        let kernel = w.stat(w.b, "kernel");
        assert_eq!(kernel, charge.div_ceil(PS as u64) * PS as u64);
        assert_eq!(w.cg.usage_pages(w.b).unwrap() * PS as u64, kernel);
        w.check();
    }
}

#[test]
fn fact03_05_26_incompressible_kept_as_is() {
    for mode in MODES {
        let w = world(mode);
        for i in 0..3 {
            let r = w.zs.store(s(i), &random_page(i), Some(w.b), 0).unwrap();
            assert!(r.stored() && r.incompressible(PS));
        }
        // A compressor error is also kept as-is while writeback is on.
        w.zs.inject_failure(FailPoint::CompressEinval, 1);
        assert!(w
            .zs
            .store(s(3), &page(100, 3), Some(w.b), 0)
            .unwrap()
            .incompressible(PS));
        assert_eq!(w.dbg("stored_incompressible_pages"), 4);
        assert_eq!(w.dbg("stored_pages"), 4);
        assert_eq!(w.stat(w.b, "zswap"), 4 * PS as u64);
        assert_eq!(w.stat(w.b, "zswap"), w.stat(w.b, "zswapped"), "fact 5");
        for name in DEBUGFS_FILES.iter().filter(|n| n.starts_with("reject")) {
            assert_eq!(w.dbg(name), 0, "{name}");
        }
        // Fact 26: a gauge.
        let mut out = vec![0u8; PS];
        assert!(w.zs.load(s(0), &mut out).unwrap());
        assert_eq!(out, random_page(0));
        w.zs.invalidate(s(1));
        assert_eq!(w.dbg("stored_incompressible_pages"), 2);
        w.check();
    }
}

#[test]
fn fact04_incompressible_rejected_when_writeback_disabled() {
    for mode in MODES {
        let w = world(mode);
        w.cg.write_file(w.b, "memory.zswap.writeback", "0").unwrap();
        assert_eq!(
            w.swap
                .writeout(s(1), &random_page(1), Some(w.b), 0)
                .unwrap(),
            Writeout::Activate(RejectReason::CompressFail)
        );
        assert_eq!(w.dbg("reject_compress_fail"), 1);
        w.zs.inject_failure(FailPoint::CompressEnospc, 1);
        assert_eq!(
            w.swap.writeout(s(2), &page(100, 2), Some(w.b), 0).unwrap(),
            Writeout::Activate(RejectReason::CompressPoor)
        );
        assert_eq!(w.dbg("reject_compress_poor"), 1);
        assert_eq!(
            w.swap.devices().io_counts(0).unwrap(),
            (0, 0),
            "nothing on disk"
        );
        assert_eq!(w.dbg("stored_pages"), 0);
        assert_eq!(w.stat(w.b, "zswpout"), 0);
        assert_eq!(w.stat(w.b, "pswpout"), 0);
    }
}

#[test]
fn fact06_large_folio_all_or_nothing() {
    for mode in MODES {
        let w = world(mode);
        let mut folio = Vec::new();
        for i in 0..4 {
            folio.extend(page(500, i));
        }
        assert!(w
            .zs
            .store_folio(s(8), &folio, Some(w.b), 0)
            .unwrap()
            .stored());
        assert_eq!(w.stat(w.b, "zswpout"), 4);
        assert_eq!(w.dbg("stored_pages"), 4);
        // Same slots again with an incompressible third page and writeback off: nothing stays,
        // not even the old entries.
        w.cg.write_file(w.b, "memory.zswap.writeback", "0").unwrap();
        folio[2 * PS..3 * PS].copy_from_slice(&random_page(2));
        let r = w.zs.store_folio(s(8), &folio, Some(w.b), 0).unwrap();
        assert_eq!(r.reject, Some(RejectReason::CompressFail));
        assert_eq!(w.dbg("stored_pages"), 0);
        assert_eq!(w.stat(w.b, "zswpout"), 4);
        assert_eq!(w.stat(w.b, "zswap"), 0);
        assert_eq!(w.stat(w.b, "zswapped"), 0);
        w.check();
    }
}

#[test]
fn fact07_store_to_occupied_slot_replaces() {
    for mode in MODES {
        let w = world(mode);
        w.zs.store(s(4), &page(1000, 1), Some(w.b), 0).unwrap();
        let zswapped = w.stat(w.b, "zswapped");
        let r = w.zs.store(s(4), &page(2000, 2), Some(w.b), 0).unwrap();
        assert_eq!(w.stat(w.b, "zswapped"), zswapped, "net 0");
        assert_eq!(w.stat(w.b, "zswap"), w.charge_of(r.length));
        assert_eq!(w.dbg("stored_pages"), 1);
        assert_eq!(w.stat(w.b, "zswpout"), 2);
        let mut out = vec![0u8; PS];
        assert!(w.zs.load(s(4), &mut out).unwrap());
        assert_eq!(out, page(2000, 2));
        assert_eq!(w.stat(w.b, "zswap"), 0);
        assert_eq!(w.charged(w.b), 0);
        w.check();
    }
}

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

#[test]
fn fact08_pool_limit_hysteresis() {
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

#[test]
fn fact09_worker_writes_back_to_threshold() {
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

#[test]
fn fact10_zswap_max_zero_goes_to_disk() {
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

#[test]
fn fact11_zswap_max_rounds_down_to_pages() {
    let w = world("consumer");
    w.cg.write_file(w.b, "memory.zswap.max", "10K").unwrap();
    assert_eq!(w.cg.read_file(w.b, "memory.zswap.max").unwrap(), "8192\n");
}

#[test]
fn fact12_13_limit_writeback_targets_own_memcg() {
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

#[test]
fn fact14_15_writeback_knob_is_hierarchical() {
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

// ---------------------------------------------------------------- load / invalidate (16–19)

#[test]
fn fact16_17_18_19_load_miss_failure_invalidate() {
    for mode in MODES {
        let w = world(mode);
        w.zs.store(s(1), &page(1500, 1), Some(w.b), 1).unwrap();
        w.zs.store(s(2), &page(700, 2), Some(w.b), 1).unwrap();
        let len2 = w.len_of(s(2));
        let mut out = vec![0u8; PS];
        // 18: decompression failure keeps the entry.
        w.zs.inject_failure(FailPoint::Decompress, 1);
        let e = w.zs.load(s(1), &mut out).unwrap_err();
        assert_eq!(e.errno(), Errno::EIO);
        assert_eq!(w.dbg("decompress_fail"), 1);
        assert!(w.zs.contains(s(1)));
        assert_eq!(w.stat(w.b, "zswpin"), 0);
        // 16: exclusive load.
        assert!(w.zs.load(s(1), &mut out).unwrap());
        assert_eq!(out, page(1500, 1));
        assert_eq!((w.stat(w.b, "zswpin"), w.vm("zswpin")), (1, 1));
        assert_eq!(w.stat(w.b, "zswap"), w.charge_of(len2));
        assert_eq!(w.stat(w.b, "zswapped"), PS as u64);
        assert_eq!(w.dbg("stored_pages"), 1);
        // 17: a miss through the swap layer is a disk swapin on (memcg, node).
        w.swap.devices().write_page(s(3), &page(10, 3)).unwrap();
        assert_eq!(
            w.swap.swapin(s(3), &mut out, Some(w.b), 1).unwrap(),
            Swapin::Disk
        );
        assert_eq!(w.zs.nr_disk_swapins(Some(w.b), 1), 1);
        assert_eq!(w.zs.nr_disk_swapins(Some(w.b), 0), 0);
        // 19: invalidate uncharges fully, no event.
        assert!(w.zs.invalidate(s(2)));
        assert_eq!((w.stat(w.b, "zswap"), w.stat(w.b, "zswapped")), (0, 0));
        assert_eq!(
            w.charged(w.b),
            0,
            "only the objcg stock's partial page stays"
        );
        assert_eq!(w.stat(w.b, "zswpin"), 1);
        assert_eq!(w.dbg("stored_pages"), 0);
        w.check();
    }
}

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

#[test]
fn batch_load_takes_each_slot_once_and_keeps_failed_entries() {
    for mode in MODES {
        let w = world(mode);
        let n = 150u64; // several lock holds of 64 slots
        let pages: Vec<Vec<u8>> = (0..n).map(|i| page(300 + 20 * i as usize, i)).collect();
        for (i, p) in pages.iter().enumerate() {
            assert!(w.zs.store(s(i as u64), p, Some(w.b), 0).unwrap().stored());
        }
        // Slot 5 twice (exclusive: the second turn finds nothing), slot 900 never stored, and
        // one injected decompression failure (the first entry read: slot 3).
        let slots: Vec<SwapSlot> = [3, 5, 5, 900, 7].into_iter().map(s).collect();
        w.zs.inject_failure(FailPoint::Decompress, 1);
        let mut out = vec![0xAAu8; slots.len() * PS];
        let st = w.zs.load_many(&slots, &mut out).unwrap();
        use zsrs::zswap::LoadStatus::{Absent, Failed, Loaded};
        assert_eq!(st, [Failed, Loaded, Absent, Absent, Loaded]);
        assert_eq!(&out[PS..2 * PS], &pages[5][..]);
        assert_eq!(&out[4 * PS..], &pages[7][..]);
        assert!(
            out[..PS].iter().all(|&b| b == 0xAA),
            "failed rows are untouched"
        );
        assert!(out[2 * PS..4 * PS].iter().all(|&b| b == 0xAA));
        assert!(w.zs.contains(s(3)) && !w.zs.contains(s(5)) && !w.zs.contains(s(7)));
        assert_eq!((w.stat(w.b, "zswpin"), w.vm("zswpin")), (2, 2));
        assert_eq!(w.dbg("decompress_fail"), 1);
        // A slot twice whose first turn fails: both turns fail (not Absent: the page is still
        // in zswap, and Absent would send the caller to the disk).
        w.zs.inject_failure(FailPoint::Decompress, 1);
        let mut two = vec![0u8; 2 * PS];
        let st = w.zs.load_many(&[s(9), s(9)], &mut two).unwrap();
        assert_eq!(st, [Failed, Failed]);
        assert!(w.zs.contains(s(9)));
        assert_eq!(w.dbg("decompress_fail"), 2);
        // The rest, across chunk boundaries, byte for byte; the failed ones load now.
        let rest: Vec<SwapSlot> = (0..n).filter(|i| *i != 5 && *i != 7).map(s).collect();
        let mut out = vec![0u8; rest.len() * PS];
        let st = w.zs.load_many(&rest, &mut out).unwrap();
        assert!(st.iter().all(|&x| x == Loaded));
        for (row, slot) in out.chunks(PS).zip(&rest) {
            assert_eq!(row, &pages[slot.offset as usize][..]);
        }
        assert_eq!(w.stat(w.b, "zswpin"), n);
        assert_eq!((w.stat(w.b, "zswap"), w.stat(w.b, "zswapped")), (0, 0));
        assert_eq!((w.dbg("stored_pages"), w.zs.total_pages()), (0, 0));
        w.check();
    }
}

// ---------------------------------------------------------------- LRU, shrinker (20–24)

#[test]
fn fact20_22_second_chance_then_writeback() {
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

#[test]
fn fact21_shrinker_count_formula() {
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

#[test]
fn fact23_swapcache_hit_fails_with_eexist_and_stops() {
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

#[test]
fn fact24_29_lru_per_memcg_node_and_rmdir() {
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

// ---------------------------------------------------------------- debugfs, placement (25–27)

#[test]
fn fact25_debugfs_files_and_totals() {
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

#[test]
fn fact27_compressed_data_on_the_page_node() {
    let w = world("zsmalloc");
    let before: Vec<usize> = w.mem.node_stats().iter().map(|n| n.used).collect();
    w.zs.store(s(1), &random_page(1), Some(w.b), 1).unwrap();
    let after: Vec<usize> = w.mem.node_stats().iter().map(|n| n.used).collect();
    assert_eq!((after[0] - before[0], after[1] - before[1]), (0, 1));
    let numa = w.cg.read_file(w.b, "memory.numa_stat").unwrap();
    assert!(numa.contains("zswap N0=0 N1=4096\n"), "{numa}");
}

// ---------------------------------------------------------------- charging, stat files (28–33)

#[test]
fn fact28_30_forced_charge_root_uncharged() {
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

#[test]
fn fact31_32_33_stat_files() {
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

// ---------------------------------------------------------------- other reject paths

#[test]
fn reject_counters_for_allocation_failures() {
    for mode in MODES {
        let w = world(mode);
        w.zs.inject_failure(FailPoint::EntryAlloc, 1);
        w.zs.inject_failure(FailPoint::ZsMalloc, 1);
        w.zs.store(s(1), &page(100, 1), Some(w.b), 0).unwrap();
        w.zs.store(s(1), &page(100, 1), Some(w.b), 0).unwrap();
        w.zs.inject_failure(FailPoint::Xarray, 1);
        let r = w.zs.store(s(1), &page(100, 1), Some(w.b), 0).unwrap();
        assert_eq!(r.reject, Some(RejectReason::AllocFail));
        assert_eq!(w.dbg("reject_kmemcache_fail"), 1);
        assert_eq!(w.dbg("reject_alloc_fail"), 2);
        assert_eq!(w.dbg("stored_pages"), 0);
        assert_eq!(w.zs.total_pages(), 0, "the xarray failure freed its handle");
        assert_eq!(w.stat(w.b, "zswpout"), 0);
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

#[test]
fn a_slot_with_nothing_behind_it_swaps_in_as_an_error_never_as_zeros() {
    let w = world("zsmalloc");
    let p = page(900, 1);
    assert_eq!(
        w.swap.writeout(s(5), &p, Some(w.b), 0).unwrap(),
        Writeout::Zswap
    );
    // Someone else takes the entry (an exclusive load outside the swap layer).
    let mut stolen = vec![0u8; PS];
    assert!(w.zs.load(s(5), &mut stolen).unwrap());
    let mut out = vec![0x77u8; PS];
    let e = w.swap.swapin(s(5), &mut out, Some(w.b), 0).unwrap_err();
    assert_eq!(e.errno(), Errno::EIO, "{e}");
    // A slot never written out, and one freed after a disk write, are errors too.
    assert_eq!(
        w.swap
            .swapin(s(6), &mut out, Some(w.b), 0)
            .unwrap_err()
            .errno(),
        Errno::EIO
    );
    w.swap.devices().write_page(s(7), &p).unwrap();
    w.swap.swapin(s(7), &mut out, Some(w.b), 0).unwrap();
    assert_eq!(out, p);
    w.swap.free(s(7)).unwrap();
    assert_eq!(
        w.swap
            .swapin(s(7), &mut out, Some(w.b), 0)
            .unwrap_err()
            .errno(),
        Errno::EIO
    );
    // Slots beyond the device are refused before anything is stored.
    let before = w.zs.debugfs();
    let e = w.zs.store_many(
        &[s(1), s(4096)],
        &[p.clone(), p.clone()].concat(),
        Some(w.b),
        0,
    );
    assert_eq!(e.unwrap_err().errno(), Errno::EINVAL);
    assert_eq!(w.zs.debugfs(), before);
    assert!(!w.zs.contains(s(1)));
}
