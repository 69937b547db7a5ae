"""Edit tasks of the v2 world that name ONE object, and their exact targets (the perfect edits).

A task picks the object by its colour (unique within a scene) and changes its colour (``recolour``) or its shape
in place (``reshape``); every other object and the background must stay. Written ``red->blue`` (recolour the red
object blue) or ``red square->circle`` (the red square becomes a circle of the same size, at the same place).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from rayedit.toy.generator import COLOURS, SHAPES
from rayedit.toy.scenes import RES, Scene, background_image, edited_scene_at, object_mask, scene_at

LUMA = np.array([0.299, 0.587, 0.114])
"""Rec. 601 luma weights: an RGB colour's brightness."""


@dataclass(frozen=True)
class EditTask:
    """Change the object of colour ``colour`` (of shape ``shape``, when given): to colour ``target`` (recolour) or
    to shape ``target`` (reshape)."""

    colour: str
    target: str
    shape: str | None = None

    def __post_init__(self):
        if self.colour not in COLOURS:
            raise ValueError(f"unknown colour {self.colour!r}; the toy world has {', '.join(COLOURS)}")
        if self.shape is not None and self.shape not in SHAPES:
            raise ValueError(f"unknown shape {self.shape!r}; the toy world has {', '.join(SHAPES)}")
        if self.target not in (*COLOURS, *SHAPES) or self.target in (self.colour, self.shape):
            raise ValueError(f"edit target {self.target!r}: a colour or shape other than the source's")
        if self.target in SHAPES and self.shape is None:
            raise ValueError(f"a shape edit names the source shape too, e.g. '{self.colour} square->{self.target}'")

    @property
    def kind(self) -> str:
        """``recolour`` or ``reshape``."""
        return "reshape" if self.target in SHAPES else "recolour"

    @property
    def name(self) -> str:
        """'red->blue' or 'red square->circle'."""
        source = self.colour if self.shape is None else f"{self.colour} {self.shape}"
        return f"{source}->{self.target}"

    @classmethod
    def parse(cls, text: str) -> EditTask:
        """'red->blue' or 'red square->circle'."""
        source, sep, target = text.partition("->")
        words = source.split()
        if not sep or len(words) not in (1, 2):
            raise ValueError(f"edit task {text!r}: write 'red->blue' or 'red square->circle'")
        return cls(words[0], target.strip(), words[1] if len(words) == 2 else None)

    def applies_to(self, scene: Scene) -> bool:
        """The scene has the source object, and (recolour) no object already of the target colour."""
        i = scene.find(self.colour)
        if i is None or (self.shape is not None and scene.objects[i].shape != self.shape):
            return False
        return self.kind == "reshape" or scene.find(self.target) is None

    def apply(self, scene: Scene) -> Scene:
        """The perfect edit of ``scene``."""
        change = {"shape": self.target} if self.kind == "reshape" else {"colour": self.target}
        return scene.with_object(scene.find(self.colour), **change)

    def flips_contrast(self, scene: Scene) -> bool:
        """Whether the recolour turns the object from darker than the background behind it to lighter, or back
        (luma of the colours vs the background's mean luma under the object's mask): red -> yellow on gray does,
        red -> blue on gray does not. Always False for a reshape (its colour stays)."""
        before, after = self.contrast(scene)
        return (before > 0) != (after > 0)

    def contrast(self, scene: Scene) -> tuple[float, float]:
        """The object's luma minus the mean luma of the background behind it (under its mask), before and after
        the edit: how visible the object is against its background, on a 0-255 scale."""
        obj = scene.objects[scene.find(self.colour)]
        behind = float(background_image(scene)[object_mask(obj)].mean(axis=0) @ LUMA)
        after = self.target if self.kind == "recolour" else self.colour
        return (float(np.asarray(COLOURS[self.colour]) @ LUMA) - behind,
                float(np.asarray(COLOURS[after]) @ LUMA) - behind)

    @property
    def replace(self) -> dict[str, str]:
        """Caption words to replace to get the target caption (what a text-guided editor is given)."""
        if self.kind == "reshape":
            return {f"{self.colour} {self.shape}": f"{self.colour} {self.target}"}
        return {self.colour: self.target}


@dataclass(frozen=True)
class TaskSample:
    """One scene of a task: stream index, source and perfectly edited scene and image."""

    index: int
    source: Scene
    target: Scene
    source_image: np.ndarray
    target_image: np.ndarray


def task_samples(task: EditTask, seed: int, res: int = RES) -> Iterator[TaskSample]:
    """The scenes of the ``seed`` stream the task applies to, with their perfect edits (endless, in order)."""
    i = 0
    while True:
        scene, img = scene_at(seed, i, res)
        if task.applies_to(scene):
            edited = task.apply(scene)
            yield TaskSample(i, scene, edited, img, edited_scene_at(seed, i, edited, res))
        i += 1


def write_scene_shards(url_prefix: str, n: int, per_shard: int = 100, seed: int = 0, task: str | None = None,
                       perfect: bool = False, fs=None) -> list[str]:
    """``n`` v2 scenes of stream ``seed`` as WebDataset shards (PNG + caption; keys ``scene<index>``); with ``task``
    ('red->blue') only the scenes it applies to, and with ``perfect`` their perfect edits under the same keys and
    the target captions (what an edit of the source shards is compared with). Returns the shard paths."""
    from rayedit.toy.generator import write_tar_shards

    if perfect and task is None:
        raise ValueError("perfect edits need a task")
    if task is None:
        drawn = ((i, *scene_at(seed, i)) for i in range(n))
        items = ((f"scene{i:07d}", img, scene.caption) for i, scene, img in drawn)
    else:
        chosen = task_samples(EditTask.parse(task), seed)
        items = ((f"scene{t.index:07d}", t.target_image if perfect else t.source_image,
                  (t.target if perfect else t.source).caption) for t in chosen)
    return write_tar_shards(url_prefix, items, n, per_shard, fs)
