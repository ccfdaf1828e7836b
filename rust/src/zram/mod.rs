//! zram: Linux's compressed RAM block device, in user space.
//!
//! Design, following `drivers/block/zram/zram_drv.c`:
//! - A device is a table of page slots, one per page of `disksize`, over one zsmalloc pool named
//!   after the device. Writing `disksize` initialises it (pool, slot table, compressors); `reset`
//!   tears all of that down again. The pool is not memcg-aware.
//! - A slot holds one of: a zsmalloc handle (compressed data, or the raw page when the
//!   compressed length reaches `huge_class_size`: `HUGE`), the fill word of a same-filled page
//!   (`SAME`, no allocation), or a block index in the backing file (`WB`). Flags `IDLE`,
//!   `PP_SLOT`, `INCOMPRESSIBLE` and a 2-bit algorithm priority complete it (`slot`).
//! - Writes follow `zram_write_page` step by step: same-fill check, compression, `zs_malloc` of
//!   the *new* object, the `mem_limit` check (which frees the new object and fails, leaving the
//!   old contents), and only then the old slot is freed and the new one installed. The order
//!   decides which zspage each object lands in, so it is kept for fidelity.
//! - Counters are the kernel's `zram_stats`; `mm_stat`, `io_stat`, `bd_stat` and `debug_stat` are
//!   rendered with its printf formats (`stats`). Every sysfs attribute is readable and writable
//!   by name with the kernel's parsing and errnos (`attrs`, `parse`).
//! - Post-processing (`writeback` to a backing file, `recompress` with secondary algorithms)
//!   selects slots into 64-byte size buckets and processes the largest bucket first (`pp`).
//!
//! Concurrency: one mutex guards the whole device; every method takes `&self`, so a device can be
//! shared (`Arc<Zram>`) between Python threads and NBD connections. Batch calls take the lock
//! once. The kernel's per-slot locks only matter to the trylock in `swap_slot_free_notify`, which
//! is modelled by [`Zram::hold_slot`].
//!
//! Simplifications (documented choices): the backing device may be a regular file (the kernel
//! insists on a block device); writeback is synchronous, one page at a time (no
//! `writeback_batch_size`, no compressed writeback); entry access times are not tracked, so
//! `idle` accepts only `all` (as with `CONFIG_ZRAM_TRACK_ENTRY_ACTIME=n`); `algorithm_params`
//! accepts `priority`/`algo`/`level` (no dictionaries). Offered algorithms are those of
//! [`crate::compress::available`]; the default is `lz4` (the kernel's is a build option).

mod attrs;
mod device;
mod io;
mod parse;
mod pp;
mod recompress;
mod replay;
mod slot;
mod stats;
mod writeback;

pub use device::{OpenGuard, SlotHold, Zram, ZramConfig};
pub use replay::{replay, Replay, ReplaySlot};
pub use slot::SlotInfo;
pub use stats::{BdStat, DebugStat, IoStat, MmStat};

/// Algorithm priorities: the primary plus three secondary (`ZRAM_MAX_COMPS`).
pub const MAX_COMPS: usize = 4;
/// Longest algorithm name accepted (`ZRAM_MAX_ALGO_NAME_SZ`), exclusive.
pub const MAX_ALGO_NAME: usize = 128;
