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

// ---- Misbehaving clients: none of them may wedge the server ----

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Short bounds so that the hardening tests take seconds.
fn short_opts() -> nbd::ServeOptions {
    nbd::ServeOptions {
        idle_timeout: Duration::from_millis(1500),
        handshake_timeout: Duration::from_millis(1000),
        request_timeout: Duration::from_millis(500),
        write_timeout: Duration::from_millis(1000),
        buffer_budget: 48 << 20,
        buffer_wait: Duration::from_millis(300),
        max_options: 16,
        max_connections: 8,
        ..Default::default()
    }
}

/// A device of `bytes` (pages that are never written cost nothing).
fn device_of(bytes: u64) -> Arc<Zram> {
    let mem = Arc::new(Memory::new(&[(bytes as usize / PS) * 2], PS).unwrap());
    let dev = Zram::new(mem, ZramConfig::new("zram0")).unwrap();
    dev.write_file("comp_algorithm", "lz4").unwrap();
    dev.write_file("disksize", &bytes.to_string()).unwrap();
    Arc::new(dev)
}

/// Stops `server` on another thread; panics if that takes longer than `limit` (the thread is then
/// left behind, wedged). Returns how long the stop took.
fn stop_within(server: nbd::NbdServer, limit: Duration) -> Duration {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let t0 = Instant::now();
        server.stop();
        let _ = tx.send(t0.elapsed());
    });
    match rx.recv_timeout(limit) {
        Ok(d) => d,
        Err(_) => panic!("NbdServer::stop did not return within {limit:?}: the server is wedged"),
    }
}

fn request(cmd: u16, cookie: u64, off: u64, len: u32) -> Vec<u8> {
    let mut r = 0x2560_9513u32.to_be_bytes().to_vec();
    r.extend_from_slice(&0u16.to_be_bytes());
    r.extend_from_slice(&cmd.to_be_bytes());
    r.extend_from_slice(&cookie.to_be_bytes());
    r.extend_from_slice(&off.to_be_bytes());
    r.extend_from_slice(&len.to_be_bytes());
    r
}

/// Reads one simple reply: (error, cookie), with `payload` bytes of data on success.
fn reply(s: &mut TcpStream, payload: &mut [u8]) -> (u32, u64) {
    let mut rep = [0u8; 16];
    s.read_exact(&mut rep).unwrap();
    assert_eq!(&rep[..4], &0x6744_6698u32.to_be_bytes());
    let err = u32::from_be_bytes(rep[4..8].try_into().unwrap());
    if err == 0 {
        s.read_exact(payload).unwrap();
    }
    (err, u64::from_be_bytes(rep[8..].try_into().unwrap()))
}

/// Whether the server has closed `s` (EOF or reset), waiting at most `wait`; sends nothing.
fn closed_within(s: &mut TcpStream, wait: Duration) -> bool {
    let t0 = Instant::now();
    let mut b = [0u8; 1 << 16];
    while t0.elapsed() < wait {
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return true,
        }
    }
    false
}

/// Sends `bytes` one at a time, one every `every`, until the server closes the connection (a
/// write fails, or EOF is read); returns how long that took, or None if `give_up` passed first.
fn trickle(
    s: &mut TcpStream,
    bytes: &[u8],
    every: Duration,
    give_up: Duration,
) -> Option<Duration> {
    let t0 = Instant::now();
    for b in bytes.iter().cycle() {
        if t0.elapsed() > give_up {
            return None;
        }
        if s.write_all(&[*b]).is_err() {
            return Some(t0.elapsed());
        }
        if closed_within(s, every) {
            return Some(t0.elapsed());
        }
    }
    unreachable!()
}

