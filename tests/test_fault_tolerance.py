"""Fault tolerance on local Ray: a model actor that dies mid-job is replaced and no sample is lost or doubled."""

import json
import os
import subprocess
import sys
import tarfile
from collections import Counter

import pyarrow.parquet as pq
import pytest
import yaml

from rayedit.toy.generator import write_shards


@pytest.mark.slow
def test_a_crashed_edit_actor_is_replaced_and_no_sample_is_lost_or_doubled(tmp_path):
    write_shards(str(tmp_path / "in" / "toy"), 24, per_shard=6)  # 4 shards
    spec = {"input": {"url": str(tmp_path / "in" / "toy-*.tar")}, "output": {"url": str(tmp_path / "out")},
            "ddim": {"steps": 2}, "score": {"clip": None, "lpips": None},  # no score actor: the edit actor's crash
            "resources": {"edit": {"batch_size": 2}, "io_batch_size": 2}}                # is the point
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(spec))
    marker = tmp_path / "crashed"
    env = os.environ | {"RAYEDIT_CRASH_STAGE": "edit", "RAYEDIT_CRASH_MARKER": str(marker)}
    out = subprocess.run([sys.executable, "-m", "rayedit.cli", "run", str(tmp_path / "job.yaml"), "--no-progress",
                          "--json"], env=env, capture_output=True, text=True, timeout=600)
    assert marker.exists(), "the edit actor should have killed itself on its first batch"
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    summary = out.stdout.strip().splitlines()[-1]  # the last line, for schedulers
    assert json.loads(summary)["counts"] == {"edited": 24, "filtered": 0, "failed": 0}
    assert "will be retried" in out.stdout + out.stderr  # Ray saw the actor die and retried its batch
    rows = pq.read_table(tmp_path / "out" / "manifest.parquet").to_pylist()
    assert sorted(r["key"] for r in rows) == sorted({r["key"] for r in rows}) and len(rows) == 24
    members = Counter()
    for tar_path in (tmp_path / "out" / "shards").glob("*.tar"):
        with tarfile.open(tar_path) as tar:
            members.update(tar.getnames())
    assert len(members) == 24 * 3 and set(members.values()) == {1}  # image, json, txt of each sample, once


@pytest.mark.slow
def test_a_stalled_job_fails_with_its_cause_instead_of_hanging(tmp_path):
    write_shards(str(tmp_path / "in" / "toy"), 4, per_shard=4)
    spec = {"input": {"url": str(tmp_path / "in" / "toy-*.tar")}, "output": {"url": str(tmp_path / "out")},
            "ddim": {"steps": 2}, "score": {"clip": None, "lpips": None},
            "resources": {"edit": {"batch_size": 2}, "io_batch_size": 2, "stall_minutes": 0.25}}
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(spec))
    env = os.environ | {"RAYEDIT_STALL_STAGE": "edit"}
    out = subprocess.run([sys.executable, "-m", "rayedit.cli", "run", str(tmp_path / "job.yaml"), "--no-progress"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1, out.stderr[-2000:]
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("rayedit: error: JobStalled: no batch edited, written or committed for 0.25 min"), last


@pytest.mark.slow
def test_a_worker_node_lost_mid_job_loses_and_doubles_nothing():
    # a multi-node Ray cluster on 127.0.0.1 (benchmarks/node_loss.py): a worker node is removed after the first
    # committed shard; the job finishes on the other one
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, os.path.join(root, "benchmarks", "node_loss.py"), "--runs", "1",
                          "--kill-after", "1", "--json"], capture_output=True, text=True, timeout=900, cwd=root)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert out.returncode == 0 and not result["hung"], out.stdout[-2000:] + out.stderr[-2000:]
    assert result["killed_at_s"] is not None and result["accounted"] == result["samples"] == 48
    assert result["lost"] == result["duplicated_in_manifest"] == result["duplicated_in_tars"] == 0
