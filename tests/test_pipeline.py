"""The whole job on local Ray, reading from and writing to a real S3 API (moto on 127.0.0.1)."""

import io
import json
import tarfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import ray
import s3fs

from rayedit.config import SpecError, parse_spec
from rayedit.pipelines.edit import plan_job, run_job
from tests.helpers import png_bytes, sample_members, tar_bytes

pytestmark = pytest.mark.slow


def _spec(endpoint, bucket, **extra):
    storage = {"endpoint_url": endpoint}
    raw = {
        "name": "s3-test",
        "input": {"url": f"s3://{bucket}/in/shard-{{000..002}}.tar", "storage": storage},
        "model": {"name": "tiny"},
        "ddim": {"steps": 3},
        "score": {"lpips": {"random_backbone": True}, "target_caption": "a lion"},
        "filters": [{"score": "lpips_random_backbone", "max": 0.999}],
        "output": {"url": f"s3://{bucket}/out", "storage": storage, "image_format": "webp"},
        "resources": {"edit": {"batch_size": 4}, "score": {"batch_size": 8}, "io_batch_size": 4},
    }
    raw.update(extra)
    return parse_spec(raw)


def _put_inputs(fs, bucket):
    good = tar_bytes(sample_members("g", 5))
    bad = tar_bytes([
        ("ok000.png", png_bytes()), ("ok000.txt", b"fine"),
        ("corrupt.png", png_bytes()[:80]),
        ("tiny.png", png_bytes(w=1, h=1)),
        ("empty.png", b""),
        ("../escape.png", png_bytes()),
        ("captiononly.txt", b"no image here"),
    ])
    whole = tar_bytes(sample_members("t", 6))
    truncated = whole[: len(whole) // 2 + 100]
    for name, data in (("shard-000.tar", good), ("shard-001.tar", bad), ("shard-002.tar", truncated)):
        fs.pipe(f"{bucket}/in/{name}", data)


def ray_session_dir() -> str:
    """The local Ray session's folder (/tmp/ray/session_...): its logs and runtime_env records."""
    return ray._private.worker._global_node.get_session_dir_path()


def _files_holding(root: Path, needle: bytes) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and not p.is_symlink() and needle in p.read_bytes()]


def test_joined_cluster_runtime_env_holds_no_credentials(monkeypatch):
    from rayedit.cluster.runtime import joined_cluster_runtime_env

    env = {"AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "s3cr3t", "AWS_SESSION_TOKEN": "tok",
           "AWS_ENDPOINT_URL": "http://127.0.0.1:9000", "HF_HUB_OFFLINE": "1"}
    monkeypatch.delenv("RAY_JOB_CONFIG_JSON_ENV_VAR", raising=False)
    assert joined_cluster_runtime_env(env) == {"env_vars": {"AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
                                                            "HF_HUB_OFFLINE": "1"}}


def _manifest(fs, bucket):
    fs.invalidate_cache()
    return pq.read_table(io.BytesIO(fs.cat_file(f"{bucket}/out/manifest.parquet"))).to_pylist()


def test_local_ray_is_on_loopback(ray_local):
    assert ray_local["nodes"] == ["127.0.0.1"]
    assert all(n["NodeManagerAddress"] == "127.0.0.1" for n in ray.nodes())


def test_local_ray_workers_find_their_own_cluster_and_the_driver_env_is_untouched(ray_local):
    import os

    @ray.remote
    def worker_address():
        return os.environ.get("RAY_ADDRESS")

    # Ray code in workers that looks the cluster up by "auto" (Ray Train's placement-group cleaner) must find this
    # one even when another Ray runs on the machine; programs the driver starts later must still start their own
    assert ray.get(worker_address.remote()) == ray.get_runtime_context().gcs_address
    assert ray.get_runtime_context().gcs_address.startswith("127.0.0.1:")
    assert "RAY_ADDRESS" not in os.environ and "RAY_GCS_SERVER_PORT" not in os.environ


