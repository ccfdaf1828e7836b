//! One client connection: the fixed-newstyle handshake, then the transmission loop.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::proto::*;
use crate::error::Errno;
use crate::zram::Zram;

/// How often a blocked read looks at the stop flag.
pub(crate) const POLL: Duration = Duration::from_millis(50);

pub(crate) struct Session {
    pub stream: TcpStream,
    pub dev: Arc<Zram>,
    pub export: String,
    pub stop: Arc<AtomicBool>,
    pub idle_timeout: Duration,
}

/// What the handshake ended with.
enum Next {
    Transmit,
    Close,
}

fn closed(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, why.to_string())
}

impl Session {
    /// Serves the connection until the client disconnects, errs, idles out or the server stops.
    pub fn run(mut self) -> io::Result<()> {
        self.stream.set_read_timeout(Some(POLL))?;
        self.stream.set_nodelay(true)?;
        match self.handshake()? {
            Next::Close => Ok(()),
            Next::Transmit => {
                let _open = self.dev.open();
                self.transmit()
            }
        }
    }

    /// `read_exact` that survives read timeouts, giving up when stopped or idle too long.
    fn read_full(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let mut n = 0;
        let mut last = Instant::now();
        while n < buf.len() {
            match self.stream.read(&mut buf[n..]) {
                Ok(0) => return Err(closed("client closed the connection")),
                Ok(k) => {
                    n += k;
                    last = Instant::now();
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if self.stop.load(Ordering::Relaxed) {
                        return Err(closed("server stopping"));
                    }
                    if last.elapsed() >= self.idle_timeout {
                        return Err(closed("idle timeout"));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn option_reply(&mut self, opt: u32, rtype: u32, data: &[u8]) -> io::Result<()> {
        let mut msg = Vec::with_capacity(20 + data.len());
        msg.extend_from_slice(&REPLY_MAGIC.to_be_bytes());
        msg.extend_from_slice(&opt.to_be_bytes());
        msg.extend_from_slice(&rtype.to_be_bytes());
        msg.extend_from_slice(&(data.len() as u32).to_be_bytes());
        msg.extend_from_slice(data);
        self.stream.write_all(&msg)
    }

    fn known_export(&self, name: &[u8]) -> bool {
        name.is_empty() || name == self.export.as_bytes()
    }

    fn transmission_flags(&self) -> u16 {
        FLAG_HAS_FLAGS | FLAG_SEND_FLUSH | FLAG_SEND_TRIM | FLAG_CAN_MULTI_CONN
    }

    fn handshake(&mut self) -> io::Result<Next> {
        let mut hello = Vec::with_capacity(18);
        hello.extend_from_slice(&NBDMAGIC.to_be_bytes());
        hello.extend_from_slice(&IHAVEOPT.to_be_bytes());
        hello.extend_from_slice(&(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES).to_be_bytes());
        self.stream.write_all(&hello)?;
        let mut b4 = [0u8; 4];
        self.read_full(&mut b4)?;
        let cflags = be_u32(&b4);
        if cflags & !(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES) != 0 {
            return Err(closed("unknown client flags"));
        }
        let no_zeroes = cflags & FLAG_C_NO_ZEROES != 0;
        // Without NBD_FLAG_C_FIXED_NEWSTYLE the client speaks plain newstyle, where the server
        // has no way to reply to an option: only NBD_OPT_EXPORT_NAME is understood, and any
        // other option ends the session.
        let fixed = cflags & FLAG_C_FIXED_NEWSTYLE != 0;
        loop {
            let mut hdr = [0u8; 16];
            self.read_full(&mut hdr)?;
            if be_u64(&hdr) != IHAVEOPT {
                return Err(closed("bad option magic"));
            }
            let opt = be_u32(&hdr[8..]);
            let len = be_u32(&hdr[12..]);
            if len > MAX_OPTION {
                return Err(closed("option too long"));
            }
            let mut data = vec![0u8; len as usize];
            self.read_full(&mut data)?;
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
                    self.stream.write_all(&msg)?;
                    return Ok(Next::Transmit);
                }
                OPT_ABORT => {
                    // The client may already have gone; the reply is a courtesy.
                    let _ = self.option_reply(opt, REP_ACK, &[]);
                    return Ok(Next::Close);
                }
                OPT_LIST => {
                    if !data.is_empty() {
                        self.option_reply(opt, REP_ERR_INVALID, b"LIST takes no data")?;
                        continue;
                    }
                    let mut d = (self.export.len() as u32).to_be_bytes().to_vec();
                    d.extend_from_slice(self.export.as_bytes());
                    self.option_reply(opt, REP_SERVER, &d)?;
                    self.option_reply(opt, REP_ACK, &[])?;
                }
                OPT_INFO | OPT_GO => {
                    if self.info(opt, &data)? && opt == OPT_GO {
                        return Ok(Next::Transmit);
                    }
                }
                _ => self.option_reply(opt, REP_ERR_UNSUP, b"option not supported")?,
            }
        }
    }

    /// NBD_OPT_INFO / NBD_OPT_GO; true when the export was acknowledged.
    fn info(&mut self, opt: u32, data: &[u8]) -> io::Result<bool> {
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
            self.option_reply(opt, REP_ERR_INVALID, b"malformed request")?;
            return Ok(false);
        };
        if !self.known_export(&name) {
            self.option_reply(opt, REP_ERR_UNKNOWN, b"unknown export")?;
            return Ok(false);
        }
        let mut export = INFO_EXPORT.to_be_bytes().to_vec();
        export.extend_from_slice(&self.dev.disksize().to_be_bytes());
        export.extend_from_slice(&self.transmission_flags().to_be_bytes());
        self.option_reply(opt, REP_INFO, &export)?;
        if reqs.contains(&INFO_BLOCK_SIZE) {
            // Any alignment works (partial pages are read-modify-written); pages are best.
            let mut bs = INFO_BLOCK_SIZE.to_be_bytes().to_vec();
            bs.extend_from_slice(&1u32.to_be_bytes());
            bs.extend_from_slice(&(self.dev.page_size() as u32).to_be_bytes());
            bs.extend_from_slice(&MAX_REQUEST.to_be_bytes());
            self.option_reply(opt, REP_INFO, &bs)?;
        }
        self.option_reply(opt, REP_ACK, &[])?;
        Ok(true)
    }

    fn reply(&mut self, cookie: u64, error: u32, data: &[u8]) -> io::Result<()> {
        let mut msg = Vec::with_capacity(16 + data.len());
        msg.extend_from_slice(&SIMPLE_REPLY_MAGIC.to_be_bytes());
        msg.extend_from_slice(&error.to_be_bytes());
        msg.extend_from_slice(&cookie.to_be_bytes());
        msg.extend_from_slice(data);
        self.stream.write_all(&msg)
    }

    fn transmit(&mut self) -> io::Result<()> {
        let mut hdr = [0u8; 28];
        let mut buf = Vec::new();
        loop {
            self.read_full(&mut hdr)?;
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
                    if len > MAX_REQUEST || !in_range {
                        self.reply(cookie, EINVAL, &[])?;
                        continue;
                    }
                    buf.resize(len as usize, 0);
                    match self.dev.read_at(offset, &mut buf) {
                        Ok(()) => {
                            let data = std::mem::take(&mut buf);
                            self.reply(cookie, 0, &data)?;
                            buf = data;
                        }
                        Err(e) => self.reply(cookie, nbd_error(e.errno()), &[])?,
                    }
                }
                CMD_WRITE => {
                    if len > MAX_REQUEST {
                        self.drain(u64::from(len))?;
                        self.reply(cookie, EINVAL, &[])?;
                        continue;
                    }
                    buf.resize(len as usize, 0);
                    let mut data = std::mem::take(&mut buf);
                    self.read_full(&mut data)?;
                    let err = if !in_range {
                        ENOSPC
                    } else {
                        match self.dev.write_at(offset, &data) {
                            Ok(()) => 0,
                            Err(e) => nbd_error(e.errno()),
                        }
                    };
                    buf = data;
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
        }
    }

    fn drain(&mut self, mut n: u64) -> io::Result<()> {
        let mut chunk = vec![0u8; 1 << 16];
        while n > 0 {
            let k = n.min(chunk.len() as u64) as usize;
            self.read_full(&mut chunk[..k])?;
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
