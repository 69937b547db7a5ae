"""Training specs: Asyrp directions (``rayedit train asyrp``), DDS translators and SDD editors (``rayedit train
dds|sdd``), HQS timestep selection (``rayedit select-timesteps``)."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from rayedit.config.base import StrictSpec
from rayedit.config.sections import ClipSpec, InputSpec, LpipsSpec, ModelSpec, StageResources


class TrainResources(StrictSpec):
    """Where a training run executes: one Ray task with these resources."""

    num_gpus: float = Field(0.0, ge=0.0)
    """GPUs for the training task (the model and f_t go to cuda when > 0)."""
    num_cpus: float = Field(1.0, gt=0.0)
    """CPUs for the training task."""


class SquareImagesSpec(StrictSpec):
    """A spec whose inputs are read at one image size: ``resize: keep_aspect`` (per-image sizes) is refused."""

    @model_validator(mode="after")
    def _one_size(self):
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, InputSpec) and value.resize == "keep_aspect":
                raise ValueError(f"{name}.resize: keep_aspect is for edit jobs (training and timestep selection read "
                                 "one image size); use center_crop or fit")
        return self


class AsyrpTrainSpec(SquareImagesSpec):
    """``rayedit train asyrp``: learn one h-space direction f_t from a source and a target caption (Asyrp Alg. 2)."""

    name: str = "asyrp-direction"
    """Name recorded with the direction."""
    source: str | list[str]
    """Source caption, or a list (prompt ensemble: e.g. 'a red circle', 'a red square' -> the shape drops out)."""
    target: str | list[str]
    """Target caption(s), paired with ``source`` (same length when both are lists)."""
    model: ModelSpec = Field(default_factory=ModelSpec)
    """The frozen pixel-space diffusion model: a UNet2DModel, or a UNet2DConditionModel run on the empty prompt."""
    clip: ClipSpec = Field(default_factory=ClipSpec)
    """CLIP for the directional loss."""
    images: InputSpec | None = None
    """Training images (any input the pipeline reads); null: generate them from random noise (the paper's
    'from random noise' mode)."""
    target_images: InputSpec | None = None
    """Optional images that already show the target: f_t also learns the way back on them (dh = -f_t(h) towards
    the source captions), so a negative strength reverses the edit. Our addition to Asyrp; doubles training."""
    paired_targets: InputSpec | None = None
    """Optional: the training images already edited, under the same keys (e.g. the output shards of a DDS job, or
    `rayedit toy generate --recolour`). f_t then learns by regression instead of CLIP: the edited P_t should be the
    source's P_t plus (target - source), measured in epsilon space. Our addition to Asyrp; needs ``images``."""
    paired_change_threshold: float | None = Field(None, ge=0.0, lt=1.0)
    """With ``paired_targets``: pixels whose largest channel changes by at most this share of 0..255 are taken from
    the source (the edited region grown by 1 px is kept), so an editor's faint global tint or re-rendered noise is not
    learned as part of the edit; e.g. 0.2. null: the whole difference."""
    paired_project_t: int | None = Field(None, ge=1, le=999)
    """With ``paired_targets``: before anything else, project each target onto the model's own images (SDEdit: noise
    it to this t with the noise of its source's DDIM inversion, and denoise with the model), so shades or halos the
    model never draws are replaced by its own while what the edit left alone stays; e.g. 300. null: the targets as
    given."""
    paired_validation: int = Field(0, ge=0)
    """With ``paired_targets``: hold the last N of the pairs read out of training; afterwards their sources are
    edited at strengths 0.5 .. 1.2 and the strength whose edits land closest to their targets (mean squared error)
    is saved as the direction's default strength (a job's ``strength: null``). 0: no validation, default 1. The
    last pairs in reading order are held out: an input sorted by class gives a biased hold-out."""
    paired_reverse: bool = False
    """With ``paired_targets``: the pairs also teach the way back (from each target, dh = -f_t(h) should reach its
    source), so a negative strength undoes the edit. Doubles training."""
    max_images: int = Field(100, ge=1)
    """How many training images: the first N read, or N generated from noise (and N of ``target_images``)."""
    steps: int = Field(40, ge=2, le=1000)
    """S, DDIM steps for inversion and training (Asyrp default 40)."""
    spacing: Literal["auto", "linspace", "leading", "trailing"] = "auto"
    """Timestep grid (see ddim.spacing)."""
    t_edit: int | None = Field(None, ge=0, le=999)
    """Last timestep that gets dh; null: from LPIPS curves (LPIPS(x, P_t) reaches 0.33 - delta)."""
    t_max: int | None = Field(None, ge=0, le=999)
    """First timestep that gets dh; null: T (the paper's [T, t_edit]). A narrow window such as [500, 600] keeps the
    layout that the early steps fix (our addition; measure with `python -m research asyrp-ceiling --t-max`)."""
    t_boost: int | None = Field(None, ge=0, le=999)
    """Start of quality boosting; null: from LPIPS curves (LPIPS(x, x_t) reaches 1.2)."""
    lpips: LpipsSpec = Field(default_factory=LpipsSpec)
    """LPIPS for the interval curves (only used when t_edit or t_boost is null)."""
    curve_images: int = Field(16, ge=1)
    """Images averaged in the LPIPS curves."""
    lambda_clip: float = Field(1.0, ge=0.0)
    """Weight of the directional CLIP loss (paper: 0.8-2)."""
    lambda_recon: float | None = Field(None, ge=0.0)
    """Weight of |P_t^edit - P_t^source|_1; null: 3 * cos(E_T(source), E_T(target)) as in the authors' code."""
    lr: float = Field(0.5, gt=0.0)
    """Learning rate (official: SGD 0.5)."""
    optimizer: Literal["sgd", "adam"] = "sgd"
    """Optimizer for f_t."""
    lr_schedule: Literal["constant", "cosine"] = "constant"
    """``constant`` (the authors'), or ``cosine``: decay to 0 over all optimizer steps (one per batch and timestep)."""
    epochs: int = Field(1, ge=1)
    """Passes over the training images (the first in order, later ones shuffled)."""
    batch_size: int = Field(4, ge=1)
    """Images per optimisation trajectory."""
    zero_init: bool = False
    """Start f_t at dh = 0 (default: PyTorch's init, as the authors' code, where dh starts as random noise)."""
    arch: Literal["paper", "seeing"] = "paper"
    """f_t's architecture: ``paper`` (1x1 conv block on h, the authors') or ``seeing`` (our addition: two 3x3 conv
    layers on h that also see the noisy input x_t through a small strided-conv encoder)."""
    h_space: str = Field("mid_block", pattern=r"^(mid_block|up_blocks\.\d+)$")
    """The U-Net layer whose output h gets dh: ``mid_block`` (the bottleneck: Asyrp's h-space, the paper's), or
    ``up_blocks.K``, the output of decoder block K (our addition). On toy-sd's latent U-Net the bottleneck (4x4)
    cannot make a one-object recolour even with a free dh per image, while ``up_blocks.1`` (16x16) can (`python -m
    research asyrp-ceiling --where`); K past the U-Net's last block is refused when training starts."""
    output: str
    """Folder (any fsspec URL) for direction.safetensors + direction.json."""
    resources: TrainResources = Field(default_factory=TrainResources)
    """Scheduling of the training task."""
    seed: int = 0
    """Seed for f_t's initialisation and noise-mode images."""

    @model_validator(mode="after")
    def _pairs(self):
        if isinstance(self.source, list) and isinstance(self.target, list) and len(self.source) != len(self.target):
            raise ValueError(f"source has {len(self.source)} captions but target has {len(self.target)}")
        if self.paired_targets is not None and (self.images is None or self.target_images is not None):
            raise ValueError("paired_targets needs images (the sources they pair with) and excludes target_images")
        if self.paired_change_threshold is not None and self.paired_targets is None:
            raise ValueError("paired_change_threshold needs paired_targets (it masks their difference to the source)")
        if self.paired_project_t is not None and self.paired_targets is None:
            raise ValueError("paired_project_t needs paired_targets (the images it projects)")
        if self.paired_validation and self.paired_targets is None:
            raise ValueError("paired_validation needs paired_targets (the pairs it holds out)")
        if self.paired_validation and self.paired_validation >= self.max_images:
            raise ValueError(f"paired_validation ({self.paired_validation}) must leave training pairs: it has to be "
                             f"below max_images ({self.max_images})")
        if self.paired_reverse and self.paired_targets is None:
            raise ValueError("paired_reverse needs paired_targets (the pairs it reverses)")
        if self.t_max is not None and self.t_edit is not None and self.t_max < self.t_edit:
            raise ValueError(f"t_max ({self.t_max}) is below t_edit ({self.t_edit}): no timestep would get dh")
        return self


