"""``rayedit demo``: toy images in, a real Ray edit job, the oracle's verdict and an HTML page out.

No arguments, no downloads. It runs the best editor the package has on red toy images, turning them blue: the
shipped DDS translator (one forward pass per image) when it is there, else the shipped Asyrp direction, else
zero-shot DDS with the shipped text-conditioned toy DDPM; without those, DDIM reconstruction with the toy DDPM,
else the random-weight ``tiny`` preset (and says so). ``--editor`` picks one of them by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from rayedit.config import parse_spec
from rayedit.models.layout import TOY_WEIGHTS, toy_weights_shipped
from rayedit.pipelines.edit import JobResult, run_job
from rayedit.toy.generator import write_shards


@dataclass
class DemoResult:
    """The job's result plus what the demo measured on it."""

    job: JobResult
    mean_scores: dict[str, float]
    verdict: dict
    page: str


TOY_DIRECTION = TOY_WEIGHTS / "toy-red-to-blue-paired"
"""The shipped Asyrp direction red -> blue on toy-text-ddpm that keeps shapes best (made by
examples/toy-asyrp-red-to-blue-paired.yaml; the caption-trained one is toy-red-to-blue)."""
TOY_TRANSLATOR = TOY_WEIGHTS / "toy-red-translator"
"""The shipped DDS translator red -> blue / green / yellow (made by examples/toy-dds-translator.yaml)."""
DEMO_DDS_STEPS = 50
"""Zero-shot DDS optimisation steps in the demo (the notebook's 200 cost 4x the time for little gain here)."""


@dataclass(frozen=True)
class DemoEdit:
    """What the demo runs: the model, the editor section of the job, and the colours it edits from/to."""

    model: str
    editor: dict
    source_colour: str | None = None
    target_colour: str | None = None

    @property
    def label(self) -> str:
        """How the page and the console name the edit."""
        names = {"asyrp": "Asyrp direction", "dds": "zero-shot DDS", "translator": "DDS translator"}
        if self.editor["kind"] in names:
            return f"{names[self.editor['kind']]} {self.source_colour} -> {self.target_colour}"
        return "DDIM inversion + reconstruction"


DEMO_EDITORS = ("best", "translator", "asyrp", "dds", "reconstruct")
"""What ``rayedit demo --editor`` accepts; ``best`` picks the first shipped one in this order."""


def demo_edit(editor: str = "best") -> DemoEdit:
    """The edit the demo runs: ``editor`` by name, or the best the package can show (``best``): the shipped DDS
    translator, else the shipped Asyrp direction, else zero-shot DDS (all on toy-text-ddpm), else DDIM
    reconstruction with toy-ddpm, else the random ``tiny`` preset. Asking for one whose weights are not shipped
    raises a :class:`~rayedit.config.SpecError` naming what is missing."""
    from rayedit.config import SpecError

    if editor not in DEMO_EDITORS:
        raise SpecError(f"demo editor {editor!r}: choose one of {', '.join(DEMO_EDITORS)}")
    text = toy_weights_shipped("toy-text-ddpm")
    have = {
        "translator": text and (TOY_TRANSLATOR / "translator.json").is_file(),
        "asyrp": text and (TOY_DIRECTION / "direction.json").is_file(),
        "dds": text,
        "reconstruct": True,
    }
    if editor != "best" and not have[editor]:
        raise SpecError(f"demo editor {editor!r} needs the toy weights it runs on (toy-text-ddpm and its "
                        f"translator / direction under {TOY_WEIGHTS}), which this install does not have")
    chosen = editor if editor != "best" else next(k for k in DEMO_EDITORS[1:] if have[k])
    if chosen == "translator":
        return DemoEdit("toy-text-ddpm", {"kind": "translator", "url": str(TOY_TRANSLATOR), "task": "a blue circle"},
                        "red", "blue")
    if chosen == "asyrp":
        return DemoEdit("toy-text-ddpm", {"kind": "asyrp", "directions": [{"url": str(TOY_DIRECTION)}],
                                          "boost": False}, "red", "blue")
    if chosen == "dds":
        return DemoEdit("toy-text-ddpm", {"kind": "dds", "replace": {"red": "blue"}, "steps": DEMO_DDS_STEPS,
                                          "lr": 0.4},  # the notebook's step at 32 x 32
                        "red", "blue")
    return DemoEdit("toy-ddpm" if toy_weights_shipped("toy-ddpm") else "tiny", {"kind": "reconstruct"})


