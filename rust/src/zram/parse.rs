//! zram's sysfs input helpers, reproduced for their accepted inputs and errnos: `kstrtou*` into
//! a narrower type, `sysfs_streq`, and `next_arg`-style `key=value` splitting. The number parsers
//! themselves (`memparse`, `kstrtoull`) are the crate's one copy in `crate::parse`.

use crate::error::{Errno, Result, ZsError};
pub(super) use crate::parse::{kstrtoull, memparse_some};

/// `kstrtou*` into a narrower type: `-ERANGE` when the value does not fit.
pub(super) fn kstrto_max(s: &str, max: u64) -> Result<u64> {
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
pub(super) fn sysfs_streq(a: &str, b: &str) -> bool {
    a.strip_suffix('\n').unwrap_or(a) == b.strip_suffix('\n').unwrap_or(b)
}

/// `next_arg` over the whole input: whitespace-separated `param` or `param=value` tokens
/// (double quotes around a value are removed).
pub(super) fn args(s: &str) -> Vec<(&str, Option<&str>)> {
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
pub(super) fn chomp(s: &str) -> &str {
    s.strip_suffix('\n').unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// zram's view of `memparse`: the value and whether anything was parsed (`buf != end`).
    fn memparse(s: &str) -> (u64, bool) {
        memparse_some(s).map_or((0, false), |v| (v, true))
    }

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
    fn memparse_overflow_saturates_in_the_suffix_and_wraps_in_the_number() {
        assert_eq!(memparse("16E"), (u64::MAX, true));
        assert_eq!(memparse("15e"), (15 << 60, true));
        assert_eq!(memparse("18446744073709551616"), (0, true));
        assert_eq!(memparse("K"), (0, false), "a suffix needs digits");
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
