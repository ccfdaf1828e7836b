//! The simulated kernel that drives the consumers: processes in cgroups with resident pages on
//! NUMA nodes, an active/inactive LRU per memcg, memory.max / memory.high / memory.reclaim
//! reclaim into a swap layer, and faults that bring pages back — executed in Rust in bulk from
//! access traces, so that a run measures the simulated kernel paths rather than Python's loop.

mod backend;
mod lru;
mod machine;
mod reclaim;

pub use backend::{RamSwap, SwapBackend, SwapIn, SwapOut};
pub use machine::{Machine, SimStats};
