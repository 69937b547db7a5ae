"""Score stage: CLIP score, directional CLIP similarity and LPIPS to the source, into one ``scores`` mapping."""

from __future__ import annotations

import numpy as np
import torch

from rayedit.config import ScoreSpec
from rayedit.diffusion.residual import guidance_residual
from rayedit.editors.captions import target_captions
from rayedit.image_column import size_groups, stacked
from rayedit.models.clip import load_clip
from rayedit.models.device import pick_device
from rayedit.models.perceptual import load_lpips
from rayedit.rows import Batch, fail, first_line, obj_array, ok_mask, set_scores, writable
from rayedit.stages.model_output import whole_then_alone
from rayedit.stages.score_names import lpips_score_name


def to_unit(pixels: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float (N, 3, H, W) in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(pixels)).permute(0, 3, 1, 2).float() / 255.0


class ScoreImages:
    """Scores every in-flight row: ``clip_score`` = cos(E_I(edit), E_T(target or caption)),
    ``clip_direction`` = cos(E_I(edit) - E_I(src), E_T(target) - E_T(caption)) (Asyrp Eq. 17),
    ``lpips`` = LPIPS(src, edit), ``guidance_residual`` = mean |grad_SDS(edit; target)| at the given timesteps.
    Targets: ``target_caption`` for all, or each caption with ``replace`` applied. With ``embeddings`` the CLIP
    image embeddings of the results are kept in an ``embedding`` column (float16) for the near-duplicate filter.
    Rows without a source image (``pixels``: generated samples) get only the scores that need no source."""

    def __init__(self, spec: ScoreSpec, device: str | None = None, seed: int = 0, embeddings: bool = False):
        self.spec, self.device, self.seed, self.embeddings = spec, device, seed, embeddings
        self.clip = self.lpips = self.judge = None

    def setup(self) -> None:
        """Load CLIP and LPIPS once per worker."""
        device = self.device or pick_device()
        if self.spec.clip is not None and self.clip is None:
            self.clip = load_clip(self.spec.clip.model, self.spec.clip.pretrained, device=device, seed=self.seed)
        if self.spec.lpips is not None and self.lpips is None:
            lp = self.spec.lpips
            self.lpips = load_lpips(lp.net, lp.random_backbone, device=device, seed=self.seed)
        if self.spec.guidance is not None and self.judge is None:
            from rayedit.models.load import load_diffusion

            self.judge = load_diffusion(self.spec.guidance.model, device=device, seed=self.seed)

    @torch.no_grad()
    def __call__(self, batch: Batch) -> Batch:
        self.setup()
        batch = writable(batch)
        if self.embeddings:
            batch["embedding"] = obj_array([b""] * len(batch["status"]))
        for group in size_groups(batch["edited"], np.flatnonzero(ok_mask(batch))):  # one pass per image size
            for rows, out in whole_then_alone(lambda rows, g=group: self._score(batch, g[rows]), len(group)):
                if isinstance(out, Exception):  # a row that cannot be scored fails alone
                    fail(batch, group[rows[0]], f"score failed: {type(out).__name__}: {first_line(out)}")
                    continue
                scores, embedded = out
                for j, i in enumerate(group[rows]):
                    set_scores(batch, i, scores[j])
                    if self.embeddings and embedded is not None:
                        batch["embedding"][i] = embedded[j].half().cpu().numpy().tobytes()
        return batch

    def _score(self, batch: Batch, idx: np.ndarray) -> tuple[list[dict], torch.Tensor | None]:
        """The scores of rows ``idx`` (one image size) and their CLIP image embeddings (None without CLIP)."""
        edit = to_unit(stacked(batch["edited"], idx))
        src = to_unit(stacked(batch["pixels"], idx)) if "pixels" in batch else None
        captions = [str(c) for c in batch["caption"][idx]]
        targets = None
        if self.spec.target_caption is not None or self.spec.replace is not None:
            targets = target_captions(captions, self.spec.target_caption, self.spec.replace)
        scores: dict[str, np.ndarray] = {}
        e_edit = None
        if self.clip is not None:
            e_edit = self.clip.embed_images(edit)
            e_text = self.clip.embed_texts(targets or captions)
            scores["clip_score"] = (e_edit * e_text).sum(-1).cpu().numpy()
            if targets and src is not None:
                d_img = torch.nn.functional.normalize(e_edit - self.clip.embed_images(src), dim=-1)
                d_txt = torch.nn.functional.normalize(e_text - self.clip.embed_texts(captions), dim=-1)
                scores["clip_direction"] = (d_img * d_txt).sum(-1).cpu().numpy()
        if self.lpips is not None and src is not None:
            dev = next(self.lpips.parameters()).device
            d = self.lpips(src.to(dev) * 2 - 1, edit.to(dev) * 2 - 1).flatten().cpu().numpy()
            scores[lpips_score_name(self.spec.lpips.random_backbone)] = d
        if self.judge is not None:
            g = self.spec.guidance
            keys = [str(k) for k in batch["key"][idx]]
            scores["guidance_residual"] = guidance_residual(
                self.judge, edit * 2 - 1, targets, keys, g.timesteps, g.guidance_scale, g.noise_samples,
                self.seed).numpy()
        return [{k: v[j] for k, v in scores.items()} for j in range(len(idx))], e_edit
