"""Filter stage: thresholds on scores. A filtered sample stays in the manifest with its reason."""

from __future__ import annotations

import math

import numpy as np

from rayedit.config import FilterRule
from rayedit.rows import EDITED, FILTERED, Batch, get_scores, ok_mask, writable


def filter_reason(scores: dict[str, float], rules: list[FilterRule]) -> str:
    """Why a sample with these scores is dropped ('' if it passes every rule)."""
    for rule in rules:
        value = scores.get(rule.score)
        if value is None or math.isnan(value):
            return f"{rule.score} missing"
        if rule.min is not None and value < rule.min:
            return f"{rule.score} {value:.4g} < min {rule.min:g}"
        if rule.max is not None and value > rule.max:
            return f"{rule.score} {value:.4g} > max {rule.max:g}"
    return ""


class FilterByScores:
    """Sets every in-flight row to ``edited`` or to ``filtered`` with the first rule it breaks."""

    def __init__(self, rules: list[FilterRule]):
        self.rules = list(rules)

    def __call__(self, batch: Batch) -> Batch:
        batch = writable(batch)
        for i in np.flatnonzero(ok_mask(batch)):
            reason = filter_reason(get_scores(batch, i), self.rules)
            batch["status"][i] = FILTERED if reason else EDITED
            batch["reason"][i] = reason
        return batch
