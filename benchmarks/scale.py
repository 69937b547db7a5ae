"""A many-shard job on object storage, killed and rerun: what the driver and the object store see at scale.

Toy samples in ``--shards`` WebDataset shards on a moto S3 server on 127.0.0.1 (its own process, counting every
request by kind), edited by the cheapest real editor (the shipped toy translator, one U-Net call per image) and
scored by toy-clip with the cross-shard near-duplicate pass on; the job (``rayedit run``, a subprocess) is killed
``--kills`` times at random points and rerun until it finishes. Prints:

- samples accounted / lost / duplicated (input keys vs manifest rows vs output tar members);
- the driver's peak RSS per run and over time (does it grow with shards done?);
- commit rate (shards committed per second while running), manifest build and cross-shard pass times;
- S3 requests per 1,000 samples by kind, for the edit pass (all runs), the cross-shard pass and the manifest;
- the cross-shard pass's shuffle: records and bytes per sample (measured on one shard's records).

    python benchmarks/scale.py                                  # 1,000 shards x 100 samples (hours on 2 cores)
    python benchmarks/scale.py --shards 1000 --per-shard 10     # what docs/measurements reports
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench-key")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench-secret")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

BUCKET = "bench"


def request_kind(environ: dict) -> str:
    """An S3 request's kind from its WSGI environ (method, query, path)."""
    method, query = environ["REQUEST_METHOD"], parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    object_path = "/" in environ.get("PATH_INFO", "/").strip("/")
    if method == "GET":
        return "GET" if object_path and "list-type" not in query else "LIST"
    if method == "PUT":
        if environ.get("HTTP_X_AMZ_COPY_SOURCE"):
            return "COPY"
        return "PUT_PART" if "partNumber" in query else "PUT"
    if method == "POST":
        return "DELETE_MANY" if "delete" in query else "MULTIPART"
    return method  # HEAD, DELETE


def serve(port_file: str) -> None:
    """The moto S3 server with a request counter: GET /__counts__ returns the counts, DELETE resets them."""
    import logging

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    moto = DomainDispatcherApplication(create_backend_app)
    counts: Counter = Counter()
    lock = threading.Lock()

    def app(environ, start_response):
        if environ.get("PATH_INFO") == "/__counts__":
            with lock:
                body = json.dumps(counts).encode()
                if environ["REQUEST_METHOD"] == "DELETE":
                    counts.clear()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        with lock:
            counts[request_kind(environ)] += 1
        return moto(environ, start_response)

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
    Path(port_file).write_text(str(server.server_address[1]))
    server.serve_forever()


class CountingS3:
    """The counting server in its own process (so the job's driver does not share a GIL with it)."""

    def __init__(self, tmp: Path):
        port_file = tmp / "port"
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port_file)])
        for _ in range(300):
            if port_file.exists() and port_file.read_text():
                break
            time.sleep(0.1)
        self.endpoint = f"http://127.0.0.1:{port_file.read_text()}"

    def take(self) -> Counter:
        """The counts since the last take (and reset them)."""
        import urllib.request

        req = urllib.request.Request(self.endpoint + "/__counts__", method="DELETE")
        with urllib.request.urlopen(req) as resp:
            return Counter(json.loads(resp.read()))

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait()


