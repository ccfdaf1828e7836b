//! The simulated kernel: reclaim under memory.max / memory.high / memory.reclaim, faults, NUMA
//! binding and exit, over a plain in-RAM swap layer; every page reads back identical.

use std::sync::Arc;

use zsrs::mem::Memory;
use zsrs::memcg::Cgroups;
use zsrs::sim::{Machine, RamSwap, SwapBackend, SwapIn, SwapOut};
use zsrs::{Errno, ZsError};

fn page(k: u64) -> Vec<u8> {
    // Half pattern, half zero; every 5th page all zero.
    let mut p = vec![0u8; 4096];
    if !k.is_multiple_of(5) {
        for (i, b) in p[..2048].iter_mut().enumerate() {
            *b = (k as usize * 7 + i) as u8;
        }
    }
    p
}

fn contents(n: u64) -> Vec<u8> {
    (0..n).flat_map(page).collect()
}

struct Rig {
    mem: Arc<Memory>,
    cg: Arc<Cgroups>,
    swap: Arc<RamSwap>,
    m: Machine,
}

fn rig(nodes: &[usize], slots: u64) -> Rig {
    let mem = Arc::new(Memory::new(nodes, 4096).unwrap());
    let cg = Arc::new(Cgroups::new(nodes.len(), 4096).unwrap());
    let swap = Arc::new(RamSwap::new(slots));
    let m = Machine::new(mem.clone(), cg.clone(), swap.clone()).unwrap();
    Rig { mem, cg, swap, m }
}

#[test]
fn memory_max_reclaims_cold_pages_and_every_page_reads_back() {
    let r = rig(&[4096, 4096], 4096);
    let g = r.cg.create("/g").unwrap();
    r.cg.write_file(g, "memory.max", "1M").unwrap(); // 256 pages
    let pid = r.m.spawn(g, &[]).unwrap();
    let base = r.m.mmap(pid, &contents(1024)).unwrap();
    assert!(r.cg.usage_pages(g).unwrap() <= 256);
    let st = r.m.stats();
    assert!(st.reclaimed >= 768, "{st:?}");
    assert_eq!(st.swapout_zero + st.swapout_disk, st.reclaimed);
    assert!(st.swapout_zero > 0, "zero pages go to the zero map");
    assert_eq!(r.cg.swap_usage_pages(g).unwrap() as usize, r.swap.len());
    let stat = r.cg.read_file(g, "memory.stat").unwrap();
    assert!(
        stat.starts_with(&format!("anon {}\n", r.cg.usage_pages(g).unwrap() * 4096)),
        "{stat}"
    );
    let vpns: Vec<u64> = (base..base + 1024).collect();
    let mut out = vec![0u8; 1024 * 4096];
    r.m.read_pages(pid, &vpns, &mut out).unwrap();
    assert_eq!(out, contents(1024));
    assert!(r.m.stats().major_faults >= 768);
    assert!(r.cg.usage_pages(g).unwrap() <= 256);
    r.m.exit(pid).unwrap();
    assert_eq!(
        (
            r.cg.usage_pages(g).unwrap(),
            r.cg.swap_usage_pages(g).unwrap()
        ),
        (0, 0)
    );
    assert_eq!(r.mem.node_stats().iter().map(|s| s.used).sum::<usize>(), 0);
    assert!(r.swap.is_empty());
}

#[test]
fn hot_pages_survive_reclaim() {
    let r = rig(&[4096], 4096);
    let g = r.cg.create("/g").unwrap();
    r.cg.write_file(g, "memory.max", "512K").unwrap(); // 128 pages
    let pid = r.m.spawn(g, &[]).unwrap();
    let hot = r.m.mmap(pid, &contents(32)).unwrap();
    let hot_set: Vec<u64> = (hot..hot + 32).collect();
    for _ in 0..8 {
        r.m.mmap(pid, &contents(64)).unwrap();
        r.m.access(pid, &hot_set).unwrap();
    }
    let place = r.m.placement(pid).unwrap();
    let resident_hot = place[..32].iter().filter(|p| p.0 >= 0).count();
    assert!(
        resident_hot >= 30,
        "hot pages were evicted: {resident_hot}/32 resident"
    );
    assert!(place.iter().filter(|p| p.1).count() > 300);
}

#[test]
fn numa_binding_places_pages_on_the_allowed_nodes() {
    let r = rig(&[64, 4096], 4096);
    let g = r.cg.create("/g").unwrap();
    let pid = r.m.spawn(g, &[1]).unwrap();
    r.m.mmap(pid, &contents(100)).unwrap();
    assert!(r.m.placement(pid).unwrap().iter().all(|p| p.0 == 1));
    let numa = r.cg.read_file(g, "memory.numa_stat").unwrap();
    assert!(numa.starts_with("anon N0=0 N1=409600\n"), "{numa}");
    r.m.set_mems(pid, &[0]).unwrap();
    let base = r.m.mmap(pid, &contents(10)).unwrap();
    assert!(r.m.placement(pid).unwrap()[base as usize..]
        .iter()
        .all(|p| p.0 == 0));
    // Node 0 has 64 frames: a process bound to it reclaims machine-wide to get more.
    r.m.mmap(pid, &contents(100)).unwrap();
    assert!(r.mem.node_stats()[0].used <= 64);
    assert!(r.m.stats().reclaimed > 0);
}

