"""What a job run did (returned by every job runner, printed by the CLI, appended to the output's ``_runs/``)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass

from rayedit.config import OutputSpec
from rayedit.storage.fs import filesystem, join, write_atomic


@dataclass
class JobResult:
    """What a run did."""

    output_url: str
    counts: dict[str, int]
    shards_total: int
    shards_skipped: int
    shards_committed: int
    samples_this_run: int
    seconds: float
    notes: list[str]
    first_result_seconds: float = 0.0
    """Time until the first edited rows came back (start-up: Ray, actors, model loading, pipeline fill)."""

    @property
    def images_per_second(self) -> float:
        """Samples accounted for in this run per wall-clock second."""
        return self.samples_this_run / self.seconds if self.seconds else 0.0


def record_run(output: OutputSpec, result: JobResult) -> None:
    """Append this run to ``_runs/`` (when, samples, seconds, throughput): what ``rayedit report`` lists."""
    finished = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    record = {"finished": finished, "samples_this_run": result.samples_this_run, "seconds": result.seconds,
              "images_per_second": result.images_per_second, "shards_committed": result.shards_committed,
              "counts": result.counts, "first_result_seconds": round(result.first_result_seconds, 2)}
    name = f"{finished.replace(':', '')}-{uuid.uuid4().hex[:6]}.json"
    write_atomic(filesystem(output.url, output.storage), join(output.url, "_runs", name), json.dumps(record).encode())
