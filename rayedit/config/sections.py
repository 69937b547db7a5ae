"""The sections every spec shares: storage, input, model, DDIM, scores, filters, output, dedup, stage resources."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    Field,
    SecretStr,
    model_validator,
)

from rayedit.config.base import StrictSpec


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
    """Field holding the caption in a sample's .json (webdataset/folder); if it is missing, ``caption``, ``text``
    and ``prompt`` are tried, and a .json with none of them is warned about. A .txt member wins if present."""
    image_column: str = "image"
    """Parquet column with image bytes (binary, or a struct with a ``bytes`` field as HF datasets writes)."""
    caption_column: str | None = "caption"
    """Parquet column with the caption; null if there is none."""
    key_column: str | None = None
    """Parquet column with a sample key; default ``<file stem>-<row index>``."""
    resize: Literal["center_crop", "fit", "keep_aspect"] = "center_crop"
    """How an image becomes the model's input: ``center_crop`` (the shorter side to the model's resolution, the
    middle kept: a square), ``fit`` (the whole image scaled into the square, the rest filled with its repeated edge
    pixels, and the result cropped back to the image's own aspect ratio) or ``keep_aspect`` (about resolution^2
    pixels in the image's own aspect ratio, clamped to 1:4..4:1, each side a multiple of what the model takes - 64 px
    for SD 1.5 - so at most a few pixels are cropped; batches are run per size: aspect-ratio buckets). Edit jobs
    only: training reads squares. Every sample records its source size and the box of it that was used."""
    files_per_shard: int = Field(1000, ge=1)
    """Image folders are cut into shards of this many files (sorted by path)."""
    storage: StorageSpec = Field(default_factory=StorageSpec)
    """Object-store settings for the input."""


class ModelSpec(StrictSpec):
    """The diffusion model: a hub id, a local ``save_pretrained`` folder, a toy preset with shipped weights
    (``toy-ddpm``, ``toy-text-ddpm``, ``toy-sd``) or a random-weight preset (``tiny``, ``tiny-latent``)."""

    name: str = "tiny"
    """Hub id (google/ddpm-ema-celebahq-256), local folder, or preset: toy-ddpm / toy-text-ddpm / toy-sd (the toy
    worlds' trained models, shipped; toy-sd is a 64-px latent pipeline in Stable Diffusion's layout) or tiny (pixel)
    / tiny-latent (random weights, for tests)."""
    subfolder: str | None = None
    """Subfolder of a single-model checkpoint (e.g. ``unet``) when it is not at the root."""
    resolution: int | None = None
    """Image side in pixels; default from the model config (sample_size x VAE factor for latent models)."""
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    """``auto``: bfloat16 on GPUs that support it, else float16; float32 on CPU. DDIM math always runs in float32."""
    revision: str | None = None
    """Hub revision (branch, tag or commit)."""
    variant: str | None = None
    """Weights variant to load, e.g. ``fp16`` (files named ``*.fp16.safetensors``), as diffusers' ``variant``."""


class DDIMSpec(StrictSpec):
    """Deterministic DDIM inversion and reconstruction."""

    steps: int = Field(40, ge=1, le=1000)
    """S, the number of DDIM steps for inversion and for generation (Asyrp default 40)."""
    spacing: Literal["auto", "linspace", "leading", "trailing"] = "auto"
    """Timestep grid. ``auto``: the checkpoint's own scheduler settings, exactly as diffusers' DDIMScheduler sets
    them (SD 1.5: ``leading`` with ``steps_offset: 1``); for presets without a scheduler config, Asyrp's linspace
    unless the schedule's last alpha is ~0 (cosine / zero-terminal-SNR: then leading). Or rayedit's grid, explicitly:
    ``linspace`` (Asyrp's floor(linspace(0,1,S)*999)), ``leading`` / ``trailing`` (diffusers' spacings, offset 0)."""
    eta: float = Field(0.0, ge=0.0, le=1.0)
    """Stochasticity of the reverse process; 0 is deterministic and reconstructs the source."""
    guidance_scale: float = Field(1.0, ge=0.0)
    """Classifier-free guidance for text-conditioned models, diffusers convention eps_u + s (eps_c - eps_u).
    1.0 (no guidance) keeps the inversion exact; larger values drift away from the source."""
    prompt: str | None = None
    """Caption used for conditioning; default: the sample's own caption (empty string if none)."""


class ClipSpec(StrictSpec):
    """The CLIP model for CLIP scores (open_clip)."""

    model: str = "tiny"
    """open_clip model name (e.g. ``ViT-B-16``), an open_clip folder or ``hf-hub:`` id (weights included),
    ``toy-clip`` / ``toy-clip-v2`` (the toy worlds' trained CLIPs: v1 objects at 32 px, v2 scenes at 64 px) or
    ``tiny`` (random weights, for tests only)."""
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


LOSSY_FORMATS = ("jpg", "webp")
"""Input formats that ``image_format: auto`` writes in their own format."""


class OutputSpec(StrictSpec):
    """Where results go: ``shards/*.tar`` and ``manifest.parquet`` under ``url``."""

    url: str
    """Output folder, any fsspec URL (local path, s3://bucket/prefix, ...)."""
    image_format: Literal["auto", "png", "jpg", "webp"] = "auto"
    """Encoding of the edited images in the output shards. ``auto`` (default): each image in its input's format if
    that was JPEG or WebP (lossy in, lossy out, at ``quality``), else PNG (lossless inputs, generated images)."""
    quality: int = Field(95, ge=1, le=100)
    """JPEG/WebP quality."""
    png_compression: int = Field(1, ge=0, le=9)
    """zlib level of PNG output: 1 (default) costs ~1/6 of the CPU of Pillow's default 6 for files ~15-20% larger
    (benchmarks/datapath.py); 9 for the smallest files."""
    storage: StorageSpec = Field(default_factory=StorageSpec)
    """Object-store settings for the output."""
    paired: bool = False
    """Also write each sample's source image (``KEY.source.FORMAT``) beside the edited one (``KEY.FORMAT``), with
    source and target captions in ``KEY.json``: before/after pairs for training instruction-following editors."""

    def format_for(self, source_ext: str = "") -> str:
        """The format an image whose input had extension ``source_ext`` ('' if none or unknown) is written in."""
        if self.image_format != "auto":
            return self.image_format
        return source_ext if source_ext in LOSSY_FORMATS else "png"


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
    colocate: bool | Literal["auto"] = "auto"
    """Score inside the edit (or generate) actors, right after each of their batches, instead of in a score actor
    pool of its own: one process and one set of model-library imports fewer, and no second pool competing for the
    same cores (on 2 cores: first result 22.7 -> 17.0 s, steady-state throughput x1.5). ``auto``: when neither
    pool takes a GPU (on a GPU node the pools stay apart, so scoring overlaps editing). Colocated, the score
    stage's ``actors``, ``num_cpus``, ``num_gpus`` and ``batch_size`` are unused. Score-only jobs (no edit actors)
    ignore it."""

    def colocated_with(self, model_stage: StageResources) -> bool:
        """Whether scoring runs inside ``model_stage``'s actors (see ``colocate``)."""
        if self.colocate == "auto":
            return self.num_gpus == 0 and model_stage.num_gpus == 0
        return self.colocate
