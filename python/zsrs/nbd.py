"""Serving a zram device over NBD, so unmodified clients (qemu-img, qemu-io, nbd-client) use it.

>>> zr = zsrs.Zram(disksize="64M")
>>> with zsrs.nbd.serve(zr, port=10809) as srv:
...     subprocess.run(["qemu-img", "convert", "-n", "-O", "raw", "disk.img", srv.url])
"""

from __future__ import annotations

from ._zsrs import NbdServer, Zram


def serve(device: Zram, host: str = "127.0.0.1", port: int = 10809) -> NbdServer:
    """Start serving `device` on a loopback address (port 0 picks a free one)."""
    return device.serve_nbd(host, port)
