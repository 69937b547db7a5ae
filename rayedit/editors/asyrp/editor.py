"""Applying trained directions to images (Asyrp Algorithm 1 / Eq. 9): invert, then the three-interval reverse."""

from __future__ import annotations

import torch

from rayedit.diffusion.ddim import ddim_invert, ddim_step, grid_alphas
from rayedit.diffusion.hspace import plain_and_edited_eps
from rayedit.editors.artifact_meta import default_strength
from rayedit.editors.asyrp.delta import CombinedDelta, fixed_delta
from rayedit.models.errors import DirectionMismatch


class AsyrpEditor:
    """Edit clean DDIM-space images with one or more directions (dh = S_train/S_gen * sum_i c_i f^i_t(h)).

    [t_max, t_edit]: asymmetric steps with dh, eta 0 (t_max None: from T, the paper's interval; above t_max plain
    DDIM); [t_edit, t_boost]: plain DDIM, eta 0; [t_boost, 0]: eta 1
    (quality boosting, ``boost=False`` keeps eta 0). ``seed`` makes the boosting noise reproducible per batch.
    ``mode``: ``per_image`` dh = f_t(h); ``mean`` / ``global``: the directions' saved average dh (per timestep /
    over all timesteps) added to every image alike; ``mean_timesteps`` are the timesteps of those averages.
    """

    name = "asyrp"

    def __init__(self, model, deltas: list[torch.nn.Module], strengths: list[float], steps: int, t_edit: int,
                 t_boost: int, train_steps: int, boost: bool = True, spacing: str = "auto", seed: int = 0,
                 mode: str = "per_image", mean_timesteps: list[int] | None = None, t_max: int | None = None,
                 windows: list[tuple[int, int | None]] | None = None):
        self.model = model
        self.delta = CombinedDelta(deltas, strengths, scale=train_steps / steps).to(model.device).eval()
        self.timesteps = model.grid(steps, spacing)
        self.t_boost, self.boost, self.seed = t_boost, boost, seed
        top = max(self.timesteps)
        # each direction edits on its own [t_edit, t_max] (default: t_edit, t_max for all); the editor's is the union
        self.windows = [(lo, hi if hi is not None else top) for lo, hi in (windows or [(t_edit, t_max)] * len(deltas))]
        self.t_edit, self.t_max = min(lo for lo, _ in self.windows), max(hi for _, hi in self.windows)
        self.fixed = {}
        if mode != "per_image":
            if any(f.mean_dh is None for f in deltas) or not mean_timesteps:
                raise DirectionMismatch(f"mode {mode!r} needs directions saved with their mean dh (trained by this "
                                        "version of `rayedit train asyrp`); use mode: per_image")
            self.fixed = {t: fixed_delta(deltas, [c if a else 0.0 for c, a in zip(strengths, self._active(t),
                                                                                   strict=True)],
                                         mean_timesteps, t, mode, train_steps / steps).to(model.device)
                          for t in self.timesteps if self.t_edit <= t <= self.t_max}

    @property
    def strengths(self) -> list[float]:
        """c_i of each direction (what the combined delta applies)."""
        return self.delta.strengths

    def _active(self, t: int) -> list[bool]:
        """Which directions edit at timestep ``t``."""
        return [lo <= t <= hi for lo, hi in self.windows]

    @torch.no_grad()
    def __call__(self, x0: torch.Tensor, captions: list[str] | None = None) -> torch.Tensor:
        return self.generate(self.invert(x0))

    @torch.no_grad()
    def invert(self, x0: torch.Tensor) -> torch.Tensor:
        """Deterministic DDIM inversion of clean images to x_T on this editor's grid (independent of the directions
        and strengths, so several editors on the same grid can share it)."""
        plain = self.model.eps_fn(self.model.empty_prompt_context(x0.shape[0]))
        return ddim_invert(plain, x0, self.timesteps, self.model.alphas_cumprod)

    @torch.no_grad()
    def generate(self, x: torch.Tensor) -> torch.Tensor:
        """The three-interval reverse process from x_T (:meth:`invert`'s output) to the edited images."""
        m, ts = self.model, self.timesteps
        a = grid_alphas(m.alphas_cumprod, ts)
        context = m.empty_prompt_context(x.shape[0])
        plain = m.eps_fn(context)
        gen = torch.Generator().manual_seed(self.seed)
        for i in range(len(ts) - 1, -1, -1):
            t = ts[i]
            if self.t_edit <= t <= self.t_max:  # Asyrp Eq. 8: P_t from eps(x_t | h + dh), D_t from eps(x_t)
                on = self._active(t)
                delta = ((lambda h, temb, x=x, on=on: self.delta(h, temb, x, on)) if not self.fixed
                         else (lambda h, temb, dh=self.fixed[t]: dh.expand_as(h)))
                eps, eps_edit = plain_and_edited_eps(m, x, t, delta, context, self.delta.h_space)
                x = ddim_step(x, eps, a[i + 1], a[i], eps_for_x0=eps_edit)
                continue
            eta = 1.0 if self.boost and t < self.t_boost else 0.0
            noise = torch.randn(x.shape, generator=gen).to(x) if eta > 0 else None
            x = ddim_step(x, plain(x, t), a[i + 1], a[i], eta=eta, noise=noise)
        return x


def asyrp_from_spec(model, spec, steps: int, spacing: str = "auto", seed: int = 0) -> AsyrpEditor:
    """Build the editor a job's ``editor: {kind: asyrp}`` section asks for (directions loaded from their URLs)."""
    import torch as _torch

    from rayedit.editors.asyrp.artifact import load_direction
    from rayedit.models.weights import model_hash

    loaded = [load_direction(d.url) for d in spec.directions]
    if next(model.unet.parameters()).dtype == _torch.float32:  # the hash is over fp32 weights
        have = model_hash(model.unet)
        for d, (_, meta) in zip(spec.directions, loaded, strict=True):
            if meta.get("model_hash") not in (None, have):
                raise DirectionMismatch(
                    f"direction {d.url!r} was trained on {meta.get('model_id')!r} with weights hash "
                    f"{meta['model_hash']}, but this job's model {model.model_id!r} has hash {have}")
    first = loaded[0][1]
    windows = None  # several directions: each edits on the interval it was trained on, unless the job sets t_edit
    if len(loaded) > 1 and spec.t_edit is None:
        windows = [(meta["t_edit"], meta.get("t_max")) for _, meta in loaded]
    return AsyrpEditor(
        model, [f for f, _ in loaded], [default_strength(d.strength, meta) for d, (_, meta) in
                                        zip(spec.directions, loaded, strict=True)], steps=steps,
        t_edit=spec.t_edit if spec.t_edit is not None else first["t_edit"],
        t_boost=spec.t_boost if spec.t_boost is not None else first["t_boost"],
        train_steps=first["steps"], boost=spec.boost, spacing=spacing, seed=seed, mode=spec.mode,
        mean_timesteps=first.get("mean_dh_timesteps"), t_max=first.get("t_max"), windows=windows,
    )
