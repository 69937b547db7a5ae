"""HQS timestep selection: image-space gradients, and the Ray job's sharded reduction equals one pass."""

import json

import numpy as np
import pytest
import torch
import yaml

from rayedit.cli import main
from rayedit.config import HQSSelectSpec, ModelSpec, SpecError, parse_spec
from rayedit.diffusion.guidance import sds_gradient
from rayedit.diffusion.image_gradient import image_gradient
from rayedit.models.load import load_diffusion
from rayedit.pipelines.select_timesteps import select_timesteps
from rayedit.stages.hqs_sums import HQSPartialSums
from rayedit.toy.generator import sample_at, write_shards


def test_image_gradient_pixel_is_sds_and_latent_goes_through_the_encoder():
    m = load_diffusion(ModelSpec(name="tiny-latent"), device="cpu")
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    t, noise = torch.tensor([200, 600]), torch.randn(2, 4, 16, 16)
    cond, unc = m.embed_prompts(["a lion"] * 2), m.embed_prompts([""] * 2)
    d = image_gradient(m, x, t, noise, cond, unc, 6.5)
    assert d.shape == x.shape
    # J^T g by autograd equals the directional check <d, v> = <g, J v> for a random v (finite differences)
    v = torch.randn_like(x)
    z = m.encode(x)
    g = sds_gradient(m, z, t, noise, cond, unc, 6.5)
    eps = 1e-3
    jv = (m.encode(x + eps * v) - m.encode(x - eps * v)) / (2 * eps)
    assert float((d * v).sum()) == pytest.approx(float((g * jv).sum()), rel=0.05)
    pm = load_diffusion(ModelSpec(name="toy-text-ddpm"), device="cpu")
    c2, u2 = pm.embed_prompts(["a blue circle"] * 2), pm.embed_prompts([""] * 2)
    n2 = torch.randn(2, 3, 32, 32)
    assert torch.equal(image_gradient(pm, x, t, n2, c2, u2, 2.0), sds_gradient(pm, x, t, n2, c2, u2, 2.0))


def test_bad_selection_specs():
    base = {"images": {"url": "x/*.tar"}, "target": "a lion", "output": "out"}
    for bad, match in (({"timesteps": [100, 100]}, "distinct"), ({"timesteps": [100, 1200]}, "0..999"),
                       ({"threshold": 1.5}, "threshold")):
        with pytest.raises(SpecError, match=match):
            parse_spec(base | bad, kind=HQSSelectSpec)


@pytest.mark.slow
def test_sharded_job_equals_one_pass_and_writes_artifacts(tmp_path, ray_local):
    write_shards(f"{tmp_path}/in/toy", 6, per_shard=3)
    raw = {"model": {"name": "toy-text-ddpm"}, "images": {"url": f"{tmp_path}/in/toy-*.tar"},
           "target": "a blue circle", "timesteps": [100, 400, 700], "output": str(tmp_path / "hqs"),
           "resources": {"batch_size": 2}}
    (tmp_path / "hqs.yaml").write_text(yaml.safe_dump(raw))
    assert main(["select-timesteps", str(tmp_path / "hqs.yaml")]) == 0
    saved = json.loads((tmp_path / "hqs" / "hqs.json").read_text())
    assert (tmp_path / "hqs" / "hqs.png").stat().st_size > 1000
    assert saved["images"] == 6 and saved["gradient"] == "sds" and len(saved["selected"]) == 1
    # one pass over all six images in this process gives the same curve as 3 batches on Ray actors
    spec = parse_spec(raw, kind=HQSSelectSpec)
    keys = [f"toy{i:07d}" for i in range(6)]
    pixels = np.stack([sample_at(0, i)[1] for i in range(6)])
    one = HQSPartialSums(spec.model, spec.target, None, spec.timesteps, spec.guidance_scale).accumulate(keys, pixels)
    assert np.allclose(one.scores()["hqs"], saved["hqs"], atol=1e-5)
    assert np.allclose(one.scores()["magnitude"], saved["magnitude"], rtol=1e-5)
    with pytest.raises(SpecError, match="no timestep has HQS > 1.0"):
        select_timesteps(spec.model_copy(update={"threshold": 1.0}))


def test_replace_scores_each_image_against_its_own_caption_and_leaves_out_the_rest():
    spec = parse_spec({"model": {"name": "toy-text-ddpm"}, "images": {"url": "x/*.tar"}, "target": "a blue circle",
                       "source": "a red circle", "replace": {"red": "blue"}, "timesteps": [200, 600],
                       "output": "out"}, kind=HQSSelectSpec)
    keys = [f"toy{i:07d}" for i in range(3)]
    pixels = np.stack([sample_at(0, i)[1] for i in range(3)])
    per_image = HQSPartialSums(spec.model, spec.target, spec.source, spec.timesteps, spec.guidance_scale,
                               replace=spec.replace)
    got = per_image.accumulate(keys, pixels, ["a red circle", "a green square", "a red circle"])
    fixed = HQSPartialSums(spec.model, spec.target, spec.source, spec.timesteps, spec.guidance_scale)
    want = fixed.accumulate([keys[0], keys[2]], pixels[[0, 2]])
    assert got.count == 2  # the green square has no word to replace: left out, not scored as a zero gradient
    assert torch.allclose(got.n_sum, want.n_sum) and torch.allclose(got.h_sum, want.h_sum)
    assert per_image.accumulate(keys[1:2], pixels[1:2], ["a green square"]).count == 0
