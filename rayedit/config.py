"""The typed job spec, loaded from YAML. Every bad field fails at load time with a message naming it.

A job spec has one section per concern: where images come from (``input``), which diffusion model
(``model``), how DDIM runs (``ddim``), how results are scored and filtered (``score``, ``filters``),
where they go (``output``), and how each stage is scheduled (``resources``). Scheduling knobs live in
``resources`` only, apart from the algorithm settings.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
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


class StorageSpec(StrictSpec):
    """Object-store settings for fsspec. Anything unset comes from the usual environment (AWS_* etc.)."""

    endpoint_url: str | None = None
    """S3-compatible endpoint, e.g. http://127.0.0.1:9000 (s3fs ``endpoint_url``)."""
    region: str | None = None
    """Region name for S3 clients."""
    key: SecretStr | None = None
    """Access key id. Never logged or written to outputs."""
    secret: SecretStr | None = None
    """Secret access key. Never logged or written to outputs."""
    anon: bool = False
    """Anonymous access (public buckets)."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Extra keyword arguments passed to the fsspec filesystem as they are."""

    def fsspec_options(self, protocol: str) -> dict[str, Any]:
        """Keyword arguments for ``fsspec.filesystem(protocol, ...)``."""
        opts: dict[str, Any] = dict(self.options)
        if protocol in ("s3", "s3a"):
            if self.endpoint_url:
                opts["endpoint_url"] = self.endpoint_url
            if self.key is not None:
                opts["key"] = self.key.get_secret_value()
            if self.secret is not None:
                opts["secret"] = self.secret.get_secret_value()
            if self.anon:
                opts["anon"] = True
            if self.region:
                opts.setdefault("client_kwargs", {})["region_name"] = self.region
        return opts


class InputSpec(StrictSpec):
    """Where the source images are."""

    url: str | list[str]
    """fsspec URL(s) with glob (``*``) and brace (``{000..099}``) patterns."""
    format: Literal["auto", "webdataset", "folder", "parquet"] = "auto"
    """``auto`` picks by extension: .tar -> webdataset, .parquet -> parquet, a directory -> folder."""
    caption_key: str = "caption"
    """Field holding the caption in a sample's .json (webdataset/folder) - a .txt member wins if present."""
    image_column: str = "image"
    """Parquet column with image bytes (binary, or a struct with a ``bytes`` field as HF datasets writes)."""
    caption_column: str | None = "caption"
    """Parquet column with the caption; null if there is none."""
    key_column: str | None = None
    """Parquet column with a sample key; default ``<file stem>-<row index>``."""
    files_per_shard: int = Field(1000, ge=1)
    """Image folders are cut into shards of this many files (sorted by path)."""
    storage: StorageSpec = Field(default_factory=StorageSpec)
    """Object-store settings for the input."""


class ModelSpec(StrictSpec):
    """The diffusion model: a hub id, a local ``save_pretrained`` folder, a toy preset with shipped weights
    (``toy-ddpm``, ``toy-text-ddpm``) or a random-weight preset (``tiny``, ``tiny-latent``)."""

    name: str = "tiny"
    """Hub id (google/ddpm-ema-celebahq-256), local folder, or preset: toy-ddpm / toy-text-ddpm (the toy world's
    trained models, shipped) or tiny (pixel) / tiny-latent (random weights, for tests)."""
    subfolder: str | None = None
    """Subfolder of a single-model checkpoint (e.g. ``unet``) when it is not at the root."""
    resolution: int | None = None
    """Image side in pixels; default from the model config (sample_size x VAE factor for latent models)."""
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    """``auto``: bfloat16 on GPUs that support it, else float16; float32 on CPU. DDIM math always runs in float32."""
    revision: str | None = None
    """Hub revision (branch, tag or commit)."""


class DDIMSpec(StrictSpec):
    """Deterministic DDIM inversion and reconstruction."""

    steps: int = Field(40, ge=1, le=1000)
    """S, the number of DDIM steps for inversion and for generation (Asyrp default 40)."""
    spacing: Literal["auto", "linspace", "leading", "trailing"] = "auto"
    """Timestep grid: Asyrp's floor(linspace(0,1,S)*999), or diffusers' leading/trailing spacing. ``auto``:
    linspace, unless the schedule's last alpha is ~0 (cosine / zero-terminal-SNR), where reaching t=999 makes
    P_t divide by ~0 and inversion falls apart; then leading."""
    eta: float = Field(0.0, ge=0.0, le=1.0)
    """Stochasticity of the reverse process; 0 is deterministic and reconstructs the source."""
    guidance_scale: float = Field(1.0, ge=0.0)
    """Classifier-free guidance for text-conditioned models, diffusers convention eps_u + s (eps_c - eps_u).
    1.0 (no guidance) keeps the inversion exact; larger values drift away from the source."""
    prompt: str | None = None
    """Caption used for conditioning; default: the sample's own caption (empty string if none)."""


