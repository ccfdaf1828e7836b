//! One client connection: the fixed-newstyle handshake, then the transmission loop. Every read
//! and write runs under a deadline and polls the server's stop flag (see [`ServeOptions`]), so
//! no client can hold a session, its buffers or the device for longer than the bounds say.

use std::io::{self, IoSlice, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::budget::Budget;
use super::proto::*;
use super::server::ServeOptions;
use crate::error::Errno;
use crate::zram::Zram;

/// How often a blocked read or write looks at the stop flag and its deadline.
pub(super) const POLL: Duration = Duration::from_millis(50);

pub(super) struct Session {
    stream: TcpStream,
    dev: Arc<Zram>,
    opts: Arc<ServeOptions>,
    stop: Arc<AtomicBool>,
    budget: Arc<Budget>,
}

/// What the handshake ended with.
enum Next {
    Transmit,
    Close,
}

/// A point in time by which a read or write must be done, and what to call missing it.
#[derive(Clone, Copy)]
struct Deadline {
    at: Instant,
    what: &'static str,
}

impl Deadline {
    fn after(d: Duration, what: &'static str) -> Self {
        Self::from(Instant::now(), d, what)
    }

    fn from(start: Instant, d: Duration, what: &'static str) -> Self {
        // A timeout too large to add is as good as none.
        let at = start
            .checked_add(d)
            .unwrap_or_else(|| start + Duration::from_secs(1 << 32));
        Self { at, what }
    }

    fn min(self, other: Self) -> Self {
        if other.at < self.at {
            other
        } else {
            self
        }
    }
}

fn closed(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, why.to_string())
}

