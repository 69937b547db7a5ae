"""Generate stage: groups of (key, prompt, seed) in, one row per generated image out.

Each input row is one model call's worth of samples, fixed by the plan; every sample's starting noise (and its
eta > 0 step noise) comes from its own seed. So an image depends on its seed and its group only, never on the
number of actors or on how Ray batches rows.
"""

from __future__ import annotations

import json

import numpy as np
import torch

from rayedit.config import ModelSpec
from rayedit.config.generate import SamplingSpec
from rayedit.diffusion.ddim import ddim_sample
from rayedit.diffusion.seeds import per_sample_noise, seeded_generators
from rayedit.models.load import load_diffusion
from rayedit.rows import EOS, FAILED, OK, Batch, obj_array
from rayedit.stages.model_output import run_isolated

SOURCE = "generated"
"""The ``source`` of every generated sample in the manifest."""


class GenerateImages:
    """Adds ``edited`` (the generated image, uint8) and ``extra`` (JSON: seed, prompt index, settings) per sample.
    A group whose model call fails is retried one sample at a time; a sample that still fails (or comes out
    non-finite) is marked failed with the reason."""

    def __init__(self, model: ModelSpec, sampling: SamplingSpec, device: str | None = None, seed: int = 0):
        self.model_spec, self.sampling, self.device, self.seed = model, sampling, device, seed
        self.model = None

    def setup(self) -> None:
        """Load the model, embed the negative prompt, build the timestep grid (once per worker)."""
        if self.model is None:
            m = load_diffusion(self.model_spec, device=self.device, seed=self.seed)
            if not m.conditional:
                raise ValueError(f"model {self.model_spec.name!r} takes no text; generation needs a "
                                 "text-conditioned model")
            self.model, self.ts = m, m.grid(self.sampling.steps, self.sampling.spacing)
            self.negative = m.embed_prompts([self.sampling.negative_prompt])

    @torch.no_grad()
    def sample(self, prompts: list[str], seeds: list[int]) -> torch.Tensor:
        """Images in [-1, 1], (N, 3, R, R): DDIM from each seed's noise with classifier-free guidance."""
        self.setup()
        m, s = self.model, self.sampling
        gens = seeded_generators(seeds)
        x_t = per_sample_noise(gens, m.latent_shape()).to(m.device)
        cond = m.embed_prompts(prompts)
        eps = m.eps_fn(cond, self.negative.expand_as(cond), s.guidance_scale)
        return m.decode(ddim_sample(eps, x_t, self.ts, m.alphas_cumprod, eta=s.eta, generator=gens))

    def _group(self, row: dict, n: int) -> tuple[np.ndarray, list[str]]:
        """Images (n, R, R, 3) and a failure reason per sample ('' if it worked)."""
        prompts, seeds = [str(p) for p in row["caption"]], [int(s) for s in row["seed"]]
        found, reasons = run_isolated(lambda rows: self.sample([prompts[j] for j in rows], [seeds[j] for j in rows]),
                                      n, "generation")
        r = self.model.resolution
        images = np.zeros((n, r, r, 3), dtype=np.uint8)
        for i, image in enumerate(found):
            if image is not None:
                images[i] = image
        return images, reasons

    def __call__(self, batch: Batch) -> Batch:
        self.setup()
        cols: dict[str, list] = {c: [] for c in ("shard_id", "key", "index", "caption", "status", "reason",
                                                  "shard_rows", "extra")}
        images = []
        for g in range(len(batch["shard_id"])):
            row = {c: batch[c][g] for c in batch}
            n = len(row["key"])
            imgs, reasons = self._group(row, n)
            images.append(imgs)
            for i in range(n):
                cols["shard_id"].append(str(row["shard_id"]))
                cols["key"].append(str(row["key"][i]))
                cols["index"].append(int(row["index"][i]))
                cols["caption"].append(str(row["caption"][i]))
                cols["status"].append(FAILED if reasons[i] else OK)
                cols["reason"].append(reasons[i])
                cols["shard_rows"].append(-1)
                cols["extra"].append(json.dumps({"prompt": str(row["caption"][i]), "seed": int(row["seed"][i]),
                                                 "prompt_index": int(row["prompt_index"][i])}))
            if int(row["shard_rows"]) >= 0:  # the shard's last group: its end-of-shard row
                for c, v in (("shard_id", str(row["shard_id"])), ("key", ""), ("index", -1), ("caption", ""),
                             ("status", EOS), ("reason", ""), ("shard_rows", int(row["shard_rows"])),
                             ("extra", "")):
                    cols[c].append(v)
                images.append(np.zeros((1, *images[-1].shape[1:]), dtype=np.uint8))
        out: Batch = {c: obj_array(v) for c, v in cols.items()}
        out["index"] = np.asarray(cols["index"], dtype=np.int64)
        out["shard_rows"] = np.asarray(cols["shard_rows"], dtype=np.int64)
        out["source"] = obj_array([SOURCE] * len(cols["key"]))
        out["edited"] = np.concatenate(images) if images else np.zeros((0, 1, 1, 3), dtype=np.uint8)
        return out
