"""Image decoding and preprocessing: bytes -> EXIF-upright RGB uint8, resized and centre-cropped."""

from __future__ import annotations

import io
import math
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MIN_SIDE = 8
"""Smaller images hold no content worth editing (a 1x1 'image' is a tracking pixel)."""
MAX_PIXELS = 100_000_000
"""Above this we refuse to decode: 100 MP is already 300 MB of RGB; bigger is a decompression bomb risk."""


class ImageError(ValueError):
    """An image that cannot be used; the message is the reason recorded in the manifest."""


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL mode to RGB: 16-bit scaled to 8-bit, alpha composited over white, CMYK/P/L converted."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        arr = np.clip(arr / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        img = Image.fromarray(arr, mode="L")
    if img.mode == "P" or img.mode == "PA":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "RGBa", "La"):
        img = img.convert("RGBA")
        bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(bg, img)
    return img.convert("RGB")


def decode_image(data: bytes, min_side: int = MIN_SIDE, max_pixels: int = MAX_PIXELS, with_format: bool = False,
                 needed: tuple[int, str] | None = None):
    """Decode bytes to an upright RGB PIL image, or raise ImageError with the reason. ``with_format``: also return
    (PIL format name, upright size of the full image). ``needed``: (side, 'short' or 'long') - the size the caller
    will resize to; a JPEG at least twice that large is decoded at a reduced scale (libjpeg's draft mode: fewer
    pixels decoded and resized, same result to within resampling)."""
    if not data:
        raise ImageError("empty image data (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if w * h > max_pixels:
                raise ImageError(f"image too large ({w}x{h} > {max_pixels} pixels)")
            if min(w, h) < min_side:
                raise ImageError(f"image too small ({w}x{h}, sides must be >= {min_side} px)")
            if needed is not None and img.format == "JPEG":
                side = needed[0] / (min(w, h) if needed[1] == "short" else max(w, h))
                if side < 0.5:
                    img.draft("RGB", (math.ceil(w * side), math.ceil(h * side)))
            scale = w / img.size[0]  # > 1 when drafted
            img.load()
            fmt = img.format
            img = _to_rgb(ImageOps.exif_transpose(img))
            return (img, fmt, (round(img.size[0] * scale), round(img.size[1] * scale))) if with_format else img
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError("not a recognised image format") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageError(f"image too large: {err}") from None
    except (OSError, ValueError, SyntaxError) as err:
        raise ImageError(f"corrupt image: {type(err).__name__}: {err}") from None


def resize_center_crop(img: Image.Image, size: int) -> np.ndarray:
    """Resize the shorter side to ``size`` (Lanczos) and centre-crop a size x size uint8 RGB array."""
    return cover(img, size, size)[0]


def fit_box(width: int, height: int, size: int) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of a width x height image fitted whole into a size x size square, centred."""
    scale = size / max(width, height)
    w, h = max(1, round(width * scale)), max(1, round(height * scale))
    left, top = (size - w) // 2, (size - h) // 2
    return left, top, left + w, top + h


MAX_ASPECT = 4.0
"""keep_aspect clamps an image's aspect ratio to 1:4..4:1 (a longer panorama is centre-cropped to 4:1)."""


def aspect_size(width: int, height: int, resolution: int, step: int) -> tuple[int, int]:
    """(width, height) for ``keep_aspect``: about resolution^2 pixels in the image's aspect ratio (clamped to
    ``MAX_ASPECT``), each side a multiple of ``step`` (at least ``step``)."""
    ratio = min(max(width / height, 1 / MAX_ASPECT), MAX_ASPECT)
    w, h = resolution * math.sqrt(ratio), resolution / math.sqrt(ratio)
    return max(step, round(w / step) * step), max(step, round(h / step) * step)


def cover(img: Image.Image, width: int, height: int) -> tuple[np.ndarray, list[int]]:
    """A height x width uint8 RGB array: ``img`` scaled to cover it and centre-cropped, and the box (left, top,
    right, bottom) of ``img`` it shows."""
    w, h = img.size
    scale = max(width / w, height / h)
    src_w, src_h = width / scale, height / scale
    left, top = (w - src_w) / 2, (h - src_h) / 2
    # resample only the source region kept (Pillow's box): ~25% less work than resizing all and cropping after
    out = img.resize((width, height), Image.Resampling.LANCZOS, box=(left, top, left + src_w, top + src_h))
    box = [round(left), round(top), round(left + src_w), round(top + src_h)]
    return np.asarray(out, dtype=np.uint8), box


def to_model_size(img: Image.Image, size: int, mode: str = "center_crop", step: int = 1) -> tuple[np.ndarray,
                                                                                                   list[int]]:
    """The model's input array and the box (left, top, right, bottom) of the source image it shows.
    ``center_crop``: a size x size square, the shorter side resized to ``size``, the middle kept; ``fit``: the whole
    image resized into the square, the rest filled by repeating its edge pixels (:func:`fit_box` says where the
    image is); ``keep_aspect``: :func:`aspect_size` (sides multiples of ``step``), covered and centre-cropped."""
    w, h = img.size
    if mode == "fit":
        left, top, right, bottom = fit_box(w, h, size)
        inner = np.asarray(img.resize((right - left, bottom - top), Image.Resampling.LANCZOS), dtype=np.uint8)
        pad = ((top, size - bottom), (left, size - right), (0, 0))
        return np.pad(inner, pad, mode="edge"), [0, 0, w, h]
    if mode == "keep_aspect":
        return cover(img, *aspect_size(w, h, size, step))
    return cover(img, size, size)


def encode_image(pixels: np.ndarray, fmt: str = "png", quality: int = 95, png_compression: int = 6) -> bytes:
    """uint8 HxWx3 -> png/jpg/webp bytes (deterministic for png)."""
    buf = io.BytesIO()
    pil_fmt = {"png": "PNG", "jpg": "JPEG", "webp": "WEBP"}[fmt]
    kwargs = {"compress_level": png_compression} if fmt == "png" else {"quality": quality}
    Image.fromarray(pixels).save(buf, format=pil_fmt, **kwargs)
    return buf.getvalue()
