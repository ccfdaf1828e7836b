//! A model of the whole stack for the fuzz harness (`tests/fuzz_stack.rs`, proptest) and the
//! soak (`examples/soak.rs`): random operation sequences — hostile ones among them — against a
//! zsmalloc pool charged to a cgroup tree, the swap layer (zero map, zswap, a swap file) with
//! writeback, cgroup creation and removal with objects still charged, and a zram device with a
//! backing file. Every result is checked against a plain model of what each byte should be, and
//! `check` compares every counter with a recount of the layout.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use proptest::prelude::*;

use zsrs::mem::Memory;
use zsrs::memcg::{Cgroups, MemcgConfig, MemcgId, ROOT_MEMCG};
use zsrs::pagegen::random_bytes;
use zsrs::zram::{Zram, ZramConfig};
use zsrs::zsmalloc::{Accounting, Pool, PoolConfig};
use zsrs::zswap::{Swap, SwapDevices, SwapSlot, Swapin, Writeout, Zswap, ZswapConfig};
use zsrs::{Errno, ZsError};

pub const PS: usize = 4096;
/// Swap slots and zram pages the operations address.
pub const SLOTS: u64 = 2048;
pub const ZRAM_PAGES: u64 = 1024;
/// Cgroup names the operations create and remove: `/c0`…`/c3`, each with a child `/cK/d`.
pub const CGROUPS: usize = 4;
/// Live pool objects kept at most: past it a malloc frees instead, so a long run reaches a
/// steady state (memory is 3 × 6000 pages).
pub const MAX_LIVE: usize = 3000;
const NODES: usize = 3;

/// One operation. Indices pick among what exists (modulo), so every sequence is meaningful.
#[derive(Debug, Clone)]
pub enum Op {
    /// malloc + write a pattern, charged to cgroup `cg` (or an invalid size, refused).
    Malloc {
        size: u16,
        nid: u8,
        cg: u8,
        seed: u64,
    },
    Free {
        i: u32,
    },
    Read {
        i: u32,
    },
    /// A freed handle must be refused by read and free.
    Stale {
        i: u32,
    },
    /// Any 64-bit value as a handle: refused unless it is a live handle (then its bytes).
    Forged {
        h: u64,
    },
    Compact,
    Migrate {
        i: u32,
        nid: u8,
    },
    /// `swap_writeout` of a page of `kind` to a free slot (or of a slot beyond the device).
    SwapOut {
        slot: u16,
        kind: u8,
        cg: u8,
        nid: u8,
        seed: u64,
    },
    /// `swap_read_folio` then free; an empty slot must be an error, never zeros.
    SwapIn {
        slot: u16,
        nid: u8,
    },
    /// zswap writeback of a cgroup's entries (`shrink_memcg`), shrinker scans.
    Shrink {
        cg: u8,
        nid: u8,
    },
    CgCreate {
        k: u8,
        child: bool,
    },
    CgRemove {
        k: u8,
        child: bool,
    },
    ZramWrite {
        idx: u16,
        kind: u8,
        seed: u64,
    },
    ZramRead {
        idx: u16,
    },
    ZramDiscard {
        idx: u16,
    },
    ZramCompact,
    /// `idle` all, then `writeback idle`.
    ZramWriteback,
}

/// The operation mix: which slots and zram pages are addressed, and how rare writeback of the
/// whole zram device is (every other weight is multiplied by `scale`).
#[derive(Debug, Clone, Copy)]
pub struct Mix {
    pub slots: u16,
    pub zram_pages: u16,
    pub scale: u32,
}

impl Mix {
    /// Short sequences: few slots and pages, so operations meet the same objects often.
    pub const FUZZ: Mix = Mix {
        slots: 300,
        zram_pages: 200,
        scale: 1,
    };
    /// Millions of operations: every slot and page, writeback of the device 64 times rarer.
    pub const SOAK: Mix = Mix {
        slots: SLOTS as u16 + 12,
        zram_pages: ZRAM_PAGES as u16 + 6,
        scale: 64,
    };
}

