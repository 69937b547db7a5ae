"""DDIM math against diffusers' schedulers, and its identities."""

import pytest
import torch
from diffusers import DDIMInverseScheduler, DDIMScheduler

from rayedit.diffusion import ddim


def _sched(cls, **kw):
    return cls(num_train_timesteps=1000, beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=True, **kw)


def test_grids():
    assert ddim.make_timesteps(40)[0] == 0 and ddim.make_timesteps(40)[-1] == 999
    assert len(ddim.make_timesteps(40)) == 40
    assert ddim.make_timesteps(50, spacing="leading") == list(range(0, 1000, 20))
    sched = _sched(DDIMScheduler, timestep_spacing="trailing")
    sched.set_timesteps(50)
    assert ddim.make_timesteps(50, spacing="trailing") == sorted(sched.timesteps.tolist())
    with pytest.raises(ValueError):
        ddim.make_timesteps(0)
    with pytest.raises(ValueError):
        ddim.make_timesteps(10, spacing="cosine")


@pytest.mark.parametrize("eta", [0.0, 0.7])
@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "sample"])
def test_step_matches_diffusers(eta, prediction_type):
    g = torch.Generator().manual_seed(0)
    sched = _sched(DDIMScheduler, prediction_type=prediction_type)
    sched.set_timesteps(25)
    ts = ddim.make_timesteps(25, spacing="leading")
    assert sorted(sched.timesteps.tolist()) == ts
    a = sched.alphas_cumprod
    x = torch.randn(2, 3, 8, 8, generator=g, dtype=torch.float64)
    for i in range(len(ts) - 1, -1, -1):
        t = ts[i]
        out = torch.randn(x.shape, generator=g, dtype=torch.float64)
        noise = torch.randn(x.shape, generator=g, dtype=torch.float64)
        ref = sched.step(out, t, x, eta=eta, variance_noise=noise).prev_sample
        eps = ddim.to_epsilon(out, x, float(a[t]), prediction_type)
        prev = float(a[ts[i - 1]]) if i > 0 else 1.0
        ours = ddim.ddim_step(x, eps, float(a[t]), prev, eta=eta, noise=noise)
        torch.testing.assert_close(ours, ref, rtol=1e-6, atol=1e-6)
        x = ref


def test_inversion_matches_diffusers():
    g = torch.Generator().manual_seed(1)
    sched = _sched(DDIMInverseScheduler)
    sched.set_timesteps(20)
    ts = ddim.make_timesteps(20, spacing="leading")
    assert sched.timesteps.tolist() == ts
    x0 = torch.randn(1, 3, 8, 8, generator=g, dtype=torch.float64)
    eps_table = {t: torch.randn(x0.shape, generator=g, dtype=torch.float64) for t in ts}

    ref = x0
    for t in ts:
        ref = sched.step(eps_table[t], t, ref).prev_sample
    ours = ddim.ddim_invert(lambda x, t: eps_table[t], x0, ts, sched.alphas_cumprod.double())
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)  # diffusers keeps alphas in float32


@pytest.mark.parametrize("spacing", ["linspace", "leading", "trailing"])
def test_round_trip_exact_when_eps_ignores_x(spacing):
    g = torch.Generator().manual_seed(2)
    sched = _sched(DDIMScheduler)
    ts = ddim.make_timesteps(40, spacing=spacing)
    x0 = torch.rand(2, 3, 16, 16, generator=g, dtype=torch.float64) * 2 - 1
    eps_table = {t: torch.randn(x0.shape, generator=g, dtype=torch.float64) for t in ts}
    fn = lambda x, t: eps_table[t]  # noqa: E731 - eps depends on t only
    xT = ddim.ddim_invert(fn, x0, ts, sched.alphas_cumprod.double())
    assert (xT - x0).abs().mean() > 0.5  # it really went somewhere
    back = ddim.ddim_sample(fn, xT, ts, sched.alphas_cumprod.double())
    torch.testing.assert_close(back, x0, rtol=1e-9, atol=1e-9)


def test_auto_spacing_avoids_a_vanishing_top_alpha():
    linear = DDIMScheduler(beta_schedule="linear").alphas_cumprod
    cosine = DDIMScheduler(beta_schedule="squaredcos_cap_v2").alphas_cumprod
    assert ddim.resolve_spacing("auto", linear) == "linspace"  # alpha_999 ~ 4e-5: Asyrp's grid is fine
    assert ddim.resolve_spacing("auto", cosine) == "leading"  # alpha_999 ~ 2e-9
    assert ddim.resolve_spacing("trailing", cosine) == "trailing"  # an explicit choice is kept


def test_pt_dt_identities():
    g = torch.Generator().manual_seed(3)
    x0 = torch.randn(4, 3, 4, 4, generator=g, dtype=torch.float64)
    eps = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    a_t, a_prev = 0.3, 0.8
    x_t = a_t**0.5 * x0 + (1 - a_t) ** 0.5 * eps  # forward marginal q(x_t | x_0)
    torch.testing.assert_close(ddim.predicted_x0(x_t, eps, a_t), x0)  # P_t recovers x0 from the true noise
    # eta = 1 gives the DDPM posterior variance; with sigma the D_t coefficient shrinks accordingly
    sigma = ddim.ddim_sigma(a_t, a_prev, 1.0)
    assert float(sigma**2) == pytest.approx((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev))
    d = ddim.direction_to_xt(eps, a_prev, sigma)
    torch.testing.assert_close(d, (1 - a_prev - sigma**2).sqrt() * eps)
    # with the true eps and eta = 0 the step lands on the forward marginal at t-1
    torch.testing.assert_close(ddim.ddim_step(x_t, eps, a_t, a_prev), a_prev**0.5 * x0 + (1 - a_prev) ** 0.5 * eps)


def test_asymmetric_step_shift_in_both_terms_cancels():
    """Asyrp Theorem 1: shifting eps in both P_t and D_t barely moves x_{t-1}; P_t alone does."""
    g = torch.Generator().manual_seed(4)
    x_t = torch.randn(1, 3, 8, 8, generator=g, dtype=torch.float64)
    eps = torch.randn(x_t.shape, generator=g, dtype=torch.float64)
    shift = 0.1 * torch.randn(x_t.shape, generator=g, dtype=torch.float64)
    a_t, a_prev = 0.5, 0.52  # adjacent timesteps
    base = ddim.ddim_step(x_t, eps, a_t, a_prev)
    both = ddim.ddim_step(x_t, eps + shift, a_t, a_prev)
    asym = ddim.ddim_step(x_t, eps, a_t, a_prev, eps_for_x0=eps + shift)
    assert (both - base).norm() < 0.05 * (asym - base).norm()
