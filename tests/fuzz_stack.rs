//! Fuzz harness of the Rust API: random operation sequences over the whole stack (zsmalloc
//! with the series' accounting, the swap layer with zswap and writeback, cgroup churn, zram
//! with writeback), hostile inputs among them (stale, forged and foreign handles, sizes and
//! nodes out of range, slots beyond the device, swap-ins of empty slots), checked against a
//! model after every operation; counters against a recount of the layout.
//!
//! CI runs a bounded number of cases. To fuzz longer:
//!
//! ```text
//! ZSRS_FUZZ_CASES=20000 ZSRS_FUZZ_LEN=2000 cargo test --release --test fuzz_stack
//! ```
//!
//! (proptest shrinks a failure to a minimal sequence and records its seed under
//! `tests/fuzz_stack.proptest-regressions`, which replays it first on the next run.)

#[path = "stack_model/mod.rs"]
mod stack_model;

use proptest::prelude::*;
use stack_model::{op, Mix, Stack};

fn env(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: env("ZSRS_FUZZ_CASES", 48),
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_operations_keep_every_byte_and_every_counter(
        ops in prop::collection::vec(op(Mix::FUZZ), 1..env("ZSRS_FUZZ_LEN", 400) as usize)
    ) {
        let mut s = Stack::new();
        for op in &ops {
            s.apply(op);
            s.check();
        }
        s.verify_all_and_drain();
    }
}
