"""Applying a trained DDS translator in a job: one forward pass per image (the paper's point: ~50x cheaper)."""

from __future__ import annotations

import torch

from rayedit.editors.artifact_meta import task_index
from rayedit.editors.dds.translator import load_translator
from rayedit.models.errors import DirectionMismatch


class TranslatorEditor:
    """Edit clean DDIM-space images with task ``task`` of a translator: z = g(z^ | task)."""

    name = "dds-translator"

    def __init__(self, model, translator, task: int):
        self.model = model
        self.translator = translator.to(model.device, model.dtype).eval()
        self.task = task

    @torch.no_grad()
    def __call__(self, x0: torch.Tensor, captions: list[str] | None = None) -> torch.Tensor:
        task = torch.full((x0.shape[0],), self.task, dtype=torch.long, device=self.model.device)
        return self.translator(x0.to(self.model.device), task).float()


def translator_from_spec(model, spec) -> TranslatorEditor:
    """Build the editor a job's ``editor: {kind: translator}`` section asks for (checks the latent space matches)."""
    translator, meta = load_translator(spec.url)
    check_latent_space(model, meta, spec.url)
    return TranslatorEditor(model, translator, task_index(meta["targets"], spec.task))


def check_latent_space(model, meta: dict, url: str) -> None:
    """Refuse a translator trained in another latent space than the job model's: a translator maps latents to
    latents (its task tokens are stored in it), so only the VAE and its scaling must match - not the U-Net it was
    distilled from. A translator saved before ``latent_hash`` existed is held to its U-Net hash instead. Checked in
    float32 only: rounding to float16 changes every hash."""
    from rayedit.models.weights import latent_space_hash, model_hash

    if model.dtype != torch.float32:
        return
    if "latent_hash" in meta:
        have = latent_space_hash(model)
        if meta["latent_hash"] != have:
            def space(h):
                return "pixel space" if h is None else f"the latent space of VAE hash {h}"

            raise DirectionMismatch(f"translator {url!r} was trained in {space(meta['latent_hash'])} (model "
                                    f"{meta.get('model_id')!r}); this job's model {model.model_id!r} works in "
                                    f"{space(have)}")
    elif meta.get("model_hash") not in (None, model_hash(model.unet)):
        raise DirectionMismatch(f"translator {url!r} was trained with {meta.get('model_id')!r} (weights hash "
                                f"{meta['model_hash']}); this job's model {model.model_id!r} differs")
