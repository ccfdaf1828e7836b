//! zram's rules (`drivers/block/zram/zram_drv.c`, acceptance facts 34-44), each checked on exact counters
//! and exact file texts.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use zsrs::mem::Memory;
use zsrs::pagegen::{w1_page, SplitMix64};
use zsrs::zram::{Zram, ZramConfig};
use zsrs::Errno;

const PS: usize = 4096;

fn mem() -> Arc<Memory> {
    Arc::new(Memory::new(&[1 << 15], PS).unwrap())
}

fn device(disksize: &str) -> Zram {
    let dev = Zram::new(mem(), ZramConfig::new("zram0")).unwrap();
    dev.write_file("comp_algorithm", "lz4").unwrap();
    dev.write_file("disksize", disksize).unwrap();
    dev
}

fn random_page(seed: u64) -> Vec<u8> {
    let mut p = vec![0u8; PS];
    SplitMix64::new(seed).fill_bytes(&mut p);
    p
}

/// Text-like data: words from a small vocabulary, so every algorithm compresses it, zstd and
/// deflate better than lz4.
fn text_page(seed: u64) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "zram ",
        "page ",
        "slot ",
        "memory ",
        "compressed ",
        "the ",
        "of ",
        "and ",
        "kernel ",
        "swap ",
        "idle ",
        "huge ",
        "pool ",
        "class ",
        "object ",
        "writeback ",
    ];
    let mut rng = SplitMix64::new(seed);
    let mut p = Vec::with_capacity(PS + 16);
    while p.len() < PS {
        let r = rng.next_u64();
        p.extend_from_slice(WORDS[(r % 16) as usize].as_bytes());
        if r.is_multiple_of(7) {
            p.extend_from_slice(format!("{} ", r % 1000).as_bytes());
        }
    }
    p.truncate(PS);
    p
}

fn read(dev: &Zram, i: u64) -> Vec<u8> {
    let mut out = vec![0u8; PS];
    dev.read_page(i, &mut out).unwrap();
    out
}

fn errno_of<T: std::fmt::Debug>(r: zsrs::Result<T>) -> Errno {
    r.unwrap_err().errno()
}

fn temp_path(tag: &str) -> std::path::PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "zsrs-zram-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

struct TempFile(std::path::PathBuf);
impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn backing_file(pages: usize) -> TempFile {
    let p = temp_path("bd");
    std::fs::write(&p, vec![0u8; pages * PS]).unwrap();
    TempFile(p)
}

#[test]
fn fresh_device_files_have_the_kernels_formats() {
    let dev = Zram::new(mem(), ZramConfig::new("zram0")).unwrap();
    assert_eq!(dev.read_file("initstate").unwrap(), "0\n");
    assert_eq!(dev.read_file("disksize").unwrap(), "0\n");
    assert_eq!(
        dev.read_file("mm_stat").unwrap(),
        "       0        0        0        0        0        0        0        0        0\n"
    );
    assert_eq!(
        dev.read_file("io_stat").unwrap(),
        "       0        0 0        0\n"
    );
    assert_eq!(
        dev.read_file("bd_stat").unwrap(),
        "       0        0        0\n"
    );
    assert_eq!(
        dev.read_file("debug_stat").unwrap(),
        "version: 1\n0        0\n"
    );
    assert_eq!(
        dev.read_file("comp_algorithm").unwrap(),
        "[lz4] lz4hc zstd deflate \n"
    );
    assert_eq!(dev.read_file("backing_dev").unwrap(), "none\n");
    assert_eq!(dev.read_file("writeback_limit").unwrap(), "0\n");
    assert_eq!(dev.read_file("writeback_limit_enable").unwrap(), "0\n");
    assert_eq!(dev.read_file("recomp_algorithm").unwrap(), "");
    dev.write_file("comp_algorithm", "zstd\n").unwrap();
    assert_eq!(
        dev.read_file("comp_algorithm").unwrap(),
        "lz4 lz4hc [zstd] deflate \n"
    );
    dev.write_file("disksize", "1M").unwrap();
    assert_eq!(dev.read_file("initstate").unwrap(), "1\n");
    assert_eq!(dev.read_file("disksize").unwrap(), "1048576\n");
    assert_eq!(dev.nr_pages(), 256);
}

