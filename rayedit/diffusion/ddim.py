"""DDIM sampling and inversion written from the equations (Asyrp Eq. 3-5, DDIM Eq. 12).

Pure torch, no I/O. Conventions:

* ``alphas_cumprod[t]`` is alpha_t, the cumulative product of (1 - beta_s).
* A grid is an ascending list of model timesteps ``ts`` (length S). The clean image sits one position
  before ``ts[0]`` with alpha = ``alpha_clean`` (1.0, i.e. Asyrp's alpha_{-1} = 1).
* Inversion step i evaluates eps at the *destination* timestep ``ts[i]``, the same eps the reverse step
  from ``ts[i]`` uses, so a round trip is exact whenever eps does not depend on x.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from rayedit.diffusion.seeds import per_sample_noise

EpsFn = Callable[[torch.Tensor, int], torch.Tensor]
"""eps(x_t, t) -> predicted noise, same shape as x_t."""

SPACINGS = ("linspace", "leading", "trailing")
MIN_TOP_ALPHA = 1e-6
"""Below this alpha at t = T-1 a grid that reaches T-1 is ill-conditioned: P_t divides by sqrt(alpha)."""


def resolve_spacing(spacing: str, alphas_cumprod: torch.Tensor) -> str:
    """``auto`` -> linspace (Asyrp) when alpha_{T-1} is usable, else leading (stops one stride short of T-1)."""
    if spacing != "auto":
        return spacing
    return "linspace" if float(alphas_cumprod[-1]) >= MIN_TOP_ALPHA else "leading"


def make_timesteps(steps: int, num_train_timesteps: int = 1000, spacing: str = "linspace") -> list[int]:
    """Ascending model timesteps of an S-step DDIM grid.

    ``linspace`` is Asyrp's grid floor(linspace(0, 1, S) * (T - 1)); ``leading`` and ``trailing`` match
    diffusers' DDIMScheduler ``timestep_spacing`` options (with ``steps_offset=0``).
    """
    if steps < 1 or steps > num_train_timesteps:
        raise ValueError(f"steps must be in [1, {num_train_timesteps}], got {steps}")
    if spacing == "linspace":
        if steps == 1:
            return [num_train_timesteps - 1]
        ts = torch.linspace(0, 1, steps, dtype=torch.float64) * (num_train_timesteps - 1)
        return [int(t) for t in ts.floor()]
    if spacing == "leading":
        ratio = num_train_timesteps // steps
        return [i * ratio for i in range(steps)]
    if spacing == "trailing":
        ratio = num_train_timesteps / steps
        return sorted(int(round(num_train_timesteps - i * ratio)) - 1 for i in range(steps))
    raise ValueError(f"unknown spacing {spacing!r}; choose one of {SPACINGS}")


def predicted_x0(x_t: torch.Tensor, eps: torch.Tensor, alpha_t: torch.Tensor | float) -> torch.Tensor:
    """P_t(eps) = (x_t - sqrt(1 - alpha_t) eps) / sqrt(alpha_t)  (Asyrp Eq. 3, "predicted x0")."""
    alpha_t = torch.as_tensor(alpha_t, dtype=x_t.dtype, device=x_t.device)
    return (x_t - (1 - alpha_t).sqrt() * eps) / alpha_t.sqrt()


def ddim_sigma(alpha_t: torch.Tensor | float, alpha_prev: torch.Tensor | float, eta: float) -> torch.Tensor:
    """sigma_t = eta sqrt((1 - a_{t-1}) / (1 - a_t)) sqrt(1 - a_t / a_{t-1})  (DDIM Eq. 16)."""
    alpha_t = torch.as_tensor(alpha_t, dtype=torch.float64)
    alpha_prev = torch.as_tensor(alpha_prev, dtype=torch.float64)
    return eta * ((1 - alpha_prev) / (1 - alpha_t)).sqrt() * (1 - alpha_t / alpha_prev).sqrt()


def direction_to_xt(eps: torch.Tensor, alpha_prev: torch.Tensor | float, sigma: torch.Tensor | float) -> torch.Tensor:
    """D_t(eps) = sqrt(1 - alpha_{t-1} - sigma_t^2) eps  (Asyrp Eq. 3, "direction pointing to x_t")."""
    alpha_prev = torch.as_tensor(alpha_prev, dtype=torch.float64)
    sigma = torch.as_tensor(sigma, dtype=torch.float64)
    coef = (1 - alpha_prev - sigma**2).clamp_min(0).sqrt()
    return coef.to(eps.dtype) * eps


def ddim_step(
    x_t: torch.Tensor,
    eps: torch.Tensor,
    alpha_t: float,
    alpha_prev: float,
    eta: float = 0.0,
    noise: torch.Tensor | None = None,
    eps_for_x0: torch.Tensor | None = None,
) -> torch.Tensor:
    """One reverse step x_t -> x_{t-1} = sqrt(a_{t-1}) P_t + D_t + sigma_t z  (Asyrp Eq. 3/5).

    ``eps_for_x0`` lets P_t use a different noise estimate than D_t: that is Asyrp's asymmetric
    reverse process (Eq. 8), where P_t takes eps(x_t | h + dh) and D_t the original eps(x_t).
    """
    sigma = ddim_sigma(alpha_t, alpha_prev, eta)
    x0 = predicted_x0(x_t, eps if eps_for_x0 is None else eps_for_x0, alpha_t)
    out = (alpha_prev**0.5) * x0 + direction_to_xt(eps, alpha_prev, sigma)
    if eta > 0:
        if noise is None:
            noise = torch.randn_like(x_t)
        out = out + sigma.to(x_t.dtype) * noise
    return out


def ddim_inversion_step(x_t: torch.Tensor, eps: torch.Tensor, alpha_t: float, alpha_next: float) -> torch.Tensor:
    """Deterministic inversion x_t -> x_{t+1} = sqrt(a_{t+1}) P_t + sqrt(1 - a_{t+1}) eps  (DDIM Eq. 13, eta=0)."""
    x0 = predicted_x0(x_t, eps, alpha_t)
    return (alpha_next**0.5) * x0 + ((1 - alpha_next) ** 0.5) * eps


def grid_for(steps: int, alphas_cumprod: torch.Tensor, spacing: str = "auto",
             scheduler_config: dict | None = None) -> list[int]:
    """The S-step grid for a model's noise schedule (ascending). ``auto``: the checkpoint's own scheduler settings
    when it has them (``timestep_spacing`` and ``steps_offset``, exactly as diffusers' DDIMScheduler sets its
    timesteps - SD 1.5: leading, offset 1), else resolved against the schedule (:func:`resolve_spacing`)."""
    if spacing == "auto" and scheduler_config is not None:
        return checkpoint_timesteps(steps, scheduler_config)
    return make_timesteps(steps, len(alphas_cumprod), resolve_spacing(spacing, alphas_cumprod))


def checkpoint_timesteps(steps: int, scheduler_config: dict) -> list[int]:
    """The grid diffusers' DDIMScheduler uses for ``steps`` under a checkpoint's scheduler config (ascending)."""
    from diffusers import DDIMScheduler

    keys = ("num_train_timesteps", "timestep_spacing", "steps_offset")
    sched = DDIMScheduler(**{k: scheduler_config[k] for k in keys if k in scheduler_config})
    sched.set_timesteps(steps)
    return sorted(int(t) for t in sched.timesteps)


def grid_alphas(alphas_cumprod: torch.Tensor, ts: Sequence[int], alpha_clean: float = 1.0) -> list[float]:
    """alpha at every grid position, with the clean image's alpha at index 0 and ts[i] at index i + 1."""
    return [float(alpha_clean)] + [float(alphas_cumprod[t]) for t in ts]