/// Random operations of a mix, hostile ones among them (sizes 0 and past the largest class,
/// node 3 of 3, stale and forged handles, slots past the device, swap-ins of empty slots).
pub fn op(m: Mix) -> impl Strategy<Value = Op> {
    let w = m.scale;
    prop_oneof![
        6 * w => (prop_oneof![1u16..=4096, Just(0u16), 3000u16..=5000], 0u8..4, any::<u8>(), any::<u64>())
            .prop_map(|(size, nid, cg, seed)| Op::Malloc { size, nid, cg, seed }),
        3 * w => any::<u32>().prop_map(|i| Op::Free { i }),
        2 * w => any::<u32>().prop_map(|i| Op::Read { i }),
        w => any::<u32>().prop_map(|i| Op::Stale { i }),
        w => any::<u64>().prop_map(|h| Op::Forged { h }),
        w => Just(Op::Compact),
        2 * w => (any::<u32>(), 0u8..4).prop_map(|(i, nid)| Op::Migrate { i, nid }),
        6 * w => (0..m.slots, any::<u8>(), any::<u8>(), any::<u8>(), any::<u64>())
            .prop_map(|(slot, kind, cg, nid, seed)| Op::SwapOut { slot, kind, cg, nid, seed }),
        4 * w => (0..m.slots, any::<u8>()).prop_map(|(slot, nid)| Op::SwapIn { slot, nid }),
        w => (any::<u8>(), any::<u8>()).prop_map(|(cg, nid)| Op::Shrink { cg, nid }),
        w => (any::<u8>(), any::<bool>()).prop_map(|(k, child)| Op::CgCreate { k, child }),
        w => (any::<u8>(), any::<bool>()).prop_map(|(k, child)| Op::CgRemove { k, child }),
        4 * w => (0..m.zram_pages, any::<u8>(), any::<u64>())
            .prop_map(|(idx, kind, seed)| Op::ZramWrite { idx, kind, seed }),
        2 * w => (0..m.zram_pages).prop_map(|idx| Op::ZramRead { idx }),
        w => (0..m.zram_pages).prop_map(|idx| Op::ZramDiscard { idx }),
        w => Just(Op::ZramCompact),
        1 => Just(Op::ZramWriteback),
    ]
}

/// A page of a kind: 0 zero, 1 compressible (k random bytes then zeros), 2 incompressible,
/// 3 same-filled.
pub fn page(kind: u8, seed: u64) -> Vec<u8> {
    match kind % 4 {
        0 => vec![0; PS],
        1 => {
            let mut p = random_bytes((seed % 3000) as usize + 1, 7, seed);
            p.resize(PS, 0);
            p
        }
        2 => random_bytes(PS, 9, seed),
        _ => vec![(seed | 1) as u8; PS],
    }
}

fn pattern(len: usize, seed: u64) -> Vec<u8> {
    random_bytes(len, 3, seed)
}

fn temp(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "zsrs-stack-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Counts of what the operations did.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub ops: u64,
    pub refused: u64,
    pub pool_objects: u64,
    pub swapouts: [u64; 4],
    pub swapins: u64,
    pub written_back: u64,
    pub pages_compacted: u64,
    pub migrations: u64,
    pub cgroups_created: u64,
    pub cgroups_removed: u64,
    pub zram_writes: u64,
    pub zram_written_back: u64,
    pub bytes_verified: u64,
}

