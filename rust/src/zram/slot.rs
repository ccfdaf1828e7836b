//! A zram slot (`zram_table_entry`): what one page of the device holds.
//!
//! The kernel packs size, flags and priority into one word next to the handle; here they are
//! separate fields of a 16-byte struct, with the same meaning: `handle` is a zsmalloc handle, the
//! fill word of a `SAME` slot, or the backing block of a `WB` slot, and 0 means "nothing".

/// Same-filled page: `handle` is the fill word.
pub(super) const SAME: u16 = 1 << 0;
/// Written back: `handle` is the backing block index.
pub(super) const WB: u16 = 1 << 1;
/// Selected for post-processing (writeback or recompression).
pub(super) const PP_SLOT: u16 = 1 << 2;
/// Stored uncompressed (a PAGE_SIZE object).
pub(super) const HUGE: u16 = 1 << 3;
/// Marked idle by `idle`; cleared by any access.
pub(super) const IDLE: u16 = 1 << 4;
/// No algorithm could recompress it.
pub(super) const INCOMPRESSIBLE: u16 = 1 << 5;

/// One page slot.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Slot {
    pub handle: u64,
    pub size: u32,
    pub flags: u16,
    pub prio: u8,
}

impl Slot {
    pub fn has(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }

    pub fn set(&mut self, flag: u16) {
        self.flags |= flag;
    }

    pub fn clear(&mut self, flag: u16) {
        self.flags &= !flag;
    }

    /// `zram_allocated`: holds data of any kind.
    pub fn allocated(&self) -> bool {
        self.size != 0 || self.has(SAME) || self.has(WB)
    }

    /// `zram_accessed`: a read or write touched the slot.
    pub fn accessed(&mut self) {
        self.clear(IDLE | PP_SLOT);
    }
}

/// What a slot holds, as `block_state` would show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SlotInfo {
    /// Holds data (same-filled, compressed, huge or written back).
    pub allocated: bool,
    /// Stored object size in bytes (0 for same-filled and written-back slots).
    pub size: usize,
    /// Same-filled; `fill` is the word.
    pub same: bool,
    /// The fill word of a same-filled slot.
    pub fill: u64,
    /// On the backing device.
    pub written_back: bool,
    /// Stored raw.
    pub huge: bool,
    /// Marked idle.
    pub idle: bool,
    /// Marked incompressible by recompression.
    pub incompressible: bool,
    /// Algorithm priority the data is compressed with (0 = primary).
    pub priority: u8,
}

impl SlotInfo {
    pub(crate) fn of(s: &Slot) -> Self {
        Self {
            allocated: s.allocated(),
            size: s.size as usize,
            same: s.has(SAME),
            fill: if s.has(SAME) { s.handle } else { 0 },
            written_back: s.has(WB),
            huge: s.has(HUGE),
            idle: s.has(IDLE),
            incompressible: s.has(INCOMPRESSIBLE),
            priority: s.prio,
        }
    }

    /// The six flag characters of debugfs `block_state`: `s w h i r n`, `.` when unset.
    pub fn flag_chars(&self) -> String {
        let c = |on: bool, ch: char| if on { ch } else { '.' };
        [
            c(self.same, 's'),
            c(self.written_back, 'w'),
            c(self.huge, 'h'),
            c(self.idle, 'i'),
            c(self.priority > 0, 'r'),
            c(self.incompressible, 'n'),
        ]
        .iter()
        .collect()
    }
}

/// `page_same_filled`: the fill word if every machine word of `page` equals the first (the last
/// word is compared first, as the kernel does, to fail fast on the common case).
pub(super) fn same_filled(page: &[u8]) -> Option<u64> {
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&page[i * 8..i * 8 + 8]);
        u64::from_le_bytes(w)
    };
    let n = page.len() / 8;
    let val = word(0);
    if val != word(n - 1) {
        return None;
    }
    (1..n - 1).all(|i| word(i) == val).then_some(val)
}

/// `zram_fill_page`: every machine word of `out` set to `val`.
pub(super) fn fill_page(out: &mut [u8], val: u64) {
    let bytes = val.to_le_bytes();
    for chunk in out.chunks_exact_mut(8) {
        chunk.copy_from_slice(&bytes);
    }
}
