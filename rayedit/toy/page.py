"""A small self-contained HTML page: before/after pairs with their scores (images inlined as data URIs)."""

from __future__ import annotations

import base64
import html

import numpy as np

from rayedit.imaging import encode_image


def _img(pixels: np.ndarray, scale: int = 4) -> str:
    big = np.kron(pixels, np.ones((scale, scale, 1), dtype=np.uint8)) if scale > 1 else pixels
    data = base64.b64encode(encode_image(big)).decode()
    return f'<img src="data:image/png;base64,{data}" width="{big.shape[1]}" height="{big.shape[0]}">'


def pairs_page(title: str, pairs: list[tuple], scores: dict[str, dict], summary: dict, limit: int = 48,
               legend: str = "each pair: source, then result") -> str:
    """HTML for up to ``limit`` (key, image, image, ...) rows - e.g. (key, before, after) or (key, source, edit,
    perfect edit) - each with its scores, and a summary table; ``legend`` says what the images of a row are."""
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in summary.items())
    cells = []
    for key, *images in pairs[:limit]:
        sc = ", ".join(f"{k} {v:.3f}" for k, v in sorted(scores.get(key, {}).items()))
        scale = max(1, 128 // images[0].shape[1])  # 32 px -> 4x, 64 px -> 2x
        cells.append(f"<figure>{''.join(_img(im, scale) for im in images)}<figcaption>{html.escape(key)}<br>"
                     f"{html.escape(sc)}</figcaption></figure>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>"
            "body{font-family:sans-serif} figure{display:inline-block;margin:6px;text-align:center}"
            "img{image-rendering:pixelated;margin:1px} figcaption{font-size:11px;max-width:400px}"
            f"</style></head><body><h1>{html.escape(title)}</h1><table>{rows}</table>"
            f"<p>{html.escape(legend)}</p>{''.join(cells)}</body></html>")
