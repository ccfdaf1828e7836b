"""Resources are claimed like the kernel claims them: a swap file in use is EBUSY to a second
Zswap (and its pages survive), a zram backing device is exclusive, and a Zswap that a Machine
swaps to belongs to the machine."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import zsrs

PAGE = 4096


def test_a_second_zswap_on_a_live_swap_file_is_ebusy_and_truncates_nothing(tmp_path: Path) -> None:
    mem = zsrs.Memory(nodes=[4096])
    cgs = zsrs.Cgroups(mem)
    path = tmp_path / "swap.img"
    zs = zsrs.Zswap(mem, cgs, swapfile=path, swap_slots=1024)
    m = zsrs.Machine(mem, cgs, zswap=zs)
    g = cgs.create("/g")
    g.write_file("memory.zswap.max", "0")  # everything goes to the swap file
    p = m.spawn(g)
    pages = zsrs.workloads.text_like(32, seed=3)
    base = p.mmap(pages)
    m.reclaim(g, 32 * PAGE)
    assert m.stats()["swapout_disk"] == 32
    size = path.stat().st_size
    with pytest.raises(zsrs.KernelError) as e:
        zsrs.Zswap(mem, cgs, swapfile=path, swap_slots=16)
    assert e.value.errno_name == "EBUSY"
    assert path.stat().st_size == size
    # Another process cannot claim it either (the claim is an exclusive flock).
    code = (
        "import fcntl,sys\n"
        "f=open(sys.argv[1],'rb')\n"
        "try:\n fcntl.flock(f, fcntl.LOCK_EX|fcntl.LOCK_NB)\n"
        "except BlockingIOError:\n sys.exit(3)\n"
    )
    assert subprocess.run([sys.executable, "-c", code, str(path)]).returncode == 3
    # A zram device cannot take it as its backing device.
    zr = zsrs.Zram()
    with pytest.raises(zsrs.KernelError) as e:
        zr.write_file("backing_dev", str(path))
    assert e.value.errno_name == "EBUSY"
    assert p.verify(base, pages) == []  # every page read back from the file


def test_a_machines_zswap_refuses_pythons_loads_and_stores(tmp_path: Path) -> None:
    mem = zsrs.Memory(nodes=[4096])
    cgs = zsrs.Cgroups(mem)
    zs = zsrs.Zswap(mem, cgs, swapfile=tmp_path / "swap.img", swap_slots=1024)
    m = zsrs.Machine(mem, cgs, zswap=zs)
    g = cgs.create("/g")
    p = m.spawn(g)
    pages = zsrs.workloads.text_like(16, seed=4)
    base = p.mmap(pages)
    m.reclaim(g, 16 * PAGE)
    assert m.stats()["swapout_zswap"] == 16
    before = zs.debugfs()
    out = np.zeros((4, PAGE), np.uint8)
    for call in (
        lambda: zs.load(0),
        lambda: zs.load_many(np.arange(4, dtype=np.uint64), out),
        lambda: zs.invalidate(0),
        lambda: zs.store(900, pages[0].tobytes(), g),
        lambda: zs.store_many(np.arange(900, 904, dtype=np.uint64), pages[:4], g),
    ):
        with pytest.raises(zsrs.KernelError) as e:
            call()
        assert e.value.errno_name == "EBUSY"
    assert zs.debugfs() == before
    with pytest.raises(zsrs.KernelError):
        zsrs.Machine(mem, cgs, zswap=zs)  # one machine per swap layer
    assert p.verify(base, pages) == []
    assert zs.debugfs()["stored_pages"] == 0


@pytest.mark.parametrize("slots", [0, -1, 2**52, 2**64])
def test_swap_devices_of_no_or_absurd_size_are_refused(tmp_path: Path, slots: int) -> None:
    mem = zsrs.Memory(nodes=[64])
    with pytest.raises((zsrs.InvalidArgument, OverflowError)):
        zsrs.Zswap(mem, swapfile=tmp_path / "s.img", swap_slots=slots)
    assert not (tmp_path / "s.img").exists()
