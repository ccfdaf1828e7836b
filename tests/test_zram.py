"""zram from Python: the kernel's own numbers on the fidelity pages, kernel errors, batch I/O,
and a real NBD client (qemu-img / qemu-io) writing and reading through the export."""

import inspect
import shutil
import socket
import struct
import subprocess
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

import zsrs

PAGE_SIZE = 4096

KERNEL_MM_STAT = (
    "81920000 42147012 44089344        0 44089344        5        0     2483     2483\n"
)


def w1_pages(n: int) -> npt.NDArray[np.uint8]:
    return np.frombuffer(b"".join(zsrs.fidelity_page(i) for i in range(n)), np.uint8).reshape(
        n, 4096
    )


def test_fidelity_pages_give_the_kernels_mm_stat_line() -> None:
    zr = zsrs.Zram(disksize="256M", comp_algorithm="lz4")
    pages = w1_pages(20000)
    zr.write_many(np.arange(20000, dtype=np.uint64), pages)
    assert zr.read_file("mm_stat") == KERNEL_MM_STAT
    assert zr.mm_stat()["huge_pages"] == 2483
    out = np.zeros((100, 4096), dtype=np.uint8)
    idx = np.arange(0, 20000, 200, dtype=np.uint64)
    zr.read_many(idx, out)
    assert (out == pages[::200]).all()


def test_pages_bytes_and_errors() -> None:
    zr = zsrs.Zram(disksize="1M")
    page = bytes(range(256)) * 16
    zr.write(3, page)
    assert zr.read(3) == page
    zr.write_at(4096 * 3 + 10, b"hello")
    assert zr.read_at(4096 * 3 + 8, 9) == page[8:10] + b"hello" + page[15:17]
    zr.write(4, bytes(4096))
    assert zr.mm_stat()["same_pages"] == 1
    assert zr.discard(4) == 1
    assert zr.mm_stat()["same_pages"] == 0
    with pytest.raises(zsrs.KernelError) as e:
        zr.write_file("disksize", "2M")
    assert e.value.errno_name == "EBUSY" and e.value.errno == 16
    with pytest.raises(zsrs.KernelError) as e:
        zr.read_file("no_such_attribute")
    assert e.value.errno_name == "ENOENT"
    with pytest.raises(zsrs.ZsError):
        zr.write(256, page)  # past the end of a 1 MiB device
    zr.write_file("reset", "1")
    assert zr.disksize == 0
    with pytest.raises(zsrs.KernelError) as e:
        zr.write_file("disksize", "1E")  # the slot table cannot be allocated: ENOMEM, no abort
    assert e.value.errno_name == "ENOMEM"
    assert zr.disksize == 0
    zr.write_file("comp_algorithm", "zstd")
    zr.write_file("disksize", "2M")
    assert "[zstd]" in zr.read_file("comp_algorithm")


@pytest.fixture
def qemu() -> None:
    missing = [t for t in ("qemu-img", "qemu-io") if shutil.which(t) is None]
    assert not missing, f"install qemu-utils (apt-get install qemu-utils): missing {missing}"


def test_nbd_export_with_qemu_clients(tmp_path: Path, qemu: None) -> None:
    rng = np.random.default_rng(2)
    n = 512
    img = zsrs.workloads.mixture(n, seed=2)
    img[rng.choice(n, 50, replace=False)] = 0
    path = tmp_path / "disk.img"
    path.write_bytes(img.tobytes())
    zr = zsrs.Zram(disksize=n * 4096)
    with zsrs.nbd.serve(zr, port=0) as srv:
        url = srv.url
        assert url is not None
        subprocess.run(
            ["qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", str(path), url],
            check=True,
            capture_output=True,
        )
        cmp = subprocess.run(
            ["qemu-img", "compare", "-f", "raw", "-F", "raw", str(path), url],
            check=False,
            capture_output=True,
            text=True,
        )
        assert cmp.returncode == 0, cmp.stdout + cmp.stderr
        subprocess.run(
            ["qemu-io", "-f", "raw", "-c", "write -P 0x5a 8192 4096", url],
            check=True,
            capture_output=True,
        )
        assert srv.connections >= 3
    out = np.zeros((n, 4096), dtype=np.uint8)
    zr.read_many(np.arange(n, dtype=np.uint64), out)
    img[2] = 0x5A
    assert (out == img).all()
    zero = int((~img.any(axis=1)).sum())
    mm = zr.mm_stat()
    assert mm["same_pages"] >= zero
    assert mm["orig_data_size"] == n * 4096


def test_a_refused_write_under_mem_limit_keeps_the_old_page_and_says_enomem() -> None:
    zr = zsrs.Zram(disksize="1M")
    rng = np.random.default_rng(7)
    old = rng.integers(0, 256, PAGE_SIZE, dtype=np.uint8).tobytes()
    zr.write(0, old)
    zr.write_file("mem_limit", "4K")
    with pytest.raises(zsrs.LimitExceeded) as e:
        zr.write(0, rng.integers(0, 256, PAGE_SIZE, dtype=np.uint8).tobytes())
    assert e.value.errno_name == "ENOMEM"
    assert zr.read(0) == old
    assert zr.io_stat()["failed_writes"] == 1


