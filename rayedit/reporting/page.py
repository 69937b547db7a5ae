"""Rendering a job report: score histograms and the before/after grid as PNGs, and one self-contained HTML page."""

from __future__ import annotations

import base64
import html
import io
import json

import numpy as np
from PIL import Image

Shown = tuple[str, np.ndarray | None, np.ndarray | None, dict]
"""(caption, source or None, result or None, scores) of one sample in the grid."""

CELL = 128
"""Side of one image in the grid, in pixels (small images are scaled up without smoothing)."""


def png_bytes(img: Image.Image) -> bytes:
    """PNG encoding of a PIL image."""
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def data_uri(png: bytes) -> str:
    """A PNG as a data: URI (the page stays one file)."""
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _cell(pixels: np.ndarray | None) -> Image.Image:
    if pixels is None:
        return Image.new("RGB", (CELL, CELL), (230, 230, 230))
    img = Image.fromarray(pixels)
    resample = Image.NEAREST if max(img.size) < CELL else Image.BICUBIC
    return img.resize((CELL, CELL), resample)


def pair_png(source: np.ndarray | None, result: np.ndarray | None, with_source: bool = True) -> bytes:
    """Source and result side by side (grey where an image is not available), or the result alone."""
    if not with_source:
        return png_bytes(_cell(result))
    canvas = Image.new("RGB", (2 * CELL + 4, CELL), (255, 255, 255))
    canvas.paste(_cell(source), (0, 0))
    canvas.paste(_cell(result), (CELL + 4, 0))
    return png_bytes(canvas)


def has_sources(sections: dict[str, list[Shown]]) -> bool:
    """Whether any shown sample has a source image (generated samples have none)."""
    return any(source is not None for shown in sections.values() for _, source, _, _ in shown)


def grid_png(sections: dict[str, list[Shown]]) -> bytes:
    """All shown samples as one PNG: one row per section (best, worst, random), for terminals and chat."""
    with_source = has_sources(sections)
    step = (2 * CELL + 12) if with_source else CELL + 8
    width = max((len(v) for v in sections.values()), default=1) or 1
    canvas = Image.new("RGB", (width * step, max(len(sections), 1) * (CELL + 8)), (255, 255, 255))
    for row, shown in enumerate(sections.values()):
        for col, (_, source, result, _) in enumerate(shown):
            tile = Image.open(io.BytesIO(pair_png(source, result, with_source)))
            canvas.paste(tile, (col * step, row * (CELL + 8)))
    return png_bytes(canvas)


def histogram_png(values: dict[str, dict[str, list[float]]]) -> bytes | None:
    """One histogram per score, bars stacked by status (edited / filtered)."""
    if not values:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(values), figsize=(4 * len(values), 3), squeeze=False)
    for ax, (name, by_status) in zip(axes[0], sorted(values.items()), strict=True):
        statuses = sorted(by_status)
        ax.hist([by_status[s] for s in statuses], bins=30, stacked=True, label=statuses)
        ax.set_title(name)
        ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return buf.getvalue()


def _table(rows: list[tuple], header: tuple) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def report_html(title: str, counts: dict, settings: dict, runs: list[dict], histogram: bytes | None,
                sections: dict[str, list[Shown]], ranked_by: str | None) -> str:
    """The report page. Its script counts the images that decoded into ``data-images-loaded`` on <body> (what the
    headless-browser test reads)."""
    status = _table(sorted(counts["status"].items()), ("status", "samples"))
    reasons = _table(counts["reasons"], ("status", "reason", "samples")) if counts["reasons"] else "<p>none</p>"
    run_rows = [(r.get("finished", ""), r.get("samples_this_run", ""), f"{r.get('seconds', 0):.1f}",
                 f"{r.get('images_per_second', 0):.2f}") for r in runs]
    parts = [f"<h1>{html.escape(title)}</h1><h2>Samples</h2>{status}<h2>Not kept, by reason</h2>{reasons}"]
    if run_rows:
        parts.append("<h2>Runs</h2>" + _table(run_rows, ("finished", "samples", "seconds", "images/s")))
    if histogram is not None:
        parts.append(f"<h2>Scores</h2><img class='hist' alt='score histograms' src='{data_uri(histogram)}'>")
    with_source = has_sources(sections)
    for name, shown in sections.items():
        label = f"{name} by {ranked_by}" if name != "random" and ranked_by else name
        cells = []
        for caption, source, result, scores in shown:
            sc = ", ".join(f"{k} {v:.3f}" for k, v in sorted(scores.items()))
            uri = data_uri(pair_png(source, result, with_source))
            cells.append(f"<figure><img alt='{html.escape(caption)}' src='{uri}'>"
                         f"<figcaption>{html.escape(caption)}<br>{html.escape(sc)}</figcaption></figure>")
        what = "source, result" if with_source else "results"
        parts.append(f"<h2>{html.escape(label)} ({what})</h2>{''.join(cells) or '<p>none</p>'}")
    parts.append(f"<h2>Settings</h2><pre>{html.escape(json.dumps(settings, indent=2, sort_keys=True))}</pre>")
    script = ("<script>window.addEventListener('load',()=>{const n=[...document.images].filter("
              "i=>i.complete&&i.naturalWidth>0).length;document.body.dataset.imagesLoaded=n;});</script>")
    style = ("body{font-family:sans-serif;margin:1em} table{border-collapse:collapse} td,th{border:1px solid #ccc;"
             "padding:2px 6px} figure{display:inline-block;margin:6px;text-align:center} img{image-rendering:"
             "pixelated} figcaption{font-size:11px;max-width:270px;overflow-wrap:anywhere}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}{script}</body></html>")
