"""Edit stage: loads the diffusion model on its worker and runs the editor on every in-flight row."""

from __future__ import annotations

import numpy as np
import torch

from rayedit.config import DDIMSpec, EditorSpec, ModelSpec, ReconstructSpec
from rayedit.editors.build import build_editor
from rayedit.models.load import load_diffusion
from rayedit.stages.batch import Batch, fail, ok_mask, writable


def to_model_range(pixels: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float (N, 3, H, W) in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(pixels)).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """float (N, 3, H, W) in [-1, 1] -> uint8 (N, H, W, 3), rounded."""
    return ((x.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


class EditImages:
    """Adds ``edited`` (uint8, same shape as ``pixels``). A sample whose edit fails or is non-finite is failed,
    not its batch: on a batch error the rows are retried one by one to find the culprit."""

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
        edited = np.zeros_like(batch["pixels"])
        idx = np.flatnonzero(ok_mask(batch))
        if len(idx):
            captions = [str(c) for c in batch["caption"][idx]]
            try:
                out = self._run(batch["pixels"][idx], captions)
                groups = [(idx, out)]
            except Exception:  # noqa: BLE001 - isolate the sample that broke the batch
                groups = []
                for i, caption in zip(idx, captions, strict=True):
                    try:
                        groups.append((np.array([i]), self._run(batch["pixels"][i : i + 1], [caption])))
                    except Exception as err:  # noqa: BLE001
                        fail(batch, i, f"edit failed: {type(err).__name__}: {err}")
            for rows, out in groups:
                finite = torch.isfinite(out.flatten(1)).all(dim=1).cpu().numpy()
                good = to_uint8(out)
                for j, i in enumerate(rows):
                    if finite[j]:
                        edited[i] = good[j]
                    else:
                        fail(batch, i, "edit produced non-finite values (NaN/Inf)")
        batch["edited"] = edited
        return batch
