//! The NBD server against real clients: qemu-img and qemu-io (package qemu-utils). Their absence
//! is a failure, not a skip: CI installs them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use zsrs::mem::Memory;
use zsrs::nbd;
use zsrs::pagegen::{w1_page, SplitMix64};
use zsrs::zram::{Zram, ZramConfig};

const PS: usize = 4096;
/// Pages of the test image (4 MiB).
const PAGES: usize = 1024;

fn tool(name: &str) -> Command {
    let found = Command::new(name).arg("--version").output();
    assert!(
        matches!(found, Ok(ref o) if o.status.success()),
        "{name} is required for the NBD tests but was not found: install qemu-utils \
         (apt-get install qemu-utils)"
    );
    Command::new(name)
}

fn run(mut cmd: Command) -> String {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct TempFile(PathBuf);
impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn temp(tag: &str) -> TempFile {
    static N: AtomicUsize = AtomicUsize::new(0);
    TempFile(std::env::temp_dir().join(format!(
        "zsrs-nbd-{tag}-{}-{}.raw",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )))
}

/// Page `i` of the mixed image: every 5th page zero, every 7th random, the rest W1 pages
/// (a random prefix then zeros: compressible to varying degrees).
fn image_page(i: usize) -> Vec<u8> {
    if i.is_multiple_of(5) {
        vec![0u8; PS]
    } else if i.is_multiple_of(7) {
        let mut p = vec![0u8; PS];
        SplitMix64::new(i as u64).fill_bytes(&mut p);
        p
    } else {
        // Skip W1's own zero pages so that the zero count is known.
        w1_page((i * 13 % 4000 + 1) as u64, PS)
    }
}

fn write_image(path: &Path) -> Vec<u8> {
    let img: Vec<u8> = (0..PAGES).flat_map(image_page).collect();
    std::fs::write(path, &img).unwrap();
    img
}

fn device() -> Arc<Zram> {
    let mem = Arc::new(Memory::new(&[1 << 14], PS).unwrap());
    let dev = Zram::new(mem, ZramConfig::new("zram0")).unwrap();
    dev.write_file("comp_algorithm", "lz4").unwrap();
    dev.write_file("disksize", &format!("{}", PAGES * PS))
        .unwrap();
    Arc::new(dev)
}

#[test]
fn qemu_img_convert_into_zram_and_compare_back() {
    let dev = device();
    let server = nbd::serve(dev.clone(), "127.0.0.1:0").unwrap();
    let url = server.url();
    let img_file = temp("src");
    let img = write_image(&img_file.0);

    let mut c = tool("qemu-img");
    c.args(["convert", "-n", "-f", "raw", "-O", "raw"])
        .arg(&img_file.0)
        .arg(&url);
    run(c);

    // Bytes: through the device API and through qemu-img compare over NBD.
    let mut back = vec![0u8; img.len()];
    dev.read_at(0, &mut back).unwrap();
    assert!(back == img, "device content differs from the image");
    let mut c = tool("qemu-img");
    c.args(["compare", "-f", "raw", "-F", "raw"])
        .arg(&img_file.0)
        .arg(&url);
    let out = run(c);
    assert!(out.contains("Images are identical"), "{out}");

    // Counters: every page was written; zero pages are same-filled.
    let zero_pages = (0..PAGES).filter(|i| i % 5 == 0).count() as u64;
    let m = dev.mm_stat();
    assert_eq!(
        m.same_pages,
        zero_pages,
        "{}",
        dev.read_file("mm_stat").unwrap()
    );
    assert_eq!(m.orig_data_size, (PAGES * PS) as u64);
    let huge = (0..PAGES)
        .filter(|&i| dev.slot_info(i as u64).unwrap().huge)
        .count() as u64;
    assert_eq!(m.huge_pages, huge);
    assert!(huge >= (0..PAGES).filter(|i| i % 7 == 0 && i % 5 != 0).count() as u64);
    assert_eq!(dev.io_stat().failed_writes, 0);
    assert!(server.connections() >= 2);
    server.stop();
}

#[test]
fn qemu_io_unaligned_writes_reads_and_discard() {
    let dev = device();
    let server = nbd::serve(dev.clone(), "127.0.0.1:0").unwrap();
    let url = server.url();
    let io = |cmds: &[&str]| {
        let mut c = tool("qemu-io");
        c.args(["-f", "raw", &url]);
        for cmd in cmds {
            c.args(["-c", cmd]);
        }
        let out = run(c);
        assert!(
            !out.contains("error") && !out.contains("Pattern verification failed"),
            "{out}"
        );
        out
    };
    // A whole page of one byte is same-filled; an unaligned write goes through read-modify-write.
    io(&[
        "write -P 0xab 8192 4096",
        "write -P 0x5 100 1000",
        "write -P 0x7 4000 200",
    ]);
    let info = dev.slot_info(2).unwrap();
    assert!(info.same && info.fill == 0xabab_abab_abab_abab);
    let mut page = vec![0u8; PS];
    dev.read_page(0, &mut page).unwrap();
    assert!(page[..100].iter().all(|&b| b == 0));
    assert!(page[100..1100].iter().all(|&b| b == 5));
    assert!(page[1100..4000].iter().all(|&b| b == 0));
    assert!(page[4000..].iter().all(|&b| b == 7));
    dev.read_page(1, &mut page).unwrap();
    assert!(page[..104].iter().all(|&b| b == 7));
    io(&[
        "read -P 0xab 8192 4096",
        "read -P 0x5 100 1000",
        "read -P 0x7 4000 200",
        "read -P 0 1100 2900",
    ]);
    let m = dev.mm_stat();
    assert_eq!((m.orig_data_size, m.same_pages), (3 * 4096, 1));

    // Discard: whole pages only. [2048, 2048 + 3 pages) frees pages 1 and 2.
    io(&["discard 2048 12288"]);
    assert!(dev.slot_info(0).unwrap().allocated);
    assert!(!dev.slot_info(1).unwrap().allocated);
    assert!(!dev.slot_info(2).unwrap().allocated);
    assert_eq!(dev.io_stat().notify_free, 2);
    assert_eq!(dev.mm_stat().orig_data_size, 4096);
    io(&["read -P 0 4096 8192", "read -P 0x5 100 1000"]);
    server.stop();
}

/// A minimal client: fixed-newstyle handshake with NBD_OPT_EXPORT_NAME; returns the export size.
fn raw_connect(addr: std::net::SocketAddr) -> (std::net::TcpStream, u64) {
    raw_connect_with(addr, 3)
}

/// `raw_connect` sending client flags `cflags` (bit 0: fixed newstyle, bit 1: no zeroes).
fn raw_connect_with(addr: std::net::SocketAddr, cflags: u32) -> (std::net::TcpStream, u64) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let mut hello = [0u8; 18];
    s.read_exact(&mut hello).unwrap();
    assert_eq!(&hello[..8], b"NBDMAGIC");
    assert_eq!(&hello[8..16], b"IHAVEOPT");
    s.write_all(&cflags.to_be_bytes()).unwrap();
    let mut opt = b"IHAVEOPT".to_vec();
    opt.extend_from_slice(&1u32.to_be_bytes());
    opt.extend_from_slice(&0u32.to_be_bytes());
    s.write_all(&opt).unwrap();
    let mut reply = [0u8; 10];
    s.read_exact(&mut reply).unwrap();
    if cflags & 2 == 0 {
        let mut zeroes = [0xffu8; 124];
        s.read_exact(&mut zeroes).unwrap();
        assert_eq!(zeroes, [0u8; 124]);
    }
    let size = u64::from_be_bytes(reply[..8].try_into().unwrap());
    let flags = u16::from_be_bytes([reply[8], reply[9]]);
    assert_eq!(
        flags & 0b10_0101,
        0b10_0101,
        "HAS_FLAGS, SEND_FLUSH, SEND_TRIM"
    );
    (s, size)
}