class GuidanceWarmup(StrictSpec):
    """Classifier-free guidance scale over training: a linear ramp (the paper: without it, mode collapse)."""

    start: float = Field(1.5, ge=1.0)
    """Scale at step 0 (diffusers convention s = 1 + w)."""
    end: float = Field(7.5, ge=1.0)
    """Scale after the ramp."""
    steps: int = Field(500, ge=0)
    """Length of the ramp in optimizer steps (0: ``end`` from the start - the ablation)."""


class IdentitySchedule(StrictSpec):
    """lambda_ID over training: cosine decay from ``start`` to ``end`` over ``steps`` (all steps by default), then
    ``end``."""

    start: float = Field(1.0, ge=0.0)
    """Weight of |g(z^|k) - z^|^2 at step 0."""
    end: float = Field(0.1, ge=0.0)
    """Weight at the end of the decay and after it."""
    steps: int | None = Field(None, ge=1)
    """Length of the decay in optimizer steps (None: the whole training run)."""
    norm: Literal["l2", "l1"] = "l2"
    """``l2``: |g(z^|k) - z^|^2 (the paper); ``l1``: |g(z^|k) - z^|_1, which holds every pixel whose DDS gradient is
    weaker than lambda_ID exactly at the source - a sparse edit, so no faint halo of the new colour."""


