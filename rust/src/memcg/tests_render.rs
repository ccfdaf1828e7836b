//! Kernel text formats: key orders, units, the small files, memparse.

use super::*;
use crate::error::ZsError;
use crate::parse::memparse;

const PS: u64 = 4096;

fn cg() -> Cgroups {
    Cgroups::new(2, PS as usize).unwrap()
}

fn keys(text: &str) -> Vec<&str> {
    text.lines().map(|l| l.split(' ').next().unwrap()).collect()
}

/// memory.stat keys of Linux 6.12 – 7.0 (memory_stats[], slab, pgscan/pgsteal, events).
const MEMORY_STAT_KEYS: &[&str] = &[
    "anon",
    "file",
    "kernel",
    "kernel_stack",
    "pagetables",
    "sec_pagetables",
    "percpu",
    "sock",
    "vmalloc",
    "shmem",
    "zswap",
    "zswapped",
    "file_mapped",
    "file_dirty",
    "file_writeback",
    "swapcached",
    "anon_thp",
    "file_thp",
    "shmem_thp",
    "inactive_anon",
    "active_anon",
    "inactive_file",
    "active_file",
    "unevictable",
    "slab_reclaimable",
    "slab_unreclaimable",
    "slab",
    "workingset_refault_anon",
    "workingset_refault_file",
    "workingset_activate_anon",
    "workingset_activate_file",
    "workingset_restore_anon",
    "workingset_restore_file",
    "workingset_nodereclaim",
    "pgdemote_kswapd",
    "pgdemote_direct",
    "pgdemote_khugepaged",
    "pgdemote_proactive",
    "pgpromote_success",
    "pgscan",
    "pgsteal",
    "pswpin",
    "pswpout",
    "pgscan_kswapd",
    "pgscan_direct",
    "pgscan_khugepaged",
    "pgscan_proactive",
    "pgsteal_kswapd",
    "pgsteal_direct",
    "pgsteal_khugepaged",
    "pgsteal_proactive",
    "pgfault",
    "pgmajfault",
    "pgrefill",
    "pgactivate",
    "pgdeactivate",
    "pglazyfree",
    "pglazyfreed",
    "swpin_zero",
    "swpout_zero",
    "zswpin",
    "zswpout",
    "zswpwb",
    "thp_fault_alloc",
    "thp_collapse_alloc",
    "thp_swpout",
    "thp_swpout_fallback",
    "numa_pages_migrated",
    "numa_pte_updates",
    "numa_hint_faults",
];

/// memory.numa_stat keys (the node items of memory_stats[]) with the series' zswap pair.
const NUMA_STAT_KEYS: &[&str] = &[
    "anon",
    "file",
    "kernel_stack",
    "pagetables",
    "sec_pagetables",
    "shmem",
    "zswap",
    "zswapped",
    "file_mapped",
    "file_dirty",
    "file_writeback",
    "swapcached",
    "anon_thp",
    "file_thp",
    "shmem_thp",
    "inactive_anon",
    "active_anon",
    "inactive_file",
    "active_file",
    "unevictable",
    "slab_reclaimable",
    "slab_unreclaimable",
    "hugetlb",
    "workingset_refault_anon",
    "workingset_refault_file",
    "workingset_activate_anon",
    "workingset_activate_file",
    "workingset_restore_anon",
    "workingset_restore_file",
    "workingset_nodereclaim",
    "pgdemote_kswapd",
    "pgdemote_direct",
    "pgdemote_khugepaged",
    "pgdemote_proactive",
    "pgpromote_success",
];

#[test]
fn memory_stat_has_kernel_keys_in_kernel_order() {
    let c = cg();
    let a = c.create("/a").unwrap();
    let text = c.read_file(a, "memory.stat").unwrap();
    assert_eq!(keys(&text), MEMORY_STAT_KEYS);
    assert!(
        text.lines().all(|l| l.ends_with(" 0")),
        "fresh cgroup: all zero"
    );
    let root = c.read_file(ROOT_MEMCG, "memory.stat").unwrap();
    assert_eq!(keys(&root), MEMORY_STAT_KEYS, "root has memory.stat too");
    let map = c.memory_stat(a).unwrap();
    assert_eq!(
        map.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        MEMORY_STAT_KEYS
    );
}

