//! Round trips and error paths shared by every backend.

use super::{available, by_name, Compressor, Deflate, Lz4, Lz4Hc, Zstd};
use crate::error::ZsError;
use crate::pagegen::{random_bytes, SplitMix64};

/// Page sizes the kernel runs with (4 KiB, and arm64/Android's 16 KiB and 64 KiB).
const PAGE_SIZES: [usize; 3] = [4096, 16384, 65536];

fn all() -> Vec<Box<dyn Compressor>> {
    available().iter().map(|n| by_name(n).unwrap()).collect()
}

/// Pages of the shapes the consumers meet: zero, random, text-like, half random.
fn sample_pages(page_size: usize) -> Vec<(&'static str, Vec<u8>)> {
    let zero = vec![0u8; page_size];
    let random = random_bytes(page_size, 7, page_size as u64);
    let mut text = Vec::with_capacity(page_size);
    let words = [
        "zspage ", "handle ", "class ", "objcg ", "lruvec ", "the ", "of ", "memcg\n",
    ];
    let mut rng = SplitMix64::new(42);
    while text.len() < page_size {
        text.extend_from_slice(words[(rng.next_u64() % words.len() as u64) as usize].as_bytes());
    }
    text.truncate(page_size);
    let mut half = random_bytes(page_size / 2, 9, 0);
    half.resize(page_size, 0);
    vec![
        ("zero", zero),
        ("random", random),
        ("text", text),
        ("half-random", half),
    ]
}

#[test]
fn round_trip_every_algorithm_and_page_size() {
    for c in all() {
        for page_size in PAGE_SIZES {
            for (kind, page) in sample_pages(page_size) {
                let mut packed = vec![0xAA; 3]; // stale contents must be cleared
                let len = c.compress(&page, &mut packed).unwrap();
                assert_eq!(len, packed.len(), "{} {kind} {page_size}", c.name());
                let mut out = vec![0x55u8; page_size];
                c.decompress(&packed, &mut out).unwrap();
                assert!(out == page, "{} {kind} {page_size}", c.name());
                if kind == "zero" {
                    assert!(
                        len < page_size / 16,
                        "{} {kind} {page_size}: {len}",
                        c.name()
                    );
                }
                if kind == "text" {
                    assert!(
                        len < page_size / 2,
                        "{} {kind} {page_size}: {len}",
                        c.name()
                    );
                }
            }
        }
    }
}

#[test]
fn random_pages_report_the_true_length() {
    let page = random_bytes(4096, 3, 3);
    let mut packed = Vec::new();
    // lz4 has no stored mode: incompressible data costs literal-run overhead beyond the page.
    assert!(Lz4::default().compress(&page, &mut packed).unwrap() > page.len());
    // zstd and deflate fall back to raw blocks, a few bytes over the page.
    assert!(Zstd::default().compress(&page, &mut packed).unwrap() > page.len());
    assert!(Deflate::default().compress(&page, &mut packed).unwrap() > page.len());
}

#[test]
fn repeated_and_concurrent_use_is_deterministic() {
    let pages = sample_pages(4096);
    for c in all() {
        let c: &dyn Compressor = c.as_ref();
        let reference: Vec<Vec<u8>> = pages
            .iter()
            .map(|(_, p)| {
                let mut v = Vec::new();
                c.compress(p, &mut v).unwrap();
                v
            })
            .collect();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..3 {
                        for ((_, p), want) in pages.iter().zip(&reference) {
                            let mut v = Vec::new();
                            c.compress(p, &mut v).unwrap();
                            assert_eq!(&v, want, "{}", c.name());
                        }
                    }
                });
            }
        });
    }
}

#[test]
fn unknown_name_lists_the_known_ones() {
    let err = by_name("lzo-rle").err().unwrap();
    let ZsError::Compression(msg) = err else {
        panic!("wrong variant: {err:?}")
    };
    for name in available() {
        assert!(msg.contains(name), "{msg}");
    }
    for name in available() {
        assert_eq!(by_name(name).unwrap().name(), *name);
    }
}

#[test]
fn bad_levels_are_errors() {
    assert!(Lz4::new(0).is_err());
    assert!(Lz4::new(2).is_ok());
    assert!(Lz4Hc::new(0).is_err());
    assert!(Lz4Hc::new(13).is_err());
    assert!(Zstd::new(1000).is_err());
    assert!(Deflate::new(10).is_err());
}

#[test]
fn lz4_acceleration_and_hc_still_round_trip() {
    let (_, page) = sample_pages(4096).swap_remove(3);
    for c in [
        Box::new(Lz4::new(8).unwrap()) as Box<dyn Compressor>,
        Box::new(Lz4Hc::new(12).unwrap()),
        Box::new(Zstd::new(-5).unwrap()),
        Box::new(Deflate::new(0).unwrap()),
    ] {
        let mut packed = Vec::new();
        c.compress(&page, &mut packed).unwrap();
        let mut out = vec![0u8; page.len()];
        c.decompress(&packed, &mut out).unwrap();
        assert!(out == page, "{}", c.name());
    }
}

#[test]
fn garbage_and_truncated_input_are_errors_not_panics() {
    let page = sample_pages(4096).swap_remove(2).1;
    for c in all() {
        let mut out = vec![0u8; 4096];
        for seed in 0..64 {
            let garbage = random_bytes(1 + (seed as usize * 37) % 600, 99, seed);
            assert!(c.decompress(&garbage, &mut out).is_err(), "{}", c.name());
        }
        assert!(c.decompress(&[], &mut out).is_err(), "{}", c.name());
        let mut packed = Vec::new();
        c.compress(&page, &mut packed).unwrap();
        let truncated = &packed[..packed.len() / 2];
        assert!(c.decompress(truncated, &mut out).is_err(), "{}", c.name());
        // A valid stream of a page into a buffer of another size is an error both ways.
        let mut short = vec![0u8; 4095];
        assert!(c.decompress(&packed, &mut short).is_err(), "{}", c.name());
        let mut long = vec![0u8; 4097];
        assert!(c.decompress(&packed, &mut long).is_err(), "{}", c.name());
        // And the context still works after the failures.
        c.decompress(&packed, &mut out).unwrap();
        assert!(out == page);
    }
}

#[test]
fn one_table_of_algorithms_names_levels_and_errnos() {
    use super::Algorithm;
    use crate::error::Errno;
    let names: Vec<&str> = Algorithm::ALL.iter().map(|a| a.name()).collect();
    assert_eq!(names, available());
    for a in Algorithm::ALL {
        assert_eq!(a.name().parse::<Algorithm>().unwrap(), a);
        assert_eq!(a.to_string(), a.name());
        assert_eq!(a.compressor().name(), a.name());
        assert_eq!(a.with_level(1).unwrap().name(), a.name());
    }
    assert!(Algorithm::Deflate.with_level(-1).is_err());
    assert!(Algorithm::Deflate.with_level(10).is_err());
    let e = "lz4 ".parse::<Algorithm>().unwrap_err();
    assert!(e.to_string().contains("unknown algorithm \"lz4 \""), "{e}");
    assert_eq!(Algorithm::Lz4.overflow_errno(), Errno::EINVAL);
    assert_eq!(Algorithm::Lz4Hc.overflow_errno(), Errno::EINVAL);
    assert_eq!(Algorithm::Zstd.overflow_errno(), Errno::ENOSPC);
    assert_eq!(Algorithm::Deflate.overflow_errno(), Errno::ENOSPC);
}
