//! Unit tests of the zswap internals that the integration tests cannot reach.

use std::sync::Arc;

use super::*;
use crate::mem::Memory;

fn zswap(cfg: ZswapConfig) -> Zswap {
    let mem = Arc::new(Memory::new(&[4096], 4096).unwrap());
    Zswap::new(mem, None, cfg, None).unwrap()
}

#[test]
fn bad_compressor_name_is_a_clear_error() {
    // The name is parsed where it enters (the bindings): `ZswapConfig.compressor` is typed.
    let e = "lzo-rle".parse::<crate::compress::Algorithm>().unwrap_err();
    assert!(
        e.to_string().contains("unknown algorithm \"lzo-rle\""),
        "{e}"
    );
}

#[test]
fn overflow_and_mult_frac_helpers() {
    let z = zswap(ZswapConfig::default());
    assert_eq!(z.read_param("max_pool_percent").unwrap(), "20\n");
    assert_eq!(z.read_param("enabled").unwrap(), "Y\n");
    assert!(z.write_param("accept_threshold_percent", "101").is_err());
    z.write_param("shrinker_enabled", "Y").unwrap();
    assert!(z.shrinker_enabled());
}

#[test]
fn without_cgroups_store_load_counts_debugfs_only() {
    let z = zswap(ZswapConfig::default());
    let page: Vec<u8> = (0..4096u32).map(|i| (i % 7) as u8).collect();
    let r = z.store(SwapSlot::from(3), &page, None, 0).unwrap();
    assert!(r.stored());
    assert_eq!(z.read_debugfs("stored_pages").unwrap(), "1\n");
    let mut out = vec![0u8; 4096];
    assert!(z.load(SwapSlot::from(3), &mut out).unwrap());
    assert_eq!(out, page);
    assert!(!z.load(SwapSlot::from(3), &mut out).unwrap());
    z.check_invariants().unwrap();
}
