//! Exclusive claims on backing files, as the kernel claims a swap file or a zram backing
//! device: `swapon` refuses a file that is already a swap file (`claim_swapfile`: EBUSY) and
//! zram's `backing_dev` opens its device exclusively (`blkdev_get_by_dev` with a holder: EBUSY).
//!
//! The claim is an exclusive `flock` on the open file: it names the inode, so it holds across
//! paths and hard links, other processes see it, and it ends when the file is closed (the
//! device is swapped off, reset or dropped). A file is claimed before anything is written to
//! it, so a refused claim changes nothing.

use std::fs::{File, TryLockError};
use std::path::Path;

use crate::error::{Errno, Result, ZsError};

/// Claims `file` (opened from `path`) for its sole user, or EBUSY if another holds it.
pub(crate) fn claim(file: &File, path: &Path, user: &str) -> Result<()> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(TryLockError::WouldBlock) => Err(ZsError::errno_msg(
            Errno::EBUSY,
            format!(
                "{}: in use (claimed as a swap file or backing device)",
                path.display()
            ),
        )),
        Err(TryLockError::Error(e)) => Err(ZsError::Io(format!(
            "{}: cannot claim it as {user}: {e}",
            path.display()
        ))),
    }
}
