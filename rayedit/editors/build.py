"""The one place that turns a job's ``editor`` section into an editor object."""

from __future__ import annotations

from rayedit.config import AsyrpSpec, DDIMSpec, ReconstructSpec
from rayedit.editors.reconstruct import DDIMReconstruction


def build_editor(model, editor: ReconstructSpec | AsyrpSpec, ddim: DDIMSpec, seed: int = 0):
    """An editor: callable (x0 in DDIM space, captions) -> edited x0, with ``.model`` and ``.name``."""
    if editor.kind == "asyrp":
        from rayedit.editors.asyrp.editor import asyrp_from_spec

        return asyrp_from_spec(model, editor, ddim.steps, ddim.spacing, seed)
    return DDIMReconstruction(model, ddim, seed=seed)
