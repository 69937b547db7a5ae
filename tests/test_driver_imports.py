"""The driver plans and checks a job from configs and JSON alone: torch, diffusers and open_clip are imported by
the model stages' own workers, never by the process that runs `rayedit run` (they cost ~5-8 s of a 2-core
machine's start-up; docs/measurements/2026-12-first-result.md)."""

import json
import subprocess
import sys

import pytest
import yaml

from rayedit.models.layout import toy_weights_shipped
from rayedit.pipelines.demo import demo_edit, demo_spec, write_demo_inputs

HEAVY = ("torch", "diffusers", "open_clip", "transformers", "lpips")
PLAN = """
import json, sys
from rayedit.config import JobSpec, load_spec
from rayedit.pipelines.edit import fingerprint, plan_job, stage_plans
plan = plan_job(load_spec(sys.argv[1], [], kind=JobSpec))
fingerprint(plan), stage_plans(plan)
heavy = [m for m in sys.argv[2].split(",") if m in sys.modules]
print(json.dumps({"shards": len(plan.shards), "heavy": heavy}))
"""


@pytest.mark.parametrize(("editor", "model"), [("best", "toy-sd"), ("translator", "toy-text-ddpm")])
def test_planning_the_demo_job_imports_no_model_library(tmp_path, editor, model):
    if not toy_weights_shipped(model):
        pytest.skip(f"the demo's model {model} is not shipped here")
    edit = demo_edit(editor)  # toy-sd's translator on v2 scenes, or the v1 translator with toy-clip scores
    write_demo_inputs(str(tmp_path), 100, edit)  # 50 per shard: 2 shards
    spec = tmp_path / "job.yaml"
    spec.write_text(yaml.safe_dump(demo_spec(str(tmp_path), 3, edit), sort_keys=False))
    cmd = [sys.executable, "-c", PLAN, str(spec), ",".join(HEAVY)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen == {"shards": 2, "heavy": []}