class ReconstructSpec(StrictSpec):
    """The identity edit: DDIM inversion, then regeneration with ``ddim`` (eta, guidance, prompt). The baseline."""

    kind: Literal["reconstruct"] = "reconstruct"
    """Editor kind."""


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
    """SGD learning rate on loss * 2000 / (H * W) of the optimised tensor (the notebook's scaling)."""
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
    url: str
    """Folder written by ``rayedit train dds`` (translator.json + translator.safetensors); any fsspec URL."""
    task: str | int = 0
    """Which task: one of the translator's target captions, or its index."""


EditorSpec = ReconstructSpec | AsyrpSpec | ScoreDistillationSpec | TranslatorSpec
"""Every editor a job's ``editor`` section can name, told apart by ``kind``."""


class ClipSpec(StrictSpec):
    """The CLIP model for CLIP scores (open_clip)."""

    model: str = "tiny"
    """open_clip model name (e.g. ``ViT-B-16``), an open_clip folder or ``hf-hub:`` id (weights included),
    ``toy-clip`` (the toy world's trained CLIP) or ``tiny`` (random weights, for tests only)."""
    pretrained: str | None = None
    """open_clip pretrained tag (e.g. ``openai``) or a local checkpoint path (safetensors preferred)."""


class LpipsSpec(StrictSpec):
    """LPIPS fidelity to the source (the lpips package)."""

    net: Literal["alex", "vgg", "squeeze"] = "alex"
    """LPIPS backbone network."""
    random_backbone: bool = False
    """Random backbone + trained heads: works offline but is NOT a perceptual metric. The score is then
    named ``lpips_random_backbone`` so nobody mistakes it for LPIPS."""


class GuidanceResidualSpec(StrictSpec):
    """``guidance_residual``: mean |grad_SDS| of the edited image for the target caption at the edit's timesteps -
    how hard the diffusion model still pushes the result towards its caption (lower = the edit already matches)."""

    model: ModelSpec = Field(default_factory=lambda: ModelSpec(name="toy-text-ddpm"))
    """Text-conditioned diffusion model that judges the results."""
    timesteps: list[int] = Field(default_factory=lambda: [200, 400, 600], min_length=1)
    """Timesteps averaged over (e.g. the set ``rayedit select-timesteps`` selected)."""
    guidance_scale: float = Field(7.5, ge=1.0)
    """Classifier-free guidance scale of the gradient (diffusers convention)."""
    noise_samples: int = Field(2, ge=1)
    """Noise draws per timestep (seeded per sample key)."""


class ScoreSpec(StrictSpec):
    """Which scores to compute. All land in one ``scores`` mapping per sample."""

    clip: ClipSpec | None = Field(default_factory=ClipSpec)
    """CLIP model for clip_score / clip_direction; null to skip."""
    lpips: LpipsSpec | None = Field(default_factory=LpipsSpec)
    """LPIPS to the source; null to skip."""
    target_caption: str | None = None
    """Caption the edit aims at; CLIP score uses it (else the source caption), and with it the
    directional CLIP similarity ``clip_direction`` is computed."""
    replace: dict[str, str] | None = None
    """Per-sample target captions: each source caption with these words replaced (as the dds editor's
    ``replace``); used instead of ``target_caption`` when given."""
    guidance: GuidanceResidualSpec | None = None
    """Also score ``guidance_residual`` (needs target_caption or replace); null to skip."""

    @model_validator(mode="after")
    def _guidance_target(self):
        if self.guidance is not None and self.target_caption is None and self.replace is None:
            raise ValueError("guidance: the residual is measured against a target caption; set target_caption "
                             "or replace")
        return self


class FilterRule(StrictSpec):
    """Keep a sample only if ``min <= scores[score] <= max``."""

    score: str
    """Score name: clip_score, clip_direction, lpips (or lpips_random_backbone)."""
    min: float | None = None
    """Lowest value kept."""
    max: float | None = None
    """Highest value kept."""

    @model_validator(mode="after")
    def _has_bound(self) -> FilterRule:
        if self.min is None and self.max is None:
            raise ValueError(f"filter on {self.score!r} needs min or max")
        return self