def test_s3_job_accounts_for_every_sample_and_resumes(ray_local, s3_bucket):
    endpoint, bucket = s3_bucket
    fs = s3fs.S3FileSystem(endpoint_url=endpoint, use_listings_cache=False)
    _put_inputs(fs, bucket)
    spec = _spec(endpoint, bucket)

    result = run_job(spec, progress=False)
    rows = _manifest(fs, bucket)
    by_key = {(r["shard_id"], r["key"]): r for r in rows}
    assert len(rows) == len(by_key)  # nothing twice
    reasons = {k[1]: r["reason"] for k, r in by_key.items() if r["shard_id"] == "shard-001"}
    assert reasons["ok000"] == "" and by_key[("shard-001", "ok000")]["status"] == "edited"
    assert reasons["corrupt"].startswith("corrupt image")
    assert reasons["tiny"].startswith("image too small (1x1")
    assert reasons["empty"] == "empty image data (0 bytes)"
    assert "path traversal" in reasons["escape.png"]
    assert reasons["captiononly"].startswith("no image member")
    truncated = [r for r in rows if r["shard_id"] == "shard-002"]
    assert sum(r["status"] == "failed" for r in truncated) == 1 and "truncated" in truncated[-1]["reason"]
    n_trunc_ok = sum(r["status"] == "edited" for r in truncated)
    assert n_trunc_ok >= 1
    # input count = edited + filtered + failed, and the summary agrees with the manifest
    expected_inputs = 5 + 6 + (n_trunc_ok + 1)
    assert sum(result.counts.values()) == len(rows) == expected_inputs
    assert result.counts["failed"] == 6 and result.samples_this_run == expected_inputs
    assert all(set(r["scores"] and dict(r["scores"])) == {"clip_score", "clip_direction", "lpips_random_backbone"}
               for r in rows if r["status"] == "edited")

    # the tar holds exactly the edited samples, with metadata and no credentials
    with tarfile.open(fileobj=io.BytesIO(fs.cat_file(f"{bucket}/out/shards/shard-000.tar"))) as tar:
        names = tar.getnames()
        meta = json.loads(tar.extractfile("g000.json").read())
    assert names.count("g000.webp") == 1 and len([n for n in names if n.endswith(".webp")]) == 5
    assert meta["provenance"]["model"] == "tiny" and meta["provenance"]["ddim_steps"] == 3
    assert meta["target_caption"] == "a lion" and meta["source_shard"].endswith("in/shard-000.tar")
    all_text = b"".join(fs.cat_file(p) for p in fs.find(f"{bucket}/out"))
    assert b"testing-secret-value" not in all_text
    # nor in anything Ray wrote: logs (runtime_env_agent.log printed runtime_env env_vars), runtime_env records
    leaked = _files_holding(Path(ray_session_dir()), b"testing-secret-value")
    assert not leaked, f"the secret key is in Ray's session folder: {leaked}"

    # a rerun skips everything; losing one shard's commit redoes only that shard
    again = run_job(spec, progress=False)
    assert again.samples_this_run == 0 and again.shards_skipped == 3 and again.counts == result.counts
    fs.rm(f"{bucket}/out/_done/shard-000.json")
    redo = run_job(spec, progress=False)
    assert redo.shards_committed == 1 and redo.samples_this_run == 5
    assert sorted((r["shard_id"], r["key"]) for r in _manifest(fs, bucket)) == sorted(by_key)


def test_bad_spec_fails_before_work(s3_bucket, tmp_path):
    endpoint, bucket = s3_bucket
    with pytest.raises(SpecError, match="input not found"):
        plan_job(_spec(endpoint, bucket))  # no inputs uploaded in this bucket
    fs = s3fs.S3FileSystem(endpoint_url=endpoint)
    _put_inputs(fs, bucket)
    missing = {"url": "s3://no-such-bucket-here/out", "storage": {"endpoint_url": endpoint}}
    spec = _spec(endpoint, bucket, output=missing)
    with pytest.raises(SpecError, match="not writable"):
        plan_job(spec)
    with pytest.raises(SpecError, match="score 'lpips' is not computed"):
        plan_job(_spec(endpoint, bucket, filters=[{"score": "lpips", "max": 0.3}]))


