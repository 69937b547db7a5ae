"""`rayedit demo` end to end with a small n: job, oracle verdict, HTML page."""

import re

import pyarrow.parquet as pq
import pytest

from rayedit.cli import main

pytestmark = pytest.mark.slow


def test_demo_end_to_end(tmp_path, capsys, ray_local):
    assert main(["demo", "--out", str(tmp_path / "demo"), "--n", "12", "--steps", "3", "--no-progress"]) == 0
    out = capsys.readouterr().out
    counts = re.search(r"12 samples accounted for: (\d+) edited, (\d+) filtered, 0 failed", out)
    assert counts, out
    edited, filtered = int(counts[1]), int(counts[2])
    assert "filters: clip_direction >= 0.86, lpips_random_backbone <= 0.096" in out
    assert re.search(rf"oracle verdict on the kept edits: n {edited}, valid_share [0-9.]+", out)
    rows = pq.read_table(tmp_path / "demo" / "output" / "manifest.parquet").to_pylist()
    reasons = [r["reason"] for r in rows if r["status"] == "filtered"]
    assert len(reasons) == filtered and all("clip_direction" in r or "lpips" in r for r in reasons)
    assert "mean scores: clip_direction" in out and "clip_score" in out and "lpips_random_backbone" in out
    page = (tmp_path / "demo" / "demo.html").read_text()
    assert page.count("<figure>") == edited and page.count("data:image/png;base64,") == 2 * edited
    assert (tmp_path / "demo" / "job.yaml").is_file()
