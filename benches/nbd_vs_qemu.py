"""NBD write throughput: `qemu-img convert` of one generated disk image into a zsrs zram device
served over NBD, vs into `qemu-nbd` serving a plain raw file — same image, same client, same run,
alternating rounds (machines here are shared and noisy, so only the ratio means anything).

    .venv/bin/python benches/nbd_vs_qemu.py [--mib 64] [--rounds 3]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import zsrs


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def convert(img: Path, url: str) -> float:
    t = time.perf_counter()
    subprocess.run(
        ["qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", str(img), url],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mib", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    for tool in ("qemu-img", "qemu-nbd"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is missing: apt-get install qemu-utils")
    n = args.mib * 256
    with tempfile.TemporaryDirectory() as d:
        img = Path(d) / "image.raw"
        img.write_bytes(zsrs.workloads.mixture(n, seed=5).tobytes())
        target = Path(d) / "target.raw"
        zs_times, q_times = [], []
        for _ in range(args.rounds):
            zr = zsrs.Zram(disksize=n * 4096)
            with zr.serve_nbd("127.0.0.1", 0) as srv:
                zs_times.append(convert(img, srv.url))
            target.write_bytes(b"")
            with target.open("r+b") as f:
                f.truncate(n * 4096)
            port = free_port()
            proc = subprocess.Popen(
                ["qemu-nbd", "-f", "raw", "-b", "127.0.0.1", "-p", str(port), "-t", str(target)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                wait_port(port)
                q_times.append(convert(img, f"nbd://127.0.0.1:{port}"))
            finally:
                proc.terminate()
                proc.wait()
        zs, q = statistics.median(zs_times), statistics.median(q_times)
        mib = n * 4096 / (1 << 20)
        print(
            f"qemu-img convert of a {mib:.0f} MiB mixed image over NBD (median of {args.rounds}):"
        )
        print(f"  qemu-nbd, raw file     {mib / q:8.1f} MiB/s")
        print(f"  zsrs zram (lz4)        {mib / zs:8.1f} MiB/s   ratio {q / zs:.2f}x (goal >= 0.5)")
        print(f"  zram mm_stat after the last round: {zr.read_file('mm_stat')}", end="")


if __name__ == "__main__":
    main()