pub struct Stack {
    // zsmalloc with the series' accounting, in a hierarchy of its own.
    pool_cg: Arc<Cgroups>,
    pool: Pool,
    live: Vec<(u64, Vec<u8>)>,
    freed: Vec<u64>,
    pool_groups: Vec<MemcgId>,
    // The swap layer over zswap over a swap file, charged to `cg`.
    cg: Arc<Cgroups>,
    zswap: Arc<Zswap>,
    swap: Swap,
    swapped: HashMap<u64, Vec<u8>>,
    // zram with a backing file.
    zram: Zram,
    zram_pages: HashMap<u64, Vec<u8>>,
    files: Vec<PathBuf>,
    pub tally: Tally,
}

impl Drop for Stack {
    fn drop(&mut self) {
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
    }
}

fn cg_path(k: u8, child: bool) -> String {
    let k = k as usize % CGROUPS;
    if child {
        format!("/c{k}/d")
    } else {
        format!("/c{k}")
    }
}

impl Stack {
    pub fn new() -> Self {
        let mem = Arc::new(Memory::new(&[6000, 6000, 6000], PS).unwrap());
        let pool_cg = Arc::new(Cgroups::with_config(MemcgConfig::new(NODES, PS)).unwrap());
        let pool_groups = vec![
            pool_cg.create("/p0").unwrap(),
            pool_cg.create("/p0/p1").unwrap(),
        ];
        let mut pc = PoolConfig::new("fuzz");
        pc.accounting = Accounting::new("zsmalloc", pool_cg.clone(), "zswap", "zswapped").unwrap();
        let pool = Pool::new(mem.clone(), pc).unwrap();

        let cg = Arc::new(Cgroups::with_config(MemcgConfig::new(NODES, PS)).unwrap());
        let swapfile = temp("swap");
        let dev = Arc::new(SwapDevices::new(PS));
        dev.swapon(&swapfile, SLOTS).unwrap();
        let cfg = ZswapConfig {
            max_pool_percent: 5,
            shrinker_enabled: true,
            ..ZswapConfig::default()
        };
        let zswap = Arc::new(Zswap::new(mem.clone(), Some(cg.clone()), cfg, Some(dev)).unwrap());
        let swap = Swap::new(zswap.clone()).unwrap();

        let bd = temp("bd");
        std::fs::write(&bd, vec![0u8; 256 * PS]).unwrap();
        let zram = Zram::new(mem, ZramConfig::new("zram0")).unwrap();
        zram.write_file("backing_dev", bd.to_str().unwrap())
            .unwrap();
        zram.set_disksize(ZRAM_PAGES * PS as u64).unwrap();
        Stack {
            pool_cg,
            pool,
            live: Vec::new(),
            freed: Vec::new(),
            pool_groups,
            cg,
            zswap,
            swap,
            swapped: HashMap::new(),
            zram,
            zram_pages: HashMap::new(),
            files: vec![swapfile, bd],
            tally: Tally::default(),
        }
    }

    fn refused(&mut self, e: ZsError) {
        // Every refusal is a typed error with an errno, never a panic.
        let _ = e.errno();
        self.tally.refused += 1;
    }

    /// An online cgroup of the swap hierarchy for index `k` (root when none of the names lives).
    fn swap_cgroup(&self, k: u8) -> MemcgId {
        for child in [true, false] {
            if let Ok(id) = self.cg.lookup(&cg_path(k, child)) {
                return id;
            }
        }
        ROOT_MEMCG
    }

