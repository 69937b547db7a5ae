"""A worker node lost mid-job, on a multi-node Ray cluster on 127.0.0.1 (Ray's own ray.cluster_utils.Cluster: a
head with no CPUs for work, worker raylets with their own resources). The edit actors run on the workers; after
``--kill-after`` committed shards (random when not given) one worker node is removed - its raylet and workers
killed. Prints one JSON line per run and a table: samples accounted / lost / duplicated, shards redone, seconds
lost against an undisturbed run.

    python benchmarks/node_loss.py --runs 5              # random kill points
    python benchmarks/node_loss.py --runs 1 --kill-after 1 --json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _spec(root: Path, shards: int, per_shard: int, actors: int):
    from rayedit.config import parse_spec
    from rayedit.toy.generator import write_shards

    write_shards(str(root / "in" / "toy"), shards * per_shard, per_shard=per_shard)
    return parse_spec({"input": {"url": str(root / "in" / "toy-*.tar")}, "output": {"url": str(root / "out")},
                       "ddim": {"steps": 3}, "score": {"clip": None, "lpips": None},
                       "resources": {"edit": {"batch_size": 2, "actors": actors}, "io_batch_size": 2}})


def run_once(kill_after: int | None, shards: int = 8, per_shard: int = 6, workers: int = 2) -> dict:
    """One job on a fresh local cluster; ``kill_after`` committed shards, remove a worker node (None: no kill)."""
    import pyarrow.parquet as pq
    import ray
    from ray.cluster_utils import Cluster

    from rayedit.pipelines.edit import run_job

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        spec = _spec(root, shards, per_shard, actors=workers)
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "node_ip_address": "127.0.0.1",
                                                                "include_dashboard": False})
        nodes = [cluster.add_node(num_cpus=2, node_ip_address="127.0.0.1") for _ in range(workers)]
        cluster.wait_for_nodes()
        outcome: dict = {}

        def job():
            try:
                outcome["result"] = run_job(spec, address=cluster.address, progress=False)
            except Exception as err:  # noqa: BLE001 - reported in the JSON line
                outcome["error"] = f"{type(err).__name__}: {err}"

        started = time.time()
        thread = threading.Thread(target=job)
        thread.start()
        killed_at = None
        done = root / "out" / "_done"
        while thread.is_alive() and kill_after is not None and killed_at is None:
            if len(list(done.glob("*.json"))) >= kill_after:
                cluster.remove_node(nodes[0], allow_graceful=False)
                killed_at = time.time() - started
            time.sleep(0.1)
        thread.join(timeout=600)
        hung = thread.is_alive()
        seconds = time.time() - started
        ray.shutdown()
        cluster.shutdown()
        out = {"kill_after_shards": kill_after, "killed_at_s": killed_at and round(killed_at, 1),
               "seconds": round(seconds, 1), "hung": hung}
        if "error" in outcome or hung:
            return out | {"error": outcome.get("error", "did not finish within 600 s")}
        rows = pq.read_table(root / "out" / "manifest.parquet").to_pylist()
        keys = [(r["shard_id"], r["key"]) for r in rows]
        want = shards * per_shard
        import tarfile

        in_tars = [(p.stem, m.split(".", 1)[0]) for p in (root / "out" / "shards").glob("*.tar")
                   for m in tarfile.open(p).getnames() if m.endswith(".png")]
        return out | {"samples": want, "accounted": len(set(keys)), "lost": want - len(set(keys)),
                      "duplicated_in_manifest": len(keys) - len(set(keys)),
                      "duplicated_in_tars": len(in_tars) - len(set(in_tars)),
                      "edited": outcome["result"].counts["edited"], "shards": shards}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3, help="jobs with a node killed (default: %(default)s)")
    p.add_argument("--kill-after", type=int, default=None, help="committed shards before the kill (default: random)")
    p.add_argument("--baseline", action="store_true", help="also time one undisturbed run")
    p.add_argument("--json", action="store_true", help="JSON lines only")
    args = p.parse_args(argv)
    results = []
    if args.baseline:
        results.append(run_once(None))
        print(json.dumps(results[-1]), flush=True)
    for _ in range(args.runs):
        results.append(run_once(args.kill_after if args.kill_after is not None else random.randint(1, 5)))
        print(json.dumps(results[-1]), flush=True)
    if not args.json:
        print("\nkill after | killed at s | seconds | accounted | lost | duplicated | error")
        for r in results:
            print(f"{r['kill_after_shards']} | {r['killed_at_s']} | {r['seconds']} | {r.get('accounted')} | "
                  f"{r.get('lost')} | {r.get('duplicated_in_manifest')}+{r.get('duplicated_in_tars')} | "
                  f"{r.get('error', '')}")
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