#[test]
fn memory_stat_units() {
    let c = cg();
    let a = c.create("/a").unwrap();
    let it = |n: &str| c.stat_item(n).unwrap();
    c.mod_lruvec_state(a, 0, it("anon"), 3).unwrap();
    c.mod_lruvec_state(a, 1, it("kernel_stack"), 16).unwrap();
    c.mod_lruvec_state(a, 0, it("slab_reclaimable"), 1000)
        .unwrap();
    c.mod_lruvec_state(a, 1, it("slab_unreclaimable"), 24)
        .unwrap();
    c.mod_memcg_state(a, it("percpu"), 77).unwrap();
    c.mod_memcg_state(a, it("sock"), 2).unwrap();
    c.mod_lruvec_state(a, 0, it("workingset_refault_anon"), 5)
        .unwrap();
    c.mod_memcg_lruvec_state(a, 0, it("zswap"), 1234).unwrap();
    c.mod_memcg_lruvec_state(a, 1, it("zswapped"), 4096)
        .unwrap();
    c.count_memcg_event(a, it("pgscan_kswapd"), 2).unwrap();
    c.count_memcg_event(a, it("pgscan_proactive"), 3).unwrap();
    c.count_memcg_event(a, it("pgsteal_direct"), 1).unwrap();
    c.count_memcg_event(a, it("zswpout"), 9).unwrap();
    let text = c.read_file(a, "memory.stat").unwrap();
    for line in [
        "anon 12288\n",
        "kernel_stack 16384\n",
        "percpu 77\nsock 8192\n",
        "shmem 0\nzswap 1234\nzswapped 4096\nfile_mapped 0\n",
        "slab_reclaimable 1000\nslab_unreclaimable 24\nslab 1024\nworkingset_refault_anon 5\n",
        "pgpromote_success 0\npgscan 5\npgsteal 1\npswpin 0\n",
        "zswpin 0\nzswpout 9\nzswpwb 0\nthp_fault_alloc 0\n",
    ] {
        assert!(text.contains(line), "{line:?} not in\n{text}");
    }
    assert!(text.starts_with("anon 12288\nfile 0\nkernel 0\n"));
}

#[test]
fn negative_transients_print_as_zero() {
    let c = cg();
    let a = c.create("/a").unwrap();
    c.mod_lruvec_state(a, 0, c.stat_item("anon").unwrap(), -5)
        .unwrap();
    assert!(c
        .read_file(a, "memory.stat")
        .unwrap()
        .starts_with("anon 0\n"));
    assert!(c
        .read_file(a, "memory.numa_stat")
        .unwrap()
        .starts_with("anon N0=0 N1=0\n"));
    assert!(c.node_vmstat(0).unwrap().contains("\nnr_anon_pages 0\n"));
}

#[test]
fn hugetlb_key_follows_accounting() {
    let c = cg();
    let stat = c.read_file(ROOT_MEMCG, "memory.stat").unwrap();
    assert!(!stat.contains("hugetlb"));
    assert!(c
        .read_file(ROOT_MEMCG, "memory.numa_stat")
        .unwrap()
        .contains("\nhugetlb N0=0 N1=0\n"));
    let cfg = MemcgConfig {
        hugetlb_accounting: true,
        ..MemcgConfig::new(1, 4096)
    };
    let c = Cgroups::with_config(cfg).unwrap();
    let stat = c.read_file(ROOT_MEMCG, "memory.stat").unwrap();
    assert!(stat.contains("\nslab 0\nhugetlb 0\nworkingset_refault_anon 0\n"));
}

