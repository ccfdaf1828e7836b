//! zswap's store path (`zswap_store`, `zswap_store_page` in `mm/zswap.c`): zero pages,
//! charging, incompressible pages, large folios, replaced entries and the reject counters.
//! Each test runs in both accounting modes where the mode matters (`zsmalloc`: the series,
//! memcg `zswap` = slot sizes with per-node numa_stat lines; `consumer`: compressed lengths,
//! memcg-wide only).

#[path = "common/zswap_world.rs"]
mod zswap_world;

use zswap_world::*;

// ---------------------------------------------------------------- store (facts 1–7)

/// Fact 1 of zswap's acceptance facts.
#[test]
fn zero_pages_never_reach_zswap() {
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

/// Fact 2 of zswap's acceptance facts.
#[test]
fn store_charges_the_length_and_counts_the_event() {
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

/// Facts 3, 5, 26 of zswap's acceptance facts.
#[test]
fn incompressible_pages_are_kept_as_is() {
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

/// Fact 4 of zswap's acceptance facts.
#[test]
fn incompressible_pages_are_rejected_when_writeback_is_disabled() {
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

/// Fact 6 of zswap's acceptance facts.
#[test]
fn a_large_folio_is_stored_all_or_nothing() {
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

/// Fact 7 of zswap's acceptance facts.
#[test]
fn a_store_to_an_occupied_slot_replaces_the_entry() {
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
