"""Spec basics: the error type, the strict base class, job names."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
)


class SpecError(ValueError):
    """A job spec that cannot be run; the message names the field or URL at fault."""


def check_job_name(v: str) -> str:
    """A job name usable in URLs, file names and Kubernetes labels."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", v):
        raise ValueError("name must be 1-63 chars of letters, digits, '_', '.', '-'")
    return v


JobName = Annotated[str, AfterValidator(check_job_name)]
"""1-63 letters, digits, '_', '.', '-' (usable in URLs, file names and Kubernetes labels)."""


class StrictSpec(BaseModel):
    """Base of every spec section: unknown fields are errors, values are frozen, docstrings document fields."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)
