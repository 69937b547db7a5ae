"""Reading specs: YAML files, ``--set`` overrides, one readable error per bad field, and the field reference that
``rayedit spec`` prints."""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ValidationError,
)

from rayedit.config.base import SpecError
from rayedit.config.job import JobSpec
from rayedit.config.sections import FilterRule, StorageSpec


def _section_models(annotation) -> list[type[BaseModel]]:
    """The spec classes a field's annotation can hold (one, or the alternatives of a union such as ``editor``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [a for arg in getattr(annotation, "__args__", ()) for a in _section_models(arg)]


def fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    """The field names valid at an error location's parent (for 'did you mean'); [] where it cannot be told."""
    models = [model]
    for part in loc:
        if isinstance(part, int):
            continue
        nxt = []
        for m in models:
            if part in m.model_fields:
                nxt += _section_models(m.model_fields[part].annotation)
            else:  # a union's tag (e.g. the editor kind) names the alternative
                nxt += [m] if getattr(m.model_fields.get("kind"), "default", None) == part else []
        models = nxt
        if not models:
            return []
    return sorted({f for m in models for f in m.model_fields})


def _format_validation_error(err: ValidationError, source: str, model: type[BaseModel] | None = None) -> str:
    lines = [f"invalid job spec {source}:"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "<root>"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown field"
            known = fields_at(model, e["loc"][:-1]) if model is not None else []
            close = difflib.get_close_matches(str(e["loc"][-1]), known, n=1, cutoff=0.5)
            if close:
                msg += f" - did you mean {close[0]!r}?"
        elif e["type"] == "missing":
            msg = "required field is missing"
        lines.append(f"  {loc}: {msg}")
    return "\n".join(lines)


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides (value parsed as YAML) to a raw spec dict."""
    for item in overrides:
        if "=" not in item:
            raise SpecError(f"override {item!r} must look like a.b.c=value")
        path, raw = item.split("=", 1)
        node = data
        parts = path.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise SpecError(f"override {item!r}: {p!r} is not a section")
        node[parts[-1]] = yaml.safe_load(raw)
    return data


def parse_spec(data: Any, source: str = "<dict>", kind: type[BaseModel] | None = None) -> JobSpec:
    """Validate a raw mapping into a JobSpec (or ``kind``), raising SpecError with one readable message."""
    if not isinstance(data, dict):
        raise SpecError(f"invalid job spec {source}: expected a mapping at the top level")
    try:
        return (kind or JobSpec).model_validate(data)
    except ValidationError as err:
        raise SpecError(_format_validation_error(err, source, kind or JobSpec)) from None


def credential_fields(spec: BaseModel, prefix: str = "") -> list[str]:
    """Dotted paths of every storage section in ``spec`` that holds a key or secret (such a spec must not be sent
    to a cluster or written into a manifest: credentials come from the cluster's environment)."""
    found = []
    for name in type(spec).model_fields:
        value, path = getattr(spec, name), f"{prefix}{name}"
        if isinstance(value, StorageSpec):
            if value.key is not None or value.secret is not None:
                found.append(path)
        elif isinstance(value, BaseModel):
            found += credential_fields(value, path + ".")
    return found


def read_spec_file(path: str | Path):
    """The parsed YAML of a local spec file (not validated yet); a missing file or bad YAML is a SpecError."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"job spec not found: {path}")
    try:
        return yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise SpecError(f"job spec {path} is not valid YAML: {err}") from None


def load_spec(path: str | Path, overrides: list[str] | None = None, kind: type[BaseModel] | None = None,
              data=None):
    """Load and validate a YAML spec (a JobSpec, or ``kind``) from a local file (``data``: its already parsed
    YAML, so the caller that looked inside it does not read it twice)."""
    data = read_spec_file(path) if data is None else data
    if overrides:
        data = apply_overrides(data, overrides)
    return parse_spec(data, str(path), kind)


def spec_reference(model: type[BaseModel] = None, prefix: str = "", defaults: BaseModel | None = None) -> list[str]:
    """Every spec field as 'path (type, default): description', from the models' own docstrings. ``defaults``: the
    section's default value when its parent sets one (e.g. a generate job's model is toy-text-ddpm)."""
    model = model or JobSpec
    lines = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        ann = field.annotation
        sub = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
        if sub is None:
            args = [a for a in getattr(ann, "__args__", ()) if isinstance(a, type) and issubclass(a, BaseModel)]
            if len(args) > 1:  # a choice of sections (editor kinds): document each one
                for alt in args:
                    kind = alt.model_fields["kind"].default
                    lines.append(f"{path} (kind: {kind}): {alt.__doc__.strip().splitlines()[0]}")
                    lines.extend(spec_reference(alt, f"{path}.")[1:])
                continue
            sub = args[0] if args else None
        if sub is not None and sub is not FilterRule:
            doc = (field.description or sub.__doc__ or "").strip().splitlines()[0]
            lines.append(f"{path}: {doc}")
            section = getattr(defaults, name, None) if defaults is not None else (
                None if field.is_required() else field.get_default(call_default_factory=True))
            lines.extend(spec_reference(sub, path + ".", section if isinstance(section, sub) else None))
            continue
        if defaults is not None:
            default = repr(getattr(defaults, name))
        else:
            default = "required" if field.is_required() else repr(field.get_default(call_default_factory=True))
        tname = str(ann).replace("typing.", "").replace("<class '", "").replace("'>", "")
        tname = re.sub(r"rayedit\.config\.(\w+\.)?", "", tname)
        desc = " ".join((field.description or "").split())
        lines.append(f"{path} ({tname}, default {default}): {desc}".rstrip(": "))
        if name == "filters":
            lines.extend(spec_reference(FilterRule, "filters[].")[0:3])
    return lines
