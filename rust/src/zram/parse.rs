//! The kernel's parsers for sysfs input, reproduced for their accepted inputs and errnos:
//! `memparse` (number with optional K/M/G/T/P/E suffix), `kstrtoull` and friends (the whole
//! string must be a number, one trailing newline allowed), `sysfs_streq`, and `next_arg`-style
//! `key=value` splitting.

use crate::error::{Errno, Result, ZsError};

/// `simple_strtoull(s, &end, 0)`: the value and the number of bytes consumed (0 if none).
fn strtoull_auto(s: &[u8]) -> (u64, usize) {
    let (base, mut i) = if s.len() >= 2 && s[0] == b'0' && (s[1] | 0x20) == b'x' {
        if s.len() > 2 && (s[2] as char).is_ascii_hexdigit() {
            (16, 2)
        } else {
            // "0x" without hex digits parses as the "0".
            return (0, 1);
        }
    } else if s.first() == Some(&b'0') {
        (8, 0)
    } else {
        (10, 0)
    };
    let mut val: u64 = 0;
    let start = i;
    while i < s.len() {
        let Some(d) = (s[i] as char).to_digit(base) else {
            break;
        };
        val = val.wrapping_mul(u64::from(base)).wrapping_add(u64::from(d));
        i += 1;
    }
    if i == start {
        (0, 0)
    } else {
        (val, i)
    }
}

/// `memparse`: a number (decimal, `0x` hex or `0` octal) with an optional binary suffix
/// K, M, G, T, P or E (either case). Returns the value and whether anything was parsed;
/// trailing text is ignored, as in the kernel.
pub fn memparse(s: &str) -> (u64, bool) {
    let b = s.as_bytes();
    let (mut val, used) = strtoull_auto(b);
    if used == 0 {
        return (0, false);
    }
    let shift = match b.get(used).map(|c| c.to_ascii_uppercase()) {
        Some(b'E') => 60,
        Some(b'P') => 50,
        Some(b'T') => 40,
        Some(b'G') => 30,
        Some(b'M') => 20,
        Some(b'K') => 10,
        _ => 0,
    };
    val = val.wrapping_shl(shift);
    (val, true)
}

fn einval(what: &str, s: &str) -> ZsError {
    ZsError::Errno(Errno::EINVAL, format!("{what}: invalid input {s:?}"))
}

/// `kstrtoull(s, base)`, base 10 or 0 (auto): the whole input, bar one trailing newline, must
/// be the number; `-EINVAL` otherwise and `-ERANGE` on overflow.
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
        return Err(einval("kstrtoull", s));
    }
    u64::from_str_radix(digits, radix)
        .map_err(|_| ZsError::Errno(Errno::ERANGE, format!("{s:?} is out of range")))
}

/// `kstrtou*` into a narrower type: `-ERANGE` when the value does not fit.
pub(crate) fn kstrto_max(s: &str, max: u64) -> Result<u64> {
    let v = kstrtoull(s, 10)?;
    if v > max {
        return Err(ZsError::Errno(
            Errno::ERANGE,
            format!("{s:?} is out of range"),
        ));
    }
    Ok(v)
}

/// `sysfs_streq`: equal, ignoring one trailing newline on either side.
pub(crate) fn sysfs_streq(a: &str, b: &str) -> bool {
    a.strip_suffix('\n').unwrap_or(a) == b.strip_suffix('\n').unwrap_or(b)
}

/// `next_arg` over the whole input: whitespace-separated `param` or `param=value` tokens
/// (double quotes around a value are removed).
pub(crate) fn args(s: &str) -> Vec<(&str, Option<&str>)> {
    s.split_whitespace()
        .map(|tok| match tok.split_once('=') {
            Some((k, v)) => (
                k,
                Some(
                    v.strip_prefix('"')
                        .and_then(|v| v.strip_suffix('"'))
                        .unwrap_or(v),
                ),
            ),
            None => (tok, None),
        })
        .collect()
}

/// A trailing newline removed, as attribute stores do for names and paths.
pub(crate) fn chomp(s: &str) -> &str {
    s.strip_suffix('\n').unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memparse_suffixes_and_bases() {
        assert_eq!(memparse("256M"), (256 << 20, true));
        assert_eq!(memparse("1g\n"), (1 << 30, true));
        assert_eq!(memparse("4096"), (4096, true));
        assert_eq!(memparse("0x1000"), (4096, true));
        assert_eq!(memparse("010"), (8, true));
        assert_eq!(memparse("10K"), (10240, true));
        assert_eq!(memparse("abc"), (0, false));
        assert_eq!(memparse(""), (0, false));
    }

    #[test]
    fn kstrtoull_is_strict() {
        assert_eq!(kstrtoull("0\n", 10).unwrap(), 0);
        assert_eq!(kstrtoull("+12", 10).unwrap(), 12);
        assert_eq!(kstrtoull("0x10", 0).unwrap(), 16);
        assert_eq!(kstrtoull("12 ", 10).unwrap_err().errno(), Errno::EINVAL);
        assert_eq!(kstrtoull("", 10).unwrap_err().errno(), Errno::EINVAL);
        assert_eq!(kstrtoull("-1", 10).unwrap_err().errno(), Errno::EINVAL);
        assert_eq!(
            kstrtoull("99999999999999999999", 10).unwrap_err().errno(),
            Errno::ERANGE
        );
        assert_eq!(
            kstrto_max("70000", 65535).unwrap_err().errno(),
            Errno::ERANGE
        );
    }

    #[test]
    fn args_split_like_next_arg() {
        assert_eq!(
            args(" type=idle page_index=3\n huge"),
            vec![
                ("type", Some("idle")),
                ("page_index", Some("3")),
                ("huge", None)
            ]
        );
    }
}