#[test]
fn disksize_is_memparsed_and_rounded_up_to_pages() {
    let dev = Zram::new(mem(), ZramConfig::new("zram0")).unwrap();
    dev.write_file("disksize", "5000").unwrap();
    assert_eq!(dev.disksize(), 8192);
    let dev = Zram::new(mem(), ZramConfig::new("zram0")).unwrap();
    assert_eq!(errno_of(dev.write_file("disksize", "0")), Errno::EINVAL);
    assert_eq!(errno_of(dev.write_file("disksize", "abc")), Errno::EINVAL);
    // Within a page of 2**64, PAGE_ALIGN wraps: ENOMEM, and the device stays uninitialised.
    assert_eq!(
        errno_of(dev.set_disksize(u64::MAX)),
        Errno::ENOMEM,
        "no device of 0 bytes"
    );
    assert_eq!(dev.disksize(), 0);
    dev.write_file("disksize", "0x10000").unwrap();
    assert_eq!(dev.disksize(), 65536);
}

#[test]
fn same_filled_page_is_stored_without_the_allocator() {
    let dev = device("1M");
    let word = 0xdead_beef_cafe_babe_u64;
    let page: Vec<u8> = word
        .to_le_bytes()
        .iter()
        .copied()
        .cycle()
        .take(PS)
        .collect();
    dev.write_page(3, &page).unwrap();
    let m = dev.mm_stat();
    assert_eq!(
        (
            m.orig_data_size,
            m.compr_data_size,
            m.mem_used_total,
            m.same_pages
        ),
        (4096, 0, 0, 1)
    );
    assert_eq!(read(&dev, 3), page);
    let info = dev.slot_info(3).unwrap();
    assert!(info.same && info.fill == word && info.size == 0);
    // A page that differs only in its last word is not same-filled.
    let mut p2 = page.clone();
    p2[PS - 1] ^= 1;
    dev.write_page(3, &p2).unwrap();
    let m = dev.mm_stat();
    assert_eq!((m.same_pages, m.orig_data_size), (0, 4096));
    assert!(m.compr_data_size > 0 && m.mem_used_total > 0);
    assert_eq!(read(&dev, 3), p2);
    assert_eq!(
        dev.read_file("mm_stat").unwrap(),
        format!(
            "    4096 {:8} {:8}        0 {:8}        0        0        0        0\n",
            m.compr_data_size, m.mem_used_total, m.mem_used_total
        )
    );
}

#[test]
fn incompressible_page_is_stored_raw_as_huge() {
    let dev = device("1M");
    let hcs = dev.huge_class_size();
    assert_eq!(hcs, 3625);
    dev.write_page(0, &random_page(1)).unwrap();
    dev.write_page(1, &random_page(2)).unwrap();
    let m = dev.mm_stat();
    assert_eq!(
        (
            m.compr_data_size,
            m.huge_pages,
            m.huge_pages_since,
            m.mem_used_total
        ),
        (8192, 2, 2, 8192)
    );
    assert!(dev.slot_info(0).unwrap().huge);
    assert_eq!(read(&dev, 0), random_page(1));
    // Freeing decrements huge_pages only.
    dev.discard(0, 1).unwrap();
    let m = dev.mm_stat();
    assert_eq!(
        (m.compr_data_size, m.huge_pages, m.huge_pages_since),
        (4096, 1, 2)
    );
    // The boundary: a compressed length of huge_class_size - 1 is not huge; W1 page lengths
    // straddle it.
    let mut below = None;
    let mut at_or_above = None;
    for i in 0..4097u64 {
        let p = w1_page(i, PS);
        dev.write_page(2, &p).unwrap();
        let s = dev.slot_info(2).unwrap();
        if s.huge {
            at_or_above.get_or_insert(i);
        } else if !s.same {
            below = Some((i, s.size));
        }
        if at_or_above.is_some() {
            break;
        }
    }
    assert!(below.unwrap().1 < hcs);
    assert!(at_or_above.is_some());
}

#[test]
fn overwrite_allocates_the_new_object_before_freeing_the_old() {
    // Huge objects take a one-page zspage each: allocating first means two pages at the peak.
    let dev = device("1M");
    dev.write_page(0, &random_page(1)).unwrap();
    assert_eq!(dev.mm_stat().mem_used_max, 4096);
    dev.write_page(0, &random_page(2)).unwrap();
    let m = dev.mm_stat();
    assert_eq!((m.mem_used_total, m.mem_used_max), (4096, 8192));
    assert_eq!(
        (m.huge_pages, m.huge_pages_since, m.orig_data_size),
        (1, 2, 4096)
    );
    assert_eq!(read(&dev, 0), random_page(2));
}

