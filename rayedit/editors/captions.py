"""Per-sample target captions: one fixed caption, or word replacements applied to each source caption."""

from __future__ import annotations

import re


def replace_words(caption: str, replace: dict[str, str]) -> str:
    """``caption`` with every whole-word occurrence of each key replaced by its value (one pass, no chaining)."""
    pattern = re.compile(r"\b(" + "|".join(re.escape(k) for k in sorted(replace, key=len, reverse=True)) + r")\b")
    return pattern.sub(lambda m: replace[m.group(1)], caption)


def target_captions(sources: list[str], target: str | None, replace: dict[str, str] | None) -> list[str]:
    """The caption each source should become: ``target`` for all, or ``replace`` applied to each source."""
    if target is not None:
        return [target] * len(sources)
    if replace is None:
        raise ValueError("need a target caption or word replacements")
    return [replace_words(s, replace) for s in sources]
