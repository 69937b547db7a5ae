"""rayedit report: counts, reasons, pairs with their sources, and a page that renders in headless Chromium."""

import io
import re
import shutil
import subprocess
import tarfile

import pytest
import yaml
from PIL import Image

from rayedit.reporting.stats import reason_kind
from rayedit.toy.generator import write_shards

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_reasons_group_by_rule():
    assert reason_kind("clip_score 0.2134 < min 0.25") == "clip_score # < min #"
    assert reason_kind("near duplicate of s002 (cosine 0.981)") == "near duplicate of KEY (cosine #)"
    assert reason_kind("near duplicate of p000001-0002 in shard gen-00003 (cosine 1.000)") == \
        "near duplicate of KEY in shard S (cosine #)"
    assert reason_kind("not a recognised image format") == "not a recognised image format"


@pytest.mark.slow
def test_report_of_a_job_with_kept_filtered_and_failed_samples(tmp_path):
    from rayedit.cli import EXIT_SAMPLES_FAILED, main

    write_shards(str(tmp_path / "in" / "toy"), 10, per_shard=10, seed=4)
    with tarfile.open(tmp_path / "in" / "toy-00000.tar", "a") as tar:  # one corrupt sample
        info = tarfile.TarInfo("zz-corrupt.png")
        info.size = 9
        tar.addfile(info, io.BytesIO(b"not a png"))
    spec = {"input": {"url": str(tmp_path / "in" / "toy-*.tar")}, "model": {"name": "toy-ddpm"},
            "ddim": {"steps": 4}, "score": {"clip": {"model": "toy-clip"}, "lpips": {"random_backbone": True}},
            "filters": [{"score": "lpips_random_backbone", "max": 0.0}],  # filters every sample it scores
            "output": {"url": str(tmp_path / "out")}, "resources": {"io_batch_size": 4}}
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(spec))
    # a finished job with a failed sample exits EXIT_SAMPLES_FAILED, not 0 and not 1
    assert main(["run", str(tmp_path / "job.yaml"), "--no-progress"]) == EXIT_SAMPLES_FAILED
    spec["filters"] = [{"score": "lpips_random_backbone", "max": 10.0}]
    (tmp_path / "job2.yaml").write_text(yaml.safe_dump(spec | {"output": {"url": str(tmp_path / "out2")}}))
    assert main(["run", str(tmp_path / "job2.yaml"), "--no-progress"]) == EXIT_SAMPLES_FAILED

    from rayedit.config import OutputSpec
    from rayedit.reporting.build import build_report

    info = build_report(OutputSpec(url=str(tmp_path / "out")), tmp_path / "r.html", tmp_path / "r.png")
    assert info["status"] == {"filtered": 10, "failed": 1} and info["shown"] == 0
    page = (tmp_path / "r.html").read_text()
    assert "lpips_random_backbone # &gt; max #" in page and "not a recognised image format" in page

    assert main(["report", str(tmp_path / "out2"), "--out", str(tmp_path / "r2.html")]) == 0
    page = (tmp_path / "r2.html").read_text()
    assert re.search(r"<td>edited</td><td>10</td>", page) and re.search(r"<td>failed</td><td>1</td>", page)
    assert "best by clip_score" in page and "Runs" in page and "ddim_steps&quot;: 4" in page
    grid = Image.open(tmp_path / "r2.png")
    assert grid.size[0] > 0 and grid.size[1] == 3 * (128 + 8)  # best, worst, random rows
    n_img = page.count("<img")
    assert n_img == 1 + 3 * 6  # histogram + 3 sections of 6 pairs (sources found in the input tar)

    if CHROMIUM is None:
        pytest.skip("chromium is not installed (.ci/run installs Debian's chromium)")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'chromium'}", "--virtual-time-budget=10000", "--dump-dom"]
    dom = subprocess.run([CHROMIUM, *flags, (tmp_path / "r2.html").as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    loaded = re.search(r'data-images-loaded="(\d+)"', dom)
    assert loaded is not None, dom[-500:]
    assert int(loaded.group(1)) == n_img  # every image on the page decoded in the browser


def test_folder_inputs_show_their_source_file(tmp_path):
    import json

    from rayedit.config import OutputSpec
    from rayedit.reporting.images import sample_images
    from tests.helpers import png_bytes, tar_bytes

    photos = tmp_path / "photos" / "sub"
    photos.mkdir(parents=True)
    (photos / "holiday.v2.jpg").write_bytes(png_bytes(w=20, h=10, seed=3))
    out = tmp_path / "out"
    (out / "shards").mkdir(parents=True)
    meta = {"source_key": "sub/holiday.v2.jpg", "caption": "a cat"}
    (out / "shards" / "photos-00000.tar").write_bytes(tar_bytes([("sub/holiday_v2.png", png_bytes(seed=4)),
                                                                 ("sub/holiday_v2.json", json.dumps(meta).encode())]))
    row = {"output_shard": "shards/photos-00000.tar", "shard_id": "photos-00000", "key": "sub/holiday_v2",
           "source": str(tmp_path / "photos") + "/"}
    source, result, found = sample_images(OutputSpec(url=str(out)), [row])[("photos-00000", "sub/holiday_v2")]
    assert source is not None and source.shape == (10, 20, 3) and result is not None and found == meta
