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
use stack_model::{Op, Stack};

fn env(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (prop_oneof![1u16..=4096, Just(0u16), 3000u16..=5000], 0u8..4, any::<u8>(), any::<u64>())
            .prop_map(|(size, nid, cg, seed)| Op::Malloc { size, nid, cg, seed }),
        3 => any::<u32>().prop_map(|i| Op::Free { i }),
        2 => any::<u32>().prop_map(|i| Op::Read { i }),
        1 => any::<u32>().prop_map(|i| Op::Stale { i }),
        1 => any::<u64>().prop_map(|h| Op::Forged { h }),
        1 => Just(Op::Compact),
        2 => (any::<u32>(), 0u8..4).prop_map(|(i, nid)| Op::Migrate { i, nid }),
        6 => (0u16..300, any::<u8>(), any::<u8>(), any::<u8>(), any::<u64>())
            .prop_map(|(slot, kind, cg, nid, seed)| Op::SwapOut { slot, kind, cg, nid, seed }),
        4 => (0u16..300, any::<u8>()).prop_map(|(slot, nid)| Op::SwapIn { slot, nid }),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(cg, nid)| Op::Shrink { cg, nid }),
        1 => (any::<u8>(), any::<bool>()).prop_map(|(k, child)| Op::CgCreate { k, child }),
        1 => (any::<u8>(), any::<bool>()).prop_map(|(k, child)| Op::CgRemove { k, child }),
        4 => (0u16..200, any::<u8>(), any::<u64>())
            .prop_map(|(idx, kind, seed)| Op::ZramWrite { idx, kind, seed }),
        2 => (0u16..200).prop_map(|idx| Op::ZramRead { idx }),
        1 => (0u16..200).prop_map(|idx| Op::ZramDiscard { idx }),
        1 => Just(Op::ZramCompact),
        1 => Just(Op::ZramWriteback),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: env("ZSRS_FUZZ_CASES", 48),
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_operations_keep_every_byte_and_every_counter(
        ops in prop::collection::vec(op(), 1..env("ZSRS_FUZZ_LEN", 400) as usize)
    ) {
        let mut s = Stack::new();
        for op in &ops {
            s.apply(op);
            s.check();
        }
        s.verify_all_and_drain();
    }
}
