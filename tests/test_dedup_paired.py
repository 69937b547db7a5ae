"""The near-duplicate filter (exact within a shard) and paired before/after output."""

import io
import json
import tarfile

import numpy as np
import pyarrow.parquet as pq
import pytest

from rayedit.dedup import close_sketch_pairs, lsh_buckets, lsh_shape, near_duplicates, simhash, sketch_radius
from rayedit.imaging import encode_image
from rayedit.toy.generator import BACKGROUNDS, COLOURS, SHAPES, ToySample, draw


def test_near_duplicates_keeps_the_first_of_each_group_and_nothing_else():
    rng = np.random.default_rng(0)
    e = rng.normal(size=(50, 64)).astype(np.float32)  # random directions: pairwise cosine ~0 +- 0.15
    e[20] = e[3]  # exact
    e[31] = e[7] + 0.05 * rng.normal(size=64)  # near
    e[40] = e[31] + 0.05 * rng.normal(size=64)  # near the near copy (a group of three)
    dups = near_duplicates(e, 0.95, block=16)  # blocks smaller than the set: pairs across blocks too
    assert set(dups) == {20, 31, 40}
    assert dups[20][0] == 3 and dups[20][1] == pytest.approx(1.0, abs=1e-5)
    assert dups[31][0] == 7 and dups[40][0] in (7, 31) and dups[40][0] != 31  # 31 is dropped, so 40 -> 7
    assert near_duplicates(e, 1.01) == {} and near_duplicates(np.zeros((0, 4)), 0.9) == {}


def test_lsh_puts_near_pairs_in_a_common_bucket_and_keeps_buckets_small():
    rng = np.random.default_rng(2)
    n, d = 4000, 64
    base = rng.normal(size=(n, d))
    twin = base + 0.28 * np.sqrt(1 / d) * np.linalg.norm(base, axis=1, keepdims=True) * rng.normal(size=(n, d))
    cos = (base * twin).sum(1) / np.linalg.norm(base, axis=1) / np.linalg.norm(twin, axis=1)
    assert 0.95 < np.median(cos) < 0.97  # pairs just above a 0.95 threshold
    bands, bits = lsh_shape(2 * n, 0.95)
    assert bits == 7 and 4 <= bands <= 40
    a, b = lsh_buckets(base, bands, bits), lsh_buckets(twin, bands, bits)
    met = (a == b).any(axis=1)
    assert met[cos >= 0.95].mean() > 0.97  # the recall the shape was chosen for (0.99), within sampling noise
    unrelated = (a == np.roll(b, 1, axis=0)).any(axis=1).mean()
    assert unrelated < 0.3  # unrelated pairs rarely share a bucket
    sizes = np.unique(a[:, 0], return_counts=True)[1]
    assert sizes.max() < 200  # ~64 per bucket on average for 2n samples, n here


def test_sketches_pass_every_pair_at_the_threshold_and_almost_none_far_below():
    rng = np.random.default_rng(3)
    n, d = 3000, 512
    base = rng.normal(size=(n, d))
    unit = base / np.linalg.norm(base, axis=1, keepdims=True)
    noise = rng.normal(size=(n, d))
    noise -= (noise * unit).sum(1, keepdims=True) * unit
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)

    def at_cosine(c):  # a vector at exactly cosine c to each base vector
        return c * unit + np.sqrt(1 - c * c) * noise

    radius, sketch = sketch_radius(0.95), simhash(base)
    passed = {c: (np.unpackbits(sketch ^ simhash(at_cosine(c)), axis=1).sum(1) <= radius).mean()
              for c in (0.95, 0.8, 0.5)}
    assert passed[0.95] == 1.0 and passed[0.8] < 0.3 and passed[0.5] == 0.0
    assert close_sketch_pairs(["x", "y", "z"], np.concatenate([sketch[:1], simhash(at_cosine(0.99))[:1],
                                                               sketch[1:2]]), radius) == [("x", "y")]


def _write_tar(path, prefix: str, imgs: list, caps: list[str]) -> None:
    with tarfile.open(path, "w") as tar:
        for i, (img, cap) in enumerate(zip(imgs, caps, strict=True)):
            for name, data in ((f"{prefix}{i:03d}.png", encode_image(img, "png")),
                               (f"{prefix}{i:03d}.txt", cap.encode())):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


