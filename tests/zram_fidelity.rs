//! Fidelity against Linux 6.12 (tests/data, docs/fidelity.md): zram with lz4 and
//! disksize 256M, fed the 20 000 regenerated W1 pages in order, must print the kernel's
//! `mm_stat` line and its pool's debugfs `classes` file byte for byte.

use std::sync::Arc;

use zsrs::mem::Memory;
use zsrs::pagegen::w1_fill_page;
use zsrs::zram::{Zram, ZramConfig};

const PAGE_SIZE: usize = 4096;
const W1_PAGES: u64 = 20_000;
/// `mm_stat_text` of the fixture (the file's line without its newline).
const KERNEL_MM_STAT: &str =
    "81920000 42147012 44089344        0 44089344        5        0     2483     2483";

fn w1_device() -> Zram {
    let mem = Arc::new(Memory::new(&[1 << 16], PAGE_SIZE).unwrap());
    let dev = Zram::new(mem, ZramConfig::new("zram0")).unwrap();
    dev.write_file("comp_algorithm", "lz4\n").unwrap();
    dev.write_file("disksize", "256M\n").unwrap();
    let mut page = vec![0u8; PAGE_SIZE];
    for i in 0..W1_PAGES {
        w1_fill_page(i, &mut page);
        dev.write_page(i, &page).unwrap();
    }
    dev
}

#[test]
fn w1_mm_stat_and_classes_match_linux_6_12() {
    let dev = w1_device();
    assert_eq!(dev.huge_class_size(), 3625);
    assert_eq!(
        dev.read_file("mm_stat").unwrap(),
        format!("{KERNEL_MM_STAT}\n")
    );
    let want = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/linux-6.12-zram-w1.classes.txt"
    ))
    .unwrap();
    assert_eq!(dev.classes_text().unwrap(), want);
}

#[test]
fn w1_per_slot_sizes_match_the_kernels_slot_table() {
    let dev = w1_device();
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/linux-6.12-zram-w1.sizes.txt"
    ))
    .unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(lines.len() as u64, W1_PAGES);
    for (i, line) in lines.iter().enumerate() {
        let info = dev.slot_info(i as u64).unwrap();
        if let Some(word) = line.strip_prefix("same ") {
            assert!(info.same, "slot {i}");
            assert_eq!(
                info.fill,
                u64::from_str_radix(word, 16).unwrap(),
                "slot {i}"
            );
        } else if let Some(n) = line.strip_prefix("huge ") {
            assert!(info.huge, "slot {i}");
            assert_eq!(info.size, n.parse::<usize>().unwrap(), "slot {i}");
        } else {
            assert!(!info.huge && !info.same, "slot {i}");
            assert_eq!(info.size, line.parse::<usize>().unwrap(), "slot {i}");
        }
    }
    // Every page reads back identical.
    let mut page = vec![0u8; PAGE_SIZE];
    let mut want = vec![0u8; PAGE_SIZE];
    for i in (0..W1_PAGES).step_by(7) {
        w1_fill_page(i, &mut want);
        dev.read_page(i, &mut page).unwrap();
        assert_eq!(page, want, "page {i}");
    }
}
