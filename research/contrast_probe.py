"""What colour one DDS step asks for, split by whether the edit flips the object's contrast against its background.

For each scene of a v2 recolour task the source latent is noised at t; the x0 the model predicts from it under the
target caption minus the x0 it predicts under the source caption (CFG as given) is the change DDS's gradient pushes
toward (DDS Eq. 5, the gradient up to the factor sqrt(alpha_t)/sqrt(1 - alpha_t)). That change is added to the
source latent in full, decoded, and the oracle reads the object at the target's place: does this step's push alone
make the asked colour, another colour, or no object? The same for the push resized to the perfect edit's latent
change (what its direction alone makes, whatever the step size or guidance scale: with z = z_src both branches share
the unconditional prediction, so CFG scales the push and leaves its direction). Also the cosine of the push with the
perfect edit's latent change, and the size of that perfect change. And the prior: the perfect edit noised with the
same noise and denoised in one step under the target caption - can the model hold the edited scene at all? Scenes
are grouped by :meth:`EditTask.flips_contrast` (red -> yellow on gray: a darker-than-background object must become
lighter) or by the edited object's luma contrast with its background.
"""

from __future__ import annotations

import numpy as np
import torch

from rayedit.diffusion.ddim import predicted_x0
from rayedit.stages.model_output import to_model_range, to_uint8
from rayedit.toy.edit_metrics import matching_object
from rayedit.toy.edit_tasks import EditTask, task_samples
from rayedit.toy.scene_oracle import read_scene
from rayedit.toy.v2_judge import CONTRAST_BINS, contrast_bin

BIN_NAMES = [contrast_bin(v) for v in (0.0, *CONTRAST_BINS)]
"""The target contrast groups, lowest first."""


def _colour_at(img: np.ndarray, cx: float, cy: float) -> str:
    """The colour the oracle reads for the object at (cx, cy) (:func:`matching_object`): a palette colour,
    'off-palette' or 'none' (no object there)."""
    obj = matching_object(read_scene(img), cx, cy)
    return "none" if obj is None else obj.colour or "off-palette"


@torch.no_grad()
def contrast_probe(model, task: EditTask, n: int, seed: int, timesteps: list[int], guidance_scale: float,
                   batch: int = 16) -> list[dict]:
    """One row per (scene, timestep): the contrast groups, the colour read after the step's full push and after
    the push resized, the push's cosine with (and norm against) the perfect edit's latent change, and the prior's
    colour: what the model's one-step x0 of the perfect edit noised at t (the same noise) under the target caption
    reads - whether the model itself can hold the edited scene at that noise level."""
    gen = task_samples(task, seed)
    samples = [next(gen) for _ in range(n)]
    noise_gen = torch.Generator().manual_seed(seed)
    rows = []
    for start in range(0, n, batch):
        part = samples[start:start + batch]
        z_src = model.encode(to_model_range(np.stack([s.source_image for s in part])))
        z_perfect = model.encode(to_model_range(np.stack([s.target_image for s in part])))
        wanted = (z_perfect - z_src).flatten(1)
        uncond = model.empty_prompt_context(len(part))
        eps_src = model.eps_fn(model.embed_prompts([s.source.caption for s in part]), uncond, guidance_scale)
        eps_tgt = model.eps_fn(model.embed_prompts([s.target.caption for s in part]), uncond, guidance_scale)
        groups = [{"contrast": "flipped" if task.flips_contrast(s.source) else "kept",
                   "target_contrast": contrast_bin(task.contrast(s.source)[1])} for s in part]
        for t in timesteps:
            a = float(model.alphas_cumprod[t])
            noise = torch.randn(z_src.shape, generator=noise_gen)
            z_t = a**0.5 * z_src + (1 - a) ** 0.5 * noise
            # the prior: the perfect edit noised the same way, denoised in one step under the target caption
            z_pt = a**0.5 * z_perfect + (1 - a) ** 0.5 * noise
            prior = to_uint8(model.decode(predicted_x0(z_pt, eps_tgt(z_pt, t), a)))
            push = predicted_x0(z_t, eps_tgt(z_t, t), a) - predicted_x0(z_t, eps_src(z_t, t), a)  # DDS Eq. 5 in x0
            pushed = to_uint8(model.decode(z_src + push))
            size = wanted.norm(dim=1) / push.flatten(1).norm(dim=1).clamp_min(1e-8)
            resized = to_uint8(model.decode(z_src + push * size[:, None, None, None]))  # the perfect change's size
            cos = torch.nn.functional.cosine_similarity(push.flatten(1), wanted, dim=1)
            for i, s in enumerate(part):
                goal = s.target.objects[s.source.find(task.colour)]
                rows.append({"t": t, **groups[i],
                             "colour": _colour_at(pushed[i], goal.cx, goal.cy),
                             "colour_resized": _colour_at(resized[i], goal.cx, goal.cy), "cosine": float(cos[i]),
                             "prior": _colour_at(prior[i], goal.cx, goal.cy),
                             "norm_ratio": float(push[i].norm() / wanted[i].norm()),
                             "perfect_change": float(wanted[i].norm())})
    return rows


def summarise(rows: list[dict], target: str, by: str = "contrast") -> list[dict]:
    """Per (group, timestep) - groups by ``by``: 'contrast' (kept / flipped) or 'target_contrast' (how visible the
    edited object is against its background: :func:`rayedit.toy.v2_judge.contrast_bin`): scenes, share read as the
    target colour (after the full push, after the push resized to the perfect change, and in the prior's one-step
    denoising of the perfect edit), as 'none', the commonest other colour, median cosine, median push /
    perfect-change norm ratio and the perfect change's median norm."""
    out = []
    groups = ("kept", "flipped") if by == "contrast" else [b for b in BIN_NAMES if any(r[by] == b for r in rows)]
    for group in groups:
        for t in sorted({r["t"] for r in rows}):
            sel = [r for r in rows if r[by] == group and r["t"] == t]
            if not sel:
                continue
            colours = [r["colour"] for r in sel]
            others = [c for c in colours if c not in (target, "none")]
            resized = [r["colour_resized"] for r in sel]
            out.append({by: group, "t": t, "n": len(sel),
                        "reads_target": colours.count(target) / len(sel),
                        "reads_target_resized": resized.count(target) / len(sel),
                        "prior_reads_target": [r["prior"] for r in sel].count(target) / len(sel),
                        "reads_none": colours.count("none") / len(sel),
                        "commonest_other": max(set(others), key=others.count) if others else None,
                        "reads_other": len(others) / len(sel),
                        "cosine_median": float(np.median([r["cosine"] for r in sel])),
                        "norm_ratio_median": float(np.median([r["norm_ratio"] for r in sel])),
                        "perfect_change_median": float(np.median([r["perfect_change"] for r in sel]))})
    return out