#[test]
fn mem_limit_refuses_the_write_and_keeps_the_old_data() {
    let dev = device("1M");
    dev.write_page(0, &random_page(1)).unwrap();
    dev.write_file("mem_limit", "4K").unwrap();
    assert_eq!(dev.mm_stat().mem_limit, 4096);
    let err = dev.write_page(0, &random_page(2)).unwrap_err();
    assert_eq!(err.errno(), Errno::ENOMEM);
    assert_eq!(read(&dev, 0), random_page(1));
    let m = dev.mm_stat();
    assert_eq!(
        (
            m.mem_used_total,
            m.mem_used_max,
            m.huge_pages,
            m.huge_pages_since
        ),
        (4096, 8192, 1, 1)
    );
    assert_eq!(dev.io_stat().failed_writes, 1);
    assert_eq!(
        dev.read_file("io_stat").unwrap(),
        "       0        1 0        0\n"
    );
    // A write to another slot fails the same way; same-filled pages need no memory.
    assert!(dev.write_page(1, &random_page(3)).is_err());
    dev.write_page(1, &[0u8; PS]).unwrap();
    assert_eq!(dev.io_stat().failed_writes, 2);
    // Lifting the limit lets writes through; the limit is rounded up to pages.
    dev.write_file("mem_limit", "1").unwrap();
    assert_eq!(dev.mm_stat().mem_limit, 4096);
    dev.write_file("mem_limit", "0").unwrap();
    dev.write_page(0, &random_page(2)).unwrap();
    assert_eq!(read(&dev, 0), random_page(2));
    assert_eq!(errno_of(dev.write_file("mem_limit", "x")), Errno::EINVAL);
}

#[test]
fn mem_used_max_accepts_only_zero() {
    let dev = device("1M");
    dev.write_page(0, &random_page(1)).unwrap();
    dev.write_page(1, &random_page(2)).unwrap();
    dev.discard(0, 1).unwrap();
    assert_eq!(dev.mm_stat().mem_used_max, 8192);
    assert_eq!(errno_of(dev.write_file("mem_used_max", "1")), Errno::EINVAL);
    assert_eq!(errno_of(dev.write_file("mem_used_max", "")), Errno::EINVAL);
    dev.write_file("mem_used_max", "0\n").unwrap();
    assert_eq!(dev.mm_stat().mem_used_max, 4096);
}

#[test]
fn attribute_errors_follow_the_kernel() {
    let dev = Arc::new(device("1M"));
    assert_eq!(errno_of(dev.write_file("disksize", "2M")), Errno::EBUSY);
    assert_eq!(
        errno_of(dev.write_file("comp_algorithm", "zstd")),
        Errno::EBUSY
    );
    assert_eq!(
        errno_of(dev.write_file("comp_algorithm", "nope")),
        Errno::EINVAL
    );
    assert_eq!(
        errno_of(dev.write_file("comp_algorithm", &"x".repeat(200))),
        Errno::E2BIG
    );
    let bd = backing_file(4);
    assert_eq!(
        errno_of(dev.write_file("backing_dev", bd.0.to_str().unwrap())),
        Errno::EBUSY
    );
    assert_eq!(errno_of(dev.read_file("reset")), Errno::EACCES);
    assert_eq!(errno_of(dev.write_file("mm_stat", "1")), Errno::EACCES);
    assert_eq!(errno_of(dev.read_file("nope")), Errno::ENOENT);
    assert_eq!(errno_of(dev.write_file("reset", "0")), Errno::EINVAL);
    assert_eq!(errno_of(dev.write_file("reset", "x")), Errno::EINVAL);
    assert_eq!(errno_of(dev.write_file("reset", "70000")), Errno::ERANGE);
    assert_eq!(errno_of(dev.write_file("idle", "60")), Errno::EINVAL);
    let guard = dev.open();
    assert_eq!(errno_of(dev.write_file("reset", "1")), Errno::EBUSY);
    drop(guard);
    dev.write_file("reset", "1").unwrap();
    // Uninitialised: compact, idle, writeback, recompress are EINVAL.
    assert_eq!(errno_of(dev.write_file("compact", "1")), Errno::EINVAL);
    assert_eq!(errno_of(dev.write_file("idle", "all")), Errno::EINVAL);
    assert_eq!(errno_of(dev.write_file("writeback", "idle")), Errno::EINVAL);
    assert_eq!(
        errno_of(dev.write_file("recompress", "type=idle")),
        Errno::EINVAL
    );
    assert_eq!(errno_of(dev.write_page(0, &[0u8; PS])), Errno::EINVAL);
}

