//! The world every zswap integration test runs in (tests/zswap_*.rs include this file with
//! `#[path]`): memory on two nodes, cgroups /a, /a/b and /a/c, zswap in one accounting mode with
//! a real swap file behind it, and helpers reading counters the way the tests compare them.
//!
//! It re-exports the zsrs items the tests name, so each test file starts with one `use`.

// Each test binary uses only part of the helpers and of the re-exports.
#![allow(dead_code, unused_imports)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

pub use zsrs::mem::Memory;
pub use zsrs::memcg::{Cgroups, MemcgConfig, MemcgId, StatLayout, ROOT_MEMCG};
pub use zsrs::pagegen::random_bytes;
pub use zsrs::zswap::{
    FailPoint, RejectReason, ShrinkMemcg, Swap, SwapDevices, SwapSlot, Swapin, Writeout, Zswap,
    ZswapConfig, DEBUGFS_FILES,
};
pub use zsrs::Errno;

pub const PS: usize = 4096;
pub const MODES: [&str; 2] = ["zsmalloc", "consumer"];
static FILES: AtomicUsize = AtomicUsize::new(0);

pub struct W {
    pub mode: &'static str,
    pub mem: Arc<Memory>,
    pub cg: Arc<Cgroups>,
    pub zs: Arc<Zswap>,
    pub swap: Swap,
    pub a: MemcgId,
    pub b: MemcgId,
    pub c: MemcgId,
    pub path: PathBuf,
}

impl Drop for W {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

pub fn world_with(mode: &'static str, nodes: &[usize], cfg: ZswapConfig) -> W {
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

pub fn world(mode: &'static str) -> W {
    world_with(mode, &[1 << 14, 1 << 14], ZswapConfig::default())
}

/// A page that lz4 compresses to a little over `k` bytes.
pub fn page(k: usize, i: u64) -> Vec<u8> {
    let mut p = random_bytes(k, 7, i);
    p.resize(PS, 0);
    p
}

pub fn random_page(i: u64) -> Vec<u8> {
    random_bytes(PS, 9, i)
}

pub fn s(off: u64) -> SwapSlot {
    SwapSlot::from(off)
}

impl W {
    pub fn stat(&self, m: MemcgId, key: &str) -> u64 {
        self.cg
            .memory_stat(m)
            .unwrap()
            .into_iter()
            .find(|(k, _)| *k == key)
            .unwrap_or_else(|| panic!("no memory.stat key {key}"))
            .1
    }
    pub fn vm(&self, key: &str) -> u64 {
        self.cg.vm_event(self.cg.stat_item(key).unwrap()).unwrap()
    }
    pub fn dbg(&self, name: &str) -> u64 {
        self.zs.read_debugfs(name).unwrap().trim().parse().unwrap()
    }
    /// What memcg `zswap` grows by for a stored length: the length before the series, the
    /// slot size with it.
    pub fn charge_of(&self, len: usize) -> u64 {
        if self.mode == "consumer" {
            return len as u64;
        }
        let g = self.zs.pool().geometry();
        let idx = g.class_for_request(len);
        g.distinct().find(|c| c.index == idx).unwrap().size as u64
    }
    /// Bytes charged through objcgs: memory.current minus the objcg stock.
    pub fn charged(&self, m: MemcgId) -> i64 {
        let o = self.cg.get_objcg(m).unwrap().unwrap();
        let stock = self.cg.objcg_stock(o).unwrap() as i64;
        self.cg.objcg_put(o).unwrap();
        self.cg.usage_pages(m).unwrap() as i64 * PS as i64 - stock
    }
    pub fn len_of(&self, slot: SwapSlot) -> usize {
        self.zs.entry_length(slot).unwrap()
    }
    pub fn check(&self) {
        self.zs.check_invariants().unwrap();
    }
}
