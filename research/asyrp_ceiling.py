"""Upper bounds for an Asyrp colour edit on a toy model: what the asymmetric reverse process and h-space can do when
the target image is known, apart from how well a trained f_t finds it.

Three editors, judged by the oracle on the same held-out images:
- ``plain``: no edit (the oracle below with y = x_0: DDIM inversion + reconstruction, the floor of every edit);
- ``ideal_p``: the asymmetric process (Asyrp Eq. 8) with an oracle P_t: the plain source trajectory's P_t plus the
  exact recolouring (y - x_0), D_t from the plain eps(x_t) as in Asyrp - can the process edit in place at all?
- ``fitted_dh``: a free dh per image and timestep, fitted by Adam so that P_t from eps(x_t | h + dh) approaches that
  oracle P_t - is there an h-space push that makes the edit (what f_t would have to output)?
"""

from __future__ import annotations

from itertools import islice

import numpy as np
import torch

from rayedit.diffusion.ddim import ddim_invert, ddim_step, grid_alphas, predicted_x0, to_epsilon
from rayedit.diffusion.hspace import H_SPACE, plain_and_edited_eps
from rayedit.stages.model_output import to_model_range, to_uint8
from rayedit.toy.generator import recoloured_at, samples
from rayedit.toy.verdict import verdict_of
from research.evaluate import HELD_OUT_SEED


