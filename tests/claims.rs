//! Backing files are claimed as the kernel claims them: a swap file or zram backing device in
//! use is EBUSY to a second user — in this process or another — and a refused claim leaves the
//! file's contents alone; closing the user releases the claim.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use zsrs::mem::Memory;
use zsrs::zram::{Zram, ZramConfig};
use zsrs::zswap::{SwapDevices, SwapSlot};
use zsrs::Errno;

const PS: usize = 4096;

/// A child process forked by one test holds copies of every open file (and so their claims)
/// until it execs: the tests of this file run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

struct TempFile(std::path::PathBuf);
impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn temp(tag: &str, bytes: usize) -> TempFile {
    static N: AtomicUsize = AtomicUsize::new(0);
    let p = std::env::temp_dir().join(format!(
        "zsrs-claim-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&p, vec![0u8; bytes]).unwrap();
    TempFile(p)
}

fn page(b: u8) -> Vec<u8> {
    vec![b; PS]
}

fn zram_on(bd: &std::path::Path) -> zsrs::Result<Zram> {
    let dev = Zram::new(
        Arc::new(Memory::new(&[1 << 12], PS).unwrap()),
        ZramConfig::new("zram0"),
    )?;
    dev.write_file("backing_dev", bd.to_str().unwrap())?;
    Ok(dev)
}

#[test]
fn a_live_swap_file_is_ebusy_to_a_second_swapon_and_keeps_its_pages() {
    let _one = serial();
    let f = temp("swap", 0);
    let a = SwapDevices::new(PS);
    a.swapon(&f.0, 16).unwrap();
    a.write_page(SwapSlot::new(0, 3), &page(0xab)).unwrap();
    let b = SwapDevices::new(PS);
    let e = b.swapon(&f.0, 16).unwrap_err();
    assert_eq!(e.errno(), Errno::EBUSY, "{e}");
    // Also by another name for the same file (a hard link names the same inode).
    let link = f.0.with_extension("link");
    std::fs::hard_link(&f.0, &link).unwrap();
    let e = b.swapon(&link, 8).unwrap_err();
    std::fs::remove_file(&link).unwrap();
    assert_eq!(e.errno(), Errno::EBUSY);
    // Nothing was truncated: the first device reads its page back.
    let mut out = page(0);
    a.read_page(SwapSlot::new(0, 3), &mut out).unwrap();
    assert_eq!(out, page(0xab));
    assert_eq!(std::fs::metadata(&f.0).unwrap().len(), 16 * PS as u64);
    // A zram device cannot take it as its backing device either.
    assert_eq!(zram_on(&f.0).unwrap_err().errno(), Errno::EBUSY);
    // Swapped off (dropped), the file is free again.
    drop(a);
    b.swapon(&f.0, 8).unwrap();
}

#[test]
fn a_zram_backing_device_is_exclusive_until_reset() {
    let _one = serial();
    let f = temp("bd", 16 * PS);
    let first = zram_on(&f.0).unwrap();
    assert_eq!(zram_on(&f.0).unwrap_err().errno(), Errno::EBUSY);
    let swap = SwapDevices::new(PS);
    assert_eq!(swap.swapon(&f.0, 16).unwrap_err().errno(), Errno::EBUSY);
    assert_eq!(std::fs::metadata(&f.0).unwrap().len(), 16 * PS as u64);
    first.reset().unwrap();
    zram_on(&f.0).unwrap();
}

#[test]
fn another_process_sees_the_claim() {
    let _one = serial();
    // flock(1) from util-linux asks for the same exclusive lock without waiting.
    if Command::new("flock").arg("--version").output().is_err() {
        panic!("flock(1) (util-linux) is needed for this test");
    }
    let f = temp("xproc", 0);
    let a = SwapDevices::new(PS);
    a.swapon(&f.0, 4).unwrap();
    let held = Command::new("flock")
        .args(["-n", "-x"])
        .arg(&f.0)
        .arg("true")
        .status()
        .unwrap();
    assert!(!held.success(), "another process got the swap file");
    drop(a);
    let free = Command::new("flock")
        .args(["-n", "-x"])
        .arg(&f.0)
        .arg("true")
        .status()
        .unwrap();
    assert!(free.success());
}

#[test]
fn swap_devices_of_no_slots_or_of_absurd_size_are_einval_and_create_nothing() {
    let _one = serial();
    let d = SwapDevices::new(PS);
    let p = std::env::temp_dir().join(format!("zsrs-claim-none-{}", std::process::id()));
    for n in [0, zsrs::zswap::MAX_SWAP_SLOTS + 1, 1 << 52, u64::MAX] {
        let e = d.swapon(&p, n).unwrap_err();
        assert_eq!(e.errno(), Errno::EINVAL, "{n}: {e}");
        assert!(!p.exists());
    }
    assert_eq!(d.nr_devices(), 0);
}
