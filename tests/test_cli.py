"""The command line: the demo verifies its own data; replay prints the kernel's table."""

import subprocess
import sys
from pathlib import Path

import pytest

import zsrs
import zsrs.cli
from conftest import DATA


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zsrs", *args], capture_output=True, text=True, check=True
    )


def test_demo_runs_and_verifies_its_pages() -> None:
    out = run("demo", "--pages", "1500").stdout
    assert "== after compaction:" in out
    assert "verified: all" in out
    assert out.count(" class  size       10%") == 3


def test_replay_prints_the_kernels_classes_file() -> None:
    out = run("replay", str(DATA / "linux-6.12-zram-w1.sizes.txt")).stdout
    kernel_mm_stat = (
        "81920000 42147012 44089344        0 44089344        5        0     2483     2483"
    )
    assert out == (DATA / "linux-6.12-zram-w1.classes.txt").read_text() + (
        f"\nmm_stat: {kernel_mm_stat}\n"
    )


def test_replay_of_a_directory_of_pages(tmp_path: Path) -> None:
    # The first 300 W1 pages, split over three files: compressed here with lz4, they must give
    # what the kernel's lengths give.
    pages = b"".join(zsrs.fidelity_page(i) for i in range(300))
    for k in range(3):
        (tmp_path / f"part{k}").write_bytes(pages[k * 100 * 4096 : (k + 1) * 100 * 4096])
    out = run("replay", str(tmp_path)).stdout
    lines = (DATA / "linux-6.12-zram-w1.sizes.txt").read_text().splitlines()
    slots = [ln for ln in lines if not ln.startswith("#")][:300]
    want_mm, want_classes, _ = zsrs.replay(
        [None if s.startswith("same") else int(s.split()[-1]) for s in slots]
    )
    assert out == want_classes + f"\nmm_stat: {want_mm}"


def test_classes_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert zsrs.cli.main(["classes", "--chain", "8"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "# 255 classes, 119 distinct, huge_class_size 3625"
    assert "  254  4096     1     1 226..254 yes" in out
    assert zsrs.cli.main(["classes", "--chain", "4", "--kernel", "6.1"]) == 0
    assert "huge_class_size 3257" in capsys.readouterr().out


def test_the_main_job_is_the_default_command() -> None:
    out = run("--scale", "0.0005", "--trials", "2", "--quiet").stdout
    assert out.startswith("zsrs experiments: series (zsmalloc accounting) vs pre-series")
