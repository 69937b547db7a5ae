"""Asyrp apply stage: images/s per batch size on the toy model and on the google/ddpm-ema-celebahq-256 architecture
(random weights: same cost), for the paper's f_t and the ``seeing`` f_t, and the cost split - DDIM inversion, the
reverse process, and the time spent inside f_t (the hook) - beside plain DDIM reconstruction, timed in one run.

    python benchmarks/asyrp_apply.py [--toy-batches 1 8 32] [--celeba-batches 1 2] [--toy-steps 40]
                                     [--celeba-steps 10] [--threads 2] [--skip-celeba]

Prints one row per (model, f_t, batch). Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

CELEBAHQ_256 = dict(
    sample_size=256, in_channels=3, out_channels=3, layers_per_block=2,
    block_out_channels=(128, 128, 256, 256, 512, 512),
    down_block_types=("DownBlock2D", "DownBlock2D", "DownBlock2D", "DownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "AttnUpBlock2D", "UpBlock2D", "UpBlock2D", "UpBlock2D", "UpBlock2D"),
    downsample_padding=0, flip_sin_to_cos=False, freq_shift=1, norm_eps=1e-6, attention_head_dim=None,
)
"""google/ddpm-ema-celebahq-256's UNet2DModel config (its hub config.json)."""


def celebahq_architecture():
    """The celebahq-256 U-Net with seeded random weights, as a rayedit DiffusionModel."""
    import torch
    from diffusers import DDPMScheduler, UNet2DModel

    from rayedit.models.diffusion import DiffusionModel

    torch.manual_seed(0)
    return DiffusionModel(unet=UNet2DModel(**CELEBAHQ_256).eval(),
                          alphas_cumprod=DDPMScheduler(num_train_timesteps=1000).alphas_cumprod.double(),
                          prediction_type="epsilon", resolution=256, model_id="celebahq-256-architecture",
                          random_weights=True)


class HookTimer:
    """Seconds spent inside a module's forward (the f_t hook's own cost)."""

    def __init__(self, module):
        self.seconds, self._start = 0.0, 0.0
        module.register_forward_pre_hook(self._enter)
        module.register_forward_hook(self._leave)

    def _enter(self, *_):
        self._start = time.perf_counter()

    def _leave(self, *_):
        self.seconds += time.perf_counter() - self._start


def measure(model, arch: str, batch: int, steps: int) -> dict:
    """Seconds per image of one Asyrp edit (t_edit 500, no boosting) and of plain inversion + reconstruction."""
    import torch

    from rayedit.diffusion.ddim import ddim_invert, ddim_sample, grid_for
    from rayedit.editors.asyrp.delta import delta_for
    from rayedit.editors.asyrp.editor import AsyrpEditor

    f = delta_for(model.unet, arch=arch)
    editor = AsyrpEditor(model, [f], [1.0], steps=steps, t_edit=500, t_boost=0, train_steps=steps, boost=False)
    hook = HookTimer(editor.delta)
    x0 = torch.rand(batch, 3, model.resolution, model.resolution) * 2 - 1
    ts = grid_for(steps, model.alphas_cumprod)
    plain = model.eps_fn(model.empty_prompt_context(batch))
    editor(x0[:1])  # warm-up
    hook.seconds = 0.0
    with torch.no_grad():
        start = time.perf_counter()
        x_t = ddim_invert(plain, x0, ts, model.alphas_cumprod)
        invert = time.perf_counter() - start
        start = time.perf_counter()
        ddim_sample(plain, x_t, ts, model.alphas_cumprod)
        regenerate = time.perf_counter() - start
    start = time.perf_counter()
    editor(x0)
    total = time.perf_counter() - start
    return {"total": total / batch, "invert": invert / batch, "reverse": (total - invert) / batch,
            "hook": hook.seconds / batch, "reconstruct": (invert + regenerate) / batch,
            "edit_steps": sum(t >= 500 for t in ts)}


def main() -> None:
    import torch

    from rayedit.config import ModelSpec
    from rayedit.models.layout import toy_weights_shipped
    from rayedit.models.load import load_diffusion

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--toy-batches", type=int, nargs="+", default=[1, 8, 32])
    p.add_argument("--celeba-batches", type=int, nargs="+", default=[1, 2])
    p.add_argument("--toy-steps", type=int, default=40)
    p.add_argument("--celeba-steps", type=int, default=10, help="DDIM steps for the 256-px model (CPU: keep small)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--skip-celeba", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    toy = "toy-text-ddpm" if toy_weights_shipped("toy-text-ddpm") else "tiny"
    runs = [(toy, load_diffusion(ModelSpec(name=toy), device="cpu"), a.toy_batches, a.toy_steps)]
    if not a.skip_celeba:
        runs.append(("celebahq-256 arch", celebahq_architecture(), a.celeba_batches, a.celeba_steps))
    print(f"{a.threads} threads; t_edit 500, no boosting; seconds per image (share of the edit)")
    print(f"{'model':<18} {'f_t':<7} {'batch':>5} {'steps':>5} {'images/s':>9} {'edit s':>8} {'invert':>15} "
          f"{'reverse':>15} {'hook (f_t)':>15} {'reconstruct s':>13} {'edit/recon':>10}")
    for name, model, batches, steps in runs:
        model.unet.requires_grad_(False)
        for arch in ("paper", "seeing"):
            for batch in batches:
                m = measure(model, arch, batch, steps)
                share = {k: f"{m[k]:.4f} ({m[k] / m['total']:4.0%})" for k in ("invert", "reverse", "hook")}
                print(f"{name:<18} {arch:<7} {batch:>5} {steps:>5} {1 / m['total']:>9.2f} {m['total']:>8.4f} "
                      f"{share['invert']:>15} {share['reverse']:>15} {share['hook']:>15} {m['reconstruct']:>13.4f} "
                      f"{m['total'] / m['reconstruct']:>10.2f}")


if __name__ == "__main__":
    main()
