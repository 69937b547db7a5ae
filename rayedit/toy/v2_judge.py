"""Judge an edit job's output on v2 scenes (``rayedit toy generate --world v2 --task ...``) against the perfect
edits the generator draws: the exact-target metrics of every edited sample, summarised, and every input sample
accounted for."""

from __future__ import annotations

import re

import numpy as np

from rayedit.toy.edit_metrics import edit_metrics, summarise
from rayedit.toy.edit_tasks import EditTask
from rayedit.toy.scenes import edited_scene_at, scene_at
from rayedit.toy.verdict import output_images

SCENE_KEY = re.compile(r"^scene(\d+)$")
"""Keys of v2 scene shards: the scene's index in its seed's stream."""


def judge_images(images: dict[str, np.ndarray], task: str, seed: int) -> dict:
    """Summarised metrics (:func:`rayedit.toy.edit_metrics.summarise`) of edited images keyed ``scene<index>``
    (uint8 (H, W, 3)) against the perfect edits of those scenes of stream ``seed``."""
    return summarise(list(judge_each(images, task, seed).values()))


def judge_each(images: dict[str, np.ndarray], task: str, seed: int) -> dict[str, dict]:
    """Per image key, the metrics (:func:`rayedit.toy.edit_metrics.edit_metrics`) of that edit against the perfect
    edit of its scene of stream ``seed``."""
    edit = EditTask.parse(task)
    rows = {}
    for key, img in sorted(images.items()):
        found = SCENE_KEY.match(key)
        if found is None:
            raise ValueError(f"{key!r} is not a v2 scene key (scene<index>)")
        index = int(found.group(1))
        source = scene_at(seed, index)[0]
        if not edit.applies_to(source):
            raise ValueError(f"task {task!r} does not apply to {key} of seed {seed}: wrong seed or task?")
        perfect = edit.apply(source)
        rows[key] = edit_metrics(edit, source, perfect, edited_scene_at(seed, index, perfect), img)
    return rows


CONTRAST_BINS = (25.0, 50.0, 100.0)
"""Edges of the target contrast groups (|object luma - background luma| after the edit, 0-255)."""


def contrast_bin(value: float) -> str:
    """The group name of a target contrast: '<25', '25-50', '50-100' or '>=100'."""
    edges = CONTRAST_BINS
    for lo, hi in zip((0.0, *edges[:-1]), edges, strict=True):
        if abs(value) < hi:
            return f"<{hi:.0f}" if lo == 0 else f"{lo:.0f}-{hi:.0f}"
    return f">={edges[-1]:.0f}"


def breakdown(rows: dict[str, dict], task: str, seed: int) -> dict[str, dict[str, dict]]:
    """Success at IoU 0.9 and target reached per background kind, per number of objects in the scene, by whether
    the edit flips the object's contrast against its background (:meth:`EditTask.flips_contrast`) and by how much
    contrast the edited object has (:func:`contrast_bin` of :meth:`EditTask.contrast`'s after), from
    :func:`judge_each`'s rows of stream ``seed``: where an editor fails, not only how often."""
    edit = EditTask.parse(task)
    groups: dict[str, dict[str, list[dict]]] = {"by_background": {}, "by_objects": {}, "by_contrast": {},
                                                "by_target_contrast": {}}
    for key, row in rows.items():
        scene = scene_at(seed, int(SCENE_KEY.match(key).group(1)))[0]
        groups["by_background"].setdefault(scene.background, []).append(row)
        groups["by_objects"].setdefault(str(len(scene.objects)), []).append(row)
        groups["by_contrast"].setdefault("flipped" if edit.flips_contrast(scene) else "kept", []).append(row)
        groups["by_target_contrast"].setdefault(contrast_bin(edit.contrast(scene)[1]), []).append(row)
    return {name: {g: {"n": len(rs), "success_iou_0.9": float(np.mean([r["success_iou_0.9"] for r in rs])),
                       "target_reached": float(np.mean([r["target_reached"] for r in rs]))}
                   for g, rs in sorted(by.items())} for name, by in groups.items()}


def judge_job(output_url: str, task: str, seed: int) -> dict:
    """A finished job's statuses (from its manifest), the metrics of its edited samples and their
    :func:`breakdown`."""
    import pyarrow.parquet as pq

    rows = pq.read_table(f"{output_url.rstrip('/')}/manifest.parquet", columns=["key", "status"]).to_pylist()
    edited = {r["key"] for r in rows if r["status"] == "edited"}
    images = {k: v for k, v in output_images(output_url).items() if k in edited}
    statuses = {s: sum(r["status"] == s for r in rows) for s in ("edited", "filtered", "failed")}
    each = judge_each(images, task, seed)
    return {"task": task, "seed": seed, "samples": len(rows), **statuses, **summarise(list(each.values())),
            **breakdown(each, task, seed)}
