"""The toy world's procedural images: one coloured shape on a background, with an exact caption.

Seeded and deterministic: sample ``i`` of seed ``s`` is always the same image.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from rayedit.imaging import encode_image

COLOURS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 70, 220), "yellow": (235, 200, 40)}
SHAPES = ("circle", "square", "triangle")
BACKGROUNDS = {"white": (245, 245, 245), "gray": (150, 150, 150), "black": (20, 20, 20)}


@dataclass(frozen=True)
class ToySample:
    """What was drawn: the ground truth the oracle is checked against."""

    colour: str
    shape: str
    background: str
    cx: float
    cy: float
    size: float

    @property
    def caption(self) -> str:
        """The exact caption, e.g. 'a red circle on a white background'."""
        return f"a {self.colour} {self.shape} on a {self.background} background"


def shape_mask(shape: str, cx: float, cy: float, size: float, res: int) -> np.ndarray:
    """Boolean mask of a shape centred at (cx, cy) with half-extent ``size`` (pixels)."""
    yy, xx = np.mgrid[0:res, 0:res] + 0.5
    if shape == "circle":
        return (xx - cx) ** 2 + (yy - cy) ** 2 <= size**2
    if shape == "square":
        return (np.abs(xx - cx) <= size) & (np.abs(yy - cy) <= size)
    if shape == "triangle":  # upright isosceles: apex at top, base at the bottom
        top, bottom = cy - size, cy + size
        half_width = size * (yy - top) / (bottom - top)
        return (yy >= top) & (yy <= bottom) & (np.abs(xx - cx) <= half_width)
    raise ValueError(f"unknown shape {shape!r}")


def draw(sample: ToySample, res: int = 32, texture: np.ndarray | None = None) -> np.ndarray:
    """Render a sample to uint8 (res, res, 3); ``texture`` is light per-pixel noise added to the background."""
    img = np.empty((res, res, 3), dtype=np.float32)
    img[:] = BACKGROUNDS[sample.background]
    if texture is not None:
        img += texture
    mask = shape_mask(sample.shape, sample.cx, sample.cy, sample.size, res)
    img[mask] = COLOURS[sample.colour]
    return np.clip(img, 0, 255).round().astype(np.uint8)


def _drawn(seed: int, index: int, res: int) -> tuple[ToySample, np.ndarray]:
    """The ``index``-th sample of the ``seed`` stream and its background texture."""
    rng = np.random.default_rng([seed, index])
    size = rng.uniform(0.17, 0.28) * res
    margin = size + 1
    s = ToySample(
        colour=str(rng.choice(list(COLOURS))), shape=str(rng.choice(SHAPES)),
        background=str(rng.choice(list(BACKGROUNDS))),
        cx=float(rng.uniform(margin, res - margin)), cy=float(rng.uniform(margin, res - margin)), size=float(size),
    )
    return s, rng.normal(0, 4.0, (res, res, 1)).astype(np.float32)  # lightly textured background


def sample_at(seed: int, index: int, res: int = 32) -> tuple[ToySample, np.ndarray]:
    """The ``index``-th sample of the ``seed`` stream and its image."""
    s, texture = _drawn(seed, index, res)
    return s, draw(s, res, texture)


def recoloured_at(seed: int, index: int, colour: str, res: int = 32) -> np.ndarray:
    """The ``index``-th image of the ``seed`` stream with its object in ``colour`` instead: the same shape, place and
    background texture - the exact target of a colour edit."""
    if colour not in COLOURS:
        raise ValueError(f"unknown colour {colour!r}; the toy world has {', '.join(COLOURS)}")
    s, texture = _drawn(seed, index, res)
    return draw(replace(s, colour=colour), res, texture)


def samples(seed: int = 0, colour: str | None = None, res: int = 32, background: str | None = None,
            shape: str | None = None) -> Iterator[tuple[int, ToySample, np.ndarray]]:
    """(index, sample, image) of the ``seed`` stream, optionally only objects of ``colour`` / ``shape`` / on
    ``background``."""
    if colour is not None and colour not in COLOURS:
        raise ValueError(f"unknown colour {colour!r}; the toy world has {', '.join(COLOURS)}")
    if background is not None and background not in BACKGROUNDS:
        raise ValueError(f"unknown background {background!r}; the toy world has {', '.join(BACKGROUNDS)}")
    if shape is not None and shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; the toy world has {', '.join(SHAPES)}")
    i = 0
    while True:
        s, img = sample_at(seed, i, res)
        if colour in (None, s.colour) and background in (None, s.background) and shape in (None, s.shape):
            yield i, s, img
        i += 1


def write_shards(url_prefix: str, n: int, per_shard: int = 100, seed: int = 0, res: int = 32, fs=None,
                 colour: str | None = None, background: str | None = None, shape: str | None = None,
                 recolour: str | None = None) -> list[str]:
    """Write ``n`` samples (only ``colour`` / ``shape`` objects, ``background`` images when given) as WebDataset shards
    ``{prefix}-00000.tar``...; keys name the stream index, so the same seed gives the same files. ``recolour``: each
    image's object drawn in that colour instead (:func:`recoloured_at`, same key): exact edit targets. Returns their
    paths."""

    def items():
        for i, s, img in samples(seed, colour, res, background, shape):
            if recolour is not None:
                s, img = replace(s, colour=recolour), recoloured_at(seed, i, recolour, res)
            yield f"toy{i:07d}", img, s.caption

    return write_tar_shards(url_prefix, items(), n, per_shard, fs)


def write_tar_shards(url_prefix: str, items: Iterator[tuple[str, np.ndarray, str]], n: int, per_shard: int,
                     fs=None) -> list[str]:
    """The first ``n`` (key, image, caption) of ``items`` as WebDataset shards ``{prefix}-00000.tar``... (a PNG and a
    .txt caption per key; deterministic bytes). Returns their paths."""
    import fsspec

    fs = fs or fsspec.core.url_to_fs(url_prefix)[0]
    paths = []
    for start in range(0, n, per_shard):
        path = f"{url_prefix}-{start // per_shard:05d}.tar"
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for _ in range(start, min(n, start + per_shard)):
                key, img, caption = next(items)
                for ext, data in (("png", encode_image(img)), ("txt", caption.encode())):
                    info = tarfile.TarInfo(f"{key}.{ext}")
                    info.size, info.mtime = len(data), 0
                    tar.addfile(info, io.BytesIO(data))
        fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        with fs.open(path, "wb") as f:
            f.write(buf.getvalue())
        paths.append(path)
    return paths