#[test]
fn memory_reclaim_and_memory_high() {
    let r = rig(&[4096], 4096);
    let g = r.cg.create("/g").unwrap();
    let pid = r.m.spawn(g, &[]).unwrap();
    r.m.mmap(pid, &contents(200)).unwrap();
    assert_eq!(r.m.reclaim(g, 100).unwrap(), 100);
    assert_eq!(r.cg.usage_pages(g).unwrap(), 100);
    let err = r.m.reclaim(g, 1000).unwrap_err();
    assert!(matches!(err, ZsError::Errno(Errno::EAGAIN, _)), "{err}");
    assert_eq!(r.cg.usage_pages(g).unwrap(), 0);
    r.cg.write_file(g, "memory.high", "200K").unwrap(); // 50 pages
    r.m.mmap(pid, &contents(100)).unwrap();
    assert!(
        r.cg.usage_pages(g).unwrap() <= 51,
        "{}",
        r.cg.usage_pages(g).unwrap()
    );
    assert!(
        r.cg.memory_events(g, false).unwrap()[1].1 > 0,
        "high events"
    );
}

/// A swap layer that refuses every page (zswap full with writeback disabled).
struct Refusing;

impl SwapBackend for Refusing {
    fn nr_slots(&self) -> u64 {
        1 << 20
    }
    fn writeout(&self, _: u64, _: &[u8], _: u32, _: usize) -> zsrs::Result<SwapOut> {
        Ok(SwapOut::Rejected)
    }
    fn swapin(&self, _: u64, _: &mut [u8], _: u32, _: usize) -> zsrs::Result<SwapIn> {
        unreachable!("nothing was swapped out")
    }
    fn free(&self, _: u64) -> zsrs::Result<()> {
        Ok(())
    }
}

#[test]
fn refused_writeouts_keep_pages_and_end_in_oom_or_eagain() {
    let mem = Arc::new(Memory::new(&[4096], 4096).unwrap());
    let cg = Arc::new(Cgroups::new(1, 4096).unwrap());
    let m = Machine::new(mem, cg.clone(), Arc::new(Refusing)).unwrap();
    let g = cg.create("/g").unwrap();
    cg.write_file(g, "memory.max", "400K").unwrap(); // 100 pages
    let pid = m.spawn(g, &[]).unwrap();
    m.mmap(pid, &contents(100)).unwrap();
    let err = m.mmap(pid, &contents(1)).unwrap_err();
    assert!(matches!(err, ZsError::LimitExceeded(_)), "{err}");
    assert!(m.stats().swapout_rejected > 0 && m.stats().ooms == 1);
    assert!(matches!(
        m.reclaim(g, 10),
        Err(ZsError::Errno(Errno::EAGAIN, _))
    ));
    assert_eq!(cg.usage_pages(g).unwrap(), 100);
    assert_eq!(cg.swap_usage_pages(g).unwrap(), 0);
    assert!(cg
        .read_file(g, "memory.events")
        .unwrap()
        .contains("oom 1\n"));
}

#[test]
fn bad_input_is_refused() {
    let r = rig(&[64], 64);
    let g = r.cg.create("/g").unwrap();
    assert!(r.m.spawn(99, &[]).is_err());
    assert!(r.m.spawn(g, &[3]).is_err());
    let pid = r.m.spawn(g, &[]).unwrap();
    assert!(r.m.mmap(pid, &[0u8; 100]).is_err());
    assert!(r.m.access(pid, &[5]).is_err(), "unmapped page");
    assert!(r.m.access(7, &[0]).is_err(), "no such process");
    r.m.exit(pid).unwrap();
    assert!(r.m.exit(pid).is_err());
}

/// A RAM swap layer whose next swap-in fails (a disk read error).
struct Flaky {
    inner: RamSwap,
    fail_next_swapin: std::sync::atomic::AtomicBool,
}

impl SwapBackend for Flaky {
    fn nr_slots(&self) -> u64 {
        self.inner.nr_slots()
    }
    fn writeout(&self, s: u64, p: &[u8], m: u32, n: usize) -> zsrs::Result<SwapOut> {
        self.inner.writeout(s, p, m, n)
    }
    fn swapin(&self, s: u64, o: &mut [u8], m: u32, n: usize) -> zsrs::Result<SwapIn> {
        if self
            .fail_next_swapin
            .swap(false, std::sync::atomic::Ordering::Relaxed)
        {
            return Err(ZsError::Errno(Errno::EIO, "read error".into()));
        }
        self.inner.swapin(s, o, m, n)
    }
    fn free(&self, s: u64) -> zsrs::Result<()> {
        self.inner.free(s)
    }
}

