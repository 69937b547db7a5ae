"""The shipped toy-sd (rayedit/toy/weights/toy-sd, the `toy-sd` preset): diffusers' own pipeline generates scenes
the v2 oracle reads, and rayedit's loader and DDIM code reconstruct held-out scenes - its measured claims re-checked
on a handful of scenes of a seed no toy-sd model was trained or tuned on (TEST_SEED)."""

import numpy as np
import pytest
import torch

from rayedit.models.layout import TOY_WEIGHTS, toy_weights_shipped
from rayedit.toy.edit_metrics import psnr
from rayedit.toy.scene_oracle import read_scene, reads_as
from rayedit.toy.scenes import scene_at
from rayedit.toy.verdict import output_images

MATCH_FLOOR = 9 / 12
"""Measured on the shipped weights: 11 of the 12 prompts (toy-sd after 13,008 U-Net steps; 10 of 12 after 11,008);
the floor leaves two misses of slack (96-prompt measurements put one-object match near 74%)."""
TEST_SEED = 31338
"""Held-out scenes for these tests (training streams: VAE 11000/11001/11999, U-Net 12000-12003, 12006 and 12010;
evaluations 31337)."""

pytestmark = pytest.mark.skipif(not toy_weights_shipped("toy-sd"), reason="toy-sd weights are not in this checkout")


def _scenes(objects: int, n: int):
    out, i = [], 0
    while len(out) < n:
        scene, img = scene_at(TEST_SEED, i)
        if objects == 0 or len(scene.objects) == objects:
            out.append((scene, img))
        i += 1
    return out


