"""Each stage on its own, with tiny seeded models."""

import io
import json
import tarfile

import numpy as np
import pyarrow.parquet as pq
import pytest

from rayedit.config import DDIMSpec, FilterRule, ModelSpec, OutputSpec, ScoreSpec
from rayedit.rows import get_scores, obj_array, set_scores
from rayedit.stages.edit import EditImages
from rayedit.stages.filter import FilterByScores, filter_reason
from rayedit.stages.score import ScoreImages
from rayedit.stages.score_names import score_names
from rayedit.stages.write import WriteParts
from rayedit.storage.commit import commit_shard, committed_shards, write_manifest


def _batch(n=3, status=None):
    rng = np.random.default_rng(0)
    return {
        "pixels": rng.integers(0, 255, (n, 32, 32, 3), dtype=np.uint8),
        "caption": obj_array([f"caption {i}" for i in range(n)]),
        "status": obj_array(status or ["ok"] * n),
        "reason": obj_array([""] * n),
    }


@pytest.mark.parametrize("name", ["tiny", "tiny-latent"])
def test_edit_stage_runs_and_skips_failed_rows(name):
    stage = EditImages(ModelSpec(name=name), DDIMSpec(steps=4), device="cpu")
    out = stage(_batch(3, ["ok", "failed", "ok"]))
    assert out["edited"].shape == (3, 32, 32, 3) and out["edited"].dtype == np.uint8
    assert list(out["status"]) == ["ok", "failed", "ok"]
    assert out["edited"][1].max() == 0 and out["edited"][0].max() > 0


def test_an_edit_that_cannot_be_made_fails_with_its_reason():
    from rayedit.config import ScoreDistillationSpec

    batch = _batch(3)
    batch["caption"] = obj_array(["", "a cat on a sofa", "a dog"])
    stage = EditImages(ModelSpec(name="tiny-latent"), DDIMSpec(steps=2), device="cpu",
                       editor=ScoreDistillationSpec(replace={"cat": "lion"}, steps=1))
    out = stage(batch)
    assert list(out["status"]) == ["failed", "ok", "failed"]
    assert out["reason"][0].startswith("no target caption") and out["reason"][2].startswith("nothing to edit")
    assert out["edited"][1].max() > 0


def test_edit_stage_is_deterministic():
    a = EditImages(ModelSpec(name="tiny"), DDIMSpec(steps=4), device="cpu")(_batch(2))
    b = EditImages(ModelSpec(name="tiny"), DDIMSpec(steps=4), device="cpu")(_batch(2))
    assert np.array_equal(a["edited"], b["edited"])


def test_cfg_uses_one_unet_call_per_step():
    stage = EditImages(ModelSpec(name="tiny-latent"), DDIMSpec(steps=3, guidance_scale=3.0), device="cpu")
    stage.setup()
    calls = []
    stage.editor.model.unet.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    stage(_batch(2))
    assert calls == [4] * 6  # 3 inversion + 3 generation steps, cond+uncond of 2 images batched together


def test_one_nan_sample_fails_alone(monkeypatch):
    stage = EditImages(ModelSpec(name="tiny"), DDIMSpec(steps=2), device="cpu")
    stage.setup()
    real = stage.editor.__class__.__call__

    def poisoned(self, x0, captions):
        out = real(self, x0, captions)
        out[[i for i, c in enumerate(captions) if c == "caption 1"]] = float("nan")
        return out

    monkeypatch.setattr(stage.editor.__class__, "__call__", poisoned)
    out = stage(_batch(3))
    assert list(out["status"]) == ["ok", "failed", "ok"] and "non-finite" in out["reason"][1]


def test_batch_exception_is_isolated_to_the_sample(monkeypatch):
    stage = EditImages(ModelSpec(name="tiny"), DDIMSpec(steps=2), device="cpu")
    stage.setup()
    real = stage.editor.__class__.__call__

    def explode(self, x0, captions):
        if "caption 2" in captions:
            raise RuntimeError("boom")
        return real(self, x0, captions)

    monkeypatch.setattr(stage.editor.__class__, "__call__", explode)
    out = stage(_batch(3))
    assert list(out["status"]) == ["ok", "ok", "failed"] and "boom" in out["reason"][2]


def test_score_stage_scores_in_one_mapping():
    spec = ScoreSpec(target_caption="a lion", lpips={"random_backbone": True})
    assert score_names(spec) == ["clip_score", "clip_direction", "lpips_random_backbone"]
    batch = _batch(3, ["ok", "ok", "failed"])
    batch["edited"] = batch["pixels"].copy()
    batch["edited"][1] = 255 - batch["edited"][1]
    out = ScoreImages(spec, device="cpu")(batch)
    s0, s1, s2 = (get_scores(out, i) for i in range(3))
    assert set(s0) == {"clip_score", "clip_direction", "lpips_random_backbone"} and s2 == {}
    assert s0["lpips_random_backbone"] == pytest.approx(0.0, abs=1e-6)  # identical images
    assert s1["lpips_random_backbone"] > 0.01
    assert -1 <= s1["clip_score"] <= 1