    pub fn apply(&mut self, op: &Op) {
        self.tally.ops += 1;
        match *op {
            Op::Malloc {
                size,
                nid,
                cg,
                seed,
            } => {
                let size = size as usize;
                let nid = nid as usize % (NODES + 1); // NODES is out of range: refused
                let owner = self.pool_groups[cg as usize % self.pool_groups.len()];
                let data = pattern(size.min(PS), seed);
                let max = self.pool.geometry().max_alloc_size();
                match self.pool.malloc(size, nid) {
                    Ok(h) => {
                        assert!((1..=max).contains(&size) && nid < NODES, "{size} on {nid}");
                        match self.pool.write_owned(h, &data, Some(owner)) {
                            Ok(()) => {
                                self.live.push((h, data));
                                self.tally.pool_objects += 1;
                            }
                            Err(e) => {
                                // A refused charge leaves the object unowned and empty.
                                self.pool.free(h).unwrap();
                                self.refused(e);
                            }
                        }
                    }
                    Err(e) => {
                        assert!(
                            size == 0 || size > max || nid >= NODES || e.errno() == Errno::ENOMEM,
                            "malloc({size}, {nid}): {e}"
                        );
                        self.refused(e);
                    }
                }
            }
            Op::Free { i } if !self.live.is_empty() => {
                let (h, _) = self.live.swap_remove(i as usize % self.live.len());
                self.pool.free(h).unwrap();
                if self.freed.len() >= 256 {
                    self.freed.swap_remove(i as usize % 256);
                }
                self.freed.push(h);
            }
            Op::Read { i } if !self.live.is_empty() => {
                let (h, data) = &self.live[i as usize % self.live.len()];
                let got = self.pool.read(*h).unwrap();
                assert_eq!(&got[..data.len()], &data[..]);
                self.tally.bytes_verified += data.len() as u64;
            }
            Op::Stale { i } if !self.freed.is_empty() => {
                let h = self.freed[i as usize % self.freed.len()];
                assert!(matches!(self.pool.read(h), Err(ZsError::InvalidHandle(_))));
                assert!(matches!(self.pool.free(h), Err(ZsError::InvalidHandle(_))));
                self.tally.refused += 2;
            }
            Op::Forged { h } => match self.live.iter().find(|(l, _)| *l == h) {
                Some((_, data)) => assert_eq!(&self.pool.read(h).unwrap()[..data.len()], &data[..]),
                None => {
                    assert!(matches!(self.pool.read(h), Err(ZsError::InvalidHandle(_))));
                    self.tally.refused += 1;
                }
            },
            Op::Compact => {
                self.tally.pages_compacted += self.pool.compact();
                self.tally.pages_compacted += self.zswap.pool().compact();
                self.tally.pages_compacted += self.zram.compact().unwrap();
            }
            Op::Migrate { i, nid } => {
                let pages = self.pool.pages();
                if !pages.is_empty() {
                    let (pfn, _) = pages[i as usize % pages.len()];
                    match self.pool.migrate_page(pfn, nid as usize % (NODES + 1)) {
                        Ok(_) => self.tally.migrations += 1,
                        Err(e) => {
                            assert!(
                                nid as usize % (NODES + 1) >= NODES || e.errno() == Errno::ENOMEM
                            );
                            self.refused(e);
                        }
                    }
                }
            }
            Op::SwapOut {
                slot,
                kind,
                cg,
                nid,
                seed,
            } => {
                let slot = u64::from(slot) % (SLOTS + 8); // a few beyond the device
                if self.swapped.contains_key(&slot) {
                    return self.apply(&Op::SwapIn {
                        slot: slot as u16,
                        nid,
                    });
                }
                let p = page(kind, seed);
                let memcg = self.swap_cgroup(cg);
                match self.swap.writeout(
                    SwapSlot::from(slot),
                    &p,
                    Some(memcg),
                    nid as usize % NODES,
                ) {
                    Ok(w) => {
                        assert!(slot < SLOTS);
                        let k = match w {
                            Writeout::Zero => 0,
                            Writeout::Zswap => 1,
                            Writeout::Disk(_) => 2,
                            Writeout::Activate(_) => 3,
                        };
                        self.tally.swapouts[k] += 1;
                        if k != 3 {
                            self.swapped.insert(slot, p);
                        } else {
                            // Not written out: the slot goes back free.
                            self.swap.free(SwapSlot::from(slot)).unwrap();
                        }
                    }
                    Err(e) => {
                        assert!(slot >= SLOTS, "writeout to {slot}: {e}");
                        self.refused(e);
                    }
                }
            }
            Op::SwapIn { slot, nid } => {
                let slot = u64::from(slot) % SLOTS;
                let memcg = self.swap_cgroup(nid);
                let mut out = vec![0x5au8; PS];
                let r = self.swap.swapin(
                    SwapSlot::from(slot),
                    &mut out,
                    Some(memcg),
                    nid as usize % NODES,
                );
                match self.swapped.remove(&slot) {
                    Some(p) => {
                        let how = r.unwrap();
                        assert_eq!(out, p, "slot {slot} ({how:?})");
                        assert_eq!(how == Swapin::Zero, p.iter().all(|&b| b == 0));
                        self.swap.free(SwapSlot::from(slot)).unwrap();
                        self.tally.swapins += 1;
                        self.tally.bytes_verified += PS as u64;
                    }
                    None => {
                        let e = r.unwrap_err();
                        assert_eq!(e.errno(), Errno::EIO, "empty slot {slot}: {e}");
                        self.refused(e);
                    }
                }
            }
            Op::Shrink { cg, nid } => {
                let memcg = self.swap_cgroup(cg);
                if let Ok(zsrs::zswap::ShrinkMemcg::Written(n)) =
                    self.zswap.shrink_memcg(Some(memcg))
                {
                    self.tally.written_back += n;
                }
                let nid = nid as usize % NODES;
                let count = self.zswap.shrinker_count(Some(memcg), nid).unwrap();
                if count > 0 {
                    let r = self
                        .zswap
                        .shrinker_scan(Some(memcg), nid, count.min(8))
                        .unwrap();
                    self.tally.written_back += r.freed;
                }
            }
            Op::CgCreate { k, child } => {
                for cgs in [&self.cg, &self.pool_cg] {
                    if cgs.create(&cg_path(k, child)).is_ok() {
                        self.tally.cgroups_created += 1;
                    }
                }
                if let Ok(id) = self.pool_cg.lookup(&cg_path(k, child)) {
                    if !self.pool_groups.contains(&id) {
                        self.pool_groups.push(id);
                    }
                }
            }
            Op::CgRemove { k, child } => {
                let path = cg_path(k, child);
                if let Ok(id) = self.pool_cg.lookup(&path) {
                    if self.pool_cg.remove(&path).is_ok() {
                        self.pool_groups.retain(|&g| g != id);
                        self.tally.cgroups_removed += 1;
                    }
                }
                if self.cg.remove(&path).is_ok() {
                    self.tally.cgroups_removed += 1;
                }
            }
            Op::ZramWrite { idx, kind, seed } => {
                let idx = u64::from(idx) % (ZRAM_PAGES + 4);
                let p = page(kind, seed);
                match self.zram.write_page(idx, &p) {
                    Ok(()) => {
                        assert!(idx < ZRAM_PAGES);
                        self.zram_pages.insert(idx, p);
                        self.tally.zram_writes += 1;
                    }
                    Err(e) => {
                        // Beyond the disk, or memory full (the old contents stay).
                        assert!(
                            idx >= ZRAM_PAGES || e.errno() == Errno::ENOMEM,
                            "zram write {idx}: {e}"
                        );
                        self.refused(e);
                    }
                }
            }
            Op::ZramRead { idx } => {
                let idx = u64::from(idx) % ZRAM_PAGES;
                let mut out = vec![0x5au8; PS];
                self.zram.read_page(idx, &mut out).unwrap();
                match self.zram_pages.get(&idx) {
                    Some(p) => assert_eq!(&out, p, "zram page {idx}"),
                    None => assert!(out.iter().all(|&b| b == 0)),
                }
                self.tally.bytes_verified += PS as u64;
            }
            Op::ZramDiscard { idx } => {
                let idx = u64::from(idx) % ZRAM_PAGES;
                self.zram.discard(idx, 1).unwrap();
                self.zram_pages.remove(&idx);
            }
            Op::ZramCompact => {
                self.tally.pages_compacted += self.zram.compact().unwrap();
            }
            Op::ZramWriteback => {
                let before = self.zram.bd_stat().bd_writes;
                self.zram.mark_idle("all").unwrap();
                // ENOSPC once the backing file is full: a refusal, nothing lost.
                if let Err(e) = self.zram.writeback("idle") {
                    self.refused(e);
                }
                self.tally.zram_written_back += self.zram.bd_stat().bd_writes - before;
            }
            _ => {}
        }
    }