def _toy_tars(folder) -> list[str]:
    """a.tar: 12 images with distinct captions, then an exact copy of s002 and a near copy (pixel noise) of s005;
    b.tar: an exact copy of s007 and a near copy of s009 (duplicates across shards)."""
    rng = np.random.default_rng(1)
    # every image its own colour + background (toy-clip embeds attributes, so same-attribute images are close)
    combos = [(c, SHAPES[i % 3], b) for i, (c, b) in enumerate((c, b) for c in COLOURS for b in BACKGROUNDS)]
    imgs, caps = [], []
    for c, s, b in combos:
        sample = ToySample(c, s, b, rng.uniform(10, 22), rng.uniform(10, 22), rng.uniform(6, 8))
        imgs.append(draw(sample))
        caps.append(sample.caption)
    def near(img):
        return np.clip(img.astype(int) + rng.integers(-6, 7, img.shape), 0, 255).astype(np.uint8)

    _write_tar(folder / "a.tar", "s", imgs + [imgs[2], near(imgs[5])], caps + [caps[2], caps[5]])
    _write_tar(folder / "b.tar", "t", [imgs[7], near(imgs[9])], [caps[7], caps[9]])
    return caps


@pytest.mark.slow
def test_edit_job_drops_planted_duplicates_and_writes_pairs(ray_local, tmp_path):
    import ray
    import webdataset as wds

    from rayedit.config import parse_spec
    from rayedit.pipelines.edit import run_job

    caps = _toy_tars(tmp_path)
    spec = parse_spec({
        "input": {"url": str(tmp_path / "*.tar")}, "model": {"name": "toy-ddpm"}, "ddim": {"steps": 10},
        "score": {"clip": {"model": "toy-clip"}, "lpips": None, "replace": {"red": "blue"}},
        "dedup": {"threshold": 0.95}, "output": {"url": str(tmp_path / "out"), "paired": True},
        "resources": {"io_batch_size": 4, "edit": {"batch_size": 4}},
    })
    result = run_job(spec, progress=False)
    assert result.counts == {"edited": 12, "filtered": 4, "failed": 0}
    rows = {r["key"]: r for r in pq.read_table(tmp_path / "out" / "manifest.parquet").to_pylist()}
    dropped = {"s012": "near duplicate of s002 (", "s013": "near duplicate of s005 (",
               "t000": "near duplicate of s007 in shard a (", "t001": "near duplicate of s009 in shard a ("}
    for key, reason in dropped.items():
        assert rows[key]["status"] == "filtered" and rows[key]["reason"].startswith(reason), rows[key]
    assert all(r["status"] == "edited" for k, r in rows.items() if k not in dropped)
    with tarfile.open(tmp_path / "out" / "shards" / "b.tar") as tar:
        assert tar.getnames() == []  # both of b's samples were dropped from its tar
    # the job checked candidate pairs (few here); checking whole bands finds the same duplicates, same reasons
    from rayedit.pipelines.dedup_across import cross_shard_duplicates, exact_check_method

    by_bands = cross_shard_duplicates(spec.output, ["a", "b"], 0.95, method="bands")
    assert by_bands == {"b": {k: rows[k]["reason"] for k in ("t000", "t001")}}
    assert exact_check_method(10, 100, 5) == "pairs" and exact_check_method(300, 100, 5) == "bands"
    assert json.loads((tmp_path / "out" / "_done" / "b.json").read_text())["filtered"] == 2

    # paired layout, read back with the webdataset library ...
    url = str(tmp_path / "out" / "shards" / "a.tar")
    pairs = list(wds.WebDataset(url, shardshuffle=False).decode("rgb8").to_tuple("__key__", "source.png", "png",
                                                                                  "json"))
    assert len(pairs) == 12
    key, source, edited, meta = pairs[0]
    assert key == "s000" and source.shape == edited.shape == (32, 32, 3)
    assert meta["caption"] == caps[0] == "a red circle on a white background"
    assert meta["target_caption"] == "a blue circle on a white background"
    assert "clip_score" in meta["scores"]
    assert not np.array_equal(source, edited) and np.abs(source.astype(int) - edited).mean() < 20
    # ... and with Ray Data
    ds = ray.data.read_webdataset(url, decoder=None)
    cols = ds.take(1)[0]
    assert {"source.png", "png", "json", "txt"} <= set(cols)
