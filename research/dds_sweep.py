"""Zero-shot DDS / SDS settings on a v2 task, run in-process with rayedit's own editor and judged against the
perfect edits (a tuning tool: sweep on a seed that is not the held-out one, then measure the chosen settings with
`rayedit run` on held-out scenes)."""

from __future__ import annotations

import torch

from rayedit.config import ScoreDistillationSpec
from rayedit.editors.dds.zero_shot import ScoreDistillationEditor
from rayedit.stages.model_output import to_model_range, to_uint8
from rayedit.toy.edit_tasks import EditTask, task_samples
from rayedit.toy.v2_judge import judge_images


@torch.no_grad()
def sweep(model, task: str, n: int, seed: int, settings: list[dict], batch: int = 16) -> list[dict]:
    """For each settings dict (fields of the ``editor: {kind: dds}`` section besides ``replace``), the summarised
    v2 metrics of editing the first ``n`` scenes of ``task`` in stream ``seed``."""
    edit = EditTask.parse(task)
    gen = task_samples(edit, seed)
    samples = [next(gen) for _ in range(n)]
    out = []
    for setting in settings:
        editor = ScoreDistillationEditor(model, ScoreDistillationSpec(replace=edit.replace, **setting), seed=0)
        images = {}
        for start in range(0, n, batch):
            part = samples[start:start + batch]
            z = model.encode(to_model_range(torch.stack([torch.from_numpy(s.source_image) for s in part]).numpy()))
            edited = to_uint8(model.decode(editor(z, [s.source.caption for s in part])))
            images.update({f"scene{s.index}": img for s, img in zip(part, edited, strict=True)})
        out.append({"task": task, "seed": seed, "n": n, **setting, **judge_images(images, task, seed)})
    return out
