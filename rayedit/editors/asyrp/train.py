"""Training one Asyrp direction (Algorithm 2): f_t learns dh so the edited P_t moves along the CLIP text direction."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from tqdm import tqdm

from rayedit.diffusion.ddim import ddim_invert, ddim_sample, ddim_step, grid_alphas, predicted_x0
from rayedit.diffusion.hspace import plain_and_edited_eps
from rayedit.editors.asyrp.delta import delta_for
from rayedit.editors.asyrp.losses import default_lambda_recon, directional_clip_loss, paired_p_loss, text_direction


@dataclass(frozen=True)
class AsyrpTrainSettings:
    """How a direction is trained (saved with it)."""

    steps: int = 40
    t_edit: int = 500
    lambda_clip: float = 1.0
    lambda_recon: float | None = None
    lr: float = 0.5
    optimizer: str = "sgd"
    epochs: int = 1
    batch_size: int = 4
    spacing: str = "auto"
    seed: int = 0
    zero_init: bool = False
    """Start f_t at dh = 0 instead of PyTorch's default init (the authors')."""
    arch: str = "paper"
    """f_t's architecture (delta.ARCHS): the paper's 1x1 block, or ``seeing`` (also sees x_t)."""
    t_max: int | None = None
    """Highest timestep that gets dh (None: T, the paper's [T, t_edit] interval)."""
    lr_schedule: str = "constant"
    """``constant`` (the authors'), or ``cosine``: the learning rate decays to 0 over all optimizer steps."""
    h_space: str = "mid_block"
    """The U-Net layer whose output gets dh (delta.h_space_shape): Asyrp's ``mid_block``, or ``up_blocks.K``."""


def edit_indices(ts: list[int], t_edit: int, t_max: int | None = None) -> list[int]:
    """Grid indices of the editing interval [t_max or T, t_edit], from the top down (the steps that get dh)."""
    return [i for i in range(len(ts) - 1, -1, -1) if t_edit <= ts[i] <= (t_max if t_max is not None else ts[i])]


@torch.no_grad()
def _plain_down_to(eps_fn, x: torch.Tensor, ts: list[int], alphas_cumprod: torch.Tensor, first: int) -> torch.Tensor:
    """Plain DDIM with ``eps_fn`` from x_T down to grid index ``first`` (the top of the editing interval, when
    t_max < T): :func:`ddim_sample` over the grid above it, ending at ts[first]'s alpha."""
    return ddim_sample(eps_fn, x, ts[first + 1:], alphas_cumprod, alpha_clean=float(alphas_cumprod[ts[first]]))


def _short(captions: str | list[str]) -> str:
    """A caption, or the first of a prompt ensemble and how many more (for the progress bar)."""
    if isinstance(captions, str):
        return repr(captions)
    return repr(captions[0]) + (f" (+{len(captions) - 1})" if len(captions) > 1 else "")


def train_direction(model, clip, images: torch.Tensor, source: str, target: str, settings: AsyrpTrainSettings,
                    progress: bool = True, target_images: torch.Tensor | None = None,
                    paired_targets: torch.Tensor | None = None,
                    reverse_pairs: bool = False) -> tuple[torch.nn.Module, dict]:
    """Train f_t on ``images`` (N, 3, H, W) in [-1, 1]; returns f_t and a summary with the final losses.

    Each batch is inverted to x_T; then, from t_max (default T) down to t_edit, one asymmetric step with gradients
    and one optimizer step per timestep. For the paper's "from random noise" mode, pass images sampled from noise
    (:func:`sample_images`). ``target_images`` (images that already show the target; our addition, not the
    paper's): their batches alternate with the source batches and learn the way back, dh = -f_t(h) along the
    reversed text direction, so a negative strength undoes the edit. ``paired_targets`` (our addition): the same
    images already edited, row for row; the loss is then :func:`paired_p_loss` instead of CLIP + L1.
    ``reverse_pairs``: the pairs also teach the way back (batches alternate): from a target, dh = -f_t(h) should
    reach its source."""
    if paired_targets is not None and (target_images is not None or paired_targets.shape != images.shape):
        raise ValueError("paired_targets must match images row for row, and excludes target_images")
    if reverse_pairs and paired_targets is None:
        raise ValueError("reverse_pairs needs paired_targets")
    torch.manual_seed(settings.seed)
    model.unet.requires_grad_(False)
    clip.model.requires_grad_(False)
    delta = delta_for(model.unet, settings.zero_init, settings.arch, settings.h_space).to(model.device)
    params = list(delta.parameters())
    opt = (torch.optim.SGD(params, lr=settings.lr) if settings.optimizer == "sgd"
           else torch.optim.Adam(params, lr=settings.lr))
    text_dir, cosine = text_direction(clip, source, target)
    lam_recon = settings.lambda_recon if settings.lambda_recon is not None else default_lambda_recon(cosine)
    ts = model.grid(settings.steps, settings.spacing)
    a = grid_alphas(model.alphas_cumprod, ts)
    edit_idx = edit_indices(ts, settings.t_edit, settings.t_max)
    if not edit_idx:
        raise ValueError(f"no grid timestep in [t_edit={settings.t_edit}, t_max={settings.t_max}] (grid "
                         f"{ts[0]}..{ts[-1]})")
    n = images.shape[0]
    sides = [(images, 1.0, paired_targets)]  # (start images, sign of dh, where they should end up when paired)
    if target_images is not None:
        sides.append((target_images, -1.0, None))
    if reverse_pairs:
        sides.append((paired_targets, -1.0, images))
    longest = max(side[0].shape[0] for side in sides)
    batches = [(e, s, k) for e in range(settings.epochs) for s in range(0, longest, settings.batch_size)
               for k, side in enumerate(sides) if s < side[0].shape[0]]
    shuffle = torch.Generator().manual_seed(settings.seed)
    orders = [[torch.arange(pool.shape[0])] + [torch.randperm(pool.shape[0], generator=shuffle)
                                               for _ in range(settings.epochs - 1)] for pool, _, _ in sides]
    schedule = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=len(batches) * len(edit_idx))
                if settings.lr_schedule == "cosine" else None)
    bar = tqdm(batches, desc=f"asyrp {_short(source)} -> {_short(target)}", disable=not progress)
    history, start = [], time.time()
    for e, s, k in bar:  # epoch 0 in order, later epochs shuffled
        pool, sign, ends = sides[k]
        rows = orders[k][e][s:s + settings.batch_size]
        x0 = pool[rows].to(model.device)
        y = None if ends is None else ends[rows].to(model.device)
        context = model.empty_prompt_context(x0.shape[0])
        plain = model.eps_fn(context)
        with torch.no_grad():
            x = ddim_invert(plain, x0, ts, model.alphas_cumprod)
            x = _plain_down_to(plain, x, ts, model.alphas_cumprod, edit_idx[0])
            x_src = x
            src_emb = clip.embed_images((model.decode(x0) + 1) / 2) if y is None else None
        for i in edit_idx:
            def signed(h, temb, x=x, sign=sign):
                return sign * delta(h, temb, x)  # Eq. 8; dh = -f_t(h) going back

            eps, eps_edit = plain_and_edited_eps(model, x, ts[i], signed, context, delta.h_space)
            p_edit = predicted_x0(x, eps_edit, a[i + 1])
            if y is None:
                p_src = predicted_x0(x, eps, a[i + 1]).detach()
                # CLIP sees pixels: a latent P_t is decoded, with gradients through the frozen VAE decoder
                l_main = directional_clip_loss(clip, model.pixels(p_edit), src_emb, sign * text_dir)
                l_recon = (p_edit - p_src).abs().mean()  # in DDIM space (latents for a latent model)
                loss = settings.lambda_clip * l_main + lam_recon * l_recon  # Asyrp Algorithm 2 / Eq. 10
            else:
                with torch.no_grad():  # the source's own trajectory, for P_src
                    eps_src = plain(x_src, ts[i])
                    p_src = predicted_x0(x_src, eps_src, a[i + 1])
                    x_src = ddim_step(x_src, eps_src, a[i + 1], a[i])
                loss = l_main = paired_p_loss(p_edit, p_src, x0, y, float(a[i + 1]))
                l_recon = (p_edit.detach() - p_src).abs().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if schedule is not None:
                schedule.step()
            with torch.no_grad():  # continue along the edited trajectory, detached (Algorithm 2)
                x = ddim_step(x, eps.detach(), a[i + 1], a[i], eps_for_x0=eps_edit.detach())
            history.append((l_main.item(), l_recon.item()))
        recent = history[-len(edit_idx):]
        bar.set_postfix(**{"clip" if y is None else "pair": f"{sum(h[0] for h in recent) / len(recent):.4f}"},
                        recon=f"{sum(h[1] for h in recent) / len(recent):.3f}")
    last = history[-len(edit_idx) * min(len(batches), 4):]
    loss_name = "clip" if paired_targets is None else "pair"
    info = {"loss": "clip+recon" if paired_targets is None else "paired",
            "lambda_recon": lam_recon if paired_targets is None else None,  # the paired loss uses neither
            "lambda_clip": settings.lambda_clip if paired_targets is None else None, "text_cosine": cosine,
            "timesteps": ts, "edit_timesteps": [ts[i] for i in edit_idx], "images": n,
            "target_images": 0 if target_images is None else int(target_images.shape[0]),
            "reverse_pairs": reverse_pairs,
            f"final_{loss_name}_loss": sum(h[0] for h in last) / len(last),
            "final_recon_loss": sum(h[1] for h in last) / len(last), "minutes": (time.time() - start) / 60,
            "history": [[round(c, 5), round(r, 5)] for c, r in history]}
    return delta.eval(), info


