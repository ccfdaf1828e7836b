//! A cache prefetch hint for bytes the caller will read soon.
//!
//! zsmalloc scatters a stream of objects over one zspage per size class, so consecutive loads
//! read from dozens of places at once, and a decompressor walking an object that is not in the
//! cache waits on each line in turn. Batch reads ask for the next object's lines while the
//! current one is being decompressed.

/// Asks the CPU to bring the cache lines of `bytes` closer. A hint: no effect on results.
#[inline]
pub fn prefetch(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        for off in (0..bytes.len()).step_by(64) {
            // SAFETY: `_mm_prefetch` only needs SSE, which every x86_64 CPU has; a prefetch
            // never faults and does not access memory architecturally, and the address is
            // inside `bytes` anyway.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(bytes.as_ptr().add(off).cast()) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}

/// Prefetches the cache lines of `*value` (a record the caller will look at soon).
#[inline]
pub fn prefetch_ref<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let p: *const u8 = std::ptr::from_ref(value).cast();
        for off in (0..std::mem::size_of::<T>()).step_by(64) {
            // SAFETY: as in `prefetch`; the address lies inside `*value`.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p.add(off).cast()) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}
