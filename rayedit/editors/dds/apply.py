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
    """Build the editor a job's ``editor: {kind: translator}`` section asks for (checks the model matches)."""
    from rayedit.models.weights import model_hash

    translator, meta = load_translator(spec.url)
    if model.dtype == torch.float32 and meta.get("model_hash") not in (None, model_hash(model.unet)):
        raise DirectionMismatch(f"translator {spec.url!r} was trained with {meta.get('model_id')!r} (weights hash "
                                f"{meta['model_hash']}); this job's model {model.model_id!r} differs")
    return TranslatorEditor(model, translator, task_index(meta["targets"], spec.task))