#[test]
fn numa_stat_format_and_per_node_bytes() {
    let c = cg();
    let a = c.create("/a").unwrap();
    let b = c.create("/a/b").unwrap();
    let o = c.get_objcg(b).unwrap().unwrap();
    let k = *c.items();
    // One object of a 3072-byte class spanning node 0 (offset 2048) and node 1.
    c.mod_objcg_lruvec_state(o, 0, k.zswap, 2048).unwrap();
    c.mod_objcg_lruvec_state(o, 1, k.zswap, 1024).unwrap();
    c.mod_objcg_lruvec_state(o, 0, k.zswapped, 2730).unwrap();
    c.mod_objcg_lruvec_state(o, 1, k.zswapped, 4096 - 2730)
        .unwrap();
    c.mod_lruvec_state(b, 1, c.stat_item("file").unwrap(), 2)
        .unwrap();
    let text = c.read_file(a, "memory.numa_stat").unwrap();
    assert_eq!(keys(&text), NUMA_STAT_KEYS);
    assert!(
        text.starts_with("anon N0=0 N1=0\nfile N0=0 N1=8192\n"),
        "{text}"
    );
    assert!(text.contains("\nshmem N0=0 N1=0\nzswap N0=2048 N1=1024\nzswapped N0=2730 N1=1366\n"));
    assert_eq!(
        c.read_file(a, "memory.stat").unwrap().lines().nth(10),
        Some("zswap 3072")
    );
    let map = c.memory_numa_stat(b).unwrap();
    assert_eq!(map[6], ("zswap", vec![2048, 1024]));
    let one = Cgroups::new(1, 4096).unwrap();
    assert!(one
        .read_file(ROOT_MEMCG, "memory.numa_stat")
        .unwrap()
        .starts_with("anon N0=0\n"));
}

/// Node vmstat keys (vmstat_text[] zone, NUMA and node items, 6.17+) with the series' pair.
const VMSTAT_KEYS: &[&str] = &[
    "nr_free_pages",
    "nr_free_pages_blocks",
    "nr_zone_inactive_anon",
    "nr_zone_active_anon",
    "nr_zone_inactive_file",
    "nr_zone_active_file",
    "nr_zone_unevictable",
    "nr_zone_write_pending",
    "nr_mlock",
    "nr_zspages",
    "nr_free_cma",
    "nr_unaccepted",
    "numa_hit",
    "numa_miss",
    "numa_foreign",
    "numa_interleave",
    "numa_local",
    "numa_other",
    "nr_inactive_anon",
    "nr_active_anon",
    "nr_inactive_file",
    "nr_active_file",
    "nr_unevictable",
    "nr_slab_reclaimable",
    "nr_slab_unreclaimable",
    "nr_isolated_anon",
    "nr_isolated_file",
    "workingset_nodes",
    "workingset_refault_anon",
    "workingset_refault_file",
    "workingset_activate_anon",
    "workingset_activate_file",
    "workingset_restore_anon",
    "workingset_restore_file",
    "workingset_nodereclaim",
    "nr_anon_pages",
    "nr_mapped",
    "nr_file_pages",
    "nr_dirty",
    "nr_writeback",
    "nr_shmem",
    "nr_shmem_hugepages",
    "nr_shmem_pmdmapped",
    "nr_file_hugepages",
    "nr_file_pmdmapped",
    "nr_anon_transparent_hugepages",
    "nr_vmscan_write",
    "nr_vmscan_immediate_reclaim",
    "nr_dirtied",
    "nr_written",
    "nr_throttled_written",
    "nr_kernel_misc_reclaimable",
    "nr_foll_pin_acquired",
    "nr_foll_pin_released",
    "nr_kernel_stack",
    "nr_page_table_pages",
    "nr_sec_page_table_pages",
    "nr_iommu_pages",
    "nr_swapcached",
    "pgpromote_success",
    "pgpromote_candidate",
    "pgdemote_kswapd",
    "pgdemote_direct",
    "pgdemote_khugepaged",
    "pgdemote_proactive",
    "nr_hugetlb",
    "zswap",
    "zswapped",
    "nr_balloon_pages",
];

