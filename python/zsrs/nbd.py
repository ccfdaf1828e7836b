"""Serving a zram device over NBD, so unmodified clients (qemu-img, qemu-io, nbd-client) use it.

>>> zr = zsrs.Zram(disksize="64M")
>>> with zsrs.nbd.serve(zr, port=10809) as srv:
...     subprocess.run(["qemu-img", "convert", "-n", "-O", "raw", "disk.img", srv.url])
"""

from __future__ import annotations

from typing import Any

from ._zsrs import NbdServer, Zram


def serve(device: Zram, host: str = "127.0.0.1", port: int = 10809, **bounds: Any) -> NbdServer:
    """Start serving `device` on a loopback address (port 0 picks a free one).

    `bounds` are `Zram.serve_nbd`'s keyword arguments: `idle_timeout` (60 s, from the last
    complete request), `handshake_timeout` (10 s for the whole handshake), `request_timeout`
    (30 s for a request to arrive once started), `write_timeout` (30 s for a reply to be sent:
    a client that stops reading is dropped), `max_options` (64 per handshake), `buffer_budget`
    (128 MiB of request/reply buffers for the whole server; one request carries at most
    32 MiB), `buffer_wait` (1 s before a request short of budget gets ENOMEM), `max_connections`
    (16), `export_name`. `stop()` (or leaving the `with` block) returns within a fraction of a
    second whatever the clients do; dropping a running server stops it without blocking.
    """
    return device.serve_nbd(host, port, **bounds)