def test_ragged_images_are_edited_and_scored_per_size_and_a_row_that_cannot_be_scored_fails_alone():
    from rayedit.image_column import image_column

    rng = np.random.default_rng(1)
    sizes = [(48, 88), (88, 48), (48, 88), (12, 12)]  # keep_aspect buckets; 12 px is too small for AlexNet (LPIPS)
    batch = _batch(4)
    batch["pixels"] = image_column([rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for h, w in sizes])
    out = EditImages(ModelSpec(name="tiny-latent"), DDIMSpec(steps=2), device="cpu")(batch)
    assert [im.shape[:2] for im in out["edited"]] == sizes and list(out["status"]) == ["ok"] * 4
    spec = ScoreSpec(clip={"model": "tiny"}, lpips={"random_backbone": True}, target_caption="a lion")
    out = ScoreImages(spec, device="cpu", embeddings=True)(out)
    assert list(out["status"]) == ["ok", "ok", "ok", "failed"]
    assert out["reason"][3].startswith("score failed: RuntimeError")
    assert all({"clip_score", "lpips_random_backbone"} <= set(get_scores(out, i)) for i in range(3))
    assert all(len(out["embedding"][i]) > 0 for i in range(3)) and out["embedding"][3] == b""


def test_filter_reasons():
    rules = [FilterRule(score="clip_score", min=0.2), FilterRule(score="lpips", max=0.5)]
    assert filter_reason({"clip_score": 0.3, "lpips": 0.1}, rules) == ""
    assert filter_reason({"clip_score": 0.1, "lpips": 0.1}, rules) == "clip_score 0.1 < min 0.2"
    assert filter_reason({"clip_score": 0.3, "lpips": 0.7}, rules) == "lpips 0.7 > max 0.5"
    assert filter_reason({"clip_score": 0.3}, rules) == "lpips missing"
    batch = _batch(2, ["ok", "failed"])
    set_scores(batch, 0, {"clip_score": 0.1, "lpips": 0.0})
    out = FilterByScores(rules)(batch)
    assert list(out["status"]) == ["filtered", "failed"] and out["reason"][0] == "clip_score 0.1 < min 0.2"


def _write_batch(n, shard="s0"):
    b = _batch(n, ["edited"] * (n - 1) + ["failed"])
    b["edited"] = b["pixels"]
    b["reason"][n - 1] = "bad"
    b.update(key=obj_array([f"k{i}" for i in range(n)]), index=np.arange(n), shard_id=obj_array([shard] * n),
             source=obj_array(["/in/s0.tar"] * n), shard_rows=np.full(n, -1))
    for i in range(n):
        set_scores(b, i, {"clip_score": 0.5})
    return b


def test_write_and_commit_are_deterministic_and_complete(tmp_path):
    out = OutputSpec(url=str(tmp_path / "o1"))
    tars = []
    for sub in ("o1", "o2"):
        out = OutputSpec(url=str(tmp_path / sub))
        w = WriteParts(out, {"rayedit": "x"})
        r1 = w({k: v[:2] for k, v in _write_batch(4).items()})
        r2 = w({k: v[2:] for k, v in _write_batch(4).items()})
        parts = sorted(set(r1["part"]) | set(r2["part"]))
        summary = commit_shard(out, "s0", parts, "png")
        assert summary == {"shard_id": "s0", "samples": 4, "edited": 3, "filtered": 0, "failed": 1,
                           "tar": "shards/s0.tar"}
        tars.append((tmp_path / sub / "shards" / "s0.tar").read_bytes())
        assert not (tmp_path / sub / "_staging" / "s0").exists()
    assert tars[0] == tars[1]  # same input, byte-identical shard
    with tarfile.open(fileobj=io.BytesIO(tars[0])) as tar:
        names = tar.getnames()
        meta = json.loads(tar.extractfile("k0.json").read())
    assert names == ["k0.png", "k0.json", "k0.txt", "k1.png", "k1.json", "k1.txt", "k2.png", "k2.json", "k2.txt"]
    assert meta["scores"] == {"clip_score": 0.5} and meta["provenance"] == {"rayedit": "x"}
    assert committed_shards(out) == {"s0"}
    table = write_manifest(out, ["s0"])
    assert table.column("status").to_pylist() == ["edited", "edited", "edited", "failed"]
    assert pq.read_table(tmp_path / "o2" / "manifest.parquet").num_rows == 4
    assert table.column("scores").to_pylist()[0] == [("clip_score", 0.5)]



@pytest.mark.parametrize(("image_format", "want"), [("auto", ["jpg", "png", "webp", "png"]),
                                                   ("png", ["png"] * 4), ("jpg", ["jpg"] * 4)])
def test_output_format_follows_the_input_unless_one_is_asked_for(tmp_path, image_format, want):
    from PIL import Image

    out = OutputSpec(url=str(tmp_path / "o"), image_format=image_format, paired=True)
    b = _write_batch(5)
    b["source_ext"] = obj_array(["jpg", "png", "webp", "", "gif"])  # the last row failed: nothing written
    parts = sorted(set(WriteParts(out, {})(b)["part"]))
    commit_shard(out, "s0", parts, out.format_for())
    with tarfile.open(tmp_path / "o" / "shards" / "s0.tar") as tar:
        images = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if not m.name.endswith(("json", "txt"))}
    assert sorted(images) == sorted([f"k{i}.{ext}" for i, ext in enumerate(want)]
                                    + [f"k{i}.source.{ext}" for i, ext in enumerate(want)])
    pil_names = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}
    for name, data in images.items():  # the bytes are what the extension says
        assert Image.open(io.BytesIO(data)).format == pil_names[name.rsplit(".", 1)[1]]
