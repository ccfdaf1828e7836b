//! The kernel's number parsers for user input, one implementation each: `memparse`
//! (lib/cmdline.c) for every size written to a file (memory.max, memory.high, memory.swap.max,
//! memory.zswap.max, zram's disksize and mem_limit), `simple_strtoull` (lib/vsprintf.c) below it,
//! and the strict `kstrtoull` (lib/kstrtox.c).

use crate::error::{Errno, Result, ZsError};

/// `simple_strtoull(s, &end, 0)` (lib/vsprintf.c): `0x` hex (only when a hex digit follows),
/// a leading `0` octal, else decimal. Returns the value and the unparsed rest.
///
/// Overflow wraps modulo 2^64, as in the kernel: `simple_strntoull` ignores the
/// `KSTRTOX_OVERFLOW` flag of `_parse_integer_limit` (its "FIXME"), keeping the wrapped result.
pub(crate) fn simple_strtoull(s: &str) -> (u64, &str) {
    let b = s.as_bytes();
    // _parse_integer_fixup_radix
    let (radix, start) =
        if b.len() > 2 && b[0] == b'0' && (b[1] | 0x20) == b'x' && b[2].is_ascii_hexdigit() {
            (16, 2)
        } else if b.first() == Some(&b'0') {
            (8, 0)
        } else {
            (10, 0)
        };
    let mut value: u64 = 0;
    let mut end = start;
    while let Some(d) = b.get(end).and_then(|&c| (c as char).to_digit(radix)) {
        value = value
            .wrapping_mul(u64::from(radix))
            .wrapping_add(u64::from(d));
        end += 1;
    }
    // "0x" followed by a hex digit always consumes at least that digit; otherwise nothing
    // parsed means nothing consumed.
    (value, &s[end..])
}

/// The kernel's `memparse` (lib/cmdline.c): a number as `simple_strtoull` reads it, with an
/// optional binary suffix K, M, G, T, P or E (either case). Returns the value in bytes and the
/// unparsed rest; trailing text is the caller's business, as in the kernel.
///
/// Overflow, as lib/cmdline.c has it since "lib: fix memparse() to handle overflow": a suffix
/// whose shift loses bits gives `u64::MAX` (`check_shl_overflow` → `ULLONG_MAX`); the number
/// itself wraps as `simple_strtoull` does. A suffix is consumed only after at least one digit
/// (a bare "K" leaves the rest at "K"). Callers see the same value whatever the file:
/// memory.max caps it at `PAGE_COUNTER_MAX`, zram's disksize fails `PAGE_ALIGN` (ENOMEM) and
/// its mem_limit wraps to no limit — each decides on the value, not on a parser of its own.
pub fn memparse(s: &str) -> (u64, &str) {
    let (value, rest) = simple_strtoull(s);
    if rest.len() == s.len() {
        return (value, rest);
    }
    let shift = match rest.as_bytes().first() {
        Some(b'K' | b'k') => 10,
        Some(b'M' | b'm') => 20,
        Some(b'G' | b'g') => 30,
        Some(b'T' | b't') => 40,
        Some(b'P' | b'p') => 50,
        Some(b'E' | b'e') => 60,
        _ => return (value, rest),
    };
    let scaled = if value.leading_zeros() < shift {
        u64::MAX
    } else {
        value << shift
    };
    (scaled, &rest[1..])
}

/// `memparse` as callers that need "anything parsed?" use it (`buf == end` → `-EINVAL`):
/// `Some(value)` when at least one digit was consumed.
pub(crate) fn memparse_some(s: &str) -> Option<u64> {
    let (value, rest) = memparse(s);
    (rest.len() != s.len()).then_some(value)
}

/// `kstrtoull(s, base)` (lib/kstrtox.c), base 10 or 0 (auto): the whole input, bar one trailing
/// newline and one leading `+`, must be the number; `-EINVAL` otherwise and `-ERANGE` on
/// overflow.
pub(crate) fn kstrtoull(s: &str, base: u32) -> Result<u64> {
    let t = s.strip_suffix('\n').unwrap_or(s);
    let t = t.strip_prefix('+').unwrap_or(t);
    let (digits, radix) = if base == 0 {
        if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
            (h, 16)
        } else if t.len() > 1 && t.starts_with('0') {
            (&t[1..], 8)
        } else {
            (t, 10)
        }
    } else {
        (t, base)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(ZsError::Errno(
            Errno::EINVAL,
            format!("kstrtoull: invalid input {s:?}"),
        ));
    }
    u64::from_str_radix(digits, radix)
        .map_err(|_| ZsError::Errno(Errno::ERANGE, format!("{s:?} is out of range")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_bases_and_rest() {
        assert_eq!(memparse("1k"), (1024, ""));
        assert_eq!(memparse("256M"), (256 << 20, ""));
        assert_eq!(memparse("1g\n"), (1 << 30, "\n"));
        assert_eq!(memparse("0x1000"), (4096, ""));
        assert_eq!(memparse("0X1f"), (31, ""));
        assert_eq!(memparse("010"), (8, ""));
        assert_eq!(memparse("0x"), (0, "x"));
        assert_eq!(memparse("09"), (0, "9"));
        assert_eq!(memparse(""), (0, ""));
        assert_eq!(memparse_some(""), None);
        assert_eq!(memparse_some("abc"), None);
        assert_eq!(memparse_some("0"), Some(0));
        assert_eq!(memparse_some("0x"), Some(0), "the 0 is parsed");
    }

    #[test]
    fn a_suffix_without_digits_is_not_consumed() {
        assert_eq!(memparse("K"), (0, "K"));
        assert_eq!(memparse("e1"), (0, "e1"));
        assert_eq!(memparse_some("M"), None);
    }

    #[test]
    fn a_shift_that_overflows_saturates() {
        assert_eq!(memparse("15E"), (15 << 60, ""));
        assert_eq!(memparse("16E"), (u64::MAX, ""));
        assert_eq!(memparse("16384P"), (u64::MAX, ""));
        assert_eq!(memparse("16383P"), (16383 << 50, ""));
        assert_eq!(memparse("17179869184G"), (u64::MAX, ""), "2^34 G = 2^64");
        assert_eq!(memparse("17179869183G"), (17179869183 << 30, ""));
        assert_eq!(memparse("18014398509481984k"), (u64::MAX, ""), "2^54 K");
    }

    #[test]
    fn the_number_itself_wraps_like_simple_strtoull() {
        assert_eq!(memparse("18446744073709551615"), (u64::MAX, ""));
        assert_eq!(memparse("18446744073709551616"), (0, ""), "2^64 wraps to 0");
        assert_eq!(memparse("18446744073709551617"), (1, ""));
        assert_eq!(memparse("0x10000000000000001"), (1, ""));
        // A wrapped number then scaled: 2^64 + 1 wraps to 1, then K.
        assert_eq!(memparse("18446744073709551617K"), (1024, ""));
    }
}
