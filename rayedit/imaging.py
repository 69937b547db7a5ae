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


RESIZE_MODES = ("center_crop", "fit")


def resize_center_crop(img: Image.Image, size: int) -> np.ndarray:
    """Resize the shorter side to ``size`` (Lanczos) and centre-crop a size x size uint8 RGB array."""
    return to_square(img, size, "center_crop")[0]


def fit_box(width: int, height: int, size: int) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of a width x height image fitted whole into a size x size square, centred."""
    scale = size / max(width, height)
    w, h = max(1, round(width * scale)), max(1, round(height * scale))
    left, top = (size - w) // 2, (size - h) // 2
    return left, top, left + w, top + h


def to_square(img: Image.Image, size: int, mode: str = "center_crop") -> tuple[np.ndarray, list[int]]:
    """A size x size uint8 RGB array and the box (left, top, right, bottom) of the source image it shows.
    ``center_crop``: the shorter side resized to ``size``, the middle kept; ``fit``: the whole image resized into
    the square, the rest filled by repeating its edge pixels (:func:`fit_box` says where the image is)."""
    w, h = img.size
    if mode == "fit":
        left, top, right, bottom = fit_box(w, h, size)
        inner = np.asarray(img.resize((right - left, bottom - top), Image.Resampling.LANCZOS), dtype=np.uint8)
        pad = ((top, size - bottom), (left, size - right), (0, 0))
        return np.pad(inner, pad, mode="edge"), [0, 0, w, h]
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    img = img.resize((nw, nh), Image.Resampling.LANCZOS)
    left, top = (nw - size) // 2, (nh - size) // 2
    box = [round(left / scale), round(top / scale), round((left + size) / scale), round((top + size) / scale)]
    return np.asarray(img.crop((left, top, left + size, top + size)), dtype=np.uint8), box


def encode_image(pixels: np.ndarray, fmt: str = "png", quality: int = 95, png_compression: int = 6) -> bytes:
    """uint8 HxWx3 -> png/jpg/webp bytes (deterministic for png)."""
    buf = io.BytesIO()
    pil_fmt = {"png": "PNG", "jpg": "JPEG", "webp": "WEBP"}[fmt]
    kwargs = {"compress_level": png_compression} if fmt == "png" else {"quality": quality}
    Image.fromarray(pixels).save(buf, format=pil_fmt, **kwargs)
    return buf.getvalue()