def test_light_stage_workers_do_not_import_torch(tmp_path):
    """Unpickling the read/filter/write functions on a worker must not pull in torch/diffusers (seconds each)."""
    import subprocess
    import sys

    from ray import cloudpickle

    from rayedit.cluster.adapter import _task_fn
    from rayedit.pipelines.edit import JobPlan, stage_plans

    spec = parse_spec({"input": {"url": str(tmp_path)}, "output": {"url": str(tmp_path / "o")}})
    plans = {p.name: p for p in stage_plans(JobPlan(spec, [], set(), 32))}
    for name in ("read_decode", "filter", "write"):
        blob = tmp_path / f"{name}.pkl"
        blob.write_bytes(cloudpickle.dumps(_task_fn(plans[name])))
        code = (f"import pickle, sys; fn = pickle.loads(open({str(blob)!r}, 'rb').read()); "
                "print(sorted(m for m in ('torch', 'diffusers', 'open_clip') if m in sys.modules))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert out.stdout.strip() == "[]", f"{name}: {out.stdout}"


def test_resource_check_catches_pools_that_cannot_start(tmp_path):
    from rayedit.cluster.executor import check_resources
    from rayedit.pipelines.edit import JobPlan, stage_plans

    raw = {"input": {"url": str(tmp_path)}, "output": {"url": str(tmp_path / "o")},
           "resources": {"edit": {"actors": 2, "num_gpus": 1}}}
    stages = stage_plans(JobPlan(parse_spec(raw), [], set(), 32))
    with pytest.raises(SpecError, match="need 2 GPUs but the cluster has 0"):
        check_resources(stages, {"CPU": 8}, strict=True)
    assert len(check_resources(stages, {"CPU": 1}, strict=False)) == 2  # CPUs and GPUs, as warnings
    assert check_resources(stages, {"CPU": 8, "GPU": 2}, strict=True) == []


def test_a_job_that_scores_nothing_runs_no_score_actor(tmp_path):
    from rayedit.pipelines.edit import JobPlan, stage_plans

    base = {"input": {"url": str(tmp_path)}, "output": {"url": str(tmp_path / "o")}}
    on_gpus = base | {"resources": {"edit": {"num_gpus": 1}}}  # on CPUs the scores run in the edit actor
    names = [p.name for p in stage_plans(JobPlan(parse_spec(on_gpus), [], set(), 32))]
    assert names == ["read_decode", "edit", "score", "filter", "write"]
    bare = base | {"score": {"clip": None, "lpips": None}}
    assert [p.name for p in stage_plans(JobPlan(parse_spec(bare), [], set(), 32))] == [
        "read_decode", "edit", "filter", "write"]


def test_colocated_scores_run_in_the_edit_actor_and_match_a_score_pool(tmp_path):
    import numpy as np

    from rayedit.pipelines.edit import JobPlan, stage_plans
    from rayedit.rows import get_scores
    from tests.test_stages import _batch

    base = {"input": {"url": str(tmp_path)}, "output": {"url": str(tmp_path / "o")}, "ddim": {"steps": 2},
            "score": {"lpips": {"random_backbone": True}, "target_caption": "a lion"}}
    apart = {p.name: p for p in stage_plans(JobPlan(parse_spec(
        base | {"resources": {"score": {"colocate": False}}}), [], set(), 32))}
    together = {p.name: p for p in stage_plans(JobPlan(parse_spec(base), [], set(), 32))}  # auto: no GPU
    assert list(together) == ["read_decode", "edit", "filter", "write"]  # no score actor pool
    assert list(apart) == ["read_decode", "edit", "score", "filter", "write"]
    fused = together["edit"].make()
    fused.setup()
    one = fused(_batch(3, ["ok", "failed", "ok"]))
    two = apart["score"].make()(apart["edit"].make()(_batch(3, ["ok", "failed", "ok"])))
    assert np.array_equal(one["edited"], two["edited"]) and list(one["status"]) == ["ok", "failed", "ok"]
    got, want = ([get_scores(b, i) for i in range(3)] for b in (one, two))
    names = ["clip_direction", "clip_score", "lpips_random_backbone"]  # the default CLIP and the asked LPIPS
    assert [sorted(r) for r in got] == [names, [], names]
    assert got == want


@pytest.mark.slow
def test_local_ray_starts_despite_a_stale_cluster_address():
    """A `ray start` cluster that died leaves its address in TMP/ray/ray_current_cluster; ray.init() would try to
    join it. rayedit's local start must not."""
    import os
    import shutil
    import subprocess
    import sys
    import tempfile

    tmp = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # short: Ray's socket paths live below it
    try:
        os.makedirs(f"{tmp}/ray")
        with open(f"{tmp}/ray/ray_current_cluster", "w") as f:
            f.write("127.0.0.1:1")  # nothing listens there
        code = ("from rayedit.cluster.runtime import init_ray, shutdown_ray\n"
                "print(init_ray(num_cpus=1)['nodes']); shutdown_ray()")
        env = os.environ | {"RAY_TMPDIR": tmp, "RAY_USAGE_STATS_ENABLED": "0"}
        env.pop("RAY_ADDRESS", None)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.strip().splitlines()[-1] == "['127.0.0.1']"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_the_model_stage_reports_every_finished_batch(ray_local):
    from rayedit.cluster.adapter import ProgressCounter, StagePlan, apply_stage

    class Identity:
        def __call__(self, batch):
            return batch

    counter = ProgressCounter.remote()
    rows = [{"status": s, "x": i} for i, s in enumerate(["ok"] * 7 + ["eos"])]
    ds = ray.data.from_items(rows, override_num_blocks=2)
    plan = StagePlan("edit", Identity, batch_size=2, actors=1, num_cpus=0.5, counts_progress=True)
    assert len(apply_stage(ds, plan, counter).take_all()) == 8
    assert ray.get(counter.value.remote()) == 7  # end-of-shard rows are not samples
