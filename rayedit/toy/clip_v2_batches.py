"""Training batches of the v2 toy CLIP: 64-px scenes of one to three objects, each beside a copy of itself with one
object recoloured (drawn exactly, same background texture), so the contrastive loss must bind each colour to its
shape and place - the difference ``clip_direction`` measures when an editor recolours one object."""

from __future__ import annotations

import numpy as np
import torch

from rayedit.toy.generator import COLOURS
from rayedit.toy.scenes import Scene, edited_scene_at, scene_at


def recoloured(scene: Scene, rng: np.random.Generator) -> Scene:
    """``scene`` with one random object in a colour no other object of it has."""
    index = int(rng.integers(len(scene.objects)))
    free = [c for c in COLOURS if scene.find(c) is None]
    return scene.with_object(index, colour=str(rng.choice(free)))


def caption_for(scene: Scene, rng: np.random.Generator, short_share: float) -> tuple[str, tuple]:
    """A caption of ``scene`` and what it claims: the exact caption (``("full", caption)``) or, with probability
    ``short_share``, one of its objects alone (``("object", colour, shape)``: 'a red circle')."""
    if rng.random() < short_share:
        obj = scene.objects[int(rng.integers(len(scene.objects)))]
        return obj.phrase, ("object", obj.colour, obj.shape)
    return scene.caption, ("full", scene.caption)


def is_true_of(claim: tuple, scene: Scene) -> bool:
    """Whether a caption's claim (:func:`caption_for`) holds for ``scene``."""
    if claim[0] == "full":
        return claim[1] == scene.caption
    return any(o.colour == claim[1] and o.shape == claim[2] for o in scene.objects)


def v2_batch_at(data_seed: int, step: int, batch_size: int, short_share: float
                ) -> tuple[torch.Tensor, list[str], torch.Tensor]:
    """Images in [0, 1], captions and the image-caption match matrix of one step (deterministic in the step):
    ``batch_size // 2`` scenes of stream ``data_seed``, each followed by its one-object recolour."""
    rng = np.random.default_rng([data_seed, step, 1])
    scenes, images = [], []
    for j in range(batch_size // 2):
        index = step * (batch_size // 2) + j
        scene, image = scene_at(data_seed, index)
        edited = recoloured(scene, rng)
        scenes += [scene, edited]
        images += [image, edited_scene_at(data_seed, index, edited)]
    captions, claims = zip(*(caption_for(s, rng, short_share) for s in scenes), strict=True)
    match = torch.tensor([[float(is_true_of(c, s)) for c in claims] for s in scenes])
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255
    return x, list(captions), match
