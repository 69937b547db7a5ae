"""How well does each score separate successful from failed edits? ROC AUC per score, the oracle as ground truth."""

from __future__ import annotations

import numpy as np
import torch

from rayedit.stages.batch import OK, get_scores, obj_array
from rayedit.toy.edit_eval import images_of_colour
from rayedit.toy.evaluate import _to_uint8
from rayedit.toy.verdict import edit_succeeded


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


@torch.no_grad()
def evaluate_filters(editor, scorer, source: str, target: str, n: int = 200, batch: int = 50) -> dict:
    """Edit ``n`` held-out ``source``-coloured images, score each result with ``scorer`` (a ScoreImages), judge each
    with the oracle (:func:`edit_succeeded` for ``target``) and report ROC AUC and per-class means per score."""
    src, captions = images_of_colour(source, n)
    rows_scores, labels = [], []
    for s in range(0, n, batch):
        part, caps = src[s:s + batch], captions[s:s + batch]
        x0 = torch.from_numpy(part).permute(0, 3, 1, 2).float() / 127.5 - 1
        out = _to_uint8(editor(x0, caps))
        m = len(part)
        b = {"key": obj_array([f"held-out-{s + j}" for j in range(m)]), "caption": obj_array(caps),
             "pixels": part, "edited": out, "status": obj_array([OK] * m), "reason": obj_array([""] * m)}
        b = scorer(b)
        rows_scores += [get_scores(b, j) for j in range(m)]
        labels += [edit_succeeded(a, e, target) for a, e in zip(part, out, strict=True)]
    labels = np.array(labels)
    result = {"n": n, "success_share": float(labels.mean()), "scores": {}}
    for name in sorted(rows_scores[0]):
        v = np.array([r[name] for r in rows_scores])
        result["scores"][name] = {"roc_auc": roc_auc(v, labels),
                                  "mean_success": float(v[labels].mean()) if labels.any() else float("nan"),
                                  "mean_failure": float(v[~labels].mean()) if (~labels).any() else float("nan")}
    return result
