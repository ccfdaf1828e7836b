//! zswap's load and invalidate paths (`zswap_load`, `zswap_invalidate` in `mm/zswap.c`), one page
//! and in batches, and a swap-in of a slot with nothing behind it.
//! Each test runs in both accounting modes where the mode matters (`zsmalloc`: the series,
//! memcg `zswap` = slot sizes with per-node numa_stat lines; `consumer`: compressed lengths,
//! memcg-wide only).

#[path = "common/zswap_world.rs"]
mod zswap_world;

use zswap_world::*;

// ---------------------------------------------------------------- load / invalidate (16–19)

/// Facts 16, 17, 18, 19 of zswap's acceptance facts.
#[test]
fn load_miss_decompression_failure_and_invalidate() {
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
