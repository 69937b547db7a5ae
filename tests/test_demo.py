"""`rayedit demo` end to end with a small n: job, oracle verdict, HTML page."""

import re

import pyarrow.parquet as pq
import pytest

from rayedit.cli import main

pytestmark = pytest.mark.slow


def test_demo_end_to_end(tmp_path, capsys, ray_local):
    from rayedit.pipelines.demo import demo_edit

    if demo_edit().task is None:
        pytest.skip("no shipped toy-sd translator in this checkout")
    assert main(["demo", "--out", str(tmp_path / "demo"), "--n", "12", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "12 samples accounted for: 12 edited, 0 filtered, 0 failed" in out, out
    exact = re.search(r"exact edits \(target recoloured, mask IoU >= 0.9, all else kept\): ([0-9.]+)%", out)
    assert exact and float(exact[1]) >= 75.0, out  # measured: 95.5% of the 200 held-out scenes of the same stream
    assert re.search(r"PSNR vs the perfect edit \(median\): (\d+\.\d) dB", out), out
    rows = pq.read_table(tmp_path / "demo" / "output" / "manifest.parquet").to_pylist()
    assert len(rows) == 12 and {r["status"] for r in rows} == {"edited"}  # no score filters in the demo
    page = (tmp_path / "demo" / "demo.html").read_text()
    # every scene: source, edit and its perfect edit; each with its exactness and PSNR vs the perfect edit
    assert page.count("<figure>") == 12 and page.count("data:image/png;base64,") == 3 * 12
    assert page.count("psnr_vs_perfect") == 12 and page.count("exact_edit") >= 12
    assert (tmp_path / "demo" / "job.yaml").is_file()


def test_demo_v1_translator_end_to_end(tmp_path, capsys, ray_local):
    from rayedit.pipelines.demo import TOY_TRANSLATOR

    if not (TOY_TRANSLATOR / "translator.json").is_file():
        pytest.skip("no shipped v1 translator in this checkout")
    assert main(["demo", "--out", str(tmp_path / "demo"), "--n", "12", "--editor", "translator",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    counts = re.search(r"12 samples accounted for: (\d+) edited, 0 filtered, 0 failed", out)
    assert counts, out
    edited = int(counts[1])
    verdict = re.search(rf"oracle verdict on the edits: n {edited}, .*target_colour_reached ([0-9.]+)", out)
    assert verdict and float(verdict[1]) >= 0.9, out  # the shipped translator: 100% of 400 held-out images
    assert "mean scores: clip_direction" in out and "clip_score" in out and "lpips_random_backbone" in out
    page = (tmp_path / "demo" / "demo.html").read_text()
    assert page.count("<figure>") == edited and page.count("data:image/png;base64,") == 2 * edited


def test_demo_editor_choice():
    from rayedit.config import SpecError
    from rayedit.models.layout import toy_weights_shipped
    from rayedit.pipelines.demo import TOY_DIRECTION, demo_edit

    with pytest.raises(SpecError, match="choose one of"):
        demo_edit("sdedit")
    assert demo_edit("reconstruct").editor == {"kind": "reconstruct"}
    if toy_weights_shipped("toy-text-ddpm") and (TOY_DIRECTION / "direction.json").is_file():
        asyrp = demo_edit("asyrp")
        assert asyrp.model == "toy-text-ddpm" and asyrp.editor["directions"] == [{"url": str(TOY_DIRECTION)}]
        assert demo_edit().editor["kind"] in ("translator", "asyrp")
    if toy_weights_shipped("toy-sd"):
        best = demo_edit()
        assert best.model == "toy-sd" and best.task == "red->green" and best.editor["kind"] == "translator"


def test_demo_cli_offers_every_demo_editor():
    from rayedit.cli.jobs import DEMO_EDITOR_CHOICES
    from rayedit.pipelines.demo import DEMO_EDITORS

    assert DEMO_EDITOR_CHOICES == list(DEMO_EDITORS)


def test_demo_runs_the_shipped_asyrp_direction(tmp_path, capsys, ray_local):
    from rayedit.pipelines.demo import TOY_DIRECTION

    if not (TOY_DIRECTION / "direction.json").is_file():
        pytest.skip("no shipped Asyrp direction in this checkout")
    assert main(["demo", "--out", str(tmp_path / "demo"), "--n", "8", "--editor", "asyrp", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "Asyrp direction red -> blue" in out and "8 samples accounted for: 8 edited" in out, out
    verdict = re.search(r"oracle verdict on the edits: n 8, .*target_colour_reached ([0-9.]+)", out)
    assert verdict and float(verdict[1]) >= 0.75, out  # measured: 100% of 200 held-out images at strength 1
