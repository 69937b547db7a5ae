"""The GPU check is ready to run: without a GPU it fails at once saying why; its benchmark runs (on CPU here)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU: run the check itself")
def test_gpu_check_fails_fast_without_a_gpu():
    out = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh")], capture_output=True, text=True,
                         timeout=120, env=os.environ | {"PYTHON": sys.executable})
    assert out.returncode == 2 and "no CUDA GPU" in out.stderr


def test_editor_benchmark_counts_flops_and_images(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_editors.py"), "--device", "cpu",
                          "--models", "tiny-latent", "--dtypes", "float32", "--batches", "2", "--steps", "2",
                          "--repeats", "1"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert out.returncode == 0 and [r["editor"] for r in rows] == ["reconstruct", "dds", "translator (init: model)"]
    assert all(r["images_per_s"] > 0 and r["unet_gflop_per_eval"] > 0 for r in rows)
    assert [r["unet_evals_per_image"] for r in rows] == [4, 8, 1]
