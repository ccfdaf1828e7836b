//! The device's sysfs attributes (`/sys/block/zramN/*`) by name: `read_file` returns the
//! kernel's exact text, `write_file` parses like the kernel's store handler and fails with its
//! errno. Reading a write-only attribute or writing a read-only one is `EACCES` (the file
//! modes); an unknown name is `ENOENT`. `block_state` (debugfs) is readable too, with access
//! times shown as 0 since they are not tracked.

use super::device::{errno, Zram};
use super::parse::{args, kstrto_max, kstrtoull, memparse_some};
use super::recompress::available_text;
use super::MAX_COMPS;
use crate::compress::Algorithm;
use crate::error::{Errno, Result};

/// Attributes that can only be written.
const WRITE_ONLY: &[&str] = &[
    "reset",
    "compact",
    "mem_limit",
    "mem_used_max",
    "idle",
    "writeback",
    "recompress",
    "algorithm_params",
];
/// Attributes that can only be read.
const READ_ONLY: &[&str] = &[
    "initstate",
    "io_stat",
    "mm_stat",
    "bd_stat",
    "debug_stat",
    "block_state",
];

impl Zram {
    /// The text of attribute `name`, exactly as the kernel prints it.
    pub fn read_file(&self, name: &str) -> Result<String> {
        Ok(match name {
            "disksize" => format!("{}\n", self.disksize()),
            "initstate" => format!("{}\n", u32::from(self.is_initialized())),
            "comp_algorithm" => {
                let st = self.lock();
                available_text(st.comp_algs[0])
            }
            "recomp_algorithm" => self.recomp_algorithm_text(),
            "backing_dev" => match self.backing_dev() {
                Some(p) => format!("{}\n", p.display()),
                None => "none\n".to_string(),
            },
            "writeback_limit" => format!("{}\n", self.writeback_limit().1),
            "writeback_limit_enable" => format!("{}\n", i32::from(self.writeback_limit().0)),
            "mm_stat" => self.mm_stat().text(),
            "io_stat" => self.io_stat().text(),
            "bd_stat" => self.bd_stat().text(),
            "debug_stat" => self.debug_stat().text(),
            "block_state" => self.block_state()?,
            _ if WRITE_ONLY.contains(&name) => {
                return Err(errno(Errno::EACCES, format!("{name} is write-only")))
            }
            _ => return Err(errno(Errno::ENOENT, format!("no attribute {name:?}"))),
        })
    }

    /// Writes `value` to attribute `name`, as `echo value > /sys/block/zramN/name` would.
    pub fn write_file(&self, name: &str, value: &str) -> Result<()> {
        match name {
            // disksize_store: `memparse(buf, NULL)`; nothing parsed reads as 0, which is -EINVAL.
            "disksize" => self.set_disksize(memparse_some(value).unwrap_or(0)),
            "reset" => {
                let v = kstrto_max(value, u64::from(u16::MAX))?;
                if v == 0 {
                    return Err(errno(Errno::EINVAL, "reset needs a positive value"));
                }
                self.reset()
            }
            "compact" => self.compact().map(|_| ()),
            "mem_limit" => {
                // mem_limit_store: `buf == tmp` (nothing parsed) is -EINVAL.
                let Some(v) = memparse_some(value) else {
                    return Err(errno(Errno::EINVAL, format!("bad mem_limit {value:?}")));
                };
                self.set_mem_limit(v);
                Ok(())
            }
            "mem_used_max" => match kstrtoull(value, 10) {
                Ok(0) => {
                    self.reset_mem_used_max();
                    Ok(())
                }
                _ => Err(errno(Errno::EINVAL, "mem_used_max accepts only 0")),
            },
            "idle" => self.mark_idle(value),
            "comp_algorithm" => self.set_comp_algorithm(value),
            "recomp_algorithm" => self.set_recomp_algorithm(value),
            "recompress" => self.recompress(value),
            "backing_dev" => self.set_backing_dev(value),
            "writeback" => self.writeback(value),
            "writeback_limit" => {
                let v = kstrtoull(value, 10).map_err(|_| errno(Errno::EINVAL, "bad limit"))?;
                self.set_writeback_limit(v);
                Ok(())
            }
            "writeback_limit_enable" => {
                let v = kstrtoull(value, 10).map_err(|_| errno(Errno::EINVAL, "bad value"))?;
                self.set_writeback_limit_enable(v != 0);
                Ok(())
            }
            "algorithm_params" => self.algorithm_params(value),
            _ if READ_ONLY.contains(&name) => {
                Err(errno(Errno::EACCES, format!("{name} is read-only")))
            }
            _ => Err(errno(Errno::ENOENT, format!("no attribute {name:?}"))),
        }
    }

