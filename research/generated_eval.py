"""The oracle's verdict on a generated toy set: what each prompt asked for vs. what was drawn."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

from rayedit.config import InputSpec
from rayedit.imaging import decode_image
from rayedit.storage.readers import read_shard
from rayedit.storage.shards import plan_shards
from rayedit.toy.oracle import read_image

_PROMPT = re.compile(r"^a (\w+) (\w+)(?: on a (\w+) background)?$")
INVALID = "invalid"
"""What the confusion records when the oracle sees no single clear shape."""


def parse_prompt(prompt: str) -> dict[str, str] | None:
    """Colour, shape and (if named) background a toy prompt asks for; None for other prompts."""
    m = _PROMPT.match(prompt.strip())
    if m is None:
        return None
    asked = {"colour": m.group(1), "shape": m.group(2)}
    if m.group(3):
        asked["background"] = m.group(3)
    return asked


def judge_generated(url: str, limit: int | None = None) -> dict:
    """Read the kept samples of a generate job's output (``URL/shards/*.tar``) with the oracle: prompt-match
    rates per attribute and confusion counts {asked: {drawn: n}} for colour and shape."""
    spec = InputSpec(url=url.rstrip("/") + "/shards/*.tar")
    asked_drawn: dict[str, list[tuple[str, str]]] = {"colour": [], "shape": [], "background": []}
    judged = skipped = valid = all_match = 0
    for shard in plan_shards(spec):
        for sample in read_shard(shard, spec):
            if limit is not None and judged >= limit:
                break
            asked = parse_prompt(sample["caption"]) if sample["status"] == "ok" else None
            if asked is None:
                skipped += 1
                continue
            reading = read_image(np.asarray(decode_image(sample["image"])))
            judged += 1
            valid += reading.valid
            ok = reading.valid
            for attr, want in asked.items():
                got = getattr(reading, attr) if reading.valid else INVALID
                asked_drawn[attr].append((want, got or INVALID))
                ok = ok and got == want
            all_match += ok
    out = {"judged": judged, "skipped": skipped, "valid_share": valid / judged if judged else 0.0,
           "all_match": all_match / judged if judged else 0.0}
    for attr, pairs in asked_drawn.items():
        if pairs:
            out[f"{attr}_match"] = sum(a == d for a, d in pairs) / len(pairs)
            confusion: dict[str, Counter] = {}
            for a, d in pairs:
                confusion.setdefault(a, Counter())[d] += 1
            out[f"{attr}_confusion"] = {a: dict(sorted(c.items())) for a, c in sorted(confusion.items())}
    return out
