"""`rayedit demo` end to end with a small n: job, oracle verdict, HTML page."""

import re

import pytest

from rayedit.cli import main

pytestmark = pytest.mark.slow


def test_demo_end_to_end(tmp_path, capsys, ray_local):
    assert main(["demo", "--out", str(tmp_path / "demo"), "--n", "12", "--steps", "3", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "12 samples accounted for: 12 edited, 0 filtered, 0 failed" in out
    assert re.search(r"oracle verdict: n 12, valid_share [0-9.]+", out)
    assert "mean scores: clip_score" in out and "lpips_random_backbone" in out
    page = (tmp_path / "demo" / "demo.html").read_text()
    assert page.count("<figure>") == 12 and page.count("data:image/png;base64,") == 24
    assert (tmp_path / "demo" / "job.yaml").is_file()
