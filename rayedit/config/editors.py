"""The ``editor:`` section of an edit job: one spec per editor kind."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import (
    Field,
    model_validator,
)

from rayedit.config.base import StrictSpec


class ReconstructSpec(StrictSpec):
    """The identity edit: DDIM inversion, then regeneration with ``ddim`` (eta, guidance, prompt). The baseline."""

    kind: Literal["reconstruct"] = "reconstruct"
    """Editor kind."""
    ddim_fields: ClassVar[tuple[str, ...]] = ("steps", "spacing", "eta", "guidance_scale", "prompt")
    """The ``ddim`` fields this editor reads (all of them)."""


class DirectionUse(StrictSpec):
    """One trained Asyrp direction and how strongly to apply it."""

    url: str
    """Folder written by ``rayedit train asyrp`` (direction.json + direction.safetensors); any fsspec URL."""
    strength: float | None = None
    """c_i in dh = sum_i c_i f^i_t(h); 0.5 is a half edit, negative reverses it. null: the strength the direction
    was validated at (``paired_validation`` in training), else 1.0."""


class AsyrpSpec(StrictSpec):
    """Apply trained Asyrp directions: DDIM inversion with ``ddim.steps``, then the asymmetric reverse process
    (Asyrp Algorithm 1): dh on [T, t_edit], plain DDIM on [t_edit, t_boost], eta = 1 on [t_boost, 0]."""

    kind: Literal["asyrp"] = "asyrp"
    """Editor kind."""
    ddim_fields: ClassVar[tuple[str, ...]] = ("steps", "spacing")
    """The ``ddim`` fields this editor reads: the grid (eta is 0, then 1 below t_boost with ``boost``)."""
    directions: list[DirectionUse] = Field(min_length=1)
    """Directions to combine (dh = sum_i c_i f^i_t(h), scaled by S_train / S_gen when ddim.steps differs)."""
    t_edit: int | None = Field(None, ge=0, le=999)
    """Last timestep that gets dh, for every direction; default: each direction's own [t_edit, t_max] (from its LPIPS
    curves or training spec), so combined directions each edit where they were trained."""
    t_boost: int | None = Field(None, ge=0, le=999)
    """Below this timestep sampling is stochastic (eta = 1); default: the first direction's."""
    boost: bool = True
    """Quality boosting on [t_boost, 0]; false keeps eta = 0 there (fully deterministic edits)."""
    mode: Literal["per_image", "mean", "global"] = "per_image"
    """``per_image``: dh = f_t(h) for each image (Asyrp); ``mean``: each direction's dh averaged over its training
    images, per timestep; ``global``: that average over the editing timesteps too - the same shift for every image
    (Asyrp Sec. 5; needs directions trained by this version, which saves the averages)."""


class ScoreDistillationSpec(StrictSpec):
    """Zero-shot score distillation edit of each image by a text-conditioned model: Delta Denoising Score (DDS
    paper Eq. 3; defaults from the authors' notebook) or plain SDS for comparison. The image (latent for latent
    models) starts at the source and takes ``steps`` SGD steps along the guidance gradient."""

    kind: Literal["dds"] = "dds"
    """Editor kind."""
    ddim_fields: ClassVar[tuple[str, ...]] = ()
    """The ``ddim`` fields this editor reads: none (its own steps and guidance are in this section)."""
    target_caption: str | None = None
    """Caption every image is pushed towards (e.g. 'a photo of a lion'). Give this or ``replace``."""
    replace: dict[str, str] | None = None
    """Word replacements turning each source caption into its target (e.g. {red: blue}); whole words only."""
    source_caption: str | None = None
    """Caption of the source images for every sample; default: each sample's own caption."""
    loss: Literal["dds", "sds"] = "dds"
    """``dds``: eps^w(z_t, y_tgt) - eps^w(z^_t, y_src) (shared noise and t); ``sds``: eps^w(z_t, y_tgt) - eps
    (blurs and loses detail, per the DDS paper - kept for side-by-side measurements)."""
    guidance_scale: float = Field(7.5, ge=1.0)
    """Classifier-free guidance in both branches, diffusers convention s = 1 + w (the notebook: 7.5)."""
    steps: int = Field(200, ge=1, le=10000)
    """Optimisation steps per image (one U-Net call for all four predictions each)."""
    lr: float = Field(0.1, gt=0.0)
    """SGD learning rate on loss * 2000 / 4096 (the authors' notebook's loss * 2000 / (H * W) at SD 1.5's 64 x 64
    latents), whatever the size: each step moves every element by lr * 0.49 * the gradient on any model."""
    t_min: int = Field(50, ge=1, le=999)
    """Smallest timestep sampled (t ~ U{t_min .. t_max - 1} each step, per image)."""
    t_max: int = Field(950, ge=2, le=1000)
    """One past the largest timestep sampled."""

    @model_validator(mode="after")
    def _one_target(self) -> ScoreDistillationSpec:
        if (self.target_caption is None) == (self.replace is None):
            raise ValueError("give exactly one of target_caption or replace")
        if self.replace is not None and not self.replace:
            raise ValueError("replace: give at least one word to replace")
        if self.t_min >= self.t_max:
            raise ValueError(f"t_min ({self.t_min}) must be below t_max ({self.t_max})")
        return self


class TranslatorSpec(StrictSpec):
    """Apply a trained DDS translator (``rayedit train dds``): one forward pass per image, z = g(z^ | task)."""

    kind: Literal["translator"] = "translator"
    """Editor kind."""
    ddim_fields: ClassVar[tuple[str, ...]] = ()
    """The ``ddim`` fields this editor reads: none (one forward pass)."""
    url: str
    """Folder written by ``rayedit train dds`` (translator.json + translator.safetensors); any fsspec URL."""
    task: str | int = 0
    """Which task: one of the translator's target captions, or its index."""


class ScoreOnlySpec(StrictSpec):
    """No edit: read, decode, score, filter, drop near-duplicates and reshard (curation). The written images are the
    input files' own bytes, unless ``output.image_format`` is set (then the decoded square, re-encoded)."""

    kind: Literal["none"] = "none"
    """Editor kind."""
    ddim_fields: ClassVar[tuple[str, ...]] = ()
    """The ``ddim`` fields this editor reads: none (no diffusion model is loaded)."""


EditorSpec = ReconstructSpec | AsyrpSpec | ScoreDistillationSpec | TranslatorSpec | ScoreOnlySpec
"""Every editor a job's ``editor`` section can name, told apart by ``kind``."""
