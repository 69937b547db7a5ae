"""rayedit generate: prompts, per-sample seeds, the sampling stage, and whole jobs through local Ray."""

import io
import json
import tarfile
from pathlib import Path

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rayedit.config import ModelSpec, SpecError, parse_spec
from rayedit.config.generate import GenerateSpec, PromptSource, SamplingSpec
from rayedit.diffusion.seeds import sample_seed
from rayedit.generation.plan import SampleIndex, group_rows, output_shards
from rayedit.generation.prompts import expand_templates, resolve_prompts

TEMPLATE = {"templates": ["a {colour} {shape} on a {background} background"],
            "slots": {"colour": ["red", "blue"], "shape": ["circle", "square"], "background": ["white"]}}


def test_templates_expand_as_a_product_in_order():
    out = expand_templates(["a {colour} {shape}", "{shape} ({shape})"], {"colour": ["red", "blue"],
                                                                          "shape": ["circle", "square"]})
    assert out == ["a red circle", "a red square", "a blue circle", "a blue square", "circle (circle)",
                   "square (square)"]
    with pytest.raises(ValueError, match="without values: \\['size'\\]"):
        PromptSource(templates=["a {size} {shape}"], slots={"shape": ["x"]})
    with pytest.raises(ValueError, match="not used by any template"):
        PromptSource(templates=["a {shape}"], slots={"shape": ["x"], "colour": ["red"]})
    with pytest.raises(ValueError, match="exactly one of"):
        PromptSource(texts=["a"], templates=["b"])
    with pytest.raises(ValueError, match="exactly one of"):
        PromptSource()


def test_prompt_files_txt_jsonl_parquet():
    fs = fsspec.filesystem("memory")
    fs.pipe("/p/prompts.txt", b"a red circle\n\n  a blue square  \n")
    fs.pipe("/p/prompts.jsonl", b'{"text": "a red circle"}\n{"text": "a blue square"}\n')
    buf = io.BytesIO()
    pq.write_table(pa.table({"prompt": ["a red circle", "a blue square"]}), buf)
    fs.pipe("/p/prompts.parquet", buf.getvalue())
    want = ["a red circle", "a blue square"]
    assert resolve_prompts(PromptSource(url="memory:///p/prompts.txt")) == want
    assert resolve_prompts(PromptSource(url="memory:///p/prompts.jsonl", field="text")) == want
    assert resolve_prompts(PromptSource(url="memory:///p/prompts.parquet")) == want
    with pytest.raises(SpecError, match="line 1 has no string field 'prompt'"):
        resolve_prompts(PromptSource(url="memory:///p/prompts.jsonl"))
    with pytest.raises(SpecError, match="FileNotFoundError"):
        resolve_prompts(PromptSource(url="memory:///p/missing.txt"))


def test_seeds_keys_shards_and_groups():
    assert sample_seed(0, "p000001-0002") == sample_seed(0, "p000001-0002")
    seeds = {sample_seed(s, f"p{i:06d}-0000") for s in (0, 1) for i in range(1000)}
    assert len(seeds) == 2000 and max(seeds) < 2**63
    index = SampleIndex(["a", "b", "c"], 4)
    assert len(index) == 12 and index.key(5) == "p000001-0001" and index.prompt_index(11) == 2
    shards = output_shards(len(index), 5, "job")
    assert [(s.shard_id, s.start, s.stop) for s in shards] == [("job-00000", 0, 5), ("job-00001", 5, 10),
                                                                ("job-00002", 10, 12)]
    rows = group_rows(index, shards, 2, seed=7)
    # groups never cross a shard; each shard's last group carries its size; keys cover every sample once
    assert [len(r["key"]) for r in rows] == [2, 2, 1, 2, 2, 1, 2]
    assert [r["shard_rows"] for r in rows] == [-1, -1, 5, -1, -1, 5, 2]
    assert [k for r in rows for k in r["key"]] == [index.key(i) for i in range(12)]
    assert rows[3]["index"] == [0, 1] and rows[3]["caption"] == ["b", "b"]
    assert rows[0]["seed"] == [sample_seed(7, "p000000-0000"), sample_seed(7, "p000000-0001")]
    # a sample's seed does not depend on the grouping or sharding
    other = group_rows(index, output_shards(12, 12, "job"), 5, seed=7)
    assert {k: s for r in other for k, s in zip(r["key"], r["seed"], strict=True)} == \
        {k: s for r in rows for k, s in zip(r["key"], r["seed"], strict=True)}


def test_generate_spec_checks():
    base = {"prompts": {"texts": ["a red circle"]}, "output": {"url": "/tmp/x"}}
    spec = parse_spec(base, kind=GenerateSpec)
    assert spec.model.name == "toy-text-ddpm" and spec.sampling.guidance_scale == 7.5
    for bad, message in [({"filters": [{"score": "lpips", "max": 1}]}, "computes only clip_score"),
                         ({"clip": None, "dedup": {}}, "dedup compares CLIP"),
                         ({"output": {"url": "/tmp/x", "paired": True}}, "no source"),
                         ({"images_per_prompt": 0}, "images_per_prompt"),
                         ({"sampling": {"stepz": 3}}, "sampling.stepz: unknown field")]:
        with pytest.raises(SpecError, match=message):
            parse_spec(base | bad, kind=GenerateSpec)


def _stage_batch(rows):
    cols = {c: np.empty(len(rows), dtype=object) for c in rows[0]}
    for c in cols:
        cols[c][:] = [r[c] for r in rows]
    cols["shard_rows"] = np.asarray([r["shard_rows"] for r in rows], dtype=np.int64)
    return cols


