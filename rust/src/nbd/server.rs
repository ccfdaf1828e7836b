//! The listener: accepts loopback connections and runs one [`Session`] thread each, until
//! stopped.

use std::collections::HashMap;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::budget::Budget;
use super::session::{Session, POLL};
use crate::error::{Result, ZsError};
use crate::zram::Zram;

/// Server settings, and the bounds that keep a misbehaving client from wedging the server.
///
/// Every session ends within one poll interval (50 ms) of [`NbdServer::stop`], whatever its
/// client does, and each of the following ends a session on its own:
///
/// * the handshake (from accept to the end of option haggling) takes longer than
///   [`handshake_timeout`](Self::handshake_timeout), or the client sends more than
///   [`max_options`](Self::max_options) options;
/// * a request (its 28-byte header and a write's payload) is not fully received within
///   [`request_timeout`](Self::request_timeout) of its first byte;
/// * no new request begins within [`idle_timeout`](Self::idle_timeout) of the last complete
///   one (trickling bytes does not reset it: only a complete request does);
/// * a reply (or handshake message) is not fully sent within
///   [`write_timeout`](Self::write_timeout): a client that stops reading its replies is dropped.
///
/// Request and reply payloads are held in buffers charged to one budget for the whole server,
/// [`buffer_budget`](Self::buffer_budget) bytes; a single READ or WRITE may carry at most
/// `min(MAX_REQUEST, buffer_budget)` bytes (advertised as the maximum block size in
/// NBD_INFO_BLOCK_SIZE; larger requests get NBD_EOVERFLOW), and one that finds the budget
/// spent waits up to [`buffer_wait`](Self::buffer_wait), then gets NBD_ENOMEM (a write's payload
/// is then read and dropped in small chunks). Other per-session memory is a few dozen KiB.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The export's name (clients asking for `""` get it too).
    pub export_name: String,
    /// A connection with no new request for this long after its last complete request (or the
    /// end of its handshake) is closed. Default 60 s.
    pub idle_timeout: Duration,
    /// The whole handshake must be done within this long of the accept. Default 10 s.
    pub handshake_timeout: Duration,
    /// A request must be fully received (header and payload) within this long of its first
    /// byte. Default 30 s.
    pub request_timeout: Duration,
    /// A reply or handshake message must be fully sent within this long. Default 30 s.
    pub write_timeout: Duration,
    /// Options accepted in one handshake; the next one closes the connection. Default 64
    /// (qemu and nbd-client send fewer than 10).
    pub max_options: usize,
    /// Bytes of request and reply buffers held at once by the whole server. Default 128 MiB.
    pub buffer_budget: u64,
    /// How long a request waits for buffer budget before it is refused with NBD_ENOMEM.
    /// Default 1 s.
    pub buffer_wait: Duration,
    /// Connections served at once; more are closed on accept. Default 16.
    pub max_connections: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            export_name: "zram0".to_string(),
            idle_timeout: Duration::from_secs(60),
            handshake_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            max_options: 64,
            buffer_budget: 128 << 20,
            buffer_wait: Duration::from_secs(1),
            max_connections: 16,
        }
    }
}

/// The sockets of the live sessions, so that stopping can shut them down (a read or write
/// blocked on one then returns at once).
pub(super) type Streams = Arc<Mutex<HashMap<u64, TcpStream>>>;

/// A running server; stops (and joins its threads) on [`NbdServer::stop`] or drop.
#[derive(Debug)]
pub struct NbdServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicU64>,
    live: Arc<AtomicUsize>,
    streams: Streams,
    budget: Arc<Budget>,
    thread: Option<JoinHandle<()>>,
}