def rss_mb(pid: int) -> float:
    """Resident memory of one process in MB (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run_job(spec_path: Path, kill_at_shards: int | None, s3: CountingS3, phases: dict) -> dict:
    """``rayedit run`` as a subprocess; killed (process group) once ``kill_at_shards`` shards are committed in this
    run. Request counts are taken at each phase boundary (shards committed -> cross-shard pass -> manifest)."""
    cmd = [sys.executable, "-m", "rayedit.cli", "run", str(spec_path), "--log-format", "json", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    samples_rss, committed_ts, started, killed = [], [], time.time(), False
    lines: list[str] = []
    stop = threading.Event()

    def watch_rss():
        while not stop.is_set():
            samples_rss.append((time.time() - started, len(committed_ts), rss_mb(proc.pid)))
            stop.wait(1.0)

    threading.Thread(target=watch_rss, daemon=True).start()
    for line in proc.stderr:
        lines.append(line)
        if not line.startswith('{"ts"'):
            continue
        event = json.loads(line)
        name = event["event"]
        if name == "shard_committed":
            committed_ts.append(time.time() - started)
            if event.get("shards_done") == event.get("shards_todo"):  # the edit pass is over
                phases.setdefault("edit", Counter()).update(s3.take())
            elif kill_at_shards is not None and len(committed_ts) >= kill_at_shards:
                os.killpg(proc.pid, signal.SIGKILL)
                killed = True
                break
        elif name in ("dedup_across", "manifest"):
            phases.setdefault(name, Counter()).update(s3.take())
            phases.setdefault(f"{name}_seconds", []).append(event["seconds"])
            phases[f"{name}_event"] = {k: v for k, v in event.items() if k not in ("ts", "level", "event")}
        elif name == "job_failed":
            print("job failed:", event, file=sys.stderr)
    proc.wait()
    stop.set()
    if proc.returncode not in (0, -signal.SIGKILL):
        print("".join(lines[-60:]), file=sys.stderr)
    if killed:
        time.sleep(5)  # Ray workers outside the process group finish a commit they started, or die
        phases.setdefault("edit", Counter()).update(s3.take())
    rate = len(committed_ts) / committed_ts[-1] if committed_ts else 0.0  # from the run's start
    return {"killed": killed, "seconds": round(time.time() - started, 1), "shards_committed": len(committed_ts),
            "commit_rate_per_s": round(rate, 2), "peak_rss_mb": round(max((r for *_, r in samples_rss), default=0)),
            "rss_track": samples_rss, "exit_code": proc.returncode}


def shuffle_cost(spec, shard_id: str) -> dict:
    """Records and bytes the cross-shard pass's first shuffle (LSH bands: bucket, sample id, sketch) moves per sample,
    measured on one committed shard's records; the second moves 2 x (2d + ~50) bytes per candidate pair."""
    import pyarrow as pa

    from rayedit.dedup import lsh_shape
    from rayedit.pipelines.dedup_across import band_records

    n_total = 1_000_000  # bands depend on n; the pass at a million samples
    bands, bits = lsh_shape(n_total, spec.dedup.threshold)
    records = band_records(spec.output, bands, bits, spec.seed)({"shard_id": shard_id})
    samples = len(records) // bands if bands else 0
    table = pa.Table.from_pylist(records)
    return {"bands_at_1M": bands, "records_per_sample": bands, "bytes_per_record": round(table.nbytes / len(records)),
            "bytes_per_sample": round(table.nbytes / max(samples, 1))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shards", type=int, default=1000)
    ap.add_argument("--per-shard", type=int, default=100)
    ap.add_argument("--kills", type=int, default=3, help="kill the job this many times before letting it finish")
    ap.add_argument("--seed", type=int, default=0, help="random kill points")
    ap.add_argument("--dedup-threshold", type=float, default=0.995,
                    help="toy images are alike: CLIP cosines of distinct ones reach 0.95")
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve)
        return

    import pyarrow.parquet as pq
    import s3fs
    import yaml

    from rayedit.config import load_spec
    from rayedit.models.layout import TOY_WEIGHTS
    from rayedit.storage.commit import committed_shards
    from rayedit.toy.generator import write_shards

    rng = random.Random(args.seed)
    n = args.shards * args.per_shard
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        s3 = CountingS3(tmp)
        try:
            fs = s3fs.S3FileSystem(endpoint_url=s3.endpoint)
            fs.mkdir(BUCKET)
            t0 = time.time()
            keys = set()
            for paths in [write_shards(f"{tmp}/in/toy", n, per_shard=args.per_shard, colour="red")]:
                fs.put([str(p) for p in paths], f"{BUCKET}/in/")
            import tarfile

            for p in sorted((tmp / "in").glob("*.tar")):
                with tarfile.open(p) as tar:
                    keys |= {m.name.rsplit(".", 1)[0] for m in tar.getmembers()}
            print(f"input: {n} samples in {args.shards} shards written to moto S3 in {time.time() - t0:.0f} s",
                  flush=True)
            storage = {"endpoint_url": s3.endpoint}
            spec_raw = {"name": "scale", "input": {"url": f"s3://{BUCKET}/in/toy-*.tar", "storage": storage},
                        "model": {"name": "toy-text-ddpm"},
                        "editor": {"kind": "translator", "url": str(TOY_WEIGHTS / "toy-red-translator"),
                                   "task": "a blue circle"},
                        "score": {"clip": {"model": "toy-clip"}, "lpips": None},
                        "dedup": {"threshold": args.dedup_threshold},
                        "output": {"url": f"s3://{BUCKET}/out", "storage": storage},
                        "resources": {"edit": {"batch_size": 64}, "score": {"batch_size": 64}}}
            spec_path = tmp / "scale.yaml"
            spec_path.write_text(yaml.safe_dump(spec_raw))
            s3.take()  # the input upload is not the job's
            runs, phases = [], {}
            kill_points = sorted(rng.sample(range(1, args.shards), args.kills)) if args.kills else []
            done_before = 0
            for point in [*kill_points, None]:
                target = None if point is None else max(1, point - done_before)
                run = run_job(spec_path, target, s3, phases)
                done_before += run["shards_committed"]
                runs.append(run)
                print(json.dumps({k: v for k, v in run.items() if k != "rss_track"}), flush=True)
            spec = load_spec(str(spec_path))
            if runs[-1]["exit_code"] != 0:
                marker_dir = f"{BUCKET}/out/_done"
                fs.invalidate_cache()
                print(f"the last run failed; markers listed: {len(fs.ls(marker_dir))}; requests of the failing "
                      f"phase: {dict(s3.take())}", file=sys.stderr)
                if os.environ.get("SCALE_KEEP_S3"):
                    print(f"moto S3 kept at {s3.endpoint} (Ctrl-C to stop)", file=sys.stderr)
                    time.sleep(float(os.environ["SCALE_KEEP_S3"]))
            after = s3.take()
            rows = pq.read_table(fs.open(f"{BUCKET}/out/manifest.parquet")).to_pylist()
            out_keys = [r["key"] for r in rows]
            members = Counter()
            for path in fs.glob(f"{BUCKET}/out/shards/*.tar"):
                with fs.open(path) as f, tarfile.open(fileobj=f) as tar:
                    members.update(m.name.rsplit(".", 1)[0] for m in tar.getmembers() if m.name.endswith(".json"))
            statuses = Counter(r["status"] for r in rows)
            print(f"\nsamples: {n} in, {len(rows)} manifest rows ({dict(statuses)}), "
                  f"lost {len(keys - set(out_keys))}, duplicated {len(out_keys) - len(set(out_keys))}, "
                  f"committed shards {len(committed_shards(spec.output))}/{args.shards}, "
                  f"tar samples duplicated {sum(c - 1 for c in members.values())}")
            print(f"output tar samples: {sum(members.values())} (kept samples in the manifest: "
                  f"{statuses.get('edited', 0)})")
            for i, run in enumerate(runs):
                rss = [r for *_, r in run["rss_track"]]
                quart = [round(max(rss[q * len(rss) // 4:(q + 1) * len(rss) // 4], default=0)) for q in range(4)]
                print(f"run {i + 1}: {'killed' if run['killed'] else 'finished'} after {run['seconds']} s, "
                      f"{run['shards_committed']} shards, {run['commit_rate_per_s']} commits/s, driver peak RSS "
                      f"{run['peak_rss_mb']} MB (by quarter of the run: {quart})")
            for phase in ("dedup_across", "manifest"):
                if phases.get(f"{phase}_event"):
                    print(f"{phase}: {json.dumps(phases[f'{phase}_event'])}")
            for phase in ("edit", "dedup_across", "manifest"):
                c = phases.get(phase, Counter())
                per_k = {k: round(v * 1000 / n, 1) for k, v in sorted(c.items())}
                per_shard = round(sum(c.values()) / args.shards, 1)
                print(f"S3 requests per 1,000 samples, {phase}: {per_k} (total {sum(c.values())}, "
                      f"{per_shard} per shard)")
            if after:
                print(f"S3 requests after the last phase event (job end): {dict(after)}")
            first = sorted(committed_shards(spec.output))[0]
            print(f"cross-shard shuffle: {json.dumps(shuffle_cost(spec, first))}")
        finally:
            s3.close()


if __name__ == "__main__":
    main()