@torch.no_grad()
def mean_deltas(model, delta: torch.nn.Module, images: torch.Tensor, steps: int, t_edit: int, spacing: str = "auto",
                batch_size: int = 16, t_max: int | None = None) -> tuple[list[int], torch.Tensor]:
    """The mean direction (Asyrp Sec. 5): dh_t = f_t(h) averaged over ``images`` at each editing timestep, along
    the edited trajectory. Returns (timesteps, tensor (T_edit, C, H, W)); its mean over t is the global direction."""
    ts = model.grid(steps, spacing)
    a = grid_alphas(model.alphas_cumprod, ts)
    edit_idx = edit_indices(ts, t_edit, t_max)
    sums = None
    for s in range(0, images.shape[0], batch_size):
        batch = images[s:s + batch_size].to(model.device)
        context = model.empty_prompt_context(batch.shape[0])
        plain = model.eps_fn(context)
        x = ddim_invert(plain, batch, ts, model.alphas_cumprod)
        x = _plain_down_to(plain, x, ts, model.alphas_cumprod, edit_idx[0])
        seen = []

        for i in edit_idx:
            def record(h, temb, seen=seen, x=x):
                dh = delta(h, temb, x)
                seen.append(dh.sum(0))
                return dh

            eps, eps_edit = plain_and_edited_eps(model, x, ts[i], record, context, delta.h_space)
            x = ddim_step(x, eps, a[i + 1], a[i], eps_for_x0=eps_edit)  # Asyrp Eq. 8, as in training
        batch_sums = torch.stack(seen)
        sums = batch_sums if sums is None else sums + batch_sums
    return [ts[i] for i in edit_idx], (sums / images.shape[0]).float().cpu()


@torch.no_grad()
def sample_images(model, n: int, steps: int = 40, seed: int = 0, batch: int = 64) -> torch.Tensor:
    """``n`` images generated from Gaussian noise with deterministic DDIM (a text-conditioned model runs on the empty
    prompt): training data without a dataset, in DDIM space like :func:`train_direction`'s images."""
    from rayedit.diffusion.ddim import ddim_sample

    ts = model.grid(steps)
    g = torch.Generator().manual_seed(seed)
    out = []
    for s in range(0, n, batch):
        x = torch.randn(min(batch, n - s), *model.latent_shape(), generator=g).to(model.device)
        eps = model.eps_fn(model.empty_prompt_context(x.shape[0]))
        out.append(ddim_sample(eps, x, ts, model.alphas_cumprod).cpu())
    return torch.cat(out).clamp(-1, 1)