    /// `algorithm_params` store: `priority=N` or `algo=NAME` picks the algorithm, `level=L` its
    /// level, used from the next initialisation. Dictionaries are not supported (`EINVAL`).
    fn algorithm_params(&self, value: &str) -> Result<()> {
        let mut prio: i64 = 0;
        let mut level = None;
        let mut algo = None;
        for (param, val) in args(value) {
            let Some(val) = val.filter(|v| !v.is_empty()) else {
                return Err(errno(Errno::EINVAL, format!("{param} needs a value")));
            };
            let int = |v: &str| {
                v.parse::<i64>()
                    .map_err(|_| errno(Errno::EINVAL, format!("bad number {v:?}")))
            };
            match param {
                "priority" => prio = int(val)?,
                "level" => level = Some(int(val)?),
                "algo" => algo = Some(val),
                "dict" => return Err(errno(Errno::EINVAL, "dictionaries are not supported")),
                _ => {}
            }
        }
        let mut st = self.lock();
        if let Some(a) = algo {
            prio = (0..MAX_COMPS)
                .find(|&p| st.comp_algs[p].map(Algorithm::name) == Some(a))
                .map_or(-1, |p| p as i64);
        }
        if !(0..MAX_COMPS as i64).contains(&prio) {
            return Err(errno(Errno::EINVAL, "no such algorithm priority"));
        }
        let level = level
            .map(|l| i32::try_from(l).map_err(|_| errno(Errno::EINVAL, "level out of range")))
            .transpose()?;
        st.comp_levels[prio as usize] = level;
        Ok(())
    }

    /// debugfs `block_state`: one line per allocated slot, `%12zd %12lld.%06lu` then the six
    /// flag characters.
    pub fn block_state(&self) -> Result<String> {
        let st = self.lock();
        st.check_init()?;
        let mut out = String::new();
        for (i, s) in st.slots.iter().enumerate() {
            if s.allocated() {
                let info = super::slot::SlotInfo::of(s);
                out.push_str(&format!(
                    "{:12} {:12}.{:06} {}\n",
                    i,
                    0,
                    0,
                    info.flag_chars()
                ));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::{Zram, ZramConfig};
    use crate::error::Errno;
    use crate::mem::Memory;

    fn dev() -> Zram {
        let mem = Arc::new(Memory::new(&[1024], 4096).unwrap());
        Zram::new(mem, ZramConfig::new("zram0")).unwrap()
    }

    #[test]
    fn sizes_at_the_overflow_edge_read_as_on_linux() {
        // memparse saturates "16E" to 2^64 - 1; PAGE_ALIGN then wraps: disksize ENOMEM.
        let d = dev();
        assert_eq!(
            d.write_file("disksize", "16E").unwrap_err().errno(),
            Errno::ENOMEM
        );
        // 2^64 wraps to 0 in simple_strtoull: a disksize of 0 is EINVAL.
        assert_eq!(
            d.write_file("disksize", "18446744073709551616")
                .unwrap_err()
                .errno(),
            Errno::EINVAL
        );
        assert_eq!(
            d.write_file("disksize", "K").unwrap_err().errno(),
            Errno::EINVAL
        );
        d.write_file("disksize", "1M").unwrap();
        // mem_limit: PAGE_ALIGN(2^64 - 1) wraps to 0, which is no limit.
        d.write_file("mem_limit", "16E").unwrap();
        assert_eq!(d.mm_stat().mem_limit, 0);
        d.write_file("mem_limit", "15E").unwrap();
        assert_eq!(d.mm_stat().mem_limit, 15 << 60);
        assert_eq!(
            d.write_file("mem_limit", "M").unwrap_err().errno(),
            Errno::EINVAL,
            "a suffix without digits parses nothing"
        );
    }
}