#[test]
fn reset_zeroes_everything() {
    let dev = device("1M");
    dev.write_file("mem_limit", "64M").unwrap();
    dev.write_page(0, &random_page(1)).unwrap();
    dev.write_page(1, &[0u8; PS]).unwrap();
    dev.write_page(2, &text_page(1)).unwrap();
    dev.discard(2, 1).unwrap();
    dev.write_file("writeback_limit", "7").unwrap();
    dev.write_file("reset", "1").unwrap();
    assert_eq!(dev.disksize(), 0);
    assert_eq!(dev.read_file("initstate").unwrap(), "0\n");
    assert_eq!(
        dev.read_file("mm_stat").unwrap(),
        "       0        0        0        0        0        0        0        0        0\n"
    );
    assert_eq!(
        dev.read_file("io_stat").unwrap(),
        "       0        0 0        0\n"
    );
    // The writeback budget survives a reset, as in the kernel code.
    assert_eq!(dev.read_file("writeback_limit").unwrap(), "7\n");
    // The frames went back to memory, and the device can be set up again.
    assert_eq!(dev.memory().node_stats()[0].used, 0);
    dev.write_file("comp_algorithm", "zstd").unwrap();
    dev.write_file("disksize", "64K").unwrap();
    assert_eq!(read(&dev, 0), vec![0u8; PS]);
}

#[test]
fn discard_frees_whole_pages_only() {
    let dev = device("64K");
    for i in 0..8 {
        dev.write_page(i, &text_page(i)).unwrap();
    }
    // Inside one page: nothing.
    assert_eq!(dev.discard_range(100, 1000).unwrap(), 0);
    // From the middle of page 0 to the middle of page 3: pages 1 and 2.
    assert_eq!(dev.discard_range(2048, 3 * 4096).unwrap(), 2);
    assert_eq!(dev.io_stat().notify_free, 2);
    assert!(dev.slot_info(0).unwrap().allocated);
    assert!(!dev.slot_info(1).unwrap().allocated);
    assert!(!dev.slot_info(2).unwrap().allocated);
    assert!(dev.slot_info(3).unwrap().allocated);
    assert_eq!(read(&dev, 1), vec![0u8; PS]);
    assert_eq!(dev.mm_stat().orig_data_size, 6 * 4096);
    // Discarding an empty slot still counts a notification.
    dev.discard(1, 1).unwrap();
    assert_eq!(dev.io_stat().notify_free, 3);
}

#[test]
fn busy_slot_free_notify_counts_miss_free_and_keeps_the_slot() {
    let dev = device("64K");
    dev.write_page(0, &text_page(0)).unwrap();
    dev.write_page(1, &text_page(1)).unwrap();
    {
        let _hold = dev.hold_slot(0).unwrap();
        dev.slot_free_notify(0).unwrap();
    }
    assert!(dev.slot_info(0).unwrap().allocated);
    dev.slot_free_notify(1).unwrap();
    assert!(!dev.slot_info(1).unwrap().allocated);
    assert_eq!(
        dev.read_file("debug_stat").unwrap(),
        "version: 1\n0        1\n"
    );
    assert_eq!(dev.io_stat().notify_free, 2);
}

#[test]
fn byte_ranges_read_modify_write_partial_pages() {
    let dev = device("64K");
    let data: Vec<u8> = (0..9000u32).map(|i| (i % 251) as u8).collect();
    dev.write_at(1000, &data).unwrap();
    let mut out = vec![0u8; 9000];
    dev.read_at(1000, &mut out).unwrap();
    assert_eq!(out, data);
    let mut all = vec![0u8; 16384];
    dev.read_at(0, &mut all).unwrap();
    assert!(all[..1000].iter().all(|&b| b == 0));
    assert_eq!(&all[1000..10000], &data[..]);
    assert!(all[10000..].iter().all(|&b| b == 0));
    assert_eq!(dev.mm_stat().orig_data_size, 3 * 4096);
    assert_eq!(
        errno_of(dev.write_at(65536 - 10, &[1u8; 11])),
        Errno::EINVAL
    );
}

