"""The spec of ``rayedit generate``: prompts in, generated images (WebDataset shards + manifest) out."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import (
    Field,
    model_validator,
)

from rayedit.config.base import JobName, StrictSpec
from rayedit.config.sections import (
    ClipSpec,
    DedupSpec,
    FilterRule,
    ModelSpec,
    OutputSpec,
    ScoreResources,
    StageResources,
    StorageSpec,
)

_SLOT = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def template_slots(template: str) -> list[str]:
    """Slot names of a template, in order of first appearance ('a {colour} {shape}' -> ['colour', 'shape'])."""
    return list(dict.fromkeys(_SLOT.findall(template)))


class PromptSource(StrictSpec):
    """Where the prompts come from: exactly one of ``texts``, ``url`` or ``templates``."""

    texts: list[str] | None = None
    """The prompts themselves."""
    url: str | None = None
    """A prompt file, any fsspec URL: .txt (one per line, blank lines skipped), .jsonl (field ``field``) or
    .parquet (column ``field``)."""
    field: str = "prompt"
    """Field (jsonl) or column (parquet) holding the prompt."""
    templates: list[str] | None = None
    """Templates with ``{slot}`` placeholders, each expanded over the product of its slots' values."""
    slots: dict[str, list[str]] = Field(default_factory=dict)
    """Values of each slot, e.g. ``{colour: [red, blue], shape: [circle, square]}``."""
    storage: StorageSpec = Field(default_factory=StorageSpec)
    """Object-store settings for ``url``."""

    @model_validator(mode="after")
    def _one_source(self):
        given = [n for n in ("texts", "url", "templates") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of texts, url, templates (got {given or 'none'})")
        if self.texts is not None and not self.texts:
            raise ValueError("texts is empty")
        if self.templates is not None:
            if not self.templates:
                raise ValueError("templates is empty")
            used = {s for t in self.templates for s in template_slots(t)}
            missing, unused = sorted(used - set(self.slots)), sorted(set(self.slots) - used)
            if missing:
                raise ValueError(f"templates use slots without values: {missing}")
            if unused:
                raise ValueError(f"slots not used by any template: {unused}")
            empty = sorted(k for k, v in self.slots.items() if not v)
            if empty:
                raise ValueError(f"slots without values: {empty}")
        elif self.slots:
            raise ValueError("slots are only used with templates")
        return self


class SamplingSpec(StrictSpec):
    """How each image is sampled: DDIM from seeded noise with classifier-free guidance."""

    steps: int = Field(50, ge=1, le=1000)
    """DDIM steps."""
    guidance_scale: float = Field(7.5, ge=0.0)
    """Classifier-free guidance, diffusers convention eps_u + s (eps_c - eps_u); 1 disables guidance."""
    negative_prompt: str = ""
    """Prompt of the unconditional branch ('' is the usual unconditional prompt)."""
    eta: float = Field(0.0, ge=0.0, le=1.0)
    """DDIM stochasticity; 0 is deterministic given the seed. With eta > 0 the step noise is drawn from each
    sample's own seed too."""
    spacing: Literal["auto", "linspace", "leading", "trailing"] = "auto"
    """Timestep grid (as ``ddim.spacing`` of edit jobs)."""


class GenerateResources(StrictSpec):
    """Scheduling of the generate job's stages."""

    generate: StageResources = Field(default_factory=StageResources)
    """The sampling actor pool; ``batch_size`` images per model call (fixed per sample index, so results do not
    depend on the number of actors)."""
    score: ScoreResources = Field(default_factory=ScoreResources)
    """The CLIP scoring actor pool."""
    io_batch_size: int = Field(64, ge=1)
    """Batch size of the light CPU stages (filter, write)."""
    stall_minutes: float = Field(30.0, ge=0.0)
    """A job with no progress for this long fails (exit 1) instead of hanging; 0: wait forever."""


class GenerateSpec(StrictSpec):
    """``rayedit generate``: sample images from prompts with a text-conditioned model."""

    name: JobName = "rayedit-generate"
    """Job name; output shards are NAME-00000.tar, NAME-00001.tar, ..."""
    prompts: PromptSource
    """The prompts."""
    images_per_prompt: int = Field(1, ge=1)
    """Images sampled per prompt (each with its own seed)."""
    model: ModelSpec = Field(default_factory=lambda: ModelSpec(name="toy-text-ddpm"))
    """Text-conditioned diffusion model (Stable Diffusion layout, or the toy preset)."""
    sampling: SamplingSpec = Field(default_factory=SamplingSpec)
    """DDIM sampling settings."""
    clip: ClipSpec | None = Field(default_factory=ClipSpec)
    """CLIP model for ``clip_score`` = cos(image, prompt) (and the dedup embeddings); null to skip."""
    filters: list[FilterRule] = Field(default_factory=list)
    """Thresholds on scores (``clip_score``)."""
    dedup: DedupSpec | None = None
    """Near-duplicate filter (needs ``clip``); null: off."""
    samples_per_shard: int = Field(1000, ge=1)
    """Samples per output shard (the unit of commit and resume)."""
    output: OutputSpec
    """Where the shards and the manifest go."""
    resources: GenerateResources = Field(default_factory=GenerateResources)
    """Scheduling of each stage."""
    seed: int = 0
    """Root of every sample's seed: sample KEY gets a seed derived from (seed, KEY) alone."""

    @model_validator(mode="after")
    def _consistent(self):
        if self.dedup is not None and self.clip is None:
            raise ValueError("dedup compares CLIP image embeddings; set clip")
        if self.output.paired:
            raise ValueError("output.paired writes before/after pairs of edit jobs; generated images have no source")
        for rule in self.filters:
            if rule.score != "clip_score":
                raise ValueError(f"filters: a generate job computes only clip_score, not {rule.score!r}")
            if self.clip is None:
                raise ValueError("filters on clip_score need clip")
        return self
