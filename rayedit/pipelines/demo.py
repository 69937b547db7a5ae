"""``rayedit demo``: toy images in, a real Ray edit job, the oracle's verdict and an HTML page out.

No arguments, no downloads. It runs the best editor the package has on red toy images, turning them blue: the
shipped DDS translator (one forward pass per image) when it is there, else zero-shot DDS with the shipped
text-conditioned toy DDPM, else the shipped Asyrp direction; without those, DDIM reconstruction with the toy DDPM,
else the random-weight ``tiny`` preset (and says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from rayedit.config import parse_spec
from rayedit.models.load import TOY_WEIGHTS, toy_weights_shipped
from rayedit.pipelines.edit import JobResult, run_job
from rayedit.toy.generator import write_shards


@dataclass
class DemoResult:
    """The job's result plus what the demo measured on it."""

    job: JobResult
    mean_scores: dict[str, float]
    verdict: dict
    page: str


TOY_DIRECTION = TOY_WEIGHTS / "toy-red-to-blue"
"""The shipped Asyrp direction (made by examples/toy-asyrp-red-to-blue.yaml)."""
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


def demo_edit() -> DemoEdit:
    """The best edit the package can show."""
    if toy_weights_shipped("toy-text-ddpm"):
        if (TOY_TRANSLATOR / "translator.json").is_file():
            editor = {"kind": "translator", "url": str(TOY_TRANSLATOR), "task": "a blue circle"}
            return DemoEdit("toy-text-ddpm", editor, "red", "blue")
        editor = {"kind": "dds", "replace": {"red": "blue"}, "steps": DEMO_DDS_STEPS}
        return DemoEdit("toy-text-ddpm", editor, "red", "blue")
    if not toy_weights_shipped("toy-ddpm"):
        return DemoEdit("tiny", {"kind": "reconstruct"})
    if (TOY_DIRECTION / "direction.json").is_file():
        return DemoEdit("toy-ddpm", {"kind": "asyrp", "directions": [{"url": str(TOY_DIRECTION)}]}, "red", "blue")
    return DemoEdit("toy-ddpm", {"kind": "reconstruct"})


def demo_clip() -> str:
    """The toy world's trained CLIP when shipped, else the random ``tiny`` one."""
    from rayedit.models.clip import TOY_CLIP, toy_clip_shipped

    return TOY_CLIP if toy_clip_shipped() else "tiny"


def demo_spec(root: str, steps: int, edit: DemoEdit) -> dict:
    """The demo's job spec (written to ``root/job.yaml`` so a user can rerun or adapt it). With a colour edit the
    scores aim at each caption with the colour word replaced (so ``clip_direction`` is computed). No score filters:
    on 400 held-out edits the shipped translator had no failure for a filter to remove (`rayedit toy eval-filters
    --spec examples/toy-translator-filters.yaml --n 400`: 100% successes)."""
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


def run_demo(out: str = "rayedit-demo", n: int = 200, steps: int | None = None, progress: bool = True) -> DemoResult:
    """Generate ``n`` toy images (if not there yet), run the demo job, judge it and write ``demo.html``. ``steps``:
    DDS optimisation steps for zero-shot DDS, else DDIM steps (default: 50 DDS / 20 DDIM steps)."""
    import yaml

    from rayedit.toy.page import pairs_page
    from rayedit.toy.verdict import pairs, verdict

    root = str(Path(out).resolve())
    edit = demo_edit()
    if edit.editor["kind"] == "dds":
        edit = DemoEdit(edit.model, edit.editor | {"steps": steps or DEMO_DDS_STEPS}, edit.source_colour,
                        edit.target_colour)
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
