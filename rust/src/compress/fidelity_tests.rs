//! The fidelity claim: lz4 here compresses the regenerated W1 pages to exactly the lengths Linux
//! 6.12's zram stored (tests/data/linux-6.12-zram-w1.sizes.txt; see docs/fidelity.md).

use super::{Compressor, Lz4, Lz4Hc};
use crate::pagegen::w1_fill_page;

/// What the kernel stored for one slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// A same-filled page and its fill word.
    Same(u64),
    /// Stored raw because the compressed length reached huge_class_size.
    Huge(usize),
    /// Stored compressed with this length.
    Compressed(usize),
}

/// The fixture: its header's key = value facts and the per-slot lines.
struct Fixture {
    page_size: usize,
    huge_class_size: usize,
    slots: Vec<Slot>,
    header: std::collections::HashMap<String, u64>,
}

fn load_fixture() -> Fixture {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/linux-6.12-zram-w1.sizes.txt"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut header = std::collections::HashMap::new();
    let mut slots = Vec::new();
    for line in text.lines() {
        if let Some(comment) = line.strip_prefix('#') {
            // Facts are "# key = number"; prose lines may contain '=' too (comp_algorithm=lz4).
            if let Some((k, v)) = comment.trim().split_once(" = ") {
                if k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                    header.insert(k.to_string(), v.trim().parse().unwrap());
                }
            }
            continue;
        }
        let mut words = line.split_whitespace();
        let slot = match (words.next(), words.next()) {
            (Some("same"), Some(hex)) => Slot::Same(u64::from_str_radix(hex, 16).unwrap()),
            (Some("huge"), Some(n)) => Slot::Huge(n.parse().unwrap()),
            (Some(n), None) => Slot::Compressed(n.parse().unwrap()),
            _ => panic!("bad fixture line {line:?}"),
        };
        slots.push(slot);
    }
    Fixture {
        page_size: header["page_size"] as usize,
        huge_class_size: header["huge_class_size"] as usize,
        slots,
        header,
    }
}

#[test]
fn fixture_agrees_with_its_mm_stat() {
    let f = load_fixture();
    assert_eq!(f.slots.len() as u64, f.header["slots"]);
    let stored: usize = f
        .slots
        .iter()
        .map(|s| match s {
            Slot::Same(_) => 0,
            Slot::Huge(n) | Slot::Compressed(n) => *n,
        })
        .sum();
    assert_eq!(stored as u64, f.header["compr_data_size"]);
    let count = |p: fn(&Slot) -> bool| f.slots.iter().filter(|s| p(s)).count() as u64;
    assert_eq!(
        count(|s| matches!(s, Slot::Same(_))),
        f.header["same_pages"]
    );
    assert_eq!(
        count(|s| matches!(s, Slot::Huge(_))),
        f.header["huge_pages"]
    );
    for s in &f.slots {
        match *s {
            Slot::Huge(n) => assert_eq!(n, f.page_size),
            Slot::Compressed(n) => assert!(n < f.huge_class_size),
            Slot::Same(_) => {}
        }
    }
}

/// Compares every slot and returns the mismatches (slot, what the kernel stored, our length).
fn mismatches(lz4: &dyn Compressor, f: &Fixture) -> Vec<(usize, Slot, Option<usize>)> {
    let mut page = vec![0u8; f.page_size];
    let mut packed = Vec::with_capacity(2 * f.page_size);
    let mut bad = Vec::new();
    for (i, &slot) in f.slots.iter().enumerate() {
        w1_fill_page(i as u64, &mut page);
        // zram checks same-filled pages before compressing; the generator must agree.
        let first = u64::from_ne_bytes(page[..8].try_into().unwrap());
        let same = page
            .chunks_exact(8)
            .all(|w| u64::from_ne_bytes(w.try_into().unwrap()) == first);
        let ours = lz4.compress(&page, &mut packed).unwrap();
        let ok = match slot {
            Slot::Same(word) => same && first == word,
            Slot::Huge(_) => !same && ours >= f.huge_class_size,
            Slot::Compressed(n) => !same && ours == n,
        };
        if !ok {
            bad.push((i, slot, (!same).then_some(ours)));
        }
    }
    bad
}

#[test]
fn lz4_matches_linux_6_12_on_all_w1_pages() {
    let f = load_fixture();
    let bad = mismatches(&Lz4::default(), &f);
    assert!(
        bad.is_empty(),
        "{} of {} slots differ from Linux 6.12, first: {:?}",
        bad.len(),
        f.slots.len(),
        &bad[..bad.len().min(10)]
    );
}

#[test]
fn the_fixture_tells_lz4_variants_apart() {
    // Guards the test above against passing vacuously: a different match finder or step must
    // change lengths on this image.
    let f = load_fixture();
    assert!(mismatches(&Lz4::new(2).unwrap(), &f).len() > 1000);
    assert!(mismatches(&Lz4Hc::default(), &f).len() > 1000);
}