class TrainWorkers(StrictSpec):
    """Ray Train data-parallel workers (TorchTrainer): one model replica each, gradients all-reduced."""

    workers: int = Field(1, ge=1)
    """Number of training workers."""
    num_gpus: float = Field(0.0, ge=0.0)
    """GPUs per worker (0: CPU workers)."""
    num_cpus: float = Field(1.0, gt=0.0)
    """CPUs per worker."""


class DDSTrainSpec(SquareImagesSpec):
    """``rayedit train dds``: a multi-task translator g(z^ | k) trained without pairs (DDS paper section 4)."""

    name: str = "dds-translator"
    """Run name: checkpoints live under ``output``/checkpoints/``name`` and a rerun resumes from them."""
    model: ModelSpec = Field(default_factory=lambda: ModelSpec(name="toy-text-ddpm"))
    """The frozen text-conditioned diffusion model that scores the translations."""
    images: InputSpec
    """Source images (any input the pipeline reads)."""
    max_images: int | None = Field(None, ge=1)
    """Use only the first this many images (default: all)."""
    source: str
    """Source caption y_src (e.g. 'a photo of a cat')."""
    targets: list[str] = Field(min_length=1)
    """Target captions y_k, one task each (e.g. ['a photo of a lion', 'a photo of a tiger'])."""
    replace: list[dict[str, str]] | None = None
    """Per-image captions, one word map per target: task k's DDS pair is (the image's own caption, that caption
    with ``replace[k]`` applied), e.g. [{red: blue}, {red: green}]; ``source`` and ``targets`` then only name the
    tasks and initialise their embeddings. Images without a caption fall back to ``source`` / ``targets``."""
    loss: Literal["dds", "sds"] = "dds"
    """``sds`` swaps the DDS gradient for SDS (the paper's ablation)."""
    init: Literal["small", "model"] = "small"
    """``model``: the translator starts as a copy of the diffusion U-Net (the paper); ``small``: a fresh small one."""
    widths: list[int] = Field(default_factory=lambda: [32, 64, 64], min_length=2)
    """Channel widths of the small translator's U-Net levels."""
    steps: int = Field(2000, ge=1)
    """Optimizer steps."""
    batch_size: int = Field(8, ge=1)
    """Images per step per worker."""
    lr: float = Field(1e-4, gt=0.0)
    """AdamW learning rate."""
    guidance: GuidanceWarmup = Field(default_factory=GuidanceWarmup)
    """CFG warm-up."""
    identity: IdentitySchedule = Field(default_factory=IdentitySchedule)
    """lambda_ID schedule."""
    t_min: int = Field(50, ge=1, le=999)
    """Smallest timestep sampled for the DDS gradient."""
    t_max: int = Field(950, ge=2, le=1000)
    """One past the largest timestep sampled."""
    hqs: str | None = None
    """hqs.json from ``rayedit select-timesteps``: draw t from its selected set instead of U{t_min..t_max-1}."""
    hqs_threshold: float | None = Field(None, ge=0.0, le=1.0)
    """Re-select from that curve with this xi (HQS_t > xi) instead of the file's own selection."""
    checkpoint_every: int = Field(200, ge=1)
    """Steps between checkpoints (and logged metrics)."""
    sample_every: int = Field(500, ge=0)
    """Steps between sample grids (PNG under ``output``/samples; 0: none)."""
    output: str
    """Folder (local path or fsspec URL) for translator.safetensors + translator.json, checkpoints and samples."""
    resources: TrainWorkers = Field(default_factory=TrainWorkers)
    """Ray Train workers."""
    seed: int = 0
    """Seed for the translator's initialisation, task and timestep sampling."""

    @model_validator(mode="after")
    def _ranges(self):
        if self.t_min >= self.t_max:
            raise ValueError(f"t_min ({self.t_min}) must be below t_max ({self.t_max})")
        if len(set(self.targets)) != len(self.targets):
            raise ValueError("targets: captions must be distinct (one task each)")
        if self.replace is not None and len(self.replace) != len(self.targets):
            raise ValueError(f"replace: one word map per target ({len(self.targets)}), got {len(self.replace)}")
        return self