def test_generate_stage_images_depend_on_seed_and_group_only():
    from rayedit.rows import EOS
    from rayedit.stages.generate import GenerateImages

    index = SampleIndex(["a red circle", "a blue square"], 3)
    rows = group_rows(index, output_shards(6, 6, "s"), 3, seed=1)
    stage = GenerateImages(ModelSpec(name="tiny-latent"), SamplingSpec(steps=3, guidance_scale=3.0, eta=0.5))
    both = stage(_stage_batch(rows))
    one_by_one = [stage(_stage_batch([r])) for r in rows]
    assert list(both["status"]) == ["ok"] * 6 + [EOS] and both["shard_rows"][-1] == 6
    assert both["edited"].shape == (7, 32, 32, 3)
    np.testing.assert_array_equal(both["edited"][:3], one_by_one[0]["edited"])  # same group, same bytes
    np.testing.assert_array_equal(both["edited"][3:6], one_by_one[1]["edited"][:3])
    assert not np.array_equal(both["edited"][0], both["edited"][1])  # each sample its own seed
    meta = json.loads(both["extra"][4])
    assert meta == {"prompt": "a blue square", "seed": rows[1]["seed"][1], "prompt_index": 1}
    with pytest.raises(ValueError, match="takes no text"):
        GenerateImages(ModelSpec(name="tiny"), SamplingSpec()).setup()


def _spec(tmp_path, out="out", **over) -> GenerateSpec:
    data = {"name": "gen", "prompts": TEMPLATE, "images_per_prompt": 3, "model": {"name": "toy-text-ddpm"},
            "sampling": {"steps": 4, "guidance_scale": 3.0}, "clip": {"model": "toy-clip"},
            "samples_per_shard": 5, "output": {"url": str(tmp_path / out)},
            "resources": {"generate": {"batch_size": 2, "actors": 1}, "io_batch_size": 4}} | over
    return parse_spec(data, kind=GenerateSpec)


def _tar_members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


@pytest.mark.slow
def test_generate_job_is_deterministic_across_actor_counts_and_feeds_an_edit_job(ray_local, tmp_path):
    from rayedit.pipelines.edit import run_job
    from rayedit.pipelines.generate import run_generate

    one = run_generate(_spec(tmp_path, "one"), progress=False)
    two = run_generate(_spec(tmp_path, "two", resources={"generate": {"batch_size": 2, "actors": 2, "num_cpus": 0.75},
                                                          "score": {"num_cpus": 0.25}}), progress=False)
    assert one.counts == two.counts == {"edited": 12, "filtered": 0, "failed": 0}
    assert one.shards_total == 3
    tars = sorted((tmp_path / "one" / "shards").glob("*.tar"))
    assert [t.name for t in tars] == ["gen-00000.tar", "gen-00001.tar", "gen-00002.tar"]
    for t in tars:  # byte-identical images on 1 and 2 actors
        assert _tar_members(t) == _tar_members(tmp_path / "two" / "shards" / t.name)
    members = _tar_members(tars[0])
    meta = json.loads(members["p000001-0000.json"])
    assert meta["prompt"] == meta["caption"] == "a red square on a white background"
    assert meta["seed"] == sample_seed(0, "p000001-0000") and meta["provenance"]["steps"] == 4
    assert members["p000001-0000.txt"] == b"a red square on a white background"
    rows = pq.read_table(tmp_path / "one" / "manifest.parquet").to_pylist()
    assert [r["seed"] for r in rows][:2] == [sample_seed(0, "p000000-0000"), sample_seed(0, "p000000-0001")]
    assert all(0 < dict(r["scores"])["clip_score"] <= 1 for r in rows)

    again = run_generate(_spec(tmp_path, "one"), progress=False)  # idempotent: everything committed
    assert again.shards_skipped == 3 and again.samples_this_run == 0
    with pytest.raises(SpecError, match="changed: seed"):
        run_generate(_spec(tmp_path, "one", seed=5), progress=False)

    edit = parse_spec({"input": {"url": str(tmp_path / "one" / "shards" / "gen-*.tar")},
                       "model": {"name": "toy-text-ddpm"}, "ddim": {"steps": 3}, "score": {"clip": None,
                       "lpips": None}, "output": {"url": str(tmp_path / "edited")}})
    result = run_job(edit, progress=False)
    assert result.counts["edited"] == 12
    edited = pq.read_table(tmp_path / "edited" / "manifest.parquet").to_pylist()
    assert sorted(r["key"] for r in edited) == sorted(r["key"] for r in rows)
    assert {r["caption"] for r in edited} == {r["caption"] for r in rows}


def test_oracle_judges_a_generated_set_against_its_prompts(tmp_path):
    from rayedit.toy.generator import write_shards
    from research.generated_eval import judge_generated, parse_prompt

    assert parse_prompt("a red circle on a white background") == {"colour": "red", "shape": "circle",
                                                                   "background": "white"}
    assert parse_prompt("a blue square") == {"colour": "blue", "shape": "square"}
    assert parse_prompt("a photo of a cat") is None
    # generator images carry exact captions: a perfect "generation" the judge must score as such
    write_shards(str(tmp_path / "out" / "shards" / "toy"), 60, per_shard=30, seed=3)
    verdict = judge_generated(str(tmp_path / "out"))
    assert verdict["judged"] == 60 and verdict["skipped"] == 0
    assert verdict["colour_match"] == verdict["background_match"] == 1.0 and verdict["all_match"] >= 0.98
    assert sum(sum(v.values()) for v in verdict["shape_confusion"].values()) == 60
    assert judge_generated(str(tmp_path / "out"), limit=10)["judged"] == 10
