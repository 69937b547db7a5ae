"""Judging an editor on held-out toy images: oracle success and preservation, directional CLIP, and hue."""

from __future__ import annotations

import colorsys
import time
from itertools import islice

import numpy as np
import torch

from rayedit.stages.model_output import to_model_range, to_uint8
from rayedit.toy.generator import SHAPES, samples
from rayedit.toy.oracle import nearest_colour, read_image
from rayedit.toy.verdict import verdict, verdict_of
from research.evaluate import HELD_OUT_SEED


def images_of_colour(colour: str, n: int, seed: int = HELD_OUT_SEED, background: str | None = None,
                     shape: str | None = None) -> tuple[np.ndarray, list[str]]:
    """The first ``n`` held-out generator images whose object has ``colour`` (and ``shape``, on ``background`` when
    given), uint8 (n, 32, 32, 3), and their exact captions."""
    picked = list(islice(samples(seed, colour, background=background, shape=shape), n))
    return np.stack([img for _, _, img in picked]), [s.caption for _, s, _ in picked]


def object_hue(img: np.ndarray) -> float | None:
    """Mean hue (degrees) of the object the oracle finds, or None when it finds none."""
    r = read_image(img)
    if not r.mask.any():
        return None
    rgb = img[r.mask].astype(np.float64).mean(0) / 255
    return 360.0 * colorsys.rgb_to_hsv(*rgb)[0]


def circular_mean(degrees: list[float]) -> float:
    """Mean of angles in degrees on the circle (red objects sit at both 0 and 360), in [0, 360)."""
    rad = np.radians(degrees)
    return float(np.degrees(np.arctan2(np.sin(rad).mean(), np.cos(rad).mean())) % 360)


def hue_shift(before: float, after: float) -> float:
    """Signed hue change in degrees along the shorter arc, in [-180, 180) (red -> blue is about -120)."""
    return (after - before + 180.0) % 360.0 - 180.0


def spread(images: np.ndarray) -> float:
    """Mean over pixels of the std across images: how different a set of images are (a collapsed editor that
    draws the same picture for every input has a spread ratio output/input near 0)."""
    return float(images.astype(np.float64).std(axis=0).mean())


def colour_captions(colour: str) -> list[str]:
    """'a {colour} {shape}' for every shape: a prompt ensemble in which only the colour is constant."""
    return [f"a {colour} {shape}" for shape in SHAPES]


def directional_clip(clip, src: np.ndarray, out: np.ndarray, source: str | list[str],
                     target: str | list[str]) -> float:
    """Mean cos(E_I(out) - E_I(src), E_T(target) - E_T(source)) (Asyrp Eq. 17's S_dir); a colour name stands for its
    prompt ensemble (:func:`colour_captions`), a list is the ensemble itself."""
    from rayedit.editors.asyrp.losses import text_direction

    def emb(a):
        return clip.embed_images(torch.from_numpy(a).permute(0, 3, 1, 2).float() / 255)

    def ensemble(side):
        return colour_captions(side) if isinstance(side, str) else side

    d_img = torch.nn.functional.normalize(emb(out) - emb(src), dim=-1)
    text_dir, _ = text_direction(clip, ensemble(source), ensemble(target))
    return float((d_img @ text_dir).mean())


def recoloured_share(source: np.ndarray, edited: np.ndarray, target: str) -> float:
    """Share of the source object's pixels (its oracle mask) whose nearest palette colour in ``edited`` is ``target``:
    1.0 for a complete recolour; leftover source-colour corners or edges lower it (the oracle's colour, a median over
    the object, does not see them). 0.0 when the oracle finds no object in ``source``."""
    from rayedit.toy.generator import COLOURS

    mask = read_image(source).mask
    if not mask.any():
        return 0.0
    nearest, _ = nearest_colour(edited[mask].astype(np.float64), COLOURS)
    return float((nearest == list(COLOURS).index(target)).mean())


def success_by_background(sources: np.ndarray, edited: np.ndarray, target: str) -> dict[str, dict[str, float]]:
    """Per background colour of the source image: how many images, the share that reached ``target``, and the share
    of successful edits (reached, shape and background kept, mask IoU >= 0.8): :func:`verdict` on each group."""
    groups: dict[str, list[tuple[str, np.ndarray, np.ndarray]]] = {}
    for i, (a, b) in enumerate(zip(sources, edited, strict=True)):
        groups.setdefault(read_image(a).background, []).append((str(i), a, b))
    out = {}
    for bg, pairs in sorted(groups.items()):
        v = verdict(pairs, target)
        reached = v["target_colour_reached"]
        out[bg] = {"n": v["n"], "reached": reached, "success": reached * v["preserved_share_of_successes"]}
    return out


@torch.no_grad()
def evaluate_edit(edit, source: str, target: str, n: int = 200, batch: int = 50, clip=None,
                  source_background: str | None = None, target_background: str | None = None,
                  source_shape: str | None = None, target_shape: str | None = None) -> dict:
    """Judge a colour edit, or a colour + background / shape edit: run ``edit`` ((x0 in [-1, 1], captions) ->
    edited) on ``n`` held-out ``source``-coloured images; the oracle's verdict against ``target`` (also per source
    background), how much of each object took the target colour, the object hue before/after (circular means) and
    its mean signed shift per image, and directional CLIP when ``clip`` is given. ``source_background`` /
    ``source_shape``: only such images; ``target_background`` or ``target_shape``: a two-attribute edit (the colour
    and that attribute), judged by :func:`verdict` with both targets."""
    src, captions = images_of_colour(source, n, background=source_background, shape=source_shape)
    outs, seconds = [], 0.0
    for s in range(0, n, batch):
        x0 = to_model_range(src[s:s + batch])
        start = time.perf_counter()
        edited = edit(x0, captions[s:s + batch])
        seconds += time.perf_counter() - start
        outs.append(to_uint8(edited))
    out = np.concatenate(outs)
    result = verdict_of(src, out, target, target_background, target_shape)
    before, after = [object_hue(a) for a in src], [object_hue(o) for o in out]
    pairs = [(b, a) for b, a in zip(before, after, strict=True) if a is not None]
    if target_background is None and target_shape is None:
        result["by_background"] = success_by_background(src, out, target)
    result["recoloured_share_mean"] = float(np.mean([recoloured_share(a, b, target) for a, b in zip(src, out,
                                                                                                   strict=True)]))
    result["edit_seconds_per_image"] = seconds / n
    result["spread_ratio"] = spread(out) / spread(src)
    result["hue_mean_after"] = circular_mean([a for _, a in pairs]) if pairs else float("nan")
    result["hue_mean_before"] = circular_mean(before)
    result["hue_shift_mean"] = float(np.mean([hue_shift(b, a) for b, a in pairs])) if pairs else float("nan")
    if clip is not None:
        result["clip_direction"] = (directional_clip(clip, src, out, [f"a {source} {source_shape}"],
                                                     [f"a {target} {target_shape}"]) if target_shape
                                    else directional_clip(clip, src, out, source, target))
    return result