#[test]
fn node_vmstat_keys_and_units() {
    let c = cg();
    let a = c.create("/a").unwrap();
    let it = |n: &str| c.stat_item(n).unwrap();
    c.mod_node_state(1, it("nr_zspages"), 7).unwrap();
    c.mod_node_state(1, it("zswap"), 7).unwrap(); // the series counts pool pages here
    c.mod_node_state(1, it("zswapped"), 3).unwrap();
    c.mod_lruvec_state(a, 1, it("slab_reclaimable"), 3 * 4096 + 5)
        .unwrap();
    c.mod_lruvec_state(a, 1, it("anon_thp"), 1024).unwrap();
    c.mod_lruvec_state(a, 1, it("kernel_stack"), 48).unwrap();
    let text = c.node_vmstat(1).unwrap();
    assert_eq!(keys(&text), VMSTAT_KEYS);
    for line in [
        "\nnr_zspages 7\n",
        "\nnr_hugetlb 0\nzswap 7\nzswapped 3\nnr_balloon_pages 0\n",
        "\nnr_slab_reclaimable 3\n",
        "\nnr_anon_transparent_hugepages 2\n",
        "\nnr_kernel_stack 48\n",
    ] {
        assert!(text.contains(line), "{line:?} not in\n{text}");
    }
    assert!(c.node_vmstat(0).unwrap().lines().all(|l| l.ends_with(" 0")));
    assert!(c.node_vmstat(2).is_err());
    assert_eq!(c.node_vmstat_map(1).unwrap()[9], ("nr_zspages", 7));
}

#[test]
fn small_files_read_back_like_the_kernel() {
    let c = cg();
    let a = c.create("/a").unwrap();
    let rd = |n: &str| c.read_file(a, n).unwrap();
    assert_eq!(rd("memory.current"), "0\n");
    assert_eq!(rd("memory.max"), "max\n");
    assert_eq!(rd("memory.zswap.max"), "max\n");
    assert_eq!(rd("memory.zswap.current"), "0\n");
    assert_eq!(rd("memory.zswap.writeback"), "1\n");
    for (input, back) in [
        ("1G", "1073741824\n"),
        ("64M\n", "67108864\n"),
        ("  2k ", "0\n"), // 2048 bytes round down to 0 pages
        ("4097", "4096\n"),
        ("0x2000", "8192\n"),
        ("010000", "4096\n"), // octal 4096
        ("1t", "1099511627776\n"),
        ("", "0\n"), // memparse("") is 0, as in the kernel
        ("max", "max\n"),
        ("16E", "max\n"),                // capped at PAGE_COUNTER_MAX
        ("17179869184G", "max\n"),       // 2^64: the suffix overflows, memparse saturates
        ("18446744073709551617", "0\n"), // 2^64 + 1 wraps (simple_strtoull) to 1 byte
    ] {
        c.write_file(a, "memory.max", input).unwrap();
        assert_eq!(rd("memory.max"), back, "{input:?}");
    }
    c.write_file(a, "memory.zswap.max", "10K").unwrap();
    assert_eq!(rd("memory.zswap.max"), "8192\n");
    for bad in ["1GB", "-1", "1 G", "abc", "max2", "0x"] {
        let r = c.write_file(a, "memory.max", bad);
        assert!(
            matches!(r, Err(ZsError::InvalidArgument(_))),
            "{bad:?}: {r:?}"
        );
    }
    c.write_file(a, "memory.max", "8K").unwrap();
    c.charge(a, 3, true).unwrap();
    c.uncharge(a, 1).unwrap();
    assert_eq!(rd("memory.current"), "8192\n");
    assert_eq!(rd("memory.peak"), "12288\n");
    assert_eq!(
        rd("memory.events"),
        "low 0\nhigh 0\nmax 1\noom 0\noom_kill 0\noom_group_kill 0\nsock_throttled 0\n"
    );
    assert_eq!(rd("memory.events.local"), rd("memory.events"));
}

#[test]
fn file_errors_and_root_files() {
    let c = cg();
    let a = c.create("/a").unwrap();
    for f in [
        "memory.current",
        "memory.max",
        "memory.zswap.current",
        "memory.zswap.max",
    ] {
        assert!(
            matches!(c.read_file(ROOT_MEMCG, f), Err(ZsError::Cgroup(_))),
            "{f}"
        );
        assert!(c.read_file(a, f).is_ok());
    }
    assert!(matches!(
        c.write_file(ROOT_MEMCG, "memory.max", "1G"),
        Err(ZsError::Cgroup(_))
    ));
    assert!(matches!(
        c.read_file(a, "memory.bogus"),
        Err(ZsError::Cgroup(_))
    ));
    assert!(matches!(
        c.write_file(a, "memory.stat", "1"),
        Err(ZsError::Cgroup(_))
    ));
    assert!(matches!(
        c.read_file(99, "memory.stat"),
        Err(ZsError::Cgroup(_))
    ));
    assert_eq!(
        c.file_names(ROOT_MEMCG).unwrap(),
        ["memory.stat", "memory.numa_stat", "memory.zswap.writeback"]
    );
    assert_eq!(c.file_names(a).unwrap().len(), 14);
    for f in c.file_names(a).unwrap() {
        c.read_file(a, f).unwrap();
    }
}