#[test]
fn a_failed_swap_in_loses_nothing_and_leaks_nothing() {
    let mem = Arc::new(Memory::new(&[4096], 4096).unwrap());
    let cg = Arc::new(Cgroups::new(1, 4096).unwrap());
    let swap = Arc::new(Flaky {
        inner: RamSwap::new(4096),
        fail_next_swapin: false.into(),
    });
    let m = Machine::new(mem.clone(), cg.clone(), swap.clone()).unwrap();
    let g = cg.create("/g").unwrap();
    let pid = m.spawn(g, &[]).unwrap();
    let base = m.mmap(pid, &contents(16)).unwrap();
    m.reclaim(g, 16).unwrap();
    let (used, charged) = (mem.node_stats()[0].used, cg.usage_pages(g).unwrap());
    swap.fail_next_swapin
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let mut out = vec![0u8; 4096];
    assert!(m.read_pages(pid, &[base + 1], &mut out).is_err());
    assert_eq!(
        m.placement(pid).unwrap()[1],
        (-1, true),
        "still swapped out"
    );
    assert_eq!(
        (mem.node_stats()[0].used, cg.usage_pages(g).unwrap()),
        (used, charged)
    );
    m.read_pages(pid, &[base + 1], &mut out).unwrap();
    assert_eq!(out, page(1));
    m.exit(pid).unwrap();
    assert_eq!(
        (cg.usage_pages(g).unwrap(), cg.swap_usage_pages(g).unwrap()),
        (0, 0)
    );
    assert_eq!(mem.node_stats()[0].used, 0);
    cg.remove("/g").unwrap();
}

#[test]
fn a_populated_cgroup_cannot_be_removed_and_mmap_is_all_or_nothing() {
    let mem = Arc::new(Memory::new(&[4096], 4096).unwrap());
    let cg = Arc::new(Cgroups::new(1, 4096).unwrap());
    let m = Machine::new(mem.clone(), cg.clone(), Arc::new(Refusing)).unwrap();
    let g = cg.create("/g").unwrap();
    cg.write_file(g, "memory.max", "40K").unwrap(); // 10 pages, nothing can be swapped
    let pid = m.spawn(g, &[]).unwrap();
    assert!(
        matches!(cg.remove("/g"), Err(ZsError::Cgroup(_))),
        "EBUSY while populated"
    );
    assert!(m.mmap(pid, &contents(12)).is_err());
    assert_eq!(m.placement(pid).unwrap().len(), 0, "nothing stays mapped");
    assert_eq!(cg.usage_pages(g).unwrap(), 0);
    assert_eq!(mem.node_stats()[0].used, 0);
    m.exit(pid).unwrap();
    cg.remove("/g").unwrap();
}

#[test]
fn reclaim_is_counted_by_who_reclaims() {
    let r = rig(&[512], 4096);
    let g = r.cg.create("/g").unwrap();
    let pid = r.m.spawn(g, &[]).unwrap();
    r.m.mmap(pid, &contents(64)).unwrap();
    r.m.reclaim(g, 8).unwrap();
    let stat = |k: &str| -> u64 {
        let text = r.cg.read_file(g, "memory.stat").unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k} ")))
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(stat("pgsteal_proactive"), 8);
    assert_eq!(stat("pgsteal_direct") + stat("pgsteal_kswapd"), 0);
    r.m.set_min_free_kbytes(512 * 4 / 4).unwrap(); // a quarter of RAM: low = 160 pages free
    r.m.mmap(pid, &contents(400)).unwrap();
    assert!(stat("pgsteal_kswapd") > 0);
    let free = 512 - r.mem.node_stats()[0].used;
    assert!(
        free >= 128,
        "kswapd keeps about the low watermark free: {free}"
    );
}

#[test]
fn a_range_with_an_unmapped_page_is_refused_before_any_page_is_touched() {
    let r = rig(&[4096], 4096);
    assert!(r.m.set_min_free_kbytes(u64::MAX).is_err(), "no wrap-around");
    let g = r.cg.create("/g").unwrap();
    let pid = r.m.spawn(g, &[]).unwrap();
    let base = r.m.mmap(pid, &contents(8)).unwrap();
    assert_eq!(r.m.nr_pages(pid).unwrap(), 8);
    r.m.reclaim(g, 8).unwrap();
    let before = r.m.stats();
    let vpns: Vec<u64> = (base..base + 9).collect();
    let new = contents(9);
    assert!(r.m.write_pages(pid, &vpns, &new).is_err());
    assert!(r.m.access(pid, &[base, base + 1, base + 8]).is_err());
    let mut out = vec![0u8; 9 * 4096];
    assert!(r.m.read_pages(pid, &vpns, &mut out).is_err());
    assert_eq!(r.m.stats(), before, "nothing was faulted in");
    let mut out = vec![0u8; 8 * 4096];
    r.m.read_pages(pid, &vpns[..8], &mut out).unwrap();
    assert_eq!(out, contents(8), "no page was overwritten");
}