impl NbdServer {
    /// The address the server listens on (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// An `nbd://host:port` URL for clients such as qemu-img.
    pub fn url(&self) -> String {
        format!("nbd://{}", self.addr)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Connections being served now (in the handshake or the transmission phase).
    pub fn active(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// The most request/reply buffer bytes held at once so far (at most
    /// [`ServeOptions::buffer_budget`]).
    pub fn buffer_peak(&self) -> u64 {
        self.budget.peak()
    }

    /// Stops accepting, closes every connection and waits for the threads: returns within a
    /// poll interval or so, whatever the clients do.
    pub fn stop(mut self) {
        self.signal_stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Like [`stop`](Self::stop) but does not wait: the threads end on their own within a poll
    /// interval (and release the device then). For callers that must not block, such as a
    /// destructor running under Python's GIL.
    pub fn stop_detached(mut self) {
        self.signal_stop();
        // Dropping the handle detaches the thread.
        self.thread.take();
    }

    fn signal_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        for s in streams.values() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for NbdServer {
    fn drop(&mut self) {
        self.signal_stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves `device` on `addr` (e.g. `"127.0.0.1:10809"`, port 0 for any) with default options.
pub fn serve(device: Arc<Zram>, addr: &str) -> Result<NbdServer> {
    serve_with(device, addr, ServeOptions::default())
}

/// Serves `device` on `addr` (a loopback address only).
pub fn serve_with(device: Arc<Zram>, addr: &str, opts: ServeOptions) -> Result<NbdServer> {
    let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
    if addrs.is_empty() || addrs.iter().any(|a| !a.ip().is_loopback()) {
        return Err(ZsError::InvalidArgument(format!(
            "{addr:?}: only loopback addresses are served"
        )));
    }
    if opts.buffer_budget == 0 || opts.max_connections == 0 {
        return Err(ZsError::InvalidArgument(
            "buffer_budget and max_connections must be positive".into(),
        ));
    }
    let listener = TcpListener::bind(&addrs[..])?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(AtomicU64::new(0));
    let live = Arc::new(AtomicUsize::new(0));
    let streams: Streams = Arc::new(Mutex::new(HashMap::new()));
    let budget = Arc::new(Budget::new(opts.buffer_budget));
    let acceptor = Acceptor {
        listener,
        dev: device,
        opts: Arc::new(opts),
        stop: stop.clone(),
        accepted: accepted.clone(),
        live: live.clone(),
        streams: streams.clone(),
        budget: budget.clone(),
    };
    let thread = std::thread::Builder::new()
        .name("zsrs-nbd".into())
        .spawn(move || acceptor.run())?;
    Ok(NbdServer {
        addr: local,
        stop,
        accepted,
        live,
        streams,
        budget,
        thread: Some(thread),
    })
}

struct Acceptor {
    listener: TcpListener,
    dev: Arc<Zram>,
    opts: Arc<ServeOptions>,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicU64>,
    live: Arc<AtomicUsize>,
    streams: Streams,
    budget: Arc<Budget>,
}

impl Acceptor {
    fn run(self) {
        let mut workers: Vec<JoinHandle<()>> = Vec::new();
        let mut next_id = 0u64;
        while !self.stop.load(Ordering::SeqCst) {
            match self.listener.accept() {
                Ok((stream, _peer)) => {
                    workers.retain(|w| !w.is_finished());
                    if self.live.load(Ordering::SeqCst) >= self.opts.max_connections {
                        continue;
                    }
                    let Some(w) = self.start(stream, next_id) else {
                        continue;
                    };
                    next_id += 1;
                    workers.push(w);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(POLL / 5)
                }
                Err(_) => std::thread::sleep(POLL),
            }
        }
        // Sessions registered after `stop` swept the sockets see the flag within a poll.
        for w in workers {
            let _ = w.join();
        }
    }

    /// Registers and starts a session; None (and the connection closed) if that fails.
    fn start(&self, stream: TcpStream, id: u64) -> Option<JoinHandle<()>> {
        stream.set_nonblocking(false).ok()?;
        let clone = stream.try_clone().ok()?;
        self.streams
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, clone);
        if self.stop.load(Ordering::SeqCst) {
            // `stop` may have swept the sockets before this one was registered.
            let _ = stream.shutdown(Shutdown::Both);
        }
        self.live.fetch_add(1, Ordering::SeqCst);
        self.accepted.fetch_add(1, Ordering::Relaxed);
        let session = Session::new(
            stream,
            self.dev.clone(),
            self.opts.clone(),
            self.stop.clone(),
            self.budget.clone(),
        );
        let slot = Slot {
            id,
            live: self.live.clone(),
            streams: self.streams.clone(),
        };
        std::thread::Builder::new()
            .name("zsrs-nbd-conn".into())
            .spawn(move || {
                // A failed session only ends its own connection; the slot is given back however
                // the session ends (a panic included).
                let _slot = slot;
                let _ = session.run();
            })
            .ok()
    }
}

/// A session's connection slot and registered socket, given back on drop.
struct Slot {
    id: u64,
    live: Arc<AtomicUsize>,
    streams: Streams,
}

impl Drop for Slot {
    fn drop(&mut self) {
        // Dropping the registered clone closes the socket (the session's own handle is gone by
        // then).
        self.streams
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}
