"""Diversity and quality of a generated set, from its manifest: CLIP score per prompt and near-duplicate share."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from rayedit.config import OutputSpec
from rayedit.reporting.stats import load_manifest

DUPLICATE_REASON = "near duplicate of "
"""How the near-duplicate filter's reasons start."""


def _stats(values: list[float]) -> dict:
    v = np.asarray(values, dtype=np.float64)
    return {"n": len(v), "mean": float(v.mean()), "p10": float(np.percentile(v, 10)),
            "p50": float(np.median(v)), "p90": float(np.percentile(v, 90))}


def summarize(output: OutputSpec) -> dict:
    """Counts, the share of generated samples dropped as near duplicates, and the ``clip_score`` distribution over
    all samples and per prompt (every sample that was generated and scored, kept or filtered)."""
    rows = load_manifest(output)
    generated = [r for r in rows if r["status"] != "failed"]
    dups = sum(1 for r in generated if (r["reason"] or "").startswith(DUPLICATE_REASON))
    per_prompt: dict[str, list[float]] = defaultdict(list)
    for r in generated:
        score = r["scores"].get("clip_score")
        if score is not None:
            per_prompt[r["caption"]].append(score)
    out = {"samples": len(rows), "generated": len(generated), "failed": len(rows) - len(generated),
           "near_duplicates": dups, "near_duplicate_share": dups / len(generated) if generated else 0.0}
    if per_prompt:
        out["clip_score"] = _stats([s for v in per_prompt.values() for s in v])
        out["clip_score_per_prompt"] = {p: _stats(v) for p, v in sorted(per_prompt.items())}
    return out


def print_summary(summary: dict, worst: int = 5) -> None:
    """The summary as a few lines: duplicates, the CLIP score overall and on the prompts it is lowest for."""
    print(f"  near duplicates: {summary['near_duplicates']} of {summary['generated']} generated "
          f"({100 * summary['near_duplicate_share']:.1f}%)")
    if "clip_score" not in summary:
        return
    c = summary["clip_score"]
    print(f"  clip_score: mean {c['mean']:.4f}, p10 {c['p10']:.4f}, median {c['p50']:.4f}, p90 {c['p90']:.4f}")
    prompts = sorted(summary["clip_score_per_prompt"].items(), key=lambda kv: kv[1]["mean"])
    if len(prompts) > 1:
        print(f"  lowest mean clip_score of {len(prompts)} prompts:")
        for prompt, s in prompts[:worst]:
            print(f"    {s['mean']:.4f} (n {s['n']}, p10 {s['p10']:.4f})  {prompt}")
