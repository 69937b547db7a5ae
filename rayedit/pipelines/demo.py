"""``rayedit demo``: toy images in, a real Ray edit job, the oracle's verdict and an HTML page out.

No arguments, no downloads. It runs the best editor the package has: the shipped DDS translator on toy-sd (the
64-px v2 world in Stable Diffusion's own layout), which turns the red object of each scene green and keeps every
other object and the background - judged against the perfect edit of every scene. Without it, on 32-px red toy
images turned blue: the v1 DDS translator, else the shipped Asyrp direction, else zero-shot DDS with the shipped
text-conditioned toy DDPM; without those, DDIM reconstruction with the toy DDPM, else the random-weight ``tiny``
preset (and says so). ``--editor`` picks one of them by name.
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
TOY_SD_TRANSLATOR = TOY_WEIGHTS / "toy-sd-red-translator"
"""The shipped DDS translator on toy-sd: the red object of a v2 scene -> blue / green / yellow
(examples/toy-sd-translator.yaml)."""
DEMO_V2_TASK = "red->green"
"""The toy-sd demo's edit: the task the shipped translator does best on held-out scenes (95.5% exact edits of 200;
docs/measurements/2026-12-toy-sd.md)."""
DEMO_V2_SEED = 31338
"""The v2 scene stream of the toy-sd demo: the held-out stream the measurements use (never trained or tuned on)."""
DEMO_DDS_STEPS = 50
"""Zero-shot DDS optimisation steps in the demo (the notebook's 200 cost 4x the time for little gain here)."""


@dataclass(frozen=True)
class DemoEdit:
    """What the demo runs: the model, the editor section of the job, and the colours it edits from/to."""

    model: str
    editor: dict
    source_colour: str | None = None
    target_colour: str | None = None
    task: str | None = None
    """A v2 scene task ('red->green'): the demo edits toy-sd scenes and judges them against the perfect edits."""

    @property
    def label(self) -> str:
        """How the page and the console name the edit."""
        if self.task:
            return f"DDS translator on toy-sd: the red object of each scene -> {self.target_colour}"
        names = {"asyrp": "Asyrp direction", "dds": "zero-shot DDS", "translator": "DDS translator"}
        if self.editor["kind"] in names:
            return f"{names[self.editor['kind']]} {self.source_colour} -> {self.target_colour}"
        return "DDIM inversion + reconstruction"


DEMO_EDITORS = ("best", "toy-sd-translator", "translator", "asyrp", "dds", "reconstruct")
"""What ``rayedit demo --editor`` accepts; ``best`` picks the first shipped one in this order. ``toy-sd-translator``
edits 64-px v2 scenes with toy-sd; the others edit 32-px v1 images with the v1 toy models."""


def demo_edit(editor: str = "best") -> DemoEdit:
    """The edit the demo runs: ``editor`` by name, or the best the package can show (``best``): the shipped DDS
    translator on toy-sd, else the v1 DDS translator, else the shipped Asyrp direction, else zero-shot DDS (all on
    toy-text-ddpm), else DDIM reconstruction with toy-ddpm, else the random ``tiny`` preset. Asking for one whose
    weights are not shipped raises a :class:`~rayedit.config.SpecError` naming what is missing."""
    from rayedit.config import SpecError

    if editor not in DEMO_EDITORS:
        raise SpecError(f"demo editor {editor!r}: choose one of {', '.join(DEMO_EDITORS)}")
    text = toy_weights_shipped("toy-text-ddpm")
    have = {
        "toy-sd-translator": toy_weights_shipped("toy-sd") and (TOY_SD_TRANSLATOR / "translator.json").is_file(),
        "translator": text and (TOY_TRANSLATOR / "translator.json").is_file(),
        "asyrp": text and (TOY_DIRECTION / "direction.json").is_file(),
        "dds": text,
        "reconstruct": True,
    }
    if editor != "best" and not have[editor]:
        raise SpecError(f"demo editor {editor!r} needs the toy weights it runs on (toy-sd or toy-text-ddpm and "
                        f"its translator / direction under {TOY_WEIGHTS}), which this install does not have")
    chosen = editor if editor != "best" else next(k for k in DEMO_EDITORS[1:] if have[k])
    if chosen == "toy-sd-translator":
        source, target = DEMO_V2_TASK.split("->")
        return DemoEdit("toy-sd", {"kind": "translator", "url": str(TOY_SD_TRANSLATOR), "task": f"a {target} circle"},
                        source, target, task=DEMO_V2_TASK)
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
    the demo shows every edit, good or bad, next to the oracle's verdict. The v1 toy CLIP scores only v1 images
    (it was trained on one 32-px object per image); toy-sd scenes get LPIPS only. The scores run in the edit actor
    (``resources.score.colocate``'s default on CPU)."""
    score: dict = {"clip": {"model": demo_clip()}, "lpips": {"random_backbone": True}}
    if edit.task:
        score = {"clip": None, "lpips": {"random_backbone": True}}
    elif edit.source_colour and edit.target_colour:
        score["replace"] = {edit.source_colour: edit.target_colour}
    return {
        "name": "rayedit-demo",
        "input": {"url": f"{root}/input/{'v2' if edit.task else 'toy'}-*.tar"},
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


def people_numbers(judged: dict) -> dict[str, str]:
    """The v2 judge's numbers rounded for people, by what they mean."""
    def pct(x):
        return f"{100 * x:.1f}%"

    def db(x):
        return "exact" if x == float("inf") else f"{x:.1f} dB"

    return {"scenes edited": str(judged["n"]),
            "exact edits (target recoloured, mask IoU >= 0.9, all else kept)": pct(judged["success_iou_0.9"]),
            "target object recoloured": pct(judged["target_reached"]),
            "other objects kept": pct(judged["kept_objects_read"]),
            "PSNR vs the perfect edit (median)": db(judged["psnr_median"]),
            "background PSNR vs the perfect edit (median)": db(judged["background_psnr_median"]),
            "target colour off its palette value (median)": f"{judged['target_palette_dist_median']:.1f} / 255"}


def run_demo(out: str = "rayedit-demo", n: int = 200, steps: int | None = None, progress: bool = True,
             editor: str = "best") -> DemoResult:
    """Generate ``n`` toy images (if not there yet), run the demo job, judge it and write ``demo.html``. ``steps``:
    DDS optimisation steps for zero-shot DDS, else DDIM steps (default: 50 DDS / 20 DDIM steps; for Asyrp,
    the direction's training steps). ``editor``: see :func:`demo_edit`."""
    import yaml

    root = str(Path(out).resolve())
    edit = demo_edit(editor)
    if edit.editor["kind"] == "dds":
        edit = DemoEdit(edit.model, edit.editor | {"steps": steps or DEMO_DDS_STEPS}, edit.source_colour,
                        edit.target_colour)
    if not steps and edit.editor["kind"] == "asyrp":  # apply the direction with the DDIM steps it was trained with
        from rayedit.editors.artifact_meta import read_direction_meta

        steps = int(read_direction_meta(str(TOY_DIRECTION))["steps"])
    steps = steps or 20
    made = write_demo_inputs(root, n, edit)
    raw = demo_spec(root, steps, edit)
    Path(root, "job.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    print(f"rayedit demo: {made} in {root}/input; {edit.label} with model {edit.model!r}; job spec "
          f"{root}/job.yaml (rerun to resume; delete the folder to start over)")
    job = run_job(parse_spec(raw, "demo"), progress=progress)
    rows = pq.read_table(f"{root}/output/manifest.parquet").to_pylist()
    scores = {r["key"]: dict(r["scores"] or []) for r in rows}
    means = mean_scores(rows)
    steps_label = {"dds": f"{edit.editor.get('steps')} DDS steps", "translator": "one forward pass"}
    head = {"model": edit.model, "edit": edit.label,
            "steps": steps_label.get(edit.editor["kind"], f"{steps} DDIM steps")}
    if edit.task:
        judged, shown, legend = judge_scenes(root, edit.task, scores)
    else:
        from rayedit.toy.verdict import pairs, verdict

        shown, legend = pairs(raw["input"]["url"], raw["output"]["url"]), "each pair: source, then result"
        judged = verdict(shown, edit.target_colour)
    from rayedit.toy.page import pairs_page

    page = Path(root, "demo.html")
    page.write_text(pairs_page("rayedit demo", shown, scores, head | judged | means, legend=legend))
    return DemoResult(job, means, judged, str(page))


def write_demo_inputs(root: str, n: int, edit: DemoEdit) -> str:
    """Write the demo's input shards under ``root``/input unless they are there; say what was made."""
    if edit.task:
        from rayedit.toy.edit_tasks import write_scene_shards

        if list(Path(root, "input").glob("v2-*.tar")):
            return "reusing the toy scenes"
        write_scene_shards(f"{root}/input/v2", n, per_shard=50, seed=DEMO_V2_SEED, task=edit.task)
        return f"{n} toy-sd scenes with a red object (held-out stream {DEMO_V2_SEED})"
    if list(Path(root, "input").glob("toy-*.tar")):
        return "reusing the toy images"
    write_shards(f"{root}/input/toy", n, per_shard=50, colour=edit.source_colour)
    return f"{n} {edit.source_colour + ' ' if edit.source_colour else ''}toy images"


def judge_scenes(root: str, task: str, scores: dict[str, dict]) -> tuple[dict, list[tuple], str]:
    """Judge the toy-sd demo's edits against the perfect edit of each scene: (the numbers rounded for people,
    (key, source, edit, perfect edit) rows for the page, the page's legend). Adds each edit's PSNR vs its perfect
    edit and exactness to ``scores`` (shown on the page, not in the manifest)."""
    from rayedit.toy.edit_metrics import summarise
    from rayedit.toy.edit_tasks import EditTask
    from rayedit.toy.scenes import edited_scene_at, scene_at
    from rayedit.toy.v2_judge import judge_each
    from rayedit.toy.verdict import output_images

    edited = output_images(f"{root}/output")
    each = judge_each(edited, task, DEMO_V2_SEED)
    edit, shown = EditTask.parse(task), []
    for key, img in sorted(edited.items()):
        index = int(key.removeprefix("scene"))
        source_scene, source = scene_at(DEMO_V2_SEED, index)
        shown.append((key, source, img, edited_scene_at(DEMO_V2_SEED, index, edit.apply(source_scene))))
        scores.setdefault(key, {}).update({"psnr_vs_perfect": each[key]["psnr"],
                                           "exact_edit": float(each[key]["success_iou_0.9"])})
    shown.sort(key=lambda row: (scores[row[0]]["exact_edit"], row[0]))  # the misses first: they are the news
    legend = ("each row: source, edit, the perfect edit (drawn by the generator); exact_edit 1 = right at mask IoU "
              "0.9 with everything else kept; misses first")
    return people_numbers(summarise(list(each.values()))), shown, legend