/// A well-behaved client: writes distinct data at distinct offsets and reads it back byte for byte.
fn good_client_round(s: &mut TcpStream, round: u64, size: u64) {
    let len = 64 << 10;
    // Offsets in the first half of the device (the second half is left to the tests).
    let off = (round * 3 * len as u64 + 123) % (size / 2 - len as u64);
    let mut data = vec![0u8; len];
    SplitMix64::new(round).fill_bytes(&mut data);
    let mut msg = request(1, round * 2, off, len as u32);
    msg.extend_from_slice(&data);
    s.write_all(&msg).unwrap();
    assert_eq!(reply(s, &mut []), (0, round * 2), "write {round}");
    s.write_all(&request(0, round * 2 + 1, off, len as u32))
        .unwrap();
    let mut back = vec![0u8; len];
    assert_eq!(reply(s, &mut back), (0, round * 2 + 1), "read {round}");
    assert!(
        back == data,
        "round {round}: read back differs from what was written"
    );
}

#[test]
fn misbehaving_clients_cannot_wedge_the_server() {
    const SIZE: u64 = 256 << 20;
    let dev = device_of(SIZE);
    let opts = short_opts();
    let server = nbd::serve_with(dev.clone(), "127.0.0.1:0", opts.clone()).unwrap();
    let addr = server.local_addr();
    let t_start = Instant::now();

    // 1. Two clients flood 32 MiB reads and never read a reply.
    let flooders: Vec<_> = (0..2)
        .map(|k| {
            std::thread::spawn(move || {
                let (mut s, _) = raw_connect(addr);
                s.set_write_timeout(Some(Duration::from_millis(100)))
                    .unwrap();
                let t0 = Instant::now();
                let mut i = 0u64;
                // Keep sending until the server drops us (then writes fail).
                while t0.elapsed() < Duration::from_secs(20) {
                    match s.write(&request(
                        0,
                        i,
                        (i * (32 << 20) + k) % (SIZE - (32 << 20)),
                        32 << 20,
                    )) {
                        Ok(_) => i += 1,
                        Err(e)
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                            ) => {}
                        Err(_) => return Some(t0.elapsed()),
                    }
                }
                None
            })
        })
        .collect();

    // 2. A client trickles its handshake, one byte every 200 ms.
    let hs_trickler = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        let mut hello = [0u8; 18];
        s.read_exact(&mut hello).unwrap();
        let mut bytes = 3u32.to_be_bytes().to_vec();
        bytes.extend_from_slice(b"IHAVEOPT");
        bytes.extend_from_slice(&3u32.to_be_bytes());
        bytes.extend_from_slice(&0u32.to_be_bytes());
        trickle(
            &mut s,
            &bytes,
            Duration::from_millis(200),
            Duration::from_secs(10),
        )
    });

    // 3. A client trickles a request header, one byte every 200 ms.
    let rq_trickler = std::thread::spawn(move || {
        let (mut s, _) = raw_connect(addr);
        let hdr = request(1, 1, 0, 4096);
        trickle(
            &mut s,
            &hdr,
            Duration::from_millis(200),
            Duration::from_secs(10),
        )
    });

    // 4. A client floods options in the handshake (while reading the replies).
    let opt_flooder = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        let mut hello = [0u8; 18];
        s.read_exact(&mut hello).unwrap();
        s.write_all(&3u32.to_be_bytes()).unwrap();
        let mut reader = s.try_clone().unwrap();
        let counter = std::thread::spawn(move || {
            let mut replies = 0u64;
            let mut hdr = [0u8; 20];
            while reader.read_exact(&mut hdr).is_ok() {
                let len = u32::from_be_bytes(hdr[16..20].try_into().unwrap()) as usize;
                let mut d = vec![0u8; len];
                if reader.read_exact(&mut d).is_err() {
                    break;
                }
                replies += 1;
            }
            replies
        });
        let t0 = Instant::now();
        let mut sent = 0;
        for _ in 0..10_000 {
            let mut opt = b"IHAVEOPT".to_vec();
            opt.extend_from_slice(&99u32.to_be_bytes()); // unknown: NBD_REP_ERR_UNSUP
            opt.extend_from_slice(&0u32.to_be_bytes());
            if s.write_all(&opt).is_err() {
                break;
            }
            sent += 1;
        }
        let replies = counter.join().unwrap();
        (sent, replies, t0.elapsed())
    });

    // 5. A client disconnects in the middle of a write's payload.
    let (mut half, _) = raw_connect(addr);
    let poison = vec![0xeeu8; 64 << 10];
    half.write_all(&request(1, 5, SIZE / 2 + (1 << 20), 64 << 10))
        .unwrap();
    half.write_all(&poison[..32 << 10]).unwrap();
    drop(half);

    // Meanwhile a good client keeps working, byte for byte.
    let (mut good, size) = raw_connect(addr);
    assert_eq!(size, SIZE);
    let mut round = 0;
    while t_start.elapsed() < Duration::from_millis(3000) {
        good_client_round(&mut good, round, SIZE);
        round += 1;
    }
    // The half-written request did not land.
    let mut page = vec![0u8; 64 << 10];
    dev.read_at(SIZE / 2 + (1 << 20), &mut page).unwrap();
    assert!(
        page.iter().all(|&b| b == 0),
        "a half-sent write was applied"
    );

    // The flooders were dropped (a reply that makes no progress for write_timeout ends the session).
    for f in flooders {
        let t = f.join().unwrap();
        eprintln!("a client that never reads replies was dropped after {t:?}");
        assert!(
            t.is_some_and(|t| t < Duration::from_secs(5)),
            "a client that never reads replies kept its session: {t:?}"
        );
    }
    // The tricklers were dropped by the handshake and request deadlines.
    let t = hs_trickler.join().unwrap();
    eprintln!("handshake trickler dropped after {t:?}");
    assert!(
        t.is_some_and(|t| t < opts.handshake_timeout + Duration::from_millis(700)),
        "handshake trickler kept its slot: {t:?}"
    );
    let t = rq_trickler.join().unwrap();
    eprintln!("request trickler dropped after {t:?}");
    assert!(
        t.is_some_and(|t| t < opts.request_timeout + Duration::from_millis(1200)),
        "request trickler kept its slot: {t:?}"
    );
    let (sent, replies, t) = opt_flooder.join().unwrap();
    eprintln!("option flooder: {replies} replies to {sent} options, dropped after {t:?}");
    assert!(
        replies <= opts.max_options as u64,
        "{replies} option replies to {sent} options (max_options {})",
        opts.max_options
    );
    assert!(
        t < Duration::from_secs(5),
        "option flooder held on for {t:?}"
    );
    // Request and reply buffers stayed within the budget.
    eprintln!(
        "buffer peak {} of {}",
        server.buffer_peak(),
        opts.buffer_budget
    );
    assert!(
        server.buffer_peak() <= opts.buffer_budget,
        "buffers peaked at {} > budget {}",
        server.buffer_peak(),
        opts.buffer_budget
    );
    // Only the good client is left, and it still works.
    let t0 = Instant::now();
    while server.active() != 1 && t0.elapsed() < Duration::from_millis(500) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(server.active(), 1, "sessions left besides the good client");
    good_client_round(&mut good, 1000, SIZE);

    // stop() is bounded even with a live client, and the device is closed afterwards.
    let took = stop_within(server, Duration::from_secs(3));
    eprintln!("stop() with a live client took {took:?}; good client did {round} rounds");
    assert!(closed_within(&mut good, Duration::from_secs(1)));
    dev.write_file("reset", "1").unwrap();
}

