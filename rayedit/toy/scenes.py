"""The toy world v2: 64-px scenes of one to three coloured shapes on flat, gradient or two-tone backgrounds, with an
exact caption naming every object left to right.

Seeded and deterministic: scene ``i`` of seed ``s`` is always the same image. The v1 world (one shape, 32 px,
``rayedit.toy.generator``) stays for the shipped 32-px models; v2 is the ground of the latent ``toy-sd`` model.
Within a scene every object has its own colour, so "the red object" names one object, and objects never touch
(their boxes are at least ``GAP`` px apart), so an object can be recoloured or reshaped in place without meeting
another: the exact target of every edit is drawable (:mod:`rayedit.toy.edit_tasks`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from rayedit.toy.generator import BACKGROUNDS, COLOURS, SHAPES, shape_mask

RES = 64
BACKGROUND_KINDS = ("white", "gray", "black", "gradient", "two-tone")
"""Flat backgrounds (the v1 colours), a vertical light-to-dark gradient, and a light | dark split at a random x."""
GRADIENT_TOP, GRADIENT_BOTTOM = 235.0, 35.0
"""The gradient's gray level in the top and the bottom row (linear in between)."""
TWO_TONE = (BACKGROUNDS["white"], BACKGROUNDS["black"])
"""Left and right colour of a two-tone background."""
SIZE_RANGE = (5.5, 10.0)
"""Half-extent of an object in px (11-20 px across)."""
GAP = 3.0
"""Minimum distance in px between two objects' bounding boxes, and between a box and the image border."""
MIN_DX = 4.0
"""Minimum horizontal distance in px between two objects' centres, so "left to right" is never ambiguous."""
OBJECT_COUNTS = (1, 2, 3)
TEXTURE_STD = 3.0
"""Per-pixel gray noise on the background (std, 0-255 units)."""


@dataclass(frozen=True)
class SceneObject:
    """One drawn object: the ground truth the oracle is checked against."""

    colour: str
    shape: str
    cx: float
    cy: float
    size: float

    @property
    def phrase(self) -> str:
        """'a red circle'."""
        return f"a {self.colour} {self.shape}"


@dataclass(frozen=True)
class Scene:
    """What was drawn: objects sorted left to right, the background kind and the two-tone split."""

    objects: tuple[SceneObject, ...]
    background: str
    split: float = field(default=RES / 2)
    """x of the two-tone boundary (unused by other backgrounds)."""

    @property
    def caption(self) -> str:
        """'a red circle, a green square and a blue triangle on a gray background'."""
        phrases = [o.phrase for o in self.objects]
        listed = phrases[0] if len(phrases) == 1 else f"{', '.join(phrases[:-1])} and {phrases[-1]}"
        return f"{listed} on a {self.background} background"

    def find(self, colour: str) -> int | None:
        """Index of the object of ``colour`` (colours are unique within a scene), or None."""
        return next((i for i, o in enumerate(self.objects) if o.colour == colour), None)

    def with_object(self, index: int, **changes) -> Scene:
        """The same scene with object ``index`` changed (colour and/or shape; same place and size)."""
        objects = list(self.objects)
        objects[index] = replace(objects[index], **changes)
        return replace(self, objects=tuple(objects))


def background_image(scene: Scene, res: int = RES) -> np.ndarray:
    """The background alone, float32 (res, res, 3), without texture."""
    img = np.empty((res, res, 3), dtype=np.float32)
    if scene.background == "gradient":
        rows = np.linspace(GRADIENT_TOP, GRADIENT_BOTTOM, res, dtype=np.float32)
        img[:] = rows[:, None, None]
    elif scene.background == "two-tone":
        x = np.arange(res) + 0.5
        img[:] = np.where((x < scene.split)[None, :, None], TWO_TONE[0], TWO_TONE[1])
    else:
        img[:] = BACKGROUNDS[scene.background]
    return img


def object_mask(obj: SceneObject, res: int = RES) -> np.ndarray:
    """Boolean mask of one object."""
    return shape_mask(obj.shape, obj.cx, obj.cy, obj.size, res)


def draw_scene(scene: Scene, texture: np.ndarray | None = None, res: int = RES) -> np.ndarray:
    """Render a scene to uint8 (res, res, 3); ``texture`` (res, res, 1) is added to the background only."""
    img = background_image(scene, res)
    if texture is not None:
        img += texture
    for obj in scene.objects:
        img[object_mask(obj, res)] = COLOURS[obj.colour]
    return np.clip(img, 0, 255).round().astype(np.uint8)


def _place(rng: np.random.Generator, n: int, res: int) -> list[tuple[float, float, float]]:
    """(cx, cy, size) of ``n`` objects whose boxes keep GAP px from each other and from the border."""
    for _ in range(200):
        placed: list[tuple[float, float, float]] = []
        for _ in range(n):
            for _ in range(50):
                size = float(rng.uniform(*SIZE_RANGE))
                lo, hi = size + GAP, res - size - GAP
                cx, cy = float(rng.uniform(lo, hi)), float(rng.uniform(lo, hi))
                if all(max(abs(cx - x) - size - s, abs(cy - y) - size - s) >= GAP and abs(cx - x) >= MIN_DX
                       for x, y, s in placed):
                    placed.append((cx, cy, size))
                    break
            else:
                break
        if len(placed) == n:
            return placed
    raise RuntimeError(f"could not place {n} objects")  # never seen: 3 objects fill < 40% of the image


def _drawn(seed: int, index: int, res: int) -> tuple[Scene, np.ndarray]:
    """Scene ``index`` of the ``seed`` stream and its background texture."""
    rng = np.random.default_rng([seed, index, 2])
    n = int(rng.choice(OBJECT_COUNTS))
    colours = rng.choice(list(COLOURS), size=n, replace=False)
    shapes = rng.choice(SHAPES, size=n)
    boxes = sorted(_place(rng, n, res))
    objects = tuple(SceneObject(str(c), str(s), cx, cy, size)
                    for c, s, (cx, cy, size) in zip(colours, shapes, boxes, strict=True))
    background = str(rng.choice(BACKGROUND_KINDS))
    split = float(rng.uniform(0.3, 0.7) * res)
    texture = rng.normal(0, TEXTURE_STD, (res, res, 1)).astype(np.float32)
    return Scene(objects, background, split), texture


def scene_at(seed: int, index: int, res: int = RES) -> tuple[Scene, np.ndarray]:
    """Scene ``index`` of the ``seed`` stream and its image."""
    scene, texture = _drawn(seed, index, res)
    return scene, draw_scene(scene, texture, res)


def edited_scene_at(seed: int, index: int, edited: Scene, res: int = RES) -> np.ndarray:
    """``edited`` (a changed copy of scene ``index``) drawn with that scene's own background texture: the exact
    image an edit of scene ``index`` should produce."""
    return draw_scene(edited, _drawn(seed, index, res)[1], res)
