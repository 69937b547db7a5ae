"""``rayedit demo``: toy images in, a real Ray edit job, the oracle's verdict and an HTML page out.

No arguments, no downloads. It uses the shipped toy DDPM when its weights are in the package, else the
random-weight ``tiny`` preset (and says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from rayedit.config import parse_spec
from rayedit.models.load import toy_weights_shipped
from rayedit.pipelines.edit import JobResult, run_job
from rayedit.toy.generator import write_shards


@dataclass
class DemoResult:
    """The job's result plus what the demo measured on it."""

    job: JobResult
    mean_scores: dict[str, float]
    verdict: dict
    page: str


def demo_model() -> str:
    """The best model the package has for the demo."""
    return "toy-ddpm" if toy_weights_shipped("toy-ddpm") else "tiny"


def demo_spec(root: str, steps: int, model: str) -> dict:
    """The demo's job spec (written to ``root/job.yaml`` so a user can rerun or adapt it)."""
    return {
        "name": "rayedit-demo",
        "input": {"url": f"{root}/input/toy-*.tar"},
        "model": {"name": model},
        "ddim": {"steps": steps},
        "score": {"lpips": {"random_backbone": True}},
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


def run_demo(out: str = "rayedit-demo", n: int = 200, steps: int = 20, progress: bool = True) -> DemoResult:
    """Generate ``n`` toy images (if not there yet), run the demo job, judge it and write ``demo.html``."""
    import yaml

    from rayedit.toy.page import pairs_page
    from rayedit.toy.verdict import pairs, verdict

    root = str(Path(out).resolve())
    if list(Path(root, "input").glob("toy-*.tar")):
        made = "reusing the toy images"
    else:
        write_shards(f"{root}/input/toy", n, per_shard=50)
        made = f"{n} toy images"
    model = demo_model()
    raw = demo_spec(root, steps, model)
    Path(root, "job.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    print(f"rayedit demo: {made} in {root}/input, model {model!r}, job spec {root}/job.yaml "
          "(rerun to resume; delete the folder to start over)")
    job = run_job(parse_spec(raw, "demo"), progress=progress)
    matched = pairs(raw["input"]["url"], raw["output"]["url"])
    judged = verdict(matched)
    rows = pq.read_table(f"{root}/output/manifest.parquet").to_pylist()
    scores = {r["key"]: dict(r["scores"] or []) for r in rows}
    means = mean_scores(rows)
    page = Path(root, "demo.html")
    summary = {"model": model, "edit": "DDIM inversion + reconstruction", "ddim steps": steps} | judged | means
    page.write_text(pairs_page("rayedit demo", matched, scores, summary))
    return DemoResult(job, means, judged, str(page))
