"""What a trained artifact (a DDS translator, an Asyrp direction) says about itself - its JSON, read without torch
(the driver checks a job's artifacts with this before any work; the workers load the weights)."""

from __future__ import annotations

from rayedit.storage.artifacts import read_meta

TRANSLATOR_META = "translator.json"
DIRECTION_META = "direction.json"


def read_translator_meta(url: str) -> dict:
    """The JSON of a translator saved by ``rayedit train dds`` (tasks, model, training settings)."""
    return read_meta(url, TRANSLATOR_META, "DDS translator", "rayedit train dds")


def read_direction_meta(url: str) -> dict:
    """The JSON of a direction saved by ``rayedit train asyrp`` (how it was made: model, steps, t_edit, ...)."""
    return read_meta(url, DIRECTION_META, "Asyrp direction", "rayedit train asyrp")


def task_index(targets: list[str], task: str | int) -> int:
    """The index of ``task`` (a trained target caption or an index) among ``targets``, or a clear error."""
    if isinstance(task, int):
        if not 0 <= task < len(targets):
            raise ValueError(f"task {task} out of range: the translator has {len(targets)} tasks {targets}")
        return task
    if task not in targets:
        raise ValueError(f"task {task!r} is not one of the translator's target captions {targets}")
    return targets.index(task)


def default_strength(given: float | None, meta: dict) -> float:
    """A job's strength for a direction: as given, else the one validated in training, else 1."""
    if given is not None:
        return given
    return meta["strength"] if meta.get("strength") is not None else 1.0