def demo_clip() -> str:
    """The toy world's trained CLIP when shipped, else the random ``tiny`` one."""
    from rayedit.models.clip_source import TOY_CLIP, toy_clip_shipped

    return TOY_CLIP if toy_clip_shipped() else "tiny"


def demo_spec(root: str, steps: int, edit: DemoEdit) -> dict:
    """The demo's job spec (written to ``root/job.yaml`` so a user can rerun or adapt it). With a colour edit the
    scores aim at each caption with the colour word replaced (so ``clip_direction`` is computed). No score filters:
    on 400 held-out edits the shipped translator had no failure for a filter to remove (`python -m research
    eval-filters --spec examples/toy-translator-filters.yaml --n 400`: 100% successes)."""
    score: dict = {"clip": {"model": demo_clip()}, "lpips": {"random_backbone": True}}
    if edit.source_colour and edit.target_colour:
        score["replace"] = {edit.source_colour: edit.target_colour}
    return {
        "name": "rayedit-demo",
        "input": {"url": f"{root}/input/toy-*.tar"},
        "model": {"name": edit.model},
        "ddim": {"steps": steps},
        "editor": edit.editor,
        "score": score,
        "output": {"url": f"{root}/output"},
    }


def mean_scores(manifest_rows: list[dict]) -> dict[str, float]:
    """Mean of every score over the edited samples of a finished job's manifest rows."""
    values: dict[str, list[float]] = {}
    for row in manifest_rows:
        if row["status"] == "edited":
            for k, v in row["scores"] or []:
                values.setdefault(k, []).append(v)
    return {k: float(np.mean(v)) for k, v in sorted(values.items())}


def run_demo(out: str = "rayedit-demo", n: int = 200, steps: int | None = None, progress: bool = True,
             editor: str = "best") -> DemoResult:
    """Generate ``n`` toy images (if not there yet), run the demo job, judge it and write ``demo.html``. ``steps``:
    DDS optimisation steps for zero-shot DDS, else DDIM steps (default: 50 DDS / 20 DDIM steps; for Asyrp,
    the direction's training steps). ``editor``: see :func:`demo_edit`."""
    import yaml

    from rayedit.toy.page import pairs_page
    from rayedit.toy.verdict import pairs, verdict

    root = str(Path(out).resolve())
    edit = demo_edit(editor)
    if edit.editor["kind"] == "dds":
        edit = DemoEdit(edit.model, edit.editor | {"steps": steps or DEMO_DDS_STEPS}, edit.source_colour,
                        edit.target_colour)
    if not steps and edit.editor["kind"] == "asyrp":  # apply the direction with the DDIM steps it was trained with
        from rayedit.editors.artifact_meta import read_direction_meta

        steps = int(read_direction_meta(str(TOY_DIRECTION))["steps"])
    steps = steps or 20
    kind = f"{edit.source_colour} " if edit.source_colour else ""
    if list(Path(root, "input").glob("toy-*.tar")):
        made = "reusing the toy images"
    else:
        write_shards(f"{root}/input/toy", n, per_shard=50, colour=edit.source_colour)
        made = f"{n} {kind}toy images"
    raw = demo_spec(root, steps, edit)
    Path(root, "job.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    print(f"rayedit demo: {made} in {root}/input; {edit.label} with model {edit.model!r}; job spec "
          f"{root}/job.yaml (rerun to resume; delete the folder to start over)")
    job = run_job(parse_spec(raw, "demo"), progress=progress)
    matched = pairs(raw["input"]["url"], raw["output"]["url"])
    judged = verdict(matched, edit.target_colour)
    rows = pq.read_table(f"{root}/output/manifest.parquet").to_pylist()
    scores = {r["key"]: dict(r["scores"] or []) for r in rows}
    means = mean_scores(rows)
    page = Path(root, "demo.html")
    steps_label = {"dds": f"{edit.editor.get('steps')} DDS steps", "translator": "one forward pass"}
    summary = {"model": edit.model, "edit": edit.label,
               "steps": steps_label.get(edit.editor["kind"], f"{steps} DDIM steps")} | judged | means
    page.write_text(pairs_page("rayedit demo", matched, scores, summary))
    return DemoResult(job, means, judged, str(page))
