"""The command line: the demo verifies its own data; replay prints the kernel's table."""

import subprocess
import sys

import zsrs.cli
from conftest import DATA


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "zsrs", *args], capture_output=True, text=True, check=True
    )


def test_demo_runs_and_verifies_its_pages():
    out = run("demo", "--pages", "1500").stdout
    assert "== after compaction:" in out
    assert "verified: all" in out
    assert out.count(" class  size       10%") == 3


def test_replay_prints_the_kernels_classes_file():
    out = run("replay", str(DATA / "linux-6.12-zram-w1.sizes.txt")).stdout
    assert out == (DATA / "linux-6.12-zram-w1.classes.txt").read_text()


def test_classes_command(capsys):
    assert zsrs.cli.main(["classes", "--chain", "8"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "# 255 classes, 119 distinct, huge_class_size 3625"
    assert "  254  4096     1     1 226..254 yes" in out
    assert zsrs.cli.main(["classes", "--chain", "4", "--kernel", "6.1"]) == 0
    assert "huge_class_size 3257" in capsys.readouterr().out
