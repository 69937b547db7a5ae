"""``rayedit report``: one HTML page (and a PNG grid) from a job's output - manifest, shards and runs."""

from __future__ import annotations

import json
from pathlib import Path

from rayedit.config import OutputSpec, StorageSpec
from rayedit.reporting.images import sample_images
from rayedit.reporting.page import grid_png, histogram_png, report_html
from rayedit.reporting.stats import counts, load_manifest, pick_samples, ranking_score, runs, score_values
from rayedit.storage.fs import filesystem, join, redact
from rayedit.storage.job_record import JOB_FILE


def _settings(output: OutputSpec, shown: dict) -> dict:
    """What the job was run with: a shown sample's provenance (the settings as applied) and, under ``job``, the
    output's ``_job.json`` (the spec fields its samples were made from)."""
    fs = filesystem(output.url, output.storage)
    path = join(output.url, JOB_FILE)
    record = json.loads(fs.cat_file(path)) if fs.exists(path) else None
    meta = next((m for *_, m in shown.values() if m.get("provenance")), {})
    settings = dict(meta.get("provenance", {}))
    if record is not None:
        settings = settings | {"job": record} if settings else record
    return settings


def _label(row: dict, meta: dict) -> str:
    """A shown sample's caption line: shard/key, then its caption and the caption it was edited towards."""
    label = f"{row['shard_id']}/{row['key']}"
    caption, target = meta.get("caption") or row.get("caption"), meta.get("target_caption")
    if caption:
        label += f": {caption}"
    if target and target != caption:
        label += f" -> {target}"
    return label


def build_report(output: OutputSpec, html_path: str | Path, png_path: str | Path | None = None,
                 score: str | None = None, per_section: int = 6, input_storage: StorageSpec | None = None) -> dict:
    """Write the report page (and the grid PNG); returns what it counted and where it wrote."""
    rows = load_manifest(output)
    ranked_by = ranking_score(rows, score)
    picks = pick_samples(rows, ranked_by, per_section)
    chosen = {(r["shard_id"], r["key"]): r for rs in picks.values() for r in rs}
    images = sample_images(output, list(chosen.values()), input_storage)
    sections = {name: [(_label(r, images.get((r["shard_id"], r["key"]), (None, None, {}))[2]),
                        *images.get((r["shard_id"], r["key"]), (None, None, {}))[:2], r["scores"]) for r in rs]
                for name, rs in picks.items()}
    tally = counts(rows)
    page = report_html(f"rayedit report: {redact(output.url)}", tally, _settings(output, images), runs(output),
                       histogram_png(score_values(rows)), sections, ranked_by)
    Path(html_path).write_text(page)
    if png_path is not None:
        Path(png_path).write_bytes(grid_png(sections))
    shown = sum(len(v) for v in sections.values())
    with_source = sum(1 for s in sections.values() for _, src, *_ in s if src is not None)
    return {"samples": len(rows), "status": tally["status"], "shown": shown, "shown_with_source": with_source,
            "ranked_by": ranked_by, "html": str(html_path), "png": None if png_path is None else str(png_path)}
