"""The driver reads what remote tasks wrote after it listed a folder: s3fs must not answer from a stale listing.

s3fs caches directory listings and reports a file missing without asking when its cached parent listing lacks it;
a resumed S3 job lists ``_done/`` at planning, its commit tasks add markers, and the cross-shard pass then read
those markers as missing (found by benchmarks/scale.py: exit 2 at the end of every resumed S3 job with dedup)."""

import s3fs

from rayedit.config import OutputSpec
from rayedit.storage.commit import committed_shards, marker_path, read_many
from rayedit.storage.fs import filesystem


def test_markers_written_by_another_process_after_a_listing_are_read(s3_bucket):
    endpoint, bucket = s3_bucket
    output = OutputSpec(url=f"s3://{bucket}/out", storage={"endpoint_url": endpoint})
    fs = filesystem(output.url, output.storage)  # the driver's (cached) filesystem instance
    fs.pipe_file(marker_path(output, "s-000"), b'{"edited": 1}')
    assert committed_shards(output) == {"s-000"}  # the planning step's listing
    other = s3fs.S3FileSystem(endpoint_url=endpoint, skip_instance_cache=True)  # a commit task on a worker
    other.pipe_file(marker_path(output, "s-001"), b'{"edited": 2}')
    found = read_many(fs, [marker_path(output, "s-000"), marker_path(output, "s-001")])
    assert found == [b'{"edited": 1}', b'{"edited": 2}']
    assert committed_shards(output) == {"s-000", "s-001"}
    assert fs.cat_file(marker_path(output, "s-001")) == b'{"edited": 2}'  # no stale listing left behind
