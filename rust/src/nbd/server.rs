//! The listener: accepts loopback connections and runs one [`Session`] thread each, until
//! stopped.

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::session::{Session, POLL};
use crate::error::{Result, ZsError};
use crate::zram::Zram;

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The export's name (clients asking for `""` get it too).
    pub export_name: String,
    /// A connection with no request for this long is closed.
    pub idle_timeout: Duration,
    /// Connections served at once; more are closed on accept.
    pub max_connections: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            export_name: "zram0".to_string(),
            idle_timeout: Duration::from_secs(60),
            max_connections: 16,
        }
    }
}

/// A running server; stops (and joins its threads) on [`NbdServer::stop`] or drop.
#[derive(Debug)]
pub struct NbdServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicU64>,
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

    /// Stops accepting, closes every connection and waits for the threads.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for NbdServer {
    fn drop(&mut self) {
        self.shutdown();
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
    let listener = TcpListener::bind(&addrs[..])?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(AtomicU64::new(0));
    let (stop2, accepted2) = (stop.clone(), accepted.clone());
    let thread = std::thread::Builder::new()
        .name("zsrs-nbd".into())
        .spawn(move || accept_loop(listener, device, opts, stop2, accepted2))?;
    Ok(NbdServer {
        addr: local,
        stop,
        accepted,
        thread: Some(thread),
    })
}

fn accept_loop(
    listener: TcpListener,
    dev: Arc<Zram>,
    opts: ServeOptions,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicU64>,
) {
    let live = Arc::new(Mutex::new(0usize));
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _peer)) => {
                workers.retain(|w| !w.is_finished());
                let mut n = live.lock().unwrap_or_else(|e| e.into_inner());
                if *n >= opts.max_connections || stream.set_nonblocking(false).is_err() {
                    continue;
                }
                *n += 1;
                drop(n);
                accepted.fetch_add(1, Ordering::Relaxed);
                let session = Session {
                    stream,
                    dev: dev.clone(),
                    export: opts.export_name.clone(),
                    stop: stop.clone(),
                    idle_timeout: opts.idle_timeout,
                };
                let mine = live.clone();
                let spawned = std::thread::Builder::new()
                    .name("zsrs-nbd-conn".into())
                    .spawn(move || {
                        // A failed session only ends its own connection.
                        let _ = session.run();
                        *mine.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
                    });
                match spawned {
                    Ok(w) => workers.push(w),
                    Err(_) => *live.lock().unwrap_or_else(|e| e.into_inner()) -= 1,
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(POLL / 5),
            Err(_) => std::thread::sleep(POLL),
        }
    }
    for w in workers {
        let _ = w.join();
    }
}
