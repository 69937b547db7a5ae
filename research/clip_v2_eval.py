"""How well a CLIP reads the v2 world's scenes and their one-object recolours - what ``clip_score`` and
``clip_direction`` need to judge an edit that changes one object of several."""

from __future__ import annotations

import numpy as np
import torch

from rayedit.toy.generator import COLOURS, SHAPES
from rayedit.toy.scenes import Scene, edited_scene_at, scene_at

HELD_OUT_V2_SEED = 31337
"""The v2 stream the toy-sd measurements hold out (never trained or tuned on)."""


def one_object_changes(scene: Scene) -> list[Scene]:
    """Every scene that differs from ``scene`` in one object's colour (to a colour the scene lacks) or shape."""
    out = []
    for i, obj in enumerate(scene.objects):
        out += [scene.with_object(i, colour=c) for c in COLOURS if scene.find(c) is None]
        out += [scene.with_object(i, shape=s) for s in SHAPES if s != obj.shape]
    return out


def roc_auc(positive: list[float], negative: list[float]) -> float:
    """P(a positive scores above a negative), ties counting half."""
    pos, neg = np.asarray(positive)[:, None], np.asarray(negative)[None, :]
    return float(((pos > neg).sum() + 0.5 * (pos == neg).sum()) / (pos.size * neg.size))


def _unit(pixels: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(pixels)).permute(0, 3, 1, 2).float() / 255


@torch.no_grad()
def clip_v2_scores(clip, n: int = 256, seed: int = HELD_OUT_V2_SEED) -> dict:
    """On ``n`` scenes of stream ``seed``: ``caption_accuracy`` - the exact caption ranked above every caption of a
    one-object change (colour binding and shape); ``direction_auc`` - clip_direction (Asyrp Eq. 17) of the right
    edit (one object recoloured as its target caption says) above that of a wrong edit (another object recoloured
    to the same colour) for the same caption pair; ``clip_score_auc`` - cos(edit, target caption) of right above
    wrong edits; ``direction_mean`` of the right edits."""
    rng = np.random.default_rng(0)
    hits, right_dir, wrong_dir, right_score, wrong_score = [], [], [], [], []
    for index in range(n):
        scene, image = scene_at(seed, index)
        rivals = one_object_changes(scene)
        img = clip.embed_images(_unit([image]))
        txt = clip.embed_texts([scene.caption] + [r.caption for r in rivals])
        sims = (img @ txt.T)[0]
        hits.append(bool(sims[0] > sims[1:].max()))
        if len(scene.objects) < 2:
            continue
        free = [c for c in COLOURS if scene.find(c) is None]
        colour = str(rng.choice(free))
        target, other = rng.choice(len(scene.objects), size=2, replace=False)
        right = scene.with_object(int(target), colour=colour)
        wrong = scene.with_object(int(other), colour=colour)
        edits = clip.embed_images(_unit([edited_scene_at(seed, index, right), edited_scene_at(seed, index, wrong)]))
        t_src, t_tgt = clip.embed_texts([scene.caption, right.caption])
        d_txt = torch.nn.functional.normalize(t_tgt - t_src, dim=-1)
        d_img = torch.nn.functional.normalize(edits - img, dim=-1)
        right_dir.append(float(d_img[0] @ d_txt))
        wrong_dir.append(float(d_img[1] @ d_txt))
        right_score.append(float(edits[0] @ t_tgt))
        wrong_score.append(float(edits[1] @ t_tgt))
    return {"n": n, "seed": seed, "caption_accuracy": float(np.mean(hits)), "pairs": len(right_dir),
            "direction_auc": roc_auc(right_dir, wrong_dir), "clip_score_auc": roc_auc(right_score, wrong_score),
            "direction_mean": float(np.mean(right_dir))}
