"""An object store that fails requests: the job retries with backoff and completes, or fails after bounded retries
without committing a partial shard. Moto S3 behind a loopback proxy that injects 503s and dropped connections."""

import io
import time

import pyarrow.parquet as pq
import pytest
import s3fs

from rayedit.config import parse_spec
from rayedit.pipelines.edit import run_job
from tests.flaky_proxy import FlakyProxy
from tests.helpers import sample_members, tar_bytes

pytestmark = pytest.mark.slow


def _job(endpoint: str, bucket: str, out: str, attempts: int | None = None):
    storage = {"endpoint_url": endpoint}
    if attempts is not None:  # s3fs passes config_kwargs to botocore: fewer attempts, a faster failure
        storage["options"] = {"config_kwargs": {"retries": {"max_attempts": attempts, "mode": "standard"}}}
    return parse_spec({
        "input": {"url": f"s3://{bucket}/in/shard-{{000..002}}.tar", "storage": storage},
        "model": {"name": "tiny"}, "ddim": {"steps": 2}, "score": {"clip": None, "lpips": None},
        "output": {"url": f"s3://{bucket}/{out}", "storage": storage},
        "resources": {"edit": {"batch_size": 4}, "io_batch_size": 4},
    })


def _inputs(s3_bucket) -> tuple[s3fs.S3FileSystem, str]:
    endpoint, bucket = s3_bucket
    fs = s3fs.S3FileSystem(endpoint_url=endpoint, use_listings_cache=False)
    for i in range(3):
        fs.pipe(f"{bucket}/in/shard-{i:03d}.tar", tar_bytes(sample_members(f"s{i}-", 4, seed=i)))
    return fs, bucket


@pytest.mark.parametrize("drop", [False, True], ids=["503-slowdown", "dropped-connection"])
def test_job_completes_through_a_flaky_store(ray_local, s3_bucket, drop):
    fs, bucket = _inputs(s3_bucket)
    with FlakyProxy(s3_bucket[0], fail_every=4, drop=drop) as proxy:
        result = run_job(_job(proxy.url, bucket, "out"), progress=False)
    assert proxy.failures >= 5, "the proxy should have failed some requests"
    assert result.counts == {"edited": 12, "filtered": 0, "failed": 0}
    rows = pq.read_table(io.BytesIO(fs.cat_file(f"{bucket}/out/manifest.parquet"))).to_pylist()
    assert sorted(r["key"] for r in rows) == sorted({r["key"] for r in rows}) and len(rows) == 12
    assert len(fs.ls(f"{bucket}/out/shards")) == 3


def test_job_fails_after_bounded_retries_and_commits_nothing_partial(ray_local, s3_bucket):
    fs, bucket = _inputs(s3_bucket)
    started = time.time()
    with FlakyProxy(s3_bucket[0], fail_puts_after=1) as proxy, pytest.raises(Exception) as err:  # noqa: PT011
        # the probe PUT works, every later PUT fails
        run_job(_job(proxy.url, bucket, "dead", attempts=2), progress=False)
    assert time.time() - started < 240, "retries must be bounded"
    assert "SlowDown" in str(err.value) or "503" in str(err.value), str(err.value)[-2000:]
    fs.invalidate_cache()
    assert not fs.exists(f"{bucket}/dead/_done") and not fs.exists(f"{bucket}/dead/shards")
    assert not fs.exists(f"{bucket}/dead/manifest.parquet")


def test_a_failing_store_is_an_error_not_a_damaged_shard(s3_bucket):
    from rayedit.config import InputSpec, StorageSpec
    from rayedit.storage.readers import StorageError, read_shard
    from rayedit.storage.shards import plan_shards

    _inputs(s3_bucket)
    endpoint, bucket = s3_bucket
    shard = plan_shards(InputSpec(url=f"s3://{bucket}/in/shard-000.tar",
                                  storage=StorageSpec(endpoint_url=endpoint)))[0]
    with FlakyProxy(endpoint, fail_every=1) as proxy:  # every request: 503 SlowDown
        spec = InputSpec(url=shard.url, storage=StorageSpec(endpoint_url=proxy.url))
        with pytest.raises(StorageError, match="reading s3://.*shard-000.tar"):
            list(read_shard(shard, spec))
    assert proxy.failures > 1  # the client retried before giving up
    # damaged data is still a failed sample, not an error
    from rayedit.storage.fs import is_storage_error

    assert not is_storage_error(EOFError("Compressed file ended before the end-of-stream marker"))
    assert is_storage_error(OSError(16, "Please reduce your request rate."))  # what s3fs raises for SlowDown