def ddim_invert(
    eps_fn: EpsFn,
    x0: torch.Tensor,
    ts: Sequence[int],
    alphas_cumprod: torch.Tensor,
    alpha_clean: float = 1.0,
    callback: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """Invert a clean sample to x_T with deterministic DDIM along the ascending grid ``ts``."""
    a = grid_alphas(alphas_cumprod, ts, alpha_clean)
    x = x0
    for i, t in enumerate(ts):
        x = ddim_inversion_step(x, eps_fn(x, t), a[i], a[i + 1])
        if callback is not None:
            callback(i)
    return x


def ddim_sample(
    eps_fn: EpsFn,
    x_T: torch.Tensor,
    ts: Sequence[int],
    alphas_cumprod: torch.Tensor,
    alpha_clean: float = 1.0,
    eta: float = 0.0,
    generator: torch.Generator | Sequence[torch.Generator] | None = None,
    callback: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """Run the reverse process from x_T down the grid ``ts`` to a clean sample (eta = 0: deterministic).

    ``generator`` draws the eta > 0 noise: one for the batch, or one per sample (then each sample's noise does
    not depend on what it is batched with)."""
    a = grid_alphas(alphas_cumprod, ts, alpha_clean)
    x = x_T
    for i in range(len(ts) - 1, -1, -1):
        noise = None
        if eta > 0 and isinstance(generator, Sequence):
            noise = per_sample_noise(generator, x.shape[1:]).to(x)
        elif eta > 0:
            noise = torch.randn(x.shape, generator=generator, device="cpu", dtype=torch.float32).to(x)
        x = ddim_step(x, eps_fn(x, ts[i]), a[i + 1], a[i], eta=eta, noise=noise)
        if callback is not None:
            callback(len(ts) - 1 - i)
    return x


def to_epsilon(output: torch.Tensor, x_t: torch.Tensor, alpha_t: float, prediction_type: str) -> torch.Tensor:
    """Model output -> eps: as is, from x0 (Asyrp Eq. 3 solved for eps), or from v = sqrt(a) eps - sqrt(1-a) x0."""
    if prediction_type == "epsilon":
        return output
    if prediction_type == "sample":
        return (x_t - alpha_t**0.5 * output) / (1 - alpha_t) ** 0.5
    if prediction_type == "v_prediction":
        return alpha_t**0.5 * output + (1 - alpha_t) ** 0.5 * x_t
    raise ValueError(f"unsupported prediction_type {prediction_type!r}")
