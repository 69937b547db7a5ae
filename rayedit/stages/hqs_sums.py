"""HQS stage: per batch of images, the partial sums of N_t and H_t at every candidate timestep (merged later)."""

from __future__ import annotations

import numpy as np

from rayedit.diffusion.hqs import HQSAccumulator, magnitude, spatial_entropy
from rayedit.diffusion.image_gradient import timestep_sweep


class HQSPartialSums:
    """Adds nothing to the images: maps a batch to one row of sums (``n_sum``, ``h_sum`` per t, ``count``)."""

    def __init__(self, model_spec, target: str, source: str | None, timesteps: list[int], guidance_scale: float,
                 noise_samples: int = 1, seed: int = 0, device: str | None = None,
                 replace: dict[str, str] | None = None):
        self.model_spec, self.target, self.source, self.timesteps = model_spec, target, source, timesteps
        self.replace = replace
        self.w, self.noise_samples, self.seed, self.device = guidance_scale - 1.0, noise_samples, seed, device
        self.model = None

    def setup(self) -> None:
        """Load the model and embed the captions (once per worker)."""
        if self.model is None:
            from rayedit.models.load import load_diffusion

            self.model = load_diffusion(self.model_spec, device=self.device, seed=self.seed)
            m = self.model
            self.cond, self.uncond = m.embed_prompts([self.target]), m.embed_prompts([""])
            self.src = None if self.source is None else m.embed_prompts([self.source])

    def conditions(self, b: int, captions: list[str] | None):
        """(target, source or None) text states for ``b`` images: the fixed captions, or with ``replace`` each
        image's own caption and its replaced copy."""
        if self.replace is None:
            return self.cond.expand(b, -1, -1), None if self.src is None else self.src.expand(b, -1, -1)
        from rayedit.editors.captions import replace_words

        targets = [replace_words(c, self.replace) for c in captions]
        src = None if self.source is None else self.model.embed_prompts(list(captions))
        return self.model.embed_prompts(targets), src

    def edited(self, captions: list[str]) -> np.ndarray:
        """Which images ``replace`` edits (their caption holds one of its words); all without ``replace``."""
        if self.replace is None:
            return np.ones(len(captions), dtype=bool)
        from rayedit.editors.captions import replace_words

        return np.array([bool(c) and replace_words(c, self.replace) != c for c in captions], dtype=bool)

    def accumulate(self, keys: list[str], pixels: np.ndarray, captions: list[str] | None = None) -> HQSAccumulator:
        """N_t and H_t sums over these images (``noise_samples`` draws each, averaged per image); with ``replace``
        only the images whose captions it changes."""
        from rayedit.stages.model_output import to_model_range

        self.setup()
        m, acc = self.model, HQSAccumulator(self.timesteps)
        if self.replace is not None:
            keep = self.edited(captions)
            keys, pixels, captions = [k for k, ok in zip(keys, keep, strict=True) if ok], pixels[keep], \
                [c for c, ok in zip(captions, keep, strict=True) if ok]
            if not keys:
                return acc
        x = to_model_range(pixels).to(m.device)
        b = x.shape[0]
        uncond = self.uncond.expand(b, -1, -1)
        cond, src = self.conditions(b, captions)
        for i, d in timestep_sweep(m, x, keys, self.timesteps, self.noise_samples, self.seed, cond, uncond, self.w,
                                   src):
            acc.n_sum[i] += magnitude(d).double().sum() / self.noise_samples  # mean over noise draws
            acc.h_sum[i] += spatial_entropy(d).double().sum() / self.noise_samples
        acc.count = b
        return acc

    def __call__(self, batch: dict) -> dict:
        acc = self.accumulate([str(k) for k in batch["key"]], np.asarray(batch["pixels"]),
                              [str(c) for c in batch["caption"]])
        return {"n_sum": acc.n_sum.numpy()[None], "h_sum": acc.h_sum.numpy()[None], "count": np.array([acc.count])}
