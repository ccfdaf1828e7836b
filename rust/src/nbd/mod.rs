//! An NBD (Network Block Device) server for a zram device, so that real clients — `qemu-img`,
//! `qemu-io`, the kernel's `nbd-client` — can use a zsrs device as a disk.
//!
//! Design: plain `std::net` and one thread per connection (a block device is served by a few
//! clients at most; there is nothing an async runtime would add). The protocol is the
//! "fixed newstyle" handshake of the NBD specification (NBD_OPT_EXPORT_NAME, NBD_OPT_INFO,
//! NBD_OPT_GO, NBD_OPT_LIST, NBD_OPT_ABORT; every other option gets NBD_REP_ERR_UNSUP), then
//! simple replies in the transmission phase: READ, WRITE, TRIM, FLUSH and DISC. Requests go to the
//! device's byte-range API, so unaligned reads and writes work (partial pages are read, modified
//! and rewritten, like the block layer), and TRIM frees only whole pages, like zram's discard.
//!
//! Bounds: only loopback addresses are served; every socket read polls a stop flag, so
//! [`NbdServer::stop`] (or dropping the server) ends the listener and every connection within
//! a fraction of a second; idle connections are closed after [`ServeOptions::idle_timeout`]; a
//! request may carry at most [`MAX_REQUEST`] bytes. While a client is in the transmission phase
//! the device is held open, so `reset` fails with `EBUSY` as it would for an open `/dev/zramN`.

mod proto;
mod server;
mod session;

pub use proto::MAX_REQUEST;
pub use server::{serve, serve_with, NbdServer, ServeOptions};
