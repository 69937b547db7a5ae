"""What a job's manifest says: counts by status and reason, score values, and which samples to show."""

from __future__ import annotations

import io
import json
import re
from collections import Counter

import numpy as np
import pyarrow.parquet as pq

from rayedit.config import OutputSpec
from rayedit.storage.fs import filesystem, join

_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
_DUPLICATE = re.compile(r"near duplicate of \S+( in shard \S+)?")


def load_manifest(output: OutputSpec) -> list[dict]:
    """The job's manifest rows (one per input sample), scores as dicts."""
    fs = filesystem(output.url, output.storage)
    path = join(output.url, "manifest.parquet")
    if not fs.exists(path):
        raise FileNotFoundError(f"no manifest.parquet under {output.url}: not a rayedit output (or no run finished)")
    rows = pq.read_table(io.BytesIO(fs.cat_file(path))).to_pylist()
    for r in rows:
        r["scores"] = dict(r["scores"] or [])
    return rows


def reason_kind(reason: str) -> str:
    """A reason with its numbers and keys replaced, so reasons of one rule group together."""
    return _NUMBER.sub("#", _DUPLICATE.sub(lambda m: "near duplicate of KEY" + (" in shard S" if m.group(1)
                                                                               else ""), reason))


def counts(rows: list[dict]) -> dict:
    """Samples per status, and per (status, reason kind) for the samples that were not kept."""
    by_status = Counter(r["status"] for r in rows)
    reasons = Counter((r["status"], reason_kind(r["reason"] or "")) for r in rows if r["status"] != "edited")
    return {"status": dict(by_status), "reasons": [(s, k, n) for (s, k), n in reasons.most_common()]}


def score_values(rows: list[dict]) -> dict[str, dict[str, list[float]]]:
    """{score name: {status: values}} over every scored sample."""
    out: dict[str, dict[str, list[float]]] = {}
    for r in rows:
        for name, v in r["scores"].items():
            if v is not None and np.isfinite(v):
                out.setdefault(name, {}).setdefault(r["status"], []).append(float(v))
    return out


def ranking_score(rows: list[dict], preferred: str | None = None) -> str | None:
    """The score to rank kept samples by: ``preferred``, else clip_direction, clip_score, any score."""
    names = {n for r in rows for n in r["scores"]}
    for name in (preferred, "clip_direction", "clip_score", *sorted(names)):
        if name and name in names:
            return name
    return None


def pick_samples(rows: list[dict], score: str | None, n: int = 6, seed: int = 0) -> dict[str, list[dict]]:
    """Kept samples to show: the ``n`` best and worst by ``score`` (higher is better; lower for LPIPS-like
    distances), and ``n`` at random."""
    kept = [r for r in rows if r["status"] == "edited"]
    rng = np.random.default_rng(seed)
    picks = {"random": [kept[i] for i in sorted(rng.choice(len(kept), min(n, len(kept)), replace=False))]}
    scored = [r for r in kept if score is not None and score in r["scores"]]
    if scored:
        lower_better = score.startswith("lpips") or score == "guidance_residual"
        ranked = sorted(scored, key=lambda r: r["scores"][score], reverse=not lower_better)
        picks = {"best": ranked[:n], "worst": ranked[::-1][:n], **picks}
    return picks


def runs(output: OutputSpec) -> list[dict]:
    """The recorded runs of the job (``_runs/*.json``: when, samples, seconds), oldest first."""
    fs = filesystem(output.url, output.storage)
    folder = join(output.url, "_runs")
    if not fs.exists(folder):
        return []
    return [json.loads(fs.cat_file(p)) for p in sorted(fs.ls(folder, detail=False)) if p.endswith(".json")]
