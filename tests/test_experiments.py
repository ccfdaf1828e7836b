"""The experiments (the main job) at a tiny scale: the table's shape, exact per-node attribution
under the series and none before it, JSON and the plot."""

import json
import subprocess
import sys
from pathlib import Path

import zsrs.experiments as ex


def test_experiments_table_and_attribution() -> None:
    res = ex.run(scale=1 / 1024, trials=2, progress=False)
    assert [e["id"] for e in res["experiments"]] == ["1", "2", "3", "4", "5"]
    for e in res["experiments"]:
        assert len(e["seconds"]["zsmalloc"]) == len(e["seconds"]["consumer"]) == 2
        assert all(t > 0 for t in e["seconds"]["zsmalloc"])
    series, before = res["attribution"]["zsmalloc"], res["attribution"]["consumer"]
    assert sum(v["true"] for v in series.values()) > 0
    assert all(v["reported"] == v["true"] for v in series.values()), series
    assert all(v["reported"] is None for v in before.values())
    table = ex.format_table(res)
    assert "series vs pre-series" in table and table.count("exact") == 2


def test_cli_json_and_plot(tmp_path: Path) -> None:
    png = tmp_path / "out.png"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "zsrs",
            "experiments",
            "--scale",
            "0.001",
            "--trials",
            "2",
            "--json",
            "--quiet",
            "--plot",
            str(png),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    res = json.loads(out)
    assert res["trials"] == 2 and len(res["experiments"]) == 5
    assert png.stat().st_size > 10_000
