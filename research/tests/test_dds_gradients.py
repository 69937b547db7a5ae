"""The DDS / SDS gradient diagnostic: exact regions on the latent grid, and rows that could show either result."""

import math

import numpy as np

from rayedit.config import ModelSpec
from rayedit.models.load import load_diffusion
from rayedit.toy.edit_tasks import EditTask, task_samples
from rayedit.toy.scenes import object_mask
from research.dds_gradients import REGIONS, gradient_regions, region_cells, summarise


def test_region_cells_are_disjoint_and_exact():
    task = EditTask.parse("red->blue")
    gen = task_samples(task, 31338)
    multi = next(s for s in gen if len(s.source.objects) > 1)
    cells = region_cells(multi, task, 16)
    assert all(cells[r].shape == (16, 16) and cells[r].any() for r in REGIONS)
    assert not (cells["target"] & cells["others"]).any() and not (cells["target"] & cells["background"]).any()
    index = multi.source.find("red")
    mask = object_mask(multi.source.objects[index], 64) | object_mask(multi.target.objects[index], 64)
    share = mask.reshape(16, 4, 16, 4).mean(axis=(1, 3))
    assert (share[cells["target"]] >= 0.5).all()
    every = np.zeros((64, 64), bool)
    for obj in multi.source.objects:
        every |= object_mask(obj, 64)
    assert not every.reshape(16, 4, 16, 4).any(axis=(1, 3))[cells["background"]].any()


def test_gradient_rows_and_summary_on_a_tiny_latent_model():
    model = load_diffusion(ModelSpec(name="tiny-latent"), device="cpu")
    rows = gradient_regions(model, EditTask.parse("red->blue"), n=3, seed=31338, timesteps=[100, 800],
                            guidance_scale=3.0, draws=1, batch=2)
    assert len(rows) == 3 * 2 * 2 and {r["method"] for r in rows} == {"dds", "sds"}
    for r in rows:
        assert r["target"] > 0 and -1 <= r["target_alignment"] <= 1
    summary = summarise(rows)
    assert {(s["method"], s["t"]) for s in summary} >= {("dds", 100), ("sds", 800)}
    assert all(s["n"] >= 1 and not math.isnan(s["target"]) for s in summary)
