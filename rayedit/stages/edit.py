"""Edit stage: loads the diffusion model on its worker and runs the editor on every in-flight row."""

from __future__ import annotations

import numpy as np
import torch

from rayedit.config import DDIMSpec, EditorSpec, ModelSpec, ReconstructSpec
from rayedit.editors.build import build_editor
from rayedit.image_column import size_groups, stacked, zeros_like_column
from rayedit.models.load import load_diffusion
from rayedit.rows import Batch, fail, ok_mask, writable
from rayedit.stages.model_output import run_isolated, to_model_range


class EditImages:
    """Adds ``edited`` (uint8, same shapes as ``pixels``; one model call per image size). A sample whose edit fails
    or is non-finite is failed, not its batch: on a batch error the rows are retried one by one to find the
    culprit."""

    def __init__(self, model: ModelSpec, ddim: DDIMSpec, seed: int = 0, device: str | None = None,
                 editor: EditorSpec | None = None):
        self.model_spec, self.ddim_spec, self.seed, self.device = model, ddim, seed, device
        self.editor_spec = editor or ReconstructSpec()
        self.editor = None

    def setup(self) -> None:
        """Load the model and the editor's artifacts (once per worker)."""
        if self.editor is None:
            model = load_diffusion(self.model_spec, device=self.device, seed=self.seed)
            self.editor = build_editor(model, self.editor_spec, self.ddim_spec, seed=self.seed)

    def _run(self, pixels: np.ndarray, captions: list[str]) -> torch.Tensor:
        m = self.editor.model
        x0 = m.encode(to_model_range(pixels).to(m.device))
        return m.decode(self.editor(x0, captions))

    def __call__(self, batch: Batch) -> Batch:
        self.setup()
        batch = writable(batch)
        edited = zeros_like_column(batch["pixels"])
        why_not = getattr(self.editor, "why_not", None)  # samples the editor cannot edit fail, with the reason
        if why_not is not None:
            for i in np.flatnonzero(ok_mask(batch)):
                reason = why_not([str(batch["caption"][i])])[0]
                if reason:
                    fail(batch, i, reason)
        for idx in size_groups(batch["pixels"], np.flatnonzero(ok_mask(batch))):  # one model call per image size
            captions = [str(c) for c in batch["caption"][idx]]
            pixels = stacked(batch["pixels"], idx)
            images, reasons = run_isolated(lambda rows, p=pixels, c=captions: self._run(p[rows], [c[j] for j in rows]),
                                           len(idx), "edit")
            for i, image, reason in zip(idx, images, reasons, strict=True):
                if reason:
                    fail(batch, i, reason)
                else:
                    edited[i] = image
        batch["edited"] = edited
        return batch