#[test]
fn stop_is_bounded_while_a_client_never_reads_replies() {
    // Default (long) timeouts: only stop() itself can end the flooder's session.
    let dev = device_of(64 << 20);
    let server = nbd::serve(dev.clone(), "127.0.0.1:0").unwrap();
    let (mut s, _) = raw_connect(server.local_addr());
    s.set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    for i in 0..64u64 {
        if s.write_all(&request(0, i, 0, 32 << 20)).is_err() {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        dev.write_file("reset", "1").unwrap_err().errno(),
        zsrs::Errno::EBUSY
    );
    let took = stop_within(server, Duration::from_secs(3));
    eprintln!("stop() with a client that never reads took {took:?}");
    assert!(took < Duration::from_secs(1), "{took:?}");
    dev.write_file("reset", "1").unwrap();
}

#[test]
fn trickling_squatters_cannot_hold_every_slot() {
    let dev = device_of(4 << 20);
    let opts = nbd::ServeOptions {
        max_connections: 4,
        ..short_opts()
    };
    let server = nbd::serve_with(dev.clone(), "127.0.0.1:0", opts.clone()).unwrap();
    let addr = server.local_addr();
    // Four clients take every slot and trickle a long option, one byte every 200 ms: the idle
    // timer must not restart on every byte.
    let squatters: Vec<_> = (0..4)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            let mut hello = [0u8; 18];
            s.read_exact(&mut hello).unwrap();
            std::thread::spawn(move || {
                let mut bytes = 3u32.to_be_bytes().to_vec();
                bytes.extend_from_slice(b"IHAVEOPT");
                bytes.extend_from_slice(&3u32.to_be_bytes());
                bytes.extend_from_slice(&60_000u32.to_be_bytes());
                bytes.extend_from_slice(&[0u8; 64]);
                trickle(
                    &mut s,
                    &bytes,
                    Duration::from_millis(200),
                    Duration::from_secs(8),
                )
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(server.active(), 4);
    // A good client gets a slot once the handshake deadline has dropped the squatters.
    let t0 = Instant::now();
    let mut good = loop {
        let mut s = TcpStream::connect(addr).unwrap();
        let mut hello = [0u8; 18];
        s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        if s.read_exact(&mut hello).is_ok() {
            drop(s);
            break raw_connect(addr).0;
        }
        assert!(
            t0.elapsed() < opts.handshake_timeout + Duration::from_secs(2),
            "no slot after {:?}",
            t0.elapsed()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    for (i, q) in squatters.into_iter().enumerate() {
        let t = q.join().unwrap();
        assert!(
            t.is_some_and(|t| t < opts.handshake_timeout + Duration::from_millis(700)),
            "squatter {i} kept its slot: {t:?}"
        );
    }
    good_client_round(&mut good, 7, 4 << 20);
    // An idle client is closed idle_timeout after its last complete request.
    let t0 = Instant::now();
    assert!(closed_within(
        &mut good,
        opts.idle_timeout + Duration::from_secs(1)
    ));
    assert!(t0.elapsed() >= opts.idle_timeout - Duration::from_millis(100));
    let took = stop_within(server, Duration::from_secs(3));
    assert!(took < Duration::from_secs(1), "{took:?}");
    dev.write_file("reset", "1").unwrap();
}

#[test]
fn oversized_and_over_budget_requests_are_refused_and_the_session_survives() {
    let dev = device_of(64 << 20);
    let opts = nbd::ServeOptions {
        buffer_budget: 8 << 20,
        ..short_opts()
    };
    let server = nbd::serve_with(dev.clone(), "127.0.0.1:0", opts).unwrap();
    let (mut s, _) = raw_connect(server.local_addr());
    // Larger than the per-request cap (the budget here): EOVERFLOW, for reads and writes.
    s.write_all(&request(0, 1, 0, 9 << 20)).unwrap();
    assert_eq!(reply(&mut s, &mut []), (75, 1));
    let mut msg = request(1, 2, 0, 9 << 20);
    msg.resize(msg.len() + (9 << 20), 0x11);
    s.write_all(&msg).unwrap();
    assert_eq!(reply(&mut s, &mut []), (75, 2));
    // The cap itself is fine, and the session survives.
    s.write_all(&request(0, 3, 0, 8 << 20)).unwrap();
    let mut back = vec![0xffu8; 8 << 20];
    assert_eq!(reply(&mut s, &mut back), (0, 3));
    assert!(back.iter().all(|&b| b == 0));
    assert!(dev.read_file("mm_stat").is_ok());
    let took = stop_within(server, Duration::from_secs(3));
    assert!(took < Duration::from_secs(1), "{took:?}");
    dev.write_file("reset", "1").unwrap();
}
