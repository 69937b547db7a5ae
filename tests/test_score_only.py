"""Score-only jobs (editor.kind none): read, decode, score, filter, drop near-duplicates, write - the input files'
bytes unchanged, every sample accounted for."""

import io
import tarfile

import pyarrow.parquet as pq
import pytest
from PIL import Image

from rayedit.config import SpecError, parse_spec
from rayedit.pipelines.edit import plan_job, run_job
from tests.helpers import png_bytes

pytestmark = pytest.mark.slow


def _photos(root):
    root.mkdir()
    for i in range(4):
        Image.open(io.BytesIO(png_bytes(w=48, h=40, seed=i))).save(root / f"p{i}.jpg", quality=90)
    for i in range(4):  # distinct content
        (root / f"q{i}.png").write_bytes(png_bytes(w=50, h=30, seed=10 + i))
    (root / "q0-copy.png").write_bytes((root / "q0.png").read_bytes())  # a duplicate
    (root / "broken.png").write_bytes(b"not an image")


def test_score_only_writes_the_input_bytes_and_accounts_for_everything(tmp_path, ray_local):
    _photos(tmp_path / "in")
    spec = parse_spec({"input": {"url": str(tmp_path / "in")}, "editor": {"kind": "none"},
                       "score": {"clip": {"model": "tiny"}}, "dedup": {"threshold": 0.999},
                       "filters": [{"score": "clip_score", "min": -1.0}], "output": {"url": str(tmp_path / "out")}})
    plan = plan_job(spec)
    assert plan.spec.score.lpips is None  # nothing is edited: no LPIPS to the source
    result = run_job(spec, progress=False)
    rows = {r["key"]: r for r in pq.read_table(tmp_path / "out" / "manifest.parquet").to_pylist()}
    assert sum(result.counts.values()) == len(rows) == 10
    assert rows["broken"]["status"] == "failed"
    dup = [k for k in ("q0", "q0-copy") if rows[k]["status"] == "filtered"]
    assert len(dup) == 1 and "near duplicate of" in rows[dup[0]]["reason"]
    assert rows["p1"]["status"] == "edited" and "clip_score" in dict(rows["p1"]["scores"])
    with tarfile.open(tmp_path / "out" / "shards" / "in-00000.tar") as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    assert members["p1.jpg"] == (tmp_path / "in" / "p1.jpg").read_bytes()  # no re-encoding
    assert members["q2.png"] == (tmp_path / "in" / "q2.png").read_bytes()
    assert Image.open(io.BytesIO(members["p1.jpg"])).size == (48, 40)

    # a format asked for: the decoded square, re-encoded
    again = parse_spec({"input": {"url": str(tmp_path / "in")}, "editor": {"kind": "none"},
                        "score": {"clip": None}, "output": {"url": str(tmp_path / "o2"), "image_format": "webp"}})
    run_job(again, progress=False)
    with tarfile.open(tmp_path / "o2" / "shards" / "in-00000.tar") as tar:
        names = tar.getnames()
    assert "p1.webp" in names and "q2.webp" in names


def test_score_only_refuses_lpips(tmp_path):
    _photos(tmp_path / "in")
    base = {"input": {"url": str(tmp_path / "in")}, "editor": {"kind": "none"}, "output": {"url": str(tmp_path / "o")}}
    with pytest.raises(SpecError, match="a score-only job"):
        plan_job(parse_spec(base | {"score": {"clip": None, "lpips": {"random_backbone": True}}}))