class OutputSpec(StrictSpec):
    """Where results go: ``shards/*.tar`` and ``manifest.parquet`` under ``url``."""

    url: str
    """Output folder, any fsspec URL (local path, s3://bucket/prefix, ...)."""
    image_format: Literal["png", "jpg", "webp"] = "png"
    """Encoding of the edited images in the output shards."""
    quality: int = Field(95, ge=1, le=100)
    """JPEG/WebP quality."""
    storage: StorageSpec = Field(default_factory=StorageSpec)
    """Object-store settings for the output."""
    paired: bool = False
    """Also write each sample's source image (``KEY.source.FORMAT``) beside the edited one (``KEY.FORMAT``), with
    source and target captions in ``KEY.json``: before/after pairs for training instruction-following editors."""


class DedupSpec(StrictSpec):
    """Near-duplicate filter on CLIP image embeddings (the job's CLIP model): in each output shard, exactly, a
    sample whose cosine similarity to an earlier kept sample reaches ``threshold`` is filtered with the key it
    duplicates; then (``across_shards``) the same across shards."""

    threshold: float = Field(0.95, gt=0.0, le=1.0)
    """Cosine similarity of CLIP image embeddings at or above which two samples are duplicates."""
    across_shards: bool = True
    """After every shard is committed, also find duplicates in different shards (LSH buckets shuffled by Ray
    Data, exact cosine within a bucket; ~99% recall at the threshold) and rewrite the shards they are in."""


class StageResources(StrictSpec):
    """Scheduling of one stage: kept apart from its algorithm settings."""

    batch_size: int = Field(16, ge=1)
    """Images per model call."""
    actors: int = Field(1, ge=1)
    """Actor pool size for model stages (fixed size)."""
    num_gpus: float = Field(0.0, ge=0.0)
    """GPUs per actor (0 on CPU-only machines; 1 on a GPU node)."""
    num_cpus: float = Field(1.0, gt=0.0)
    """CPUs reserved per actor (also its torch thread count)."""


class ScoreResources(StageResources):
    """Scheduling of the score stage: lighter than editing, so half a CPU and bigger batches by default
    (both pools then fit on a 2-core machine)."""

    batch_size: int = Field(32, ge=1)
    """Images per scoring call."""
    num_cpus: float = Field(0.5, gt=0.0)
    """CPUs reserved per actor."""


class ResourcesSpec(StrictSpec):
    """Per-stage scheduling knobs."""

    edit: StageResources = Field(default_factory=StageResources)
    """The edit stage (DDIM / editors) actor pool."""
    score: ScoreResources = Field(default_factory=ScoreResources)
    """The score stage (CLIP, LPIPS) actor pool."""
    io_batch_size: int = Field(64, ge=1)
    """Batch size of the light CPU stages (decode, filter, write)."""


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



class TrainResources(StrictSpec):
    """Where a training run executes: one Ray task with these resources."""

    num_gpus: float = Field(0.0, ge=0.0)
    """GPUs for the training task (the model and f_t go to cuda when > 0)."""
    num_cpus: float = Field(1.0, gt=0.0)
    """CPUs for the training task."""


class AsyrpTrainSpec(StrictSpec):
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
    layout that the early steps fix (our addition; measure with `rayedit toy asyrp-ceiling --t-max`)."""
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
    """lambda_ID over training: cosine decay from ``start`` to ``end`` over all steps."""

    start: float = Field(1.0, ge=0.0)
    """Weight of |g(z^|k) - z^|^2 at step 0."""
    end: float = Field(0.1, ge=0.0)
    """Weight at the last step."""
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


class DDSTrainSpec(StrictSpec):
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


class HQSSelectSpec(StrictSpec):
    """``rayedit select-timesteps``: which timesteps carry the edit - HQS_t over sample images (SDD; ALGORITHMS.md)."""

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


def _format_validation_error(err: ValidationError, source: str) -> str:
    lines = [f"invalid job spec {source}:"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "<root>"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown field"
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
        raise SpecError(_format_validation_error(err, source)) from None


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
        desc = " ".join((field.description or "").split())
        lines.append(f"{path} ({tname}, default {default}): {desc}".rstrip(": "))
        if name == "filters":
            lines.extend(spec_reference(FilterRule, "filters[].")[0:3])
    return lines