@torch.no_grad()
def test_diffusers_pipeline_draws_one_object_prompts_the_oracle_reads():
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(TOY_WEIGHTS / "toy-sd", torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    scenes = [s for s, _ in _scenes(1, 12)]
    images = pipe([s.caption for s in scenes], height=64, width=64, num_inference_steps=20, guidance_scale=3.0,
                  generator=torch.Generator().manual_seed(0), output_type="np").images
    readings = [read_scene((im * 255).round().astype(np.uint8)) for im in images]
    background = np.mean([r.background == s.background for r, s in zip(readings, scenes, strict=True)])
    matched = np.mean([r.valid and r.background == s.background
                       and [(o.colour, o.shape) for o in r.objects] == [(o.colour, o.shape) for o in s.objects]
                       for r, s in zip(readings, scenes, strict=True)])
    # measured floors (toy-sd's text-to-image gate, 85%, is not met yet: docs/measurements/2026-12-toy-sd.md);
    # chance of colour + shape alone is 1 in 18
    assert background >= 0.9 and matched >= MATCH_FLOOR, (background, matched)


def test_a_reconstruct_job_on_toy_sd_keeps_held_out_scenes(tmp_path, ray_local):
    from rayedit.config import parse_spec
    from rayedit.pipelines.edit import run_job
    from rayedit.toy.edit_tasks import write_scene_shards

    write_scene_shards(str(tmp_path / "in" / "v2"), 8, per_shard=8, seed=TEST_SEED)
    spec = parse_spec({"input": {"url": str(tmp_path / "in" / "v2-*.tar")}, "model": {"name": "toy-sd"},
                       "ddim": {"steps": 20}, "score": {"clip": None, "lpips": None},
                       "output": {"url": str(tmp_path / "out")}})
    assert run_job(spec, progress=False).counts["edited"] == 8
    out = output_images(str(tmp_path / "out"))
    sources = {f"scene{i:07d}": scene_at(TEST_SEED, i) for i in range(8)}
    psnrs = [psnr(img, out[k]) for k, (_, img) in sources.items()]
    kept = np.mean([reads_as(scene, out[k]) for k, (scene, _) in sources.items()])
    # the `toy-sd` preset through rayedit's loader (the path of any SD folder) and DDIM code, 20 steps; the gate:
    # >= 28 dB median, >= 95% of scenes read back exactly (on 256 scenes: docs/measurements/2026-12-toy-sd.md)
    assert np.median(psnrs) >= 32 and kept >= 7 / 8, (psnrs, kept)


TRANSLATOR = TOY_WEIGHTS / "toy-sd-red-translator"
TRANSLATOR_FLOOR = {"blue": 10 / 12, "yellow": 6 / 12}
"""Measured on the shipped translator (6,000 steps on the toy-sd of 13,008 U-Net steps): 12 and 8 of these 12
scenes (92% and 57.5% of 200 held-out scenes per task; yellow fails where it must turn a dark object lighter than
its background: docs/measurements/2026-12-contrast-flips.md); two misses of slack."""


@pytest.mark.skipif(not (TRANSLATOR / "translator.json").is_file(), reason="toy-sd-red-translator is not shipped")
@pytest.mark.parametrize("colour", ["blue", "yellow"])
def test_the_shipped_toy_sd_translator_recolours_only_the_red_object(tmp_path, ray_local, colour):
    judged = _edit_held_out(tmp_path, {"kind": "translator", "url": str(TRANSLATOR), "task": f"a {colour} circle"},
                            f"red->{colour}")
    # measured on 200 held-out scenes per task (docs/measurements/2026-12-toy-sd.md); a do-nothing edit scores 0%
    assert judged["success_iou_0.9"] >= TRANSLATOR_FLOOR[colour], judged
    assert judged["kept_objects_read"] >= 0.9 and judged["background_psnr_median"] >= 30, judged


def _edit_held_out(tmp_path, editor: dict, task: str, n: int = 12, **spec_fields) -> dict:
    """Run ``editor`` through run_job on ``n`` held-out scenes of ``task`` and judge them with the v2 metrics
    (``spec_fields``: more job-spec sections, e.g. ``ddim``)."""
    from rayedit.config import parse_spec
    from rayedit.pipelines.edit import run_job
    from rayedit.toy.edit_tasks import write_scene_shards
    from rayedit.toy.v2_judge import judge_job

    write_scene_shards(str(tmp_path / "in" / "v2"), n, per_shard=n, seed=TEST_SEED, task=task)
    spec = parse_spec({"input": {"url": str(tmp_path / "in" / "v2-*.tar")}, "model": {"name": "toy-sd"},
                       "editor": editor, "score": {"clip": None, "lpips": None},
                       "output": {"url": str(tmp_path / "out")}, **spec_fields})
    assert run_job(spec, progress=False).counts["edited"] == n
    return judge_job(str(tmp_path / "out"), task, TEST_SEED)


def test_zero_shot_dds_on_toy_sd_recolours_the_red_object(tmp_path, ray_local):
    # examples/toy-sd-dds-red-to-blue.yaml's settings; measured on these 12 scenes: 5 succeed at IoU 0.9, 11 reach
    # blue, 91% of the other objects kept (52.5% / 92.3% kept on 200 held-out scenes); doing nothing scores 0 and 0
    judged = _edit_held_out(tmp_path, {"kind": "dds", "replace": {"red": "blue"}, "steps": 100,
                                       "guidance_scale": 3}, "red->blue")
    assert judged["success_iou_0.9"] >= 3 / 12 and judged["target_reached"] >= 8 / 12, judged
    assert judged["kept_objects_read"] >= 0.8 and judged["background_psnr_median"] >= 30, judged


DIRECTION = TOY_WEIGHTS / "toy-sd-red-to-blue-paired"


@pytest.mark.skipif(not (DIRECTION / "direction.json").is_file(), reason="toy-sd-red-to-blue-paired is not shipped")
def test_the_shipped_toy_sd_asyrp_direction_recolours_the_red_object(tmp_path, ray_local):
    # dh at up_blocks.1 (the bottleneck cannot make this edit). Measured on these 12 scenes: 7 succeed at IoU 0.9,
    # 12 reach blue, every other object kept (65% / 94% / 87% on 200 held-out scenes:
    # docs/measurements/2026-12-toy-sd.md); doing nothing scores 0 and 0
    judged = _edit_held_out(tmp_path, {"kind": "asyrp", "directions": [{"url": str(DIRECTION), "strength": 1.0}]},
                            "red->blue", ddim={"steps": 40})
    assert judged["success_iou_0.9"] >= 4 / 12 and judged["target_reached"] >= 10 / 12, judged
    assert judged["kept_objects_read"] >= 0.8 and judged["background_psnr_median"] >= 30, judged
