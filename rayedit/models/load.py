"""Load a diffusion model by preset name, local ``save_pretrained`` folder or hub id - one code path."""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel, UNet2DModel

from rayedit.config import ModelSpec
from rayedit.models.device import pick_device, pick_dtype
from rayedit.models.diffusion import DiffusionModel
from rayedit.models.errors import ModelLoadError, offline_advice
from rayedit.models.layout import is_local_folder, pretrained_kwargs, read_layout, resolve_name
from rayedit.models.presets import PRESETS


def _weights_kw(spec: ModelSpec, root: str) -> dict:
    """from_pretrained keyword arguments for weights: pretrained_kwargs plus the spec's ``variant`` (fp16 files)."""
    return pretrained_kwargs(root, spec.revision) | ({"variant": spec.variant} if spec.variant else {})


def _scheduler_alphas(root: str, subfolder: str | None, revision: str | None) -> tuple[torch.Tensor, str, dict]:
    """(alphas_cumprod, prediction type, the scheduler's settings) of a checkpoint."""
    for sub in (subfolder, "scheduler", None):
        try:
            sched = DDIMScheduler.from_pretrained(root, subfolder=sub, **pretrained_kwargs(root, revision))
            return sched.alphas_cumprod.double(), sched.config.prediction_type, dict(sched.config)
        except (OSError, ValueError):
            continue
    raise ModelLoadError(f"{root!r} has no scheduler config: cannot know its noise schedule")


def _load_text_encoder(root: str, index: dict, spec: ModelSpec):
    """The pipeline's text encoder: an open_clip model its model_index names, or transformers' CLIPTextModel."""
    from rayedit.models.text import HFClipTextEncoder, OpenClipTextEncoder

    entry = index.get("text_encoder") or [None, None]
    if entry[0] == "open_clip":
        from rayedit.models.clip import load_clip

        name = entry[1]
        if is_local_folder(root) and (Path(root) / name).is_dir():  # a folder inside the checkpoint
            name = str(Path(root) / name)
        clip = load_clip(name)
        return OpenClipTextEncoder(clip.model, clip.tokenizer).eval()
    try:
        from transformers import CLIPTextModel, CLIPTokenizer
    except ImportError:
        raise ModelLoadError(
            "Stable Diffusion layout checkpoints need the `transformers` package for their text encoder: "
            "pip install transformers"
        ) from None
    model = CLIPTextModel.from_pretrained(root, subfolder="text_encoder", **_weights_kw(spec, root))
    tok = CLIPTokenizer.from_pretrained(root, subfolder="tokenizer", **pretrained_kwargs(root, spec.revision))
    return HFClipTextEncoder(model.eval(), tok)


def _quiet_loading() -> None:
    """No per-file progress bars from diffusers and transformers while an actor loads its model (job logs)."""
    import diffusers.utils.logging

    diffusers.utils.logging.disable_progress_bar()
    try:
        import transformers.utils.logging

        transformers.utils.logging.disable_progress_bar()
    except ImportError:
        pass


def load_diffusion(spec: ModelSpec, device: str | None = None, seed: int = 0) -> DiffusionModel:
    """Load the model ``spec`` names onto ``device`` (default: GPU if visible) in the spec's dtype."""
    _quiet_loading()
    device = device or pick_device()
    dtype = pick_dtype(spec.dtype, device)
    if spec.name in PRESETS:
        model = PRESETS[spec.name](seed)
    else:
        model = _load_pretrained(spec.model_copy(update={"name": resolve_name(spec.name)}), dtype)
        model.model_id = spec.name
    if spec.resolution:
        model.resolution = spec.resolution
    model.to(device)
    for part in (model.unet, model.vae, model.text_encoder):  # frozen: editors train their own modules only
        if isinstance(part, torch.nn.Module):
            part.requires_grad_(False)
    if dtype != torch.float32:  # fp16/bf16 only for the heavy parts; the DDIM math stays float32
        model.unet.to(dtype=dtype)
        if model.vae is not None:
            model.vae.to(dtype=dtype)
    return model


def _load_pretrained(spec: ModelSpec, dtype: torch.dtype = torch.float32) -> DiffusionModel:
    """The checkpoint's parts; the U-Net and VAE weights load straight into ``dtype`` (no float32 copy first)."""
    root = str(Path(spec.name).expanduser()) if is_local_folder(spec.name) else spec.name
    if not is_local_folder(root) and "/" not in root:
        raise ModelLoadError(f"model {spec.name!r} is neither a preset ({', '.join(PRESETS)}), a local folder, "
                             "nor a hub id (owner/name)")
    kind, cfg = read_layout(root, spec)
    try:
        if kind == "pipeline":
            unet_cls = cfg.get("unet", [None, None])[1]
            if unet_cls == "UNet2DConditionModel":
                unet = UNet2DConditionModel.from_pretrained(root, subfolder="unet", dtype=dtype,
                                                            **_weights_kw(spec, root))
                text = _load_text_encoder(root, cfg, spec)
                alphas, pred, sched_cfg = _scheduler_alphas(root, "scheduler", spec.revision)
                if "vae" not in cfg:  # a pixel-space text-to-image model (e.g. toy-text-ddpm)
                    return DiffusionModel(unet.eval(), alphas, pred, int(unet.config.sample_size), spec.name,
                                          text_encoder=text, scheduler_config=sched_cfg)
                vae = AutoencoderKL.from_pretrained(root, subfolder="vae", dtype=dtype, **_weights_kw(spec, root))
                res = unet.config.sample_size * 2 ** (len(vae.config.block_out_channels) - 1)
                return DiffusionModel(unet.eval(), alphas, pred, res, spec.name, vae=vae.eval(), text_encoder=text,
                                      vae_scale=float(vae.config.scaling_factor), scheduler_config=sched_cfg)
            unet = UNet2DModel.from_pretrained(root, subfolder="unet", dtype=dtype, **_weights_kw(spec, root))
            alphas, pred, sched_cfg = _scheduler_alphas(root, "scheduler", spec.revision)
        else:
            name = cfg.get("_class_name")
            if name not in ("UNet2DModel", None):
                raise ModelLoadError(f"{spec.name!r} holds a {name}; a single-model checkpoint must be a UNet2DModel "
                                     "(give a full pipeline folder for latent models)")
            unet = UNet2DModel.from_pretrained(root, subfolder=spec.subfolder, dtype=dtype,
                                             **_weights_kw(spec, root))
            alphas, pred, sched_cfg = _scheduler_alphas(root, spec.subfolder, spec.revision)
    except ModelLoadError:
        raise
    except OSError as err:
        if is_local_folder(root):
            raise ModelLoadError(f"cannot load {spec.name!r}: {err}") from None
        raise ModelLoadError(offline_advice(spec.name)) from None
    return DiffusionModel(unet.eval(), alphas, pred, int(unet.config.sample_size), spec.name,
                          scheduler_config=sched_cfg)
