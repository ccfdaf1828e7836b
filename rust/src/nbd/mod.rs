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
//! Bounds: only loopback addresses are served, and no client can wedge the server. Every socket
//! read and write polls a stop flag, and [`NbdServer::stop`] also shuts the sockets down, so
//! stopping (or dropping the server) ends the listener and every connection within a fraction
//! of a second whatever the clients do. Each connection runs under deadlines — for the whole
//! handshake (which also has a maximum number of options), for each request once its first byte
//! is in, for each reply to be sent (a client that stops reading is dropped), and an idle
//! timeout counted from the last complete request — and the request and reply buffers of all
//! connections share one byte budget, with at most [`MAX_REQUEST`] bytes in one request; see
//! [`ServeOptions`]. While a client is in the transmission phase the device is held open, so
//! `reset` fails with `EBUSY` as it would for an open `/dev/zramN`.

mod budget;
mod proto;
mod server;
mod session;

pub use proto::MAX_REQUEST;
pub use server::{serve, serve_with, NbdServer, ServeOptions};
