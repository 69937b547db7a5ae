"""How well does each score separate successful from failed edits? ROC AUC per score, the oracle as ground truth."""

from __future__ import annotations

import numpy as np
import torch

from rayedit.config import FilterRule
from rayedit.rows import OK, get_scores, obj_array
from rayedit.stages.filter import filter_reason
from rayedit.stages.model_output import to_model_range, to_uint8
from rayedit.toy.verdict import edit_succeeded
from research.edit_eval import images_of_colour


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """P(score of a random success > score of a random failure), ties half (the Mann-Whitney U statistic / n1 n2).
    0.5: no separation; below 0.5: LOWER scores mark success."""
    from scipy.stats import rankdata

    labels = np.asarray(labels, dtype=bool)
    n1, n0 = int(labels.sum()), int((~labels).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> dict:
    """The single-bound filter rule that best separates successes from failures: ``min`` when high scores mark
    success (AUC >= 0.5), else ``max``; the bound maximises Youden's J = TPR - FPR (share of successes kept minus
    share of failures kept). Also reports what that rule keeps: successes kept, failures removed, and the success
    share among the kept samples (the filtered output's precision)."""
    labels = np.asarray(labels, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    if labels.all() or not labels.any():
        return {}
    sign = 1.0 if roc_auc(scores, labels) >= 0.5 else -1.0
    s = sign * scores  # keep s >= cut
    cuts = np.unique(s)
    tpr = np.array([(s[labels] >= c).mean() for c in cuts])
    fpr = np.array([(s[~labels] >= c).mean() for c in cuts])
    i = int(np.argmax(tpr - fpr))
    kept = s >= cuts[i]
    return {"rule": "min" if sign > 0 else "max", "value": float(sign * cuts[i]), "youden_j": float(tpr[i] - fpr[i]),
            "successes_kept": float(tpr[i]), "failures_removed": float(1 - fpr[i]),
            "success_share_of_kept": float(labels[kept].mean())}


@torch.no_grad()
def evaluate_filters(editor, scorer, source: str, target: str, n: int = 200, batch: int = 50) -> dict:
    """Edit ``n`` held-out ``source``-coloured images, score each result with ``scorer`` (a ScoreImages), judge each
    with the oracle (:func:`edit_succeeded` for ``target``) and report ROC AUC and per-class means per score."""
    src, captions = images_of_colour(source, n)
    rows_scores, labels = [], []
    for s in range(0, n, batch):
        part, caps = src[s:s + batch], captions[s:s + batch]
        x0 = to_model_range(part)
        out = to_uint8(editor(x0, caps))
        m = len(part)
        b = {"key": obj_array([f"held-out-{s + j}" for j in range(m)]), "caption": obj_array(caps),
             "pixels": part, "edited": out, "status": obj_array([OK] * m), "reason": obj_array([""] * m)}
        b = scorer(b)
        rows_scores += [get_scores(b, j) for j in range(m)]
        labels += [edit_succeeded(a, e, target) for a, e in zip(part, out, strict=True)]
    labels = np.array(labels)
    result = {"n": n, "success_share": float(labels.mean()), "scores": {}}
    values = {name: np.array([r[name] for r in rows_scores]) for name in sorted(rows_scores[0])}
    for name, v in values.items():
        result["scores"][name] = {"roc_auc": roc_auc(v, labels),
                                  "mean_success": float(v[labels].mean()) if labels.any() else float("nan"),
                                  "mean_failure": float(v[~labels].mean()) if (~labels).any() else float("nan"),
                                  "best_threshold": best_threshold(v, labels)}
    result["combined"] = combined_rules(values, labels, {k: r["best_threshold"] for k, r in result["scores"].items()
                                                         if abs(r["roc_auc"] - 0.5) >= SEPARATES})
    return result


SEPARATES = 0.15
"""A score 'separates' when its ROC AUC is at least this far from 0.5; only those join the combined filter."""


def combined_rules(values: dict[str, np.ndarray], labels: np.ndarray, rules: dict[str, dict]) -> dict:
    """What the AND of several single-score rules keeps, judged by the filter stage's own rule check (so the numbers
    are what a job with this ``filters:`` list would do)."""
    filters = [FilterRule(score=k, **{r["rule"]: r["value"]}) for k, r in rules.items() if r]
    if not filters:
        return {}
    keep = np.array([not filter_reason({k: float(v[i]) for k, v in values.items()}, filters)
                     for i in range(len(labels))])
    return {"filters": [f.model_dump(exclude_none=True) for f in filters],
            "successes_kept": float(keep[labels].mean()) if labels.any() else float("nan"),
            "failures_removed": float(1 - keep[~labels].mean()) if (~labels).any() else float("nan"),
            "success_share_of_kept": float(labels[keep].mean()) if keep.any() else float("nan")}