#[test]
fn batches_write_and_read_many_pages() {
    let dev = device("1M");
    let idx: Vec<u64> = (0..32).map(|i| i * 3).collect();
    let pages: Vec<u8> = idx.iter().flat_map(|&i| w1_page(i * 50, PS)).collect();
    dev.write_many(&idx, &pages).unwrap();
    let mut out = vec![0u8; pages.len()];
    dev.read_many(&idx, &mut out).unwrap();
    assert_eq!(out, pages);
    assert_eq!(dev.mm_stat().orig_data_size, 32 * 4096);
}

#[test]
fn compaction_frees_pages_and_counts_them() {
    let dev = device("4M");
    for i in 0..1000 {
        dev.write_page(i, &w1_page(i % 30 + 1, PS)).unwrap();
    }
    for i in (0..1000).step_by(2) {
        dev.discard(i, 1).unwrap();
    }
    let before = dev.mm_stat().mem_used_total;
    dev.write_file("compact", "1").unwrap();
    let m = dev.mm_stat();
    assert!(m.pages_compacted > 0);
    assert_eq!(m.mem_used_total, before - m.pages_compacted * 4096);
    for i in (1..1000).step_by(2) {
        assert_eq!(read(&dev, i), w1_page(i % 30 + 1, PS));
    }
}

#[test]
fn idle_marks_allocated_non_same_slots_and_access_clears_it() {
    let dev = device("64K");
    dev.write_page(0, &text_page(0)).unwrap();
    dev.write_page(1, &[0u8; PS]).unwrap();
    dev.write_page(2, &random_page(2)).unwrap();
    dev.write_file("idle", "all\n").unwrap();
    assert!(dev.slot_info(0).unwrap().idle);
    assert!(!dev.slot_info(1).unwrap().idle);
    assert!(dev.slot_info(2).unwrap().idle);
    assert!(!dev.slot_info(3).unwrap().idle);
    read(&dev, 0);
    assert!(!dev.slot_info(0).unwrap().idle);
    dev.write_page(2, &random_page(3)).unwrap();
    assert!(!dev.slot_info(2).unwrap().idle);
    assert_eq!(
        dev.read_file("block_state").unwrap(),
        format!(
            "{:12} {:12}.{:06} {}\n{:12} {:12}.{:06} {}\n{:12} {:12}.{:06} {}\n",
            0, 0, 0, "......", 1, 0, 0, "s.....", 2, 0, 0, "..h..."
        )
    );
}