fn retry(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

impl Session {
    pub fn new(
        stream: TcpStream,
        dev: Arc<Zram>,
        opts: Arc<ServeOptions>,
        stop: Arc<AtomicBool>,
        budget: Arc<Budget>,
    ) -> Self {
        Self {
            stream,
            dev,
            opts,
            stop,
            budget,
        }
    }

    /// Serves the connection until the client disconnects, errs, misses a deadline, or the
    /// server stops.
    pub fn run(mut self) -> io::Result<()> {
        // Blocking calls return every POLL so that the stop flag and deadlines are looked at.
        self.stream.set_read_timeout(Some(POLL))?;
        self.stream.set_write_timeout(Some(POLL))?;
        self.stream.set_nodelay(true)?;
        let handshake = Deadline::after(self.opts.handshake_timeout, "handshake deadline");
        match self.handshake(handshake)? {
            Next::Close => Ok(()),
            Next::Transmit => {
                let _open = self.dev.open();
                self.transmit()
            }
        }
    }

    /// The largest READ or WRITE payload served: [`MAX_REQUEST`], or the whole buffer budget
    /// if that is smaller.
    fn max_payload(&self) -> u32 {
        u64::from(MAX_REQUEST).min(self.budget.limit()) as u32
    }

    fn check(&self, dl: Deadline) -> io::Result<()> {
        if self.stop.load(Ordering::Relaxed) {
            return Err(closed("server stopping"));
        }
        if Instant::now() >= dl.at {
            return Err(closed(dl.what));
        }
        Ok(())
    }

    /// Fills `buf` by `first`; once a byte has arrived, by `then` after it instead when given
    /// (a request: the idle deadline until it starts, the request deadline after). Returns when
    /// the first byte arrived.
    fn read_full(
        &mut self,
        buf: &mut [u8],
        first: Deadline,
        then: Option<(Duration, &'static str)>,
    ) -> io::Result<Instant> {
        let mut n = 0;
        let mut dl = first;
        let mut started = Instant::now();
        while n < buf.len() {
            self.check(dl)?;
            match self.stream.read(&mut buf[n..]) {
                Ok(0) => return Err(closed("client closed the connection")),
                Ok(k) => {
                    if n == 0 {
                        started = Instant::now();
                        if let Some((d, what)) = then {
                            dl = Deadline::from(started, d, what);
                        }
                    }
                    n += k;
                }
                Err(e) if retry(&e) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(started)
    }

    /// Sends `parts` one after the other, all by `dl`.
    fn write_all(&mut self, parts: &[&[u8]], dl: Deadline) -> io::Result<()> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let mut done = 0;
        while done < total {
            self.check(dl)?;
            let mut skip = done;
            let mut slices = Vec::with_capacity(parts.len());
            for p in parts {
                if skip >= p.len() {
                    skip -= p.len();
                } else {
                    slices.push(IoSlice::new(&p[skip..]));
                    skip = 0;
                }
            }
            match self.stream.write_vectored(&slices) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(k) => done += k,
                Err(e) if retry(&e) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn option_reply(&mut self, dl: Deadline, opt: u32, rtype: u32, data: &[u8]) -> io::Result<()> {
        let mut hdr = [0u8; 20];
        hdr[..8].copy_from_slice(&REPLY_MAGIC.to_be_bytes());
        hdr[8..12].copy_from_slice(&opt.to_be_bytes());
        hdr[12..16].copy_from_slice(&rtype.to_be_bytes());
        hdr[16..].copy_from_slice(&(data.len() as u32).to_be_bytes());
        self.write_all(&[&hdr, data], self.handshake_write(dl))
    }

    /// A handshake message must be sent by the handshake deadline and within the write timeout.
    fn handshake_write(&self, dl: Deadline) -> Deadline {
        dl.min(Deadline::after(self.opts.write_timeout, "write deadline"))
    }

    fn known_export(&self, name: &[u8]) -> bool {
        name.is_empty() || name == self.opts.export_name.as_bytes()
    }

    fn transmission_flags(&self) -> u16 {
        FLAG_HAS_FLAGS | FLAG_SEND_FLUSH | FLAG_SEND_TRIM | FLAG_CAN_MULTI_CONN
    }

    fn handshake(&mut self, dl: Deadline) -> io::Result<Next> {
        let mut hello = Vec::with_capacity(18);
        hello.extend_from_slice(&NBDMAGIC.to_be_bytes());
        hello.extend_from_slice(&IHAVEOPT.to_be_bytes());
        hello.extend_from_slice(&(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES).to_be_bytes());
        self.write_all(&[&hello], self.handshake_write(dl))?;
        let mut b4 = [0u8; 4];
        self.read_full(&mut b4, dl, None)?;
        let cflags = be_u32(&b4);
        if cflags & !(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES) != 0 {
            return Err(closed("unknown client flags"));
        }
        let no_zeroes = cflags & FLAG_C_NO_ZEROES != 0;
        // Without NBD_FLAG_C_FIXED_NEWSTYLE the client speaks plain newstyle, where the server
        // has no way to reply to an option: only NBD_OPT_EXPORT_NAME is understood, and any
        // other option ends the session.
        let fixed = cflags & FLAG_C_FIXED_NEWSTYLE != 0;
        let mut options = 0usize;
        loop {
            let mut hdr = [0u8; 16];
            self.read_full(&mut hdr, dl, None)?;
            options += 1;
            if options > self.opts.max_options {
                return Err(closed("too many options"));
            }
            if be_u64(&hdr) != IHAVEOPT {
                return Err(closed("bad option magic"));
            }
            let opt = be_u32(&hdr[8..]);
            let len = be_u32(&hdr[12..]);
            if len > MAX_OPTION {
                return Err(closed("option too long"));
            }
            let mut data = vec![0u8; len as usize];
            self.read_full(&mut data, dl, None)?;
            if !fixed && opt != OPT_EXPORT_NAME {
                return Ok(Next::Close);
            }
            match opt {
                OPT_EXPORT_NAME => {
                    if !self.known_export(&data) {
                        return Ok(Next::Close);
                    }
                    let mut msg = Vec::with_capacity(10 + 124);
                    msg.extend_from_slice(&self.dev.disksize().to_be_bytes());
                    msg.extend_from_slice(&self.transmission_flags().to_be_bytes());
                    if !no_zeroes {
                        msg.extend_from_slice(&[0u8; 124]);
                    }
                    self.write_all(&[&msg], self.handshake_write(dl))?;
                    return Ok(Next::Transmit);
                }
                OPT_ABORT => {
                    // The client may already have gone; the reply is a courtesy.
                    let _ = self.option_reply(dl, opt, REP_ACK, &[]);
                    return Ok(Next::Close);
                }
                OPT_LIST => {
                    if !data.is_empty() {
                        self.option_reply(dl, opt, REP_ERR_INVALID, b"LIST takes no data")?;
                        continue;
                    }
                    let mut d = (self.opts.export_name.len() as u32).to_be_bytes().to_vec();
                    d.extend_from_slice(self.opts.export_name.as_bytes());
                    self.option_reply(dl, opt, REP_SERVER, &d)?;
                    self.option_reply(dl, opt, REP_ACK, &[])?;
                }
                OPT_INFO | OPT_GO => {
                    if self.info(dl, opt, &data)? && opt == OPT_GO {
                        return Ok(Next::Transmit);
                    }
                }
                _ => self.option_reply(dl, opt, REP_ERR_UNSUP, b"option not supported")?,
            }
        }
    }

    /// NBD_OPT_INFO / NBD_OPT_GO; true when the export was acknowledged.
    fn info(&mut self, dl: Deadline, opt: u32, data: &[u8]) -> io::Result<bool> {
        let parsed = (|| {
            let nlen = be_u32(data.get(..4)?) as usize;
            let name = data.get(4..4 + nlen)?;
            let nreq = be_u16(data.get(4 + nlen..6 + nlen)?) as usize;
            let reqs = data.get(6 + nlen..)?;
            if reqs.len() != nreq * 2 {
                return None;
            }
            Some((
                name.to_vec(),
                reqs.chunks(2).map(be_u16).collect::<Vec<_>>(),
            ))
        })();
        let Some((name, reqs)) = parsed else {
            self.option_reply(dl, opt, REP_ERR_INVALID, b"malformed request")?;
            return Ok(false);
        };
        if !self.known_export(&name) {
            self.option_reply(dl, opt, REP_ERR_UNKNOWN, b"unknown export")?;
            return Ok(false);
        }
        let mut export = INFO_EXPORT.to_be_bytes().to_vec();
        export.extend_from_slice(&self.dev.disksize().to_be_bytes());
        export.extend_from_slice(&self.transmission_flags().to_be_bytes());
        self.option_reply(dl, opt, REP_INFO, &export)?;
        if reqs.contains(&INFO_BLOCK_SIZE) {
            // Any alignment works (partial pages are read-modify-written); pages are best. The
            // maximum is what one request may carry (the per-request cap of the buffer budget).
            let mut bs = INFO_BLOCK_SIZE.to_be_bytes().to_vec();
            bs.extend_from_slice(&1u32.to_be_bytes());
            bs.extend_from_slice(&(self.dev.page_size() as u32).to_be_bytes());
            bs.extend_from_slice(&self.max_payload().to_be_bytes());
            self.option_reply(dl, opt, REP_INFO, &bs)?;
        }
        self.option_reply(dl, opt, REP_ACK, &[])?;
        Ok(true)
    }

    fn reply(&mut self, cookie: u64, error: u32, data: &[u8]) -> io::Result<()> {
        let mut hdr = [0u8; 16];
        hdr[..4].copy_from_slice(&SIMPLE_REPLY_MAGIC.to_be_bytes());
        hdr[4..8].copy_from_slice(&error.to_be_bytes());
        hdr[8..].copy_from_slice(&cookie.to_be_bytes());
        // The payload is sent from where it was read, not copied behind the header.
        let dl = Deadline::after(self.opts.write_timeout, "write deadline");
        self.write_all(&[&hdr, data], dl)
    }

    fn transmit(&mut self) -> io::Result<()> {
        let mut hdr = [0u8; 28];
        let max = self.max_payload();
        let mut last_complete = Instant::now();
        loop {
            // Idle until the next request starts; from its first byte it has request_timeout
            // to arrive whole, payload included.
            let idle = Deadline::from(last_complete, self.opts.idle_timeout, "idle timeout");
            let req_timeout = self.opts.request_timeout;
            let started =
                self.read_full(&mut hdr, idle, Some((req_timeout, "request deadline")))?;
            let req = Deadline::from(started, req_timeout, "request deadline");
            if be_u32(&hdr) != REQUEST_MAGIC {
                return Err(closed("bad request magic"));
            }
            let cmd = be_u16(&hdr[6..]);
            let cookie = be_u64(&hdr[8..]);
            let offset = be_u64(&hdr[16..]);
            let len = be_u32(&hdr[24..]);
            let size = self.dev.disksize();
            let in_range = offset
                .checked_add(u64::from(len))
                .is_some_and(|e| e <= size);
            match cmd {
                CMD_READ => {
                    if len > max {
                        self.reply(cookie, EOVERFLOW, &[])?;
                    } else if !in_range {
                        self.reply(cookie, EINVAL, &[])?;
                    } else if let Some(charge) = self.charge(len) {
                        let mut buf = vec![0u8; len as usize];
                        match self.dev.read_at(offset, &mut buf) {
                            Ok(()) => self.reply(cookie, 0, &buf)?,
                            Err(e) => self.reply(cookie, nbd_error(e.errno()), &[])?,
                        }
                        drop(buf);
                        drop(charge);
                    } else {
                        self.reply(cookie, ENOMEM, &[])?;
                    }
                }
                CMD_WRITE => {
                    let err = if len > max {
                        self.drain(u64::from(len), req)?;
                        EOVERFLOW
                    } else if let Some(charge) = self.charge(len) {
                        let mut buf = vec![0u8; len as usize];
                        self.read_full(&mut buf, req, None)?;
                        let err = if !in_range {
                            ENOSPC
                        } else {
                            match self.dev.write_at(offset, &buf) {
                                Ok(()) => 0,
                                Err(e) => nbd_error(e.errno()),
                            }
                        };
                        drop(buf);
                        drop(charge);
                        err
                    } else {
                        self.drain(u64::from(len), req)?;
                        ENOMEM
                    };
                    self.reply(cookie, err, &[])?;
                }
                CMD_TRIM => {
                    let err = if !in_range {
                        EINVAL
                    } else {
                        match self.dev.discard_range(offset, u64::from(len)) {
                            Ok(_) => 0,
                            Err(e) => nbd_error(e.errno()),
                        }
                    };
                    self.reply(cookie, err, &[])?;
                }
                // Everything lives in (simulated) memory; written-back pages are written
                // synchronously. Nothing is pending.
                CMD_FLUSH => self.reply(cookie, 0, &[])?,
                CMD_DISC => return Ok(()),
                _ => self.reply(cookie, EINVAL, &[])?,
            }
            last_complete = Instant::now();
        }
    }

    /// Charges `len` bytes of buffer to the server's budget, waiting at most `buffer_wait`.
    fn charge(&self, len: u32) -> Option<super::budget::Charge> {
        self.budget
            .charge(u64::from(len), self.opts.buffer_wait, &self.stop)
    }

    /// Reads and drops a refused write's payload in small chunks (by the request deadline).
    fn drain(&mut self, mut n: u64, dl: Deadline) -> io::Result<()> {
        let mut chunk = vec![0u8; 1 << 16];
        while n > 0 {
            let k = n.min(chunk.len() as u64) as usize;
            self.read_full(&mut chunk[..k], dl, None)?;
            n -= k as u64;
        }
        Ok(())
    }
}

/// The NBD error for a device error: the block layer reports failed I/O as EIO, bad ranges as
/// EINVAL.
fn nbd_error(e: Errno) -> u32 {
    match e {
        Errno::EINVAL | Errno::ERANGE => EINVAL,
        Errno::ENOSPC => ENOSPC,
        Errno::ENOMEM => ENOMEM,
        _ => EIO,
    }
}
