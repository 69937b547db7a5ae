"""Where zero-shot DDS and SDS push, measured on v2 task scenes (the DDS paper's Fig. 2-3 argument, with exact
regions): the first-step gradient of each (z = z_src, so DDS's two branches see the same noised latent up to the
caption), per timestep, split over the latent cells of the target object, the other objects and the background.

Reported per timestep: the gradient's mean norm per cell in each region, and how well -grad on the target's cells
points at the perfect edit (cosine with z_perfect - z_src there). DDS's claim is that SDS's noisy component,
present everywhere, cancels between the branches, leaving mass on what the caption change names. Mass on the
other objects as large as on the target means the model does not tie the changed word to its object (binding):
no score-distillation editor can then keep the other objects, however it is tuned.
"""

from __future__ import annotations

import numpy as np
import torch

from rayedit.diffusion.guidance import dds_gradient, sds_gradient
from rayedit.editors.captions import replace_words
from rayedit.toy.edit_tasks import EditTask, TaskSample, task_samples
from rayedit.toy.scenes import object_mask

REGIONS = ("target", "others", "background")


def region_cells(sample: TaskSample, task: EditTask, latent: int) -> dict[str, np.ndarray]:
    """Boolean (latent, latent) masks of the latent cells wholly inside each region: the target object (source or
    edited shape), every other object, the background (cells touching no object)."""
    index = sample.source.find(task.colour)
    full = sample.source_image.shape[0]
    f = full // latent

    def cover(mask: np.ndarray) -> np.ndarray:  # share of each latent cell's pixels in the mask
        return mask.reshape(latent, f, latent, f).mean(axis=(1, 3))

    target = object_mask(sample.source.objects[index], full) | object_mask(sample.target.objects[index], full)
    others = np.zeros_like(target)
    for i, obj in enumerate(sample.source.objects):
        if i != index:
            others |= object_mask(obj, full)
    t, o = cover(target), cover(others)
    return {"target": t >= 0.5, "others": o >= 0.5, "background": (t == 0) & (o == 0)}


def _pixels(images: list[np.ndarray]) -> torch.Tensor:
    """uint8 (H, W, 3) images -> (B, 3, H, W) in [-1, 1]."""
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 127.5 - 1


@torch.no_grad()
def gradient_regions(model, task: EditTask, n: int, seed: int, timesteps: list[int], guidance_scale: float,
                     draws: int = 2, batch: int = 16) -> list[dict]:
    """One row per (scene, timestep, method): the first-step gradient's mean norm per latent cell in each region
    and its alignment with the perfect edit on the target, averaged over ``draws`` noise draws."""
    gen = task_samples(task, seed)
    samples = [next(gen) for _ in range(n)]
    w = guidance_scale - 1.0  # diffusers' scale s = 1 + w (DDS Sec. 3)
    noise_gen = torch.Generator().manual_seed(seed)
    uncond_one = model.embed_prompts([""])
    rows = []
    for start in range(0, n, batch):
        part = samples[start:start + batch]
        z_src = model.encode(_pixels([s.source_image for s in part])).float()
        z_perfect = model.encode(_pixels([s.target_image for s in part])).float()
        source = model.embed_prompts([s.source.caption for s in part])
        target = model.embed_prompts([replace_words(s.source.caption, task.replace) for s in part])
        uncond = uncond_one.expand_as(source)
        latent = z_src.shape[-1]
        cells = [region_cells(s, task, latent) for s in part]
        for t in timesteps:
            tt = torch.full((len(part),), t, dtype=torch.long)
            grads = {"dds": 0.0, "sds": 0.0}
            for _ in range(draws):
                noise = torch.randn(z_src.shape, generator=noise_gen)
                grads["dds"] = grads["dds"] + dds_gradient(model, z_src, z_src, tt, noise, target, source, uncond, w)
                grads["sds"] = grads["sds"] + sds_gradient(model, z_src, tt, noise, target, uncond, w)
            for method, g in grads.items():
                g = (g / draws).cpu()
                norm = g.norm(dim=1).numpy()  # (B, h, w): the gradient's size per latent cell
                for i, s in enumerate(part):
                    row = {"index": s.index, "objects": len(s.source.objects), "t": t, "method": method}
                    for region in REGIONS:
                        m = cells[i][region]
                        row[region] = float(norm[i][m].mean()) if m.any() else float("nan")
                    m = torch.from_numpy(cells[i]["target"])
                    want = (z_perfect[i] - z_src[i])[:, m].flatten()
                    row["target_alignment"] = float(torch.nn.functional.cosine_similarity(
                        -g[i][:, m].flatten(), want, dim=0)) if m.any() else float("nan")
                    rows.append(row)
    return rows


def summarise(rows: list[dict]) -> list[dict]:
    """Per (method, timestep, scenes with 1 / more objects): medians of the region norms, of others / target and
    background / target, and of the target alignment."""
    out = []
    keys = sorted({(r["method"], r["t"], r["objects"] > 1) for r in rows})
    for method, t, multi in keys:
        part = [r for r in rows if (r["method"], r["t"], r["objects"] > 1) == (method, t, multi)]

        def med(values) -> float:
            values = [v for v in values if np.isfinite(v)]
            return round(float(np.median(values)), 4) if values else float("nan")

        out.append({"method": method, "t": t, "scenes": "multi" if multi else "one", "n": len(part),
                    **{r: med(p[r] for p in part) for r in REGIONS},
                    "others_over_target": med(p["others"] / p["target"] for p in part),
                    "background_over_target": med(p["background"] / p["target"] for p in part),
                    "target_alignment": med(p["target_alignment"] for p in part)})
    return out
