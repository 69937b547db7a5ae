"""Pack toy-sd for shipping: the U-Net run's pipeline with a (decoder-fine-tuned) VAE, in float16 safetensors,
written by diffusers' own ``StableDiffusionPipeline.save_pretrained``."""

from __future__ import annotations

import json
from pathlib import Path

import torch


def same_encoder(a, b) -> bool:
    """Whether two AutoencoderKLs encode identically (encoder and quant_conv weights, scaling factor): a U-Net
    trained on one's latents works with the other's decoder."""
    if a.config.scaling_factor != b.config.scaling_factor:
        return False
    sa, sb = a.state_dict(), b.state_dict()
    keys = [k for k in sa if k.startswith(("encoder.", "quant_conv."))]
    return bool(keys) and all(torch.equal(sa[k], sb[k]) for k in keys)


LOADING_OPTIONS = ("local_files_only", "is_local")


def drop_loading_options(tokenizer_config: Path) -> None:
    """Remove the options the tokenizer was loaded with (transformers saves ``local_files_only`` among its init
    kwargs, so packing with HF_HUB_OFFLINE=1 would ship that machine's offline flag to every user)."""
    config = json.loads(tokenizer_config.read_text())
    kept = {k: v for k, v in config.items() if k not in LOADING_OPTIONS}
    if kept != config:
        tokenizer_config.write_text(json.dumps(kept, indent=2, ensure_ascii=False) + "\n")


def pack_toy_sd(unet_from: str | Path, vae_from: str | Path, out_dir: str | Path) -> dict:
    """Write ``unet_from``'s pipeline (U-Net, text encoder, tokenizer, scheduler) with ``vae_from``'s VAE to
    ``out_dir`` in float16, and a train.json holding both training histories. The VAE must encode like the one the
    U-Net was trained on (a decoder-only fine-tune of it); ValueError otherwise."""
    from diffusers import AutoencoderKL, StableDiffusionPipeline

    if not same_encoder(AutoencoderKL.from_pretrained(str(unet_from), subfolder="vae"),
                        AutoencoderKL.from_pretrained(str(vae_from), subfolder="vae")):
        raise ValueError(f"{vae_from}: its VAE encodes differently from the one {unet_from}'s U-Net was trained on "
                         "(only a decoder fine-tune of that VAE can be swapped in)")
    half = {"torch_dtype": torch.float16}
    pipe = StableDiffusionPipeline.from_pretrained(str(unet_from), vae=AutoencoderKL.from_pretrained(
        str(vae_from), subfolder="vae", **half), safety_checker=None, requires_safety_checker=False, **half)
    pipe.save_pretrained(str(out_dir), safe_serialization=True)
    drop_loading_options(Path(out_dir) / "tokenizer" / "tokenizer_config.json")
    history = {name: json.loads((Path(src) / "train.json").read_text()) if (Path(src) / "train.json").exists()
               else None for name, src in (("unet", unet_from), ("vae", vae_from))}
    record = {"packed_from": {"unet": str(unet_from), "vae": str(vae_from)}, "dtype": "float16", **history}
    (Path(out_dir) / "train.json").write_text(json.dumps(record, indent=2))
    size = sum(p.stat().st_size for p in Path(out_dir).rglob("*") if p.is_file())
    return {"out": str(out_dir), "megabytes": round(size / 2**20, 2)}