#[test]
fn writeback_moves_idle_pages_largest_first_and_reads_them_back() {
    let bd = backing_file(16);
    let dev = Zram::new(mem(), ZramConfig::new("zram0")).unwrap();
    assert_eq!(
        errno_of(dev.write_file("backing_dev", "/nonexistent/x")),
        Errno::EIO
    );
    dev.write_file("backing_dev", &format!("{}\n", bd.0.display()))
        .unwrap();
    assert_eq!(
        dev.read_file("backing_dev").unwrap(),
        format!("{}\n", std::fs::canonicalize(&bd.0).unwrap().display())
    );
    // A relative path opens from the current directory and reads back absolute, as the
    // kernel's file_path() shows it: reach the backing file from the current directory up to
    // the root and down again.
    // (Its own file: the first device holds `bd` exclusively.)
    let bd2 = backing_file(16);
    let cwd = std::env::current_dir().unwrap().canonicalize().unwrap();
    let target = std::fs::canonicalize(&bd2.0).unwrap();
    let up = "../".repeat(cwd.components().count() - 1);
    let rel = format!("{up}{}", target.strip_prefix("/").unwrap().display());
    let other = Zram::new(mem(), ZramConfig::new("zram1")).unwrap();
    other.write_file("backing_dev", &rel).unwrap();
    assert_eq!(
        other.read_file("backing_dev").unwrap(),
        format!("{}\n", target.display())
    );
    dev.write_file("disksize", "64K").unwrap();
    let pages = [text_page(0), vec![0u8; PS], random_page(2), w1_page(5, PS)];
    for (i, p) in pages.iter().enumerate() {
        dev.write_page(i as u64, p).unwrap();
    }
    let before = dev.mm_stat();
    let small = dev.slot_info(3).unwrap().size as u64;
    let text = dev.slot_info(0).unwrap().size as u64;
    dev.write_file("idle", "all").unwrap();
    // Slot 3 is touched again: no longer idle, not written back.
    read(&dev, 3);
    dev.write_file("writeback", "idle").unwrap();
    let after = dev.mm_stat();
    assert_eq!(after.orig_data_size, before.orig_data_size);
    assert_eq!(after.compr_data_size, small);
    assert_eq!((after.huge_pages, after.same_pages), (0, 1));
    assert_eq!(before.compr_data_size, 4096 + text + small);
    assert_eq!(
        dev.read_file("bd_stat").unwrap(),
        "       2        0        2\n"
    );
    assert!(dev.slot_info(0).unwrap().written_back);
    assert!(dev.slot_info(2).unwrap().written_back);
    assert!(!dev.slot_info(1).unwrap().written_back);
    assert!(!dev.slot_info(3).unwrap().written_back);
    // Largest first: the huge page took block 1, the text page block 2.
    let file = std::fs::read(&bd.0).unwrap();
    assert_eq!(&file[PS..2 * PS], &pages[2][..]);
    assert_eq!(&file[2 * PS..3 * PS], &pages[0][..]);
    for (i, p) in pages.iter().enumerate() {
        assert_eq!(&read(&dev, i as u64), p);
    }
    assert_eq!(dev.bd_stat().bd_reads, 2);
    // Overwriting a written-back slot releases its block.
    dev.write_page(0, &text_page(9)).unwrap();
    assert_eq!(dev.bd_stat().bd_count, 1);
    // page_index writeback of one slot regardless of idleness; out of range is ERANGE.
    dev.write_file("writeback", "page_index=3").unwrap();
    assert!(dev.slot_info(3).unwrap().written_back);
    assert_eq!(
        errno_of(dev.write_file("writeback", "page_index=16")),
        Errno::ERANGE
    );
    assert_eq!(
        errno_of(dev.write_file("writeback", "type=bogus")),
        Errno::EINVAL
    );
    assert_eq!(
        errno_of(dev.write_file("writeback", "page_indexes=5-2")),
        Errno::ERANGE
    );
    dev.write_file("writeback", "page_indexes=0-15").unwrap();
    assert!(dev.slot_info(0).unwrap().written_back);
    assert_eq!(dev.mm_stat().compr_data_size, 0);
    assert_eq!(dev.mm_stat().orig_data_size, 4 * 4096);
}

#[test]
fn writeback_limit_budget_and_errors() {
    let bd = backing_file(8);
    let dev = Zram::new(mem(), ZramConfig::new("zram0")).unwrap();
    dev.write_file("disksize", "64K").unwrap();
    assert_eq!(errno_of(dev.write_file("writeback", "huge")), Errno::ENODEV);
    let dev = Zram::new(mem(), ZramConfig::new("zram0")).unwrap();
    dev.write_file("backing_dev", bd.0.to_str().unwrap())
        .unwrap();
    dev.write_file("disksize", "64K").unwrap();
    for i in 0..4 {
        dev.write_page(i, &random_page(i)).unwrap();
    }
    dev.write_page(4, &text_page(4)).unwrap();
    dev.write_file("writeback_limit_enable", "1").unwrap();
    assert_eq!(
        errno_of(dev.write_file("writeback", "type=huge")),
        Errno::EIO
    );
    assert_eq!(dev.bd_stat().bd_writes, 0);
    dev.write_file("writeback_limit", "2").unwrap();
    assert_eq!(
        errno_of(dev.write_file("writeback", "type=huge")),
        Errno::EIO
    );
    assert_eq!(dev.read_file("writeback_limit").unwrap(), "0\n");
    assert_eq!(
        dev.bd_stat(),
        zsrs::zram::BdStat {
            bd_count: 2,
            bd_reads: 0,
            bd_writes: 2
        }
    );
    assert_eq!(dev.mm_stat().huge_pages, 2);
    dev.write_file("writeback_limit_enable", "0").unwrap();
    dev.write_file("writeback", "type=huge").unwrap();
    assert_eq!(dev.mm_stat().huge_pages, 0);
    assert!(!dev.slot_info(4).unwrap().written_back);
    for i in 0..4 {
        assert_eq!(read(&dev, i), random_page(i));
    }
    // A full backing device: ENOSPC (7 usable blocks, block 0 is never used).
    for i in 5..16 {
        dev.write_page(i, &random_page(i)).unwrap();
    }
    assert_eq!(errno_of(dev.write_file("writeback", "huge")), Errno::ENOSPC);
    assert_eq!(dev.bd_stat().bd_count, 7);
    assert_eq!(dev.mm_stat().huge_pages, 8);
}

