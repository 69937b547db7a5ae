"""Zero-shot DDS / SDS editor: captions, spec rules, the optimisation loop, and a DDS job through Ray."""

import pyarrow.parquet as pq
import pytest
import torch
import yaml

from rayedit.cli import main
from rayedit.config import ModelSpec, ScoreDistillationSpec, SpecError, parse_spec
from rayedit.editors.captions import replace_words, target_captions
from rayedit.editors.dds.zero_shot import ScoreDistillationEditor
from rayedit.models.errors import ModelLoadError
from rayedit.models.load import load_diffusion
from rayedit.pipelines.edit import plan_job
from rayedit.toy.generator import write_shards


def test_word_replacement_is_whole_word_and_single_pass():
    assert replace_words("a red circle on a reddish background", {"red": "blue"}) == \
        "a blue circle on a reddish background"
    assert replace_words("a red circle on a blue background", {"red": "blue", "blue": "red"}) == \
        "a blue circle on a red background"
    assert target_captions(["a cat", "two cats"], "a lion", None) == ["a lion", "a lion"]
    assert target_captions(["a cat", "two cats"], None, {"cat": "lion", "cats": "lions"}) == ["a lion", "two lions"]


@pytest.mark.parametrize("fields, match", [
    ({}, "exactly one of target_caption or replace"),
    ({"target_caption": "a lion", "replace": {"cat": "lion"}}, "exactly one"),
    ({"replace": {}}, "at least one word"),
    ({"target_caption": "a lion", "t_min": 500, "t_max": 400}, "t_min"),
    ({"target_caption": "a lion", "guidance_scale": 0.5}, "guidance_scale"),
])
def test_bad_dds_specs_are_rejected(fields, match):
    with pytest.raises(SpecError, match=match):
        parse_spec({"input": {"url": "x/*.tar"}, "output": {"url": "out"}, "editor": {"kind": "dds", **fields}})


@pytest.fixture(scope="module")
def latent_model():
    return load_diffusion(ModelSpec(name="tiny-latent"), device="cpu")


def test_dds_with_matching_captions_changes_nothing(latent_model):
    x0 = torch.randn(2, 4, 16, 16)
    spec = ScoreDistillationSpec(replace={"lion": "tiger"}, steps=3)  # no 'lion' in the captions: target == source
    out = ScoreDistillationEditor(latent_model, spec)(x0, ["a cat", "a dog"])
    assert torch.allclose(out, x0, atol=1e-5)
    sds = ScoreDistillationEditor(latent_model, spec.model_copy(update={"loss": "sds"}))(x0, ["a cat", "a dog"])
    assert (sds - x0).abs().max() > 1e-3  # SDS moves even a matching image (its bias does not cancel)


def test_dds_edit_is_seeded_and_uses_one_unet_call_per_step(latent_model):
    x0 = torch.randn(3, 4, 16, 16)
    spec = ScoreDistillationSpec(target_caption="a lion", steps=4, lr=0.5)
    calls = []
    handle = latent_model.unet.register_forward_pre_hook(lambda mod, args: calls.append(args[0].shape[0]))
    try:
        a = ScoreDistillationEditor(latent_model, spec, seed=1)(x0, ["a cat"] * 3)
    finally:
        handle.remove()
    assert calls == [12] * 4  # 3 images x (target, source) x (cond, uncond), once per step
    assert (a - x0).abs().mean() > 1e-3
    assert torch.equal(a, ScoreDistillationEditor(latent_model, spec, seed=1)(x0, ["a cat"] * 3))
    assert not torch.equal(a, ScoreDistillationEditor(latent_model, spec, seed=2)(x0, ["a cat"] * 3))


def test_the_step_per_element_is_the_same_at_every_latent_size(latent_model, monkeypatch):
    """lr means one step size per latent element on any model: the notebook's 2000 / (H * W) is taken at SD's 64 x 64
    latents, so a 16 x 16 toy latent is not pushed 16x harder than SD's (nor a 96 x 64 one 1.5x less)."""
    from rayedit.editors.dds import zero_shot

    monkeypatch.setattr(zero_shot, "sds_gradient", lambda m, z, *a: torch.ones_like(z))
    spec = ScoreDistillationSpec(target_caption="a lion", steps=3, lr=0.2, loss="sds")
    moved = []
    for h, w in [(8, 8), (16, 16), (24, 16)]:
        x0 = torch.zeros(1, 4, h, w)
        moved.append(float((x0 - ScoreDistillationEditor(latent_model, spec)(x0, ["a cat"])).mean()))
    assert moved == pytest.approx([3 * 0.2 * 2000 / 4096] * 3)


def test_dds_needs_a_text_model(tmp_path):
    with pytest.raises(ModelLoadError, match="text-conditioned"):
        ScoreDistillationEditor(load_diffusion(ModelSpec(name="tiny")), ScoreDistillationSpec(target_caption="x"))
    write_shards(f"{tmp_path}/in/toy", 2, per_shard=2)
    for name in ("tiny", "toy-ddpm"):
        spec = parse_spec({"input": {"url": f"{tmp_path}/in/toy-*.tar"}, "output": {"url": str(tmp_path / "out")},
                           "model": {"name": name}, "editor": {"kind": "dds", "target_caption": "a blue circle"}})
        with pytest.raises(SpecError, match="needs a text-conditioned model"):
            plan_job(spec)


@pytest.mark.slow
def test_dds_job_through_ray(tmp_path, ray_local):
    write_shards(f"{tmp_path}/in/toy", 5, per_shard=3)
    job = {"input": {"url": f"{tmp_path}/in/toy-*.tar"}, "model": {"name": "toy-text-ddpm"},
           "editor": {"kind": "dds", "replace": {"red": "blue", "green": "blue", "yellow": "blue"}, "steps": 3},
           "score": {"clip": {"model": "toy-clip"}, "lpips": {"random_backbone": True}},
           "output": {"url": str(tmp_path / "out")}, "resources": {"edit": {"batch_size": 2}}}
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(job))
    # sample 0 is a blue object: its caption has no word to replace, so the edit would do nothing - it fails
    assert main(["run", str(tmp_path / "job.yaml"), "--no-progress"]) == 3
    rows = {r["key"]: r for r in pq.read_table(tmp_path / "out" / "manifest.parquet").to_pylist()}
    assert len(rows) == 5 and rows["toy0000000"]["status"] == "failed"
    assert rows["toy0000000"]["reason"].startswith("nothing to edit")
    assert {r["status"] for k, r in rows.items() if k != "toy0000000"} == {"edited"}