    /// Every counter against a recount of the layout: the allocators' own invariants, and the
    /// series' per-memcg, per-node statistics of both hierarchies.
    pub fn check(&self) {
        self.pool.check_invariants().unwrap();
        self.zswap.check_invariants().unwrap();
        self.zswap.pool().check_invariants().unwrap();
        self.zram.check_invariants().unwrap();
        check_attribution(&self.pool_cg, &self.pool);
        check_attribution(&self.cg, self.zswap.pool());
        assert_eq!(self.pool.stats().objs_used, self.live.len() as u64);
    }

    /// Reads back every byte the model holds, then frees it all: nothing may be left charged.
    pub fn verify_all_and_drain(&mut self) {
        self.check();
        for (h, data) in std::mem::take(&mut self.live) {
            assert_eq!(&self.pool.read(h).unwrap()[..data.len()], &data[..]);
            self.tally.bytes_verified += data.len() as u64;
            self.pool.free(h).unwrap();
        }
        let slots: Vec<u64> = self.swapped.keys().copied().collect();
        for slot in slots {
            self.apply(&Op::SwapIn {
                slot: slot as u16,
                nid: 0,
            });
        }
        for idx in 0..ZRAM_PAGES {
            self.apply(&Op::ZramRead { idx: idx as u16 });
        }
        self.check();
        assert_eq!(self.pool.stats().objs_used, 0);
        assert_eq!(self.zswap.stored_pages(), 0);
        for cgs in [&self.pool_cg, &self.cg] {
            for (id, _) in cgs.list() {
                for nid in 0..NODES {
                    assert_eq!(cgs.lruvec_state(id, nid, cgs.items().zswap).unwrap(), 0);
                }
            }
        }
    }
}