#[test]
fn recompression_with_a_secondary_algorithm() {
    let dev = Zram::new(mem(), ZramConfig::new("zram0")).unwrap();
    dev.write_file("recomp_algorithm", "algo=zstd").unwrap();
    assert_eq!(
        dev.read_file("recomp_algorithm").unwrap(),
        "#1: lz4 lz4hc [zstd] deflate \n"
    );
    assert_eq!(
        errno_of(dev.write_file("recomp_algorithm", "priority=1")),
        Errno::EINVAL
    );
    assert_eq!(
        errno_of(dev.write_file("recomp_algorithm", "algo=zstd priority=4")),
        Errno::EINVAL
    );
    dev.write_file("disksize", "64K").unwrap();
    assert_eq!(
        errno_of(dev.write_file("recomp_algorithm", "algo=deflate priority=2")),
        Errno::EBUSY
    );
    let pages: Vec<Vec<u8>> = (0..6).map(text_page).collect();
    for (i, p) in pages.iter().enumerate() {
        dev.write_page(i as u64, p).unwrap();
    }
    dev.write_page(6, &random_page(6)).unwrap();
    dev.write_page(7, &[0u8; PS]).unwrap();
    assert_eq!(
        errno_of(dev.write_file("recompress", "threshold=3625")),
        Errno::EINVAL
    );
    assert_eq!(
        errno_of(dev.write_file("recompress", "algo=lz4hc")),
        Errno::EINVAL
    );
    let before = dev.mm_stat();
    dev.write_file("idle", "all").unwrap();
    read(&dev, 5);
    dev.write_file("recompress", "type=idle").unwrap();
    let after = dev.mm_stat();
    assert!(after.compr_data_size < before.compr_data_size);
    assert_eq!(after.orig_data_size, before.orig_data_size);
    for i in 0..5 {
        let s = dev.slot_info(i).unwrap();
        assert_eq!(s.priority, 1, "slot {i}");
        assert!(!s.idle);
        assert_eq!(read(&dev, i), pages[i as usize]);
    }
    assert_eq!(dev.slot_info(5).unwrap().priority, 0);
    // The random page cannot move to a lower class: marked incompressible, still huge.
    let s = dev.slot_info(6).unwrap();
    assert!(s.incompressible && s.huge && s.priority == 0);
    assert_eq!(after.huge_pages, 1);
    assert_eq!(read(&dev, 6), random_page(6));
    assert!(dev.read_file("block_state").unwrap().contains("..h..n\n"));
    // max_pages bounds the attempts.
    dev.write_file("recompress", "max_pages=0").unwrap();
    assert_eq!(dev.slot_info(5).unwrap().priority, 0);
    dev.write_file("recompress", "max_pages=1").unwrap();
    assert_eq!(dev.slot_info(5).unwrap().priority, 1);
}

#[test]
fn concurrent_writers_and_readers_share_one_device() {
    let dev = Arc::new(device("4M"));
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let dev = dev.clone();
            std::thread::spawn(move || {
                for k in 0..200u64 {
                    let i = t * 200 + k;
                    dev.write_page(i, &w1_page(i, PS)).unwrap();
                    let mut out = vec![0u8; PS];
                    dev.read_page(i, &mut out).unwrap();
                    assert_eq!(out, w1_page(i, PS));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(dev.mm_stat().orig_data_size, 800 * 4096);
}

#[test]
fn a_disksize_that_page_alignment_would_wrap_is_enomem_and_leaves_the_device_uninitialised() {
    let dev = Zram::new(mem(), ZramConfig::new("zram0")).unwrap();
    for v in [u64::MAX, u64::MAX - 4094, 1 << 63] {
        assert_eq!(errno_of(dev.set_disksize(v)), Errno::ENOMEM, "{v}");
        assert!(!dev.is_initialized());
        assert_eq!(dev.disksize(), 0);
    }
    assert_eq!(
        errno_of(dev.write_file("disksize", "18446744073709551615")),
        Errno::ENOMEM
    );
    assert_eq!(dev.read_file("disksize").unwrap(), "0\n");
    dev.write_file("disksize", "64K").unwrap();
    assert_eq!(dev.disksize(), 65536);
}