def paired_images(colour: str, target: str, n: int, seed: int = HELD_OUT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` ``colour`` objects of the ``seed`` stream and the same drawings in ``target``, uint8 each."""
    picked = list(islice(samples(seed, colour), n))
    return (np.stack([img for _, _, img in picked]),
            np.stack([recoloured_at(seed, i, target) for i, _, _ in picked]))


def source_trajectory_p(eps_fn, x: torch.Tensor, ts: list[int],
                        alphas_cumprod: torch.Tensor) -> dict[int, torch.Tensor]:
    """P_t (the predicted x_0, Asyrp Eq. 4) at every grid index along the plain trajectory: deterministic DDIM with
    ``eps_fn`` from the inverted ``x`` (x_T) back down the grid."""
    a = grid_alphas(alphas_cumprod, ts)
    out = {}
    for i in range(len(ts) - 1, -1, -1):
        eps = eps_fn(x, ts[i])
        out[i] = predicted_x0(x, eps, a[i + 1])
        x = ddim_step(x, eps, a[i + 1], a[i])
    return out


def ceiling_edit(model, x0: torch.Tensor, y: torch.Tensor, steps: int = 40, t_edit: int = 500, t_max: int = 1000,
                 fit_iters: int = 0, lr: float = 0.05, where: str = H_SPACE) -> tuple[torch.Tensor, dict[int, tuple]]:
    """Edit ``x0`` towards ``y`` (both (B, 3, H, W) in [-1, 1]) with the asymmetric process on t in [t_edit, t_max].

    ``fit_iters`` = 0: P_t is the oracle P_t^src + (y - x0). Otherwise P_t comes from eps(x_t | h + dh) with dh
    fitted per image and step (``fit_iters`` Adam steps at ``lr`` from dh = 0, MSE to the oracle P_t). D_t always
    takes the plain eps(x_t) (Asyrp Eq. 8). ``where``: the U-Net submodule whose output is h. Returns the edited
    images and, when fitting, per timestep (|dh| / |h|, the share of the P_t gap to the oracle that dh closed)."""
    ts = model.grid(steps)
    a = grid_alphas(model.alphas_cumprod, ts)
    context = model.empty_prompt_context(x0.shape[0])
    plain = model.eps_fn(context)
    with torch.no_grad():
        x = ddim_invert(plain, x0, ts, model.alphas_cumprod)
        p_src = source_trajectory_p(plain, x, ts, model.alphas_cumprod)
    if fit_iters:
        model.unet.requires_grad_(False)  # only dh learns
    ratios = {}
    for i in range(len(ts) - 1, -1, -1):
        t = ts[i]
        with torch.no_grad():
            eps = plain(x, t)
        if not t_edit <= t <= t_max:
            x = ddim_step(x, eps, a[i + 1], a[i])
            continue
        wanted = p_src[i] + (y - x0)  # the oracle P_t: the source trajectory's, recoloured
        if not fit_iters:
            x = ddim_step(x, eps, a[i + 1], a[i], eps_for_x0=to_epsilon(wanted, x, a[i + 1], "sample"))
            continue
        eps_edit, ratios[t] = _fit_dh(model, x, t, context, wanted, a[i + 1], fit_iters, lr, where)
        x = ddim_step(x, eps, a[i + 1], a[i], eps_for_x0=eps_edit)
    return x, ratios


def _fit_dh(model, x: torch.Tensor, t: int, context, wanted: torch.Tensor, alpha: float, iters: int,
            lr: float, where: str = H_SPACE) -> tuple[torch.Tensor, tuple[float, float]]:
    """A per-image dh at one step, fitted so P_t(x_t | h + dh) approaches ``wanted``; (eps(x_t | h + dh),
    (|dh|/|h|, 1 - |P_t(h + dh) - wanted|^2 / |P_t(h) - wanted|^2))."""
    dh, seen = None, {}

    def delta(h, temb):
        nonlocal dh
        if dh is None:
            dh = torch.zeros_like(h, requires_grad=True)
        seen["h"] = h.detach()
        return dh

    with torch.no_grad():
        eps0, _ = plain_and_edited_eps(model, x, t, delta, context, where)  # sizes dh like h
    gap0 = float((predicted_x0(x, eps0, alpha) - wanted).pow(2).sum())
    opt = torch.optim.Adam([dh], lr=lr)
    with torch.enable_grad():
        for _ in range(iters):
            _, eps_edit = plain_and_edited_eps(model, x, t, delta, context, where)
            loss = torch.nn.functional.mse_loss(predicted_x0(x, eps_edit, alpha), wanted, reduction="sum")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    with torch.no_grad():
        _, eps_edit = plain_and_edited_eps(model, x, t, delta, context, where)
    ratio = float(dh.detach().flatten(1).norm(dim=1).mean() / seen["h"].flatten(1).norm(dim=1).mean())
    closed = 1 - float((predicted_x0(x, eps_edit, alpha) - wanted).pow(2).sum()) / max(gap0, 1e-12)
    return eps_edit, (ratio, closed)


def fit_summary(ratios: list[dict[int, tuple[float, float]]]) -> dict:
    """Per timestep, over batches: mean |dh| / |h| and mean share of the P_t gap closed by the fitted dh."""
    return {key: {t: round(float(np.mean([r[t][k] for r in ratios])), 3) for t in ratios[0]}
            for k, key in enumerate(("dh_over_h", "gap_closed"))}


def judge(source: np.ndarray, edited: torch.Tensor, target: str) -> dict:
    """The oracle's verdict on ``edited`` (model range) against ``target``, keyed like ``python -m research
    eval-edit``."""
    return verdict_of(source, to_uint8(edited), target)


def asyrp_ceiling(model, source: str = "red", target: str = "blue", n: int = 100, fit_n: int = 20, steps: int = 40,
                  t_edit: int = 500, t_max: int = 1000, fit_iters: int = 30, lr: float = 0.05,
                  batch: int = 50) -> dict[str, dict]:
    """The three editors of this module on ``n`` held-out images (``fitted_dh`` on the first ``fit_n``: it costs
    ``fit_iters`` forward + backward passes per step); each the oracle's verdict (with ``dh_over_h`` per timestep for
    ``fitted_dh``)."""
    src, tgt = paired_images(source, target, n)
    x0_all, y_all = to_model_range(src), to_model_range(tgt)
    results = {}
    for name, count, iters in (("plain", n, 0), ("ideal_p", n, 0), ("fitted_dh", min(fit_n, n), fit_iters)):
        if name == "fitted_dh" and count == 0:
            continue
        outs, ratios = [], []
        for s in range(0, count, batch):
            x0, y = x0_all[s:min(s + batch, count)], y_all[s:min(s + batch, count)]
            edited, r = ceiling_edit(model, x0, x0 if name == "plain" else y, steps, t_edit, t_max, iters, lr)
            outs.append(edited)
            ratios.append(r)
        results[name] = judge(src[:count], torch.cat(outs), target)
        if name == "fitted_dh":
            results[name] |= fit_summary(ratios)
    return results


def task_latents(model, task: str, n: int, seed: int) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """The first ``n`` scenes of v2 stream ``seed`` that ``task`` applies to: their keys (``scene<index>``) and the
    model-space encodings (latents for toy-sd) of each scene and of its perfect edit."""
    from rayedit.toy.edit_tasks import EditTask, task_samples

    picked = list(islice(task_samples(EditTask.parse(task), seed), n))
    with torch.no_grad():
        x0 = model.encode(to_model_range(np.stack([s.source_image for s in picked])))
        y = model.encode(to_model_range(np.stack([s.target_image for s in picked])))
    return [f"scene{s.index}" for s in picked], x0, y


def asyrp_ceiling_v2(model, task: str = "red->blue", n: int = 100, fit_n: int = 20, seed: int = HELD_OUT_SEED,
                     steps: int = 40, t_edit: int = 500, t_max: int = 1000, fit_iters: int = 30, lr: float = 0.05,
                     batch: int = 25, where: str = H_SPACE) -> dict[str, dict]:
    """:func:`asyrp_ceiling` on a v2 task (multi-object scenes, one object to change) in the model's own space - the
    latents for toy-sd, where the oracle P_t adds the encoded perfect edit's difference - judged with the v2 metrics
    against the perfect edit. One more row, ``vae_perfect``: the perfect edit through the VAE alone (encode, decode),
    the best any latent editor can score. ``where``: the U-Net submodule whose output is h."""
    from rayedit.toy.v2_judge import judge_images

    keys, x0_all, y_all = task_latents(model, task, n, seed)
    results = {}
    with torch.no_grad():
        results["vae_perfect"] = judge_images(dict(zip(keys, to_uint8(model.decode(y_all)), strict=True)), task,
                                              seed)
    for name, count, iters in (("plain", n, 0), ("ideal_p", n, 0), ("fitted_dh", min(fit_n, n), fit_iters)):
        if count == 0:
            continue
        outs, ratios = [], []
        for s in range(0, count, batch):
            x0, y = x0_all[s:min(s + batch, count)], y_all[s:min(s + batch, count)]
            edited, r = ceiling_edit(model, x0, x0 if name == "plain" else y, steps, t_edit, t_max, iters, lr,
                                     where)
            with torch.no_grad():
                outs.append(to_uint8(model.decode(edited)))
            ratios.append(r)
        results[name] = judge_images(dict(zip(keys[:count], np.concatenate(outs), strict=True)), task, seed)
        if name == "fitted_dh":
            results[name] |= fit_summary(ratios)
    return results