/// The series' counters equal the layout: node pages and objects, and for every online memcg
/// and node the hierarchical compressed and uncompressed bytes of the objects whose objcg
/// charges it or a descendant (removed cgroups' objects included, through re-parenting).
fn check_attribution(cgs: &Cgroups, pool: &Pool) {
    let (per, pages) = pool.recount_attribution();
    let it = cgs.items();
    for (nid, &p) in pages.iter().enumerate() {
        assert_eq!(
            cgs.node_state(nid, it.zswap).unwrap(),
            p,
            "node {nid} pages"
        );
        let objs: i64 = per
            .iter()
            .filter(|e| e.nid == nid)
            .map(|e| e.first_page_objects)
            .sum();
        assert_eq!(
            cgs.node_state(nid, it.zswapped).unwrap(),
            objs,
            "node {nid} objects"
        );
    }
    for (m, path) in cgs.list() {
        if m == ROOT_MEMCG {
            continue;
        }
        for nid in 0..pages.len() {
            let mine = per.iter().filter(|e| {
                e.nid == nid
                    && cgs
                        .is_descendant(cgs.objcg_memcg(e.objcg).unwrap(), m)
                        .unwrap()
            });
            let (c, u) = mine.fold((0, 0), |(c, u), e| (c + e.compressed, u + e.uncompressed));
            assert_eq!(
                cgs.lruvec_state(m, nid, it.zswap).unwrap(),
                c,
                "{path} N{nid} zswap"
            );
            assert_eq!(
                cgs.lruvec_state(m, nid, it.zswapped).unwrap(),
                u,
                "{path} N{nid} zswapped"
            );
        }
    }
}
