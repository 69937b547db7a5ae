"""The one place that turns a job's ``editor`` section into an editor object."""

from __future__ import annotations

from rayedit.config import DDIMSpec, EditorSpec
from rayedit.editors.reconstruct import DDIMReconstruction


def build_editor(model, editor: EditorSpec, ddim: DDIMSpec, seed: int = 0):
    """An editor: callable (x0 in DDIM space, captions) -> edited x0, with ``.model`` and ``.name``."""
    if editor.kind == "asyrp":
        from rayedit.editors.asyrp.editor import asyrp_from_spec

        return asyrp_from_spec(model, editor, ddim.steps, ddim.spacing, seed)
    if editor.kind == "dds":
        from rayedit.editors.dds.zero_shot import ScoreDistillationEditor

        return ScoreDistillationEditor(model, editor, seed)
    if editor.kind == "translator":
        from rayedit.editors.dds.apply import translator_from_spec

        return translator_from_spec(model, editor)
    return DDIMReconstruction(model, ddim, seed=seed)
