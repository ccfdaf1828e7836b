//! zsmalloc: the compressed-memory allocator of Linux, in user space.
//!
//! Design, following `mm/zsmalloc.c`:
//! - Objects are grouped by size into classes spaced `class_delta` apart (16 bytes at 4 KiB
//!   pages). A class stores objects in zspages: chains of 1..=`chain_size` frames holding objects
//!   back to back, so an object may span two frames — possibly on two NUMA nodes. The frames
//!   are numbers with nodes (`mem::PageRef`); their bytes are one buffer per zspage, so a
//!   spanning object is still one slice to read or write.
//! - Neighbouring classes with the same (pages, objects) per zspage merge into the largest; a
//!   class with one object per one-page zspage is "huge" and stores its object without header.
//! - Every zspage sits on one fullness list of its class; allocation takes the head of the
//!   fullest non-full list, and compaction moves objects from the emptiest zspages into the
//!   fullest. The exact orders are the kernel's, per era (`profile`).
//! - Every free defers its memcg uncharge to a batch applied with one call per objcg;
//!   exclusive batch reads (`read_free_each`, `read_free_parallel`) read first, then free.
//!   The totals are those of one uncharge per object.
//! - A handle is an opaque value naming a cell that follows its object through compaction and
//!   page migration; cells carry a generation and pools a tag, neither ever reused (`handle`),
//!   so stale, forged and foreign handles are refused instead of reaching another object.
//!
//! Invariants (checked by `Pool::check_invariants` after every step in the property tests):
//! every zspage is on exactly the list its use calls for; per-class `obj_allocated`/`obj_used`
//! and the pool's `pages_allocated` equal a recount; every live handle names an object whose header
//! names its cell; every byte written reads back identical.

mod compact;
mod geometry;
mod handle;
mod memcg;
mod migrate;
mod obj_io;
mod pool;
mod profile;
mod stats;
mod zspage;

pub use geometry::{ChainRule, ClassGeometry, Geometry, HANDLE_SIZE};
pub use memcg::{Accounting, AccountingMode, Attribution, MemcgParams};
pub use obj_io::{MallocWriteError, READ_FREE_BATCH};
pub use pool::{Pool, PoolConfig};
pub use profile::Profile;
pub use stats::{render_classes, ClassRow, PoolStats, ZspageInfo};