class HQSSelectSpec(SquareImagesSpec):
    """``rayedit select-timesteps``: which timesteps carry the edit - HQS_t over sample images (SDD;
    docs/algorithms.md)."""

    name: str = "hqs-selection"
    """Name recorded in the artifact."""
    model: ModelSpec = Field(default_factory=lambda: ModelSpec(name="toy-text-ddpm"))
    """Text-conditioned diffusion model whose guidance is scored."""
    images: InputSpec
    """Sample images (any input the pipeline reads)."""
    max_images: int | None = Field(None, ge=1)
    """Use only the first this many images (default: all)."""
    target: str
    """Target caption y of the guidance."""
    source: str | None = None
    """Source caption: the gradient becomes DDS (target vs source) instead of SDS."""
    replace: dict[str, str] | None = None
    """Per-image captions: each image's target is its own caption with these words replaced (e.g. {red: blue}),
    and with ``source`` set its DDS source is its own caption; ``target`` and ``source`` then only name the edit
    (and ``source`` null still means SDS). Images whose caption has none of the words are left out."""
    guidance_scale: float = Field(7.5, ge=1.0)
    """Classifier-free guidance scale (diffusers convention s = 1 + w)."""
    timesteps: list[int] = Field(default_factory=lambda: list(range(50, 951, 50)), min_length=2)
    """Candidate timesteps (default 50..950 step 50)."""
    noise_samples: int = Field(1, ge=1)
    """Noise draws per image and timestep (averaged)."""
    threshold: float | None = Field(None, ge=0.0, le=1.0)
    """xi: select {t : HQS_t > xi}; null selects the argmax."""
    output: str
    """Folder (any fsspec URL) for hqs.json and hqs.png."""
    resources: StageResources = Field(default_factory=lambda: StageResources(batch_size=8))
    """Actor pool that computes the gradients (``num_gpus`` per actor on GPU clusters)."""
    seed: int = 0
    """Seed of the per-image noise (derived from the sample key: the same result on any number of actors)."""

    @field_validator("timesteps")
    @classmethod
    def _timesteps_ok(cls, v: list[int]) -> list[int]:
        if any(not 0 <= t <= 999 for t in v) or len(set(v)) != len(v):
            raise ValueError("timesteps must be distinct integers in 0..999")
        return sorted(v)
