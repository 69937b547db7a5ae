"""Editors on one device, per dtype and batch size: images/s, peak device memory, and the share of the device's peak
FLOP/s the U-Net reaches (its FLOPs per evaluation counted by torch's FlopCounterMode), on latents (VAE encode and
decode not included). The table benchmarks/gpu_check.sh prints; on CPU (``--device cpu``) a smoke run.

    python benchmarks/gpu_editors.py --device cuda --dtypes float16 bfloat16 --batches 1 8 64
    python benchmarks/gpu_editors.py --device cpu --dtypes float32 --batches 2 --models tiny-latent   # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

PEAK_TFLOPS = {"H100": 990.0, "A100": 312.0, "L4": 121.0, "A10": 125.0, "RTX 4090": 165.0, "T4": 65.0}
"""Dense fp16/bf16 peaks (TFLOP/s) by device name fragment, for the utilisation estimate."""


def unet_flops(model, batch: int) -> float:
    """FLOPs of one U-Net evaluation of ``batch`` latents (conditional models: with their text states)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    c, h, w = model.latent_shape()
    x = torch.zeros(batch, c, h, w, device=model.device, dtype=model.dtype)
    t = torch.full((batch,), 500, device=model.device)
    kwargs = {}
    if model.conditional:
        kwargs["encoder_hidden_states"] = model.embed_prompts(["a photo"] * batch).to(model.dtype)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.unet(x, t, **kwargs)
    return float(counter.get_total_flops())


def editors(model, steps: int):
    """(name, editor, U-Net evaluations per image) for every editor that needs no trained artifact."""
    from rayedit.config import DDIMSpec, ScoreDistillationSpec
    from rayedit.editors.dds.translator import build_translator
    from rayedit.editors.dds.zero_shot import ScoreDistillationEditor
    from rayedit.editors.reconstruct import DDIMReconstruction

    out = [("reconstruct", DDIMReconstruction(model, DDIMSpec(steps=steps)), 2 * steps)]
    if model.conditional:
        out.append(("dds", ScoreDistillationEditor(model, ScoreDistillationSpec(target_caption="a photo of a lion",
                                                                                steps=steps)), 4 * steps))
        translator = build_translator(model, ["a photo of a lion"], "model", (32, 64), 0)
        translator = translator.to(model.device, model.dtype).eval()
        task = None

        def apply(x0, captions):
            import torch

            nonlocal task
            task = torch.zeros(len(x0), dtype=torch.long, device=x0.device)
            with torch.no_grad():
                return translator(x0.to(model.dtype), task).float()

        out.append(("translator (init: model)", apply, 1))
    return out


def measure(model_name: str, device: str, dtype: str, batch: int, steps: int, repeats: int) -> list[dict]:
    import torch

    from rayedit.config import ModelSpec
    from rayedit.models.load import load_diffusion

    model = load_diffusion(ModelSpec(name=model_name, dtype=dtype), device=device)
    flops = unet_flops(model, 1)
    peak = next((v for k, v in PEAK_TFLOPS.items() if device.startswith("cuda") and k in
                 torch.cuda.get_device_name()), None)
    rows = []
    for name, edit, evals in editors(model, steps):
        x = torch.randn(batch, *model.latent_shape(), device=model.device)
        captions = ["a photo of a cat"] * batch
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        edit(x, captions)  # warm-up
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(repeats):
            edit(x, captions)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = (time.perf_counter() - start) / repeats
        achieved = flops * evals * batch / seconds
        rows.append({"model": model_name, "editor": name, "dtype": dtype, "batch": batch,
                     "images_per_s": round(batch / seconds, 3), "unet_evals_per_image": evals,
                     "unet_gflop_per_eval": round(flops / 1e9, 3), "achieved_tflops": round(achieved / 1e12, 3),
                     "utilisation": None if peak is None else round(achieved / (peak * 1e12), 3),
                     "peak_memory_mb": round(torch.cuda.max_memory_allocated() / 2**20) if device.startswith("cuda")
                     else None})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--models", nargs="+", default=["toy-text-ddpm", "tiny-latent"],
                   help="presets or folders (toy-sd, an SD 1.5 folder, ...)")
    p.add_argument("--dtypes", nargs="+", default=["float16", "bfloat16"])
    p.add_argument("--batches", type=int, nargs="+", default=[1, 8, 64])
    p.add_argument("--steps", type=int, default=10, help="DDIM / DDS steps per edit (default: %(default)s)")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    print("model | editor | dtype | batch | images/s | U-Net evals/image | GFLOP/eval | TFLOP/s | utilisation | "
          "peak MB")
    for model in args.models:
        for dtype in args.dtypes:
            for batch in args.batches:
                for r in measure(model, args.device, dtype, batch, args.steps, args.repeats):
                    print(" | ".join(str(v) for v in r.values()), flush=True)
                    print(json.dumps(r), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