def test_zsrs_nbd_command_serves_a_device(qemu: None) -> None:
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "zsrs", "nbd", "--disksize", "4M", "--port", "0", "--seconds", "20"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.split(" at ")[1].split(";")[0]
        assert url.startswith("nbd://127.0.0.1:")
        subprocess.run(
            ["qemu-io", "-f", "raw", "-c", "write -P 0x33 0 64k", "-c", "read -P 0x33 0 64k", url],
            check=True,
            capture_output=True,
        )
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "mm_stat:" in out


# ---- The NBD server cannot be wedged by a client, nor hang Python when dropped ----


def nbd_connect(port: int) -> socket.socket:
    """Fixed-newstyle handshake with NBD_OPT_EXPORT_NAME (no zeroes); returns the socket."""
    s = socket.create_connection(("127.0.0.1", port))
    hello = b""
    while len(hello) < 18:
        hello += s.recv(18 - len(hello))
    assert hello[:16] == b"NBDMAGICIHAVEOPT"
    s.sendall(struct.pack(">I", 3) + b"IHAVEOPT" + struct.pack(">II", 1, 0))
    reply = b""
    while len(reply) < 10:
        reply += s.recv(10 - len(reply))
    return s


def nbd_request(cmd: int, cookie: int, offset: int, length: int) -> bytes:
    return struct.pack(">IHHQQI", 0x25609513, 0, cmd, cookie, offset, length)


def _recv_exact(s: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        assert chunk, "server closed the connection"
        buf += chunk
    return bytes(buf)


def test_nbd_stop_is_bounded_while_a_client_never_reads_replies() -> None:
    zr = zsrs.Zram(disksize="64M")
    srv = zr.serve_nbd(
        port=0, idle_timeout=2.0, handshake_timeout=1.0, request_timeout=0.5, write_timeout=1.0
    )
    assert srv.port is not None
    flooder = nbd_connect(srv.port)
    flooder.settimeout(0.5)
    for i in range(64):
        try:
            flooder.sendall(nbd_request(0, i, 0, 32 << 20))
        except TimeoutError:
            break
    good = nbd_connect(srv.port)
    data = bytes(range(256)) * 256
    good.sendall(nbd_request(1, 1, 4096, len(data)) + data)
    assert struct.unpack(">IIQ", _recv_exact(good, 16)) == (0x67446698, 0, 1)
    good.sendall(nbd_request(0, 2, 4096, len(data)))
    assert struct.unpack(">IIQ", _recv_exact(good, 16)) == (0x67446698, 0, 2)
    assert _recv_exact(good, len(data)) == data
    with pytest.raises(zsrs.KernelError):
        zr.reset()  # EBUSY: held open by the clients
    t0 = time.monotonic()
    srv.stop()
    took = time.monotonic() - t0
    assert took < 3.0, f"stop() took {took:.2f} s"
    zr.reset()  # nothing holds the device open any more
    assert srv.url is None


DROP_SCRIPT = (
    "import socket, struct\n"
    + inspect.getsource(nbd_connect)
    + inspect.getsource(nbd_request)
    + """
import gc, sys, time
import zsrs

zr = zsrs.Zram(disksize="64M")
srv = zr.serve_nbd(port=0)  # default (long) timeouts: only dropping the server can end this
flooder = nbd_connect(srv.port)
flooder.settimeout(0.5)
for i in range(64):
    try:
        flooder.sendall(nbd_request(0, i, 0, 32 << 20))
    except TimeoutError:
        break
time.sleep(0.3)
mode = sys.argv[1]
if mode == "exit":
    print("ok", flush=True)
    sys.exit(0)  # the interpreter exits with the server running
t0 = time.monotonic()
if mode == "del":
    del srv
else:
    cycle = [srv]
    cycle.append(cycle)
    del srv, cycle
    gc.collect()
dropped = time.monotonic() - t0
while True:
    try:
        zr.reset()
        break
    except zsrs.KernelError:
        if time.monotonic() - t0 > 5:
            print("the device is still open 5 s after the server was dropped")
            sys.exit(1)
        time.sleep(0.02)
print("ok", dropped, time.monotonic() - t0, flush=True)
"""
)


@pytest.mark.parametrize("mode", ["del", "gc", "exit"])
def test_dropping_a_running_nbd_server_with_a_live_client_does_not_hang(mode: str) -> None:
    import sys

    try:
        out = subprocess.run(
            [sys.executable, "-c", DROP_SCRIPT, mode],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"dropping the server ({mode}) hung the interpreter")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("ok"), out.stdout + out.stderr
    if mode != "exit":
        dropped = float(out.stdout.split()[1])
        assert dropped < 0.5, f"dropping the server blocked for {dropped:.2f} s"
