"""The edit job's spec (``rayedit run``)."""

from __future__ import annotations

from pydantic import (
    Field,
    model_validator,
)

from rayedit.config.base import JobName, StrictSpec
from rayedit.config.editors import EditorSpec, ReconstructSpec
from rayedit.config.sections import (
    DDIMSpec,
    DedupSpec,
    FilterRule,
    InputSpec,
    ModelSpec,
    OutputSpec,
    ScoreResources,
    ScoreSpec,
    StageResources,
)


class ResourcesSpec(StrictSpec):
    """Per-stage scheduling knobs."""

    edit: StageResources = Field(default_factory=StageResources)
    """The edit stage (DDIM / editors) actor pool."""
    score: ScoreResources = Field(default_factory=ScoreResources)
    """The score stage (CLIP, LPIPS) actor pool."""
    io_batch_size: int = Field(64, ge=1)
    """Batch size of the light CPU stages (decode, filter, write)."""
    stall_minutes: float = Field(30.0, ge=0.0)
    """A job with no progress (no batch edited, written or committed) for this long fails (exit 1) instead of
    hanging - e.g. an actor pool waiting forever for a lost node's resources; 0: wait forever."""


class JobSpec(StrictSpec):
    """A whole edit job."""

    name: JobName = "rayedit-job"
    """Job name (letters, digits, '_', '.', '-')."""
    input: InputSpec
    """Where the source images are."""
    model: ModelSpec = Field(default_factory=ModelSpec)
    """The diffusion model."""
    ddim: DDIMSpec = Field(default_factory=DDIMSpec)
    """DDIM inversion and generation settings."""
    editor: EditorSpec = Field(default_factory=ReconstructSpec, discriminator="kind")
    """What the edit stage does: ``kind: reconstruct`` (default), ``kind: asyrp`` with trained directions, or
    ``kind: dds`` (zero-shot Delta Denoising Score with a text-conditioned model), or ``kind: translator`` (a
    trained DDS translator)."""
    score: ScoreSpec = Field(default_factory=ScoreSpec)
    """Which scores to compute."""
    filters: list[FilterRule] = Field(default_factory=list)
    """Thresholds on scores; a sample failing one is recorded as filtered with the reason."""
    dedup: DedupSpec | None = None
    """Near-duplicate filter on the results (needs ``score.clip``); null: off."""
    output: OutputSpec
    """Where results go."""
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec)
    """Scheduling of each stage."""
    seed: int = 0
    """Seed for anything random (eta > 0 noise, random-weight presets)."""

    @model_validator(mode="after")
    def _dedup_needs_clip(self):
        if self.dedup is not None and self.score.clip is None:
            raise ValueError("dedup compares CLIP image embeddings; set score.clip")
        return self

    @model_validator(mode="after")
    def _pairs_need_an_edit(self):
        if self.output.paired and self.editor.kind == "none":
            raise ValueError("output.paired writes before/after pairs of an edit; a score-only job (editor kind "
                             "none) has no after")
        return self
