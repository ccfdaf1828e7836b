//! The fidelity page generator: regenerates, bit for bit, the pages whose kernel-side results are
//! recorded in `tests/data` (the specification is in docs/fidelity.md).
//!
//! Everything is derived from SplitMix64 so that the generator is tiny, has no dependencies and is
//! identical in Rust, Python and on the machine that recorded the kernel's figures. Page contents
//! of the W1 image are `R(L_i, 1, i)` followed by zeros, with `L_i = (i * 97) mod (page_size + 1)`:
//! 97 is coprime with 4097, so over 4097 consecutive pages every payload length from 0 (a
//! same-filled zero page) to a full page of random bytes occurs exactly once.

/// Offset of every generator's initial state (`"zsrsREF1"` as a big-endian u64).
pub const SEED_BASE: u64 = 0x7A73_7273_5245_4631;
/// The stream number of the W1 image.
pub const W1_STREAM: u64 = 1;
/// The number of pages in the W1 image.
pub const W1_PAGES: u64 = 20_000;
/// The payload-length stride of the W1 image.
const W1_STRIDE: u64 = 97;

/// The SplitMix64 generator (Steele, Lea and Flood), exactly as the fidelity README specifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose next output is derived from `state + golden gamma`.
    pub fn new(state: u64) -> Self {
        Self { state }
    }

    /// The generator for stream `stream` of page `page`: state `SEED_BASE + stream * 2^32 + page`.
    pub fn for_page(stream: u64, page: u64) -> Self {
        Self::new(
            SEED_BASE
                .wrapping_add(stream.wrapping_shl(32))
                .wrapping_add(page),
        )
    }

    /// The next 64-bit output.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Fills `dst` with outputs written as little-endian bytes; a partial last word is cut.
    pub fn fill_bytes(&mut self, dst: &mut [u8]) {
        let mut chunks = dst.chunks_exact_mut(8);
        for chunk in &mut chunks {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let tail = chunks.into_remainder();
        if !tail.is_empty() {
            let word = self.next_u64().to_le_bytes();
            tail.copy_from_slice(&word[..tail.len()]);
        }
    }
}

/// `R(n, stream, page)`: `n` bytes from a fresh generator of that stream and page.
pub fn random_bytes(n: usize, stream: u64, page: u64) -> Vec<u8> {
    let mut out = vec![0u8; n];
    SplitMix64::for_page(stream, page).fill_bytes(&mut out);
    out
}

/// `L_i`, the number of random bytes at the start of W1 page `i` for pages of `page_size` bytes.
pub fn w1_payload_len(i: u64, page_size: usize) -> usize {
    // The modulus is page_size + 1 so that both a zero page and a fully random page occur.
    let modulus = page_size as u64 + 1;
    // (i mod m) * 97 cannot overflow for any page size that fits in memory.
    (((i % modulus) * W1_STRIDE) % modulus) as usize
}

/// Writes W1 page `i` into `page` (its length is the page size): random payload, then zeros.
pub fn w1_fill_page(i: u64, page: &mut [u8]) {
    let len = w1_payload_len(i, page.len());
    let (payload, rest) = page.split_at_mut(len);
    SplitMix64::for_page(W1_STREAM, i).fill_bytes(payload);
    rest.fill(0);
}

/// W1 page `i` as a new buffer of `page_size` bytes.
pub fn w1_page(i: u64, page_size: usize) -> Vec<u8> {
    let mut page = vec![0u8; page_size];
    w1_fill_page(i, &mut page);
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page size the fidelity README's vectors are stated for.
    const README_PAGE_SIZE: usize = 4096;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn first_output_from_state_zero() {
        assert_eq!(SplitMix64::new(0).next_u64(), 0xe220_a839_7b1d_cdaf);
    }

    #[test]
    fn readme_vector_r_16_1_1() {
        assert_eq!(
            hex(&random_bytes(16, 1, 1)),
            "16225c6d316f1ec4da72b6cd5c7a9281"
        );
    }

    #[test]
    fn partial_words_are_prefixes() {
        let full = random_bytes(16, 1, 1);
        for n in 0..16 {
            assert_eq!(random_bytes(n, 1, 1), full[..n]);
        }
    }

    #[test]
    fn zero_pages_of_w1() {
        for i in 0..W1_PAGES {
            let expect_zero = i % (README_PAGE_SIZE as u64 + 1) == 0;
            assert_eq!(
                w1_payload_len(i, README_PAGE_SIZE) == 0,
                expect_zero,
                "page {i}"
            );
        }
        for i in [0u64, 4097, 8194, 12291, 16388] {
            assert!(
                w1_page(i, README_PAGE_SIZE).iter().all(|&b| b == 0),
                "page {i}"
            );
        }
        assert!(w1_page(1, README_PAGE_SIZE).iter().any(|&b| b != 0));
    }

    #[test]
    fn w1_page_layout() {
        let page = w1_page(3, README_PAGE_SIZE);
        assert_eq!(page.len(), README_PAGE_SIZE);
        assert_eq!(page[..291], random_bytes(291, W1_STREAM, 3));
        assert!(page[291..].iter().all(|&b| b == 0));
        // L_i covers every length once per period, including a fully random page.
        let mut seen = vec![false; README_PAGE_SIZE + 1];
        for i in 0..=README_PAGE_SIZE as u64 {
            seen[w1_payload_len(i, README_PAGE_SIZE)] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn other_page_sizes() {
        for page_size in [4096usize, 16384, 65536] {
            let i = page_size as u64; // L = (page_size * 97) mod (page_size + 1) = page_size + 1 - 97
            let page = w1_page(i, page_size);
            assert_eq!(page.len(), page_size);
            assert_eq!(w1_payload_len(i, page_size), page_size + 1 - 97);
            assert!(w1_page(page_size as u64 + 1, page_size)
                .iter()
                .all(|&b| b == 0));
        }
    }
}
