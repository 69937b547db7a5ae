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
            "ddim": {"steps": 2}, "score": {"clip": None, "lpips": {"random_backbone": True}},
            "resources": {"edit": {"batch_size": 2}, "io_batch_size": 2}}
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
