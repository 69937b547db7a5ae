"""Prompts of a generate job: a list, a prompt file (txt / jsonl / parquet on any fsspec URL), or templates."""

from __future__ import annotations

import io
import itertools
import json

import pyarrow.parquet as pq

from rayedit.config import SpecError
from rayedit.config.generate import PromptSource, template_slots
from rayedit.storage.fs import filesystem, redact


def expand_templates(templates: list[str], slots: dict[str, list[str]]) -> list[str]:
    """Every template filled with every combination of its slots' values, in order (last slot varies fastest)."""
    out = []
    for template in templates:
        names = template_slots(template)
        for values in itertools.product(*(slots[n] for n in names)):
            out.append(template.format_map(dict(zip(names, values, strict=True))))
    return out


def _from_file(data: bytes, url: str, field: str) -> list[str]:
    lower = url.lower()
    if lower.endswith(".parquet"):
        table = pq.read_table(io.BytesIO(data))
        if field not in table.column_names:
            raise SpecError(f"prompts.url {redact(url)} has no column {field!r} (columns: {table.column_names})")
        return [str(v) for v in table.column(field).to_pylist() if v is not None]
    text = data.decode("utf-8")
    if lower.endswith(".jsonl"):
        out = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as err:
                raise SpecError(f"prompts.url {redact(url)} line {n} is not JSON: {err}") from None
            if not isinstance(row, dict) or not isinstance(row.get(field), str):
                raise SpecError(f"prompts.url {redact(url)} line {n} has no string field {field!r}")
            out.append(row[field])
        return out
    if lower.endswith(".txt"):
        return [line.strip() for line in text.splitlines() if line.strip()]
    raise SpecError(f"prompts.url {redact(url)}: expected a .txt, .jsonl or .parquet file")


def resolve_prompts(source: PromptSource) -> list[str]:
    """The job's prompts in order; a missing or malformed prompt file is a SpecError naming it."""
    if source.texts is not None:
        return list(source.texts)
    if source.templates is not None:
        return expand_templates(source.templates, source.slots)
    fs = filesystem(source.url, source.storage)
    try:
        data = fs.cat_file(source.url)
    except Exception as err:  # noqa: BLE001 - any store error means we cannot read it
        raise SpecError(f"prompts.url {redact(source.url)}: {type(err).__name__}: {err}") from None
    prompts = _from_file(data, source.url, source.field)
    if not prompts:
        raise SpecError(f"prompts.url {redact(source.url)} holds no prompts")
    return prompts