#[test]
fn a_plain_newstyle_client_gets_export_name_only() {
    use std::io::{Read, Write};
    let dev = device();
    let server = nbd::serve(dev.clone(), "127.0.0.1:0").unwrap();
    // Without the fixed-newstyle flag: NBD_OPT_EXPORT_NAME works (with the 124 zero bytes)...
    let (s, size) = raw_connect_with(server.local_addr(), 0);
    assert_eq!(size, (PAGES * PS) as u64);
    drop(s);
    // ...and any other option (here NBD_OPT_LIST) ends the session without a reply.
    let mut s = std::net::TcpStream::connect(server.local_addr()).unwrap();
    let mut hello = [0u8; 18];
    s.read_exact(&mut hello).unwrap();
    s.write_all(&0u32.to_be_bytes()).unwrap();
    let mut opt = b"IHAVEOPT".to_vec();
    opt.extend_from_slice(&3u32.to_be_bytes());
    opt.extend_from_slice(&0u32.to_be_bytes());
    s.write_all(&opt).unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "no option reply in plain newstyle");
    server.stop();
}

#[test]
fn serving_holds_the_device_open_and_refuses_other_addresses() {
    use std::io::{Read, Write};
    let dev = device();
    assert!(nbd::serve(dev.clone(), "0.0.0.0:0").is_err());
    assert!(nbd::serve(dev.clone(), "192.0.2.1:0").is_err());
    let server = nbd::serve(dev.clone(), "127.0.0.1:0").unwrap();
    let (mut s, size) = raw_connect(server.local_addr());
    assert_eq!(size, (PAGES * PS) as u64);
    // An unknown command gets EINVAL; a read past the end too; the connection survives.
    let req = |cmd: u16, cookie: u64, off: u64, len: u32| {
        let mut r = 0x2560_9513u32.to_be_bytes().to_vec();
        r.extend_from_slice(&0u16.to_be_bytes());
        r.extend_from_slice(&cmd.to_be_bytes());
        r.extend_from_slice(&cookie.to_be_bytes());
        r.extend_from_slice(&off.to_be_bytes());
        r.extend_from_slice(&len.to_be_bytes());
        r
    };
    let mut rep = [0u8; 16];
    s.write_all(&req(9, 7, 0, 0)).unwrap();
    s.read_exact(&mut rep).unwrap();
    assert_eq!(u32::from_be_bytes(rep[4..8].try_into().unwrap()), 22);
    assert_eq!(u64::from_be_bytes(rep[8..].try_into().unwrap()), 7);
    s.write_all(&req(0, 8, size - 10, 20)).unwrap();
    s.read_exact(&mut rep).unwrap();
    assert_eq!(u32::from_be_bytes(rep[4..8].try_into().unwrap()), 22);
    s.write_all(&req(3, 9, 0, 0)).unwrap();
    s.read_exact(&mut rep).unwrap();
    assert_eq!(u32::from_be_bytes(rep[4..8].try_into().unwrap()), 0);
    // The device is open while the client is connected.
    let err = dev.write_file("reset", "1").unwrap_err();
    assert_eq!(err.errno(), zsrs::Errno::EBUSY);
    s.write_all(&req(2, 10, 0, 0)).unwrap();
    drop(s);
    let t0 = std::time::Instant::now();
    while dev.write_file("reset", "1").is_err() {
        assert!(
            t0.elapsed().as_secs() < 5,
            "the session did not end after NBD_CMD_DISC"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // Stopping ends an idle connection too.
    dev.write_file("disksize", "1M").unwrap();
    let (_idle, _) = raw_connect(server.local_addr());
    let t0 = std::time::Instant::now();
    server.stop();
    assert!(t0.elapsed().as_secs() < 2);
    dev.write_file("reset", "1").unwrap();
}
