"""How well each score of a finished job separates its successful edits from its failed ones on v2 scenes: the
scores come from the job's manifest, the verdict from the exact-target judge (success at mask IoU >= 0.9)."""

from __future__ import annotations

import numpy as np

from research.filter_eval import SEPARATES, best_threshold, combined_rules, roc_auc


def scores_and_verdicts(output_url: str, task: str, seed: int, bar: float = 0.9) -> tuple[dict, np.ndarray]:
    """({score name: values}, success labels) over the job's edited samples that carry every score."""
    import pyarrow.parquet as pq

    from rayedit.toy.v2_judge import judge_each
    from rayedit.toy.verdict import output_images

    rows = pq.read_table(f"{output_url.rstrip('/')}/manifest.parquet", columns=["key", "status", "scores"]).to_pylist()
    scored = {r["key"]: dict(r["scores"] or []) for r in rows if r["status"] == "edited"}
    names = sorted(set.intersection(*(set(s) for s in scored.values()))) if scored else []
    if not names:
        raise ValueError(f"{output_url}: no edited sample carries scores (run the job with a score: section)")
    verdicts = judge_each({k: v for k, v in output_images(output_url).items() if k in scored}, task, seed)
    keys = sorted(verdicts)
    values = {n: np.array([scored[k][n] for k in keys], dtype=np.float64) for n in names}
    return values, np.array([bool(verdicts[k][f"success_iou_{bar}"]) for k in keys])


def filter_report(values: dict[str, np.ndarray], labels: np.ndarray) -> dict:
    """Per score: ROC AUC against the verdict, class means and the best single bound (Youden's J); and what the
    bounds of the separating scores (AUC at least SEPARATES from 0.5) keep together."""
    out = {"n": int(len(labels)), "success_share": float(labels.mean()), "scores": {}}
    for name, v in values.items():
        out["scores"][name] = {"roc_auc": roc_auc(v, labels),
                               "mean_success": float(v[labels].mean()) if labels.any() else float("nan"),
                               "mean_failure": float(v[~labels].mean()) if (~labels).any() else float("nan"),
                               "best_threshold": best_threshold(v, labels)}
    out["combined"] = combined_rules(values, labels, {k: r["best_threshold"] for k, r in out["scores"].items()
                                                      if abs(r["roc_auc"] - 0.5) >= SEPARATES})
    return out