#[test]
fn memparse_matches_the_kernel() {
    assert_eq!(memparse("1k"), (1024, ""));
    assert_eq!(memparse("3M"), (3 << 20, ""));
    assert_eq!(memparse("2g"), (2 << 30, ""));
    assert_eq!(memparse("1P"), (1 << 50, ""));
    assert_eq!(memparse("1E"), (1 << 60, ""));
    assert_eq!(memparse("16E"), (u64::MAX, ""), "saturates");
    assert_eq!(memparse("12KB"), (12 << 10, "B"));
    assert_eq!(memparse("0x10"), (16, ""));
    assert_eq!(memparse("0x"), (0, "x"));
    assert_eq!(memparse("017"), (15, ""));
    assert_eq!(memparse("09"), (0, "9"));
    assert_eq!(memparse("x"), (0, "x"));
    assert_eq!(page_counter_memparse(" 8K \n", 4096).unwrap(), 2);
    assert_eq!(
        page_counter_memparse("max", 16384).unwrap(),
        page_counter_max(16384)
    );
    assert_eq!(page_counter_max(4096), (i64::MAX as u64) / 4096);
}

#[test]
fn page_size_is_a_parameter() {
    let c = Cgroups::new(1, 16384).unwrap();
    let a = c.create("/a").unwrap();
    c.write_file(a, "memory.max", "40K").unwrap();
    assert_eq!(c.read_file(a, "memory.max").unwrap(), "32768\n");
    let o = c.get_objcg(a).unwrap().unwrap();
    c.obj_cgroup_charge(o, 5000, false).unwrap();
    assert_eq!(c.objcg_stock(o).unwrap(), 16384 - 5000);
    assert_eq!(c.read_file(a, "memory.current").unwrap(), "16384\n");
    c.mod_lruvec_state(a, 0, c.stat_item("anon_thp").unwrap(), 2048)
        .unwrap();
    // HPAGE_PMD_NR = 16384 / 8 = 2048 base pages per huge page.
    assert!(c
        .node_vmstat(0)
        .unwrap()
        .contains("\nnr_anon_transparent_hugepages 1\n"));
}

#[test]
fn extra_items_are_registered_and_rendered() {
    let cfg = MemcgConfig {
        extra_items: vec![
            StatItemDef::new(
                "zram",
                StatLevel::Lruvec,
                StatUnit::Bytes,
                Some("nr_zram_b"),
            ),
            StatItemDef::new("zram_events", StatLevel::Event, StatUnit::Count, None),
        ],
        ..MemcgConfig::new(2, 4096)
    };
    let c = Cgroups::with_config(cfg).unwrap();
    let a = c.create("/a").unwrap();
    let z = c.stat_item("zram").unwrap();
    assert_eq!(c.stat_item("nr_zram_b").unwrap(), z);
    c.mod_lruvec_state(a, 1, z, 8192).unwrap();
    c.count_memcg_event(a, c.stat_item("zram_events").unwrap(), 1)
        .unwrap();
    let stat = c.read_file(a, "memory.stat").unwrap();
    assert!(
        stat.contains("\npgpromote_success 0\nzram 8192\npgscan 0\n"),
        "{stat}"
    );
    assert!(stat.ends_with("numa_hint_faults 0\nzram_events 1\n"));
    assert!(c
        .read_file(a, "memory.numa_stat")
        .unwrap()
        .ends_with("\nzram N0=0 N1=8192\n"));
    assert!(c
        .node_vmstat(1)
        .unwrap()
        .ends_with("nr_balloon_pages 0\nnr_zram_b 2\n"));
}
