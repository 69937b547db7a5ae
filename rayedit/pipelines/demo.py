"""``rayedit demo``: toy images in, a real Ray edit job, a summary out - no arguments, no downloads."""

from __future__ import annotations

from pathlib import Path

from rayedit.config import parse_spec
from rayedit.pipelines.edit import JobResult, run_job
from rayedit.toy.generator import write_shards


def demo_spec(root: str, steps: int) -> dict:
    """The demo's job spec (printed to ``root/job.yaml`` so a user can rerun or adapt it)."""
    return {
        "name": "rayedit-demo",
        "input": {"url": f"{root}/input/toy-*.tar"},
        "model": {"name": "tiny"},
        "ddim": {"steps": steps},
        "score": {"lpips": {"random_backbone": True}, "target_caption": None},
        "output": {"url": f"{root}/output"},
    }


def run_demo(out: str = "rayedit-demo", n: int = 200, steps: int = 20, progress: bool = True) -> JobResult:
    """Generate ``n`` toy images (if not there yet) and run the demo job on them."""
    import yaml

    root = str(Path(out).resolve())
    if not list(Path(root, "input").glob("toy-*.tar")):
        write_shards(f"{root}/input/toy", n, per_shard=50)
    raw = demo_spec(root, steps)
    Path(root, "job.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    print(f"rayedit demo: {n} toy images in {root}/input, job spec {root}/job.yaml")
    return run_job(parse_spec(raw, "demo"), progress=progress)
