"""The CPU cost of the data path for a real-resolution image: every non-model step on 1024x768 JPEG input at a
512-px model resolution, in milliseconds of CPU per image - in a bare in-process loop, through a rayedit score-only
job (the pass-through editor: read, decode, resize/crop, filter, encode, tar write, manifest), and through Ray
Data's own read_webdataset -> map_batches -> write_webdataset, side by side in one run.

    python benchmarks/datapath.py [--n 200] [--formats auto png jpg webp]

``auto`` is the output's default (``output.image_format``): these JPEG inputs are written as JPEG.

CPU time covers every process of the run (the driver, Ray's raylet, GCS and workers, also those that exit early): the
machine's CPU time over the run minus what processes already running elsewhere spent (a training job, say). The
pipelines run twice, on a quarter and on all of the images: the difference is the marginal cost per image, the
rest the fixed cost (Ray and worker start-up, imports). Wall times depend on how busy the machine is; CPU times
much less.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
RESOLUTION = 512
PNG_LEVEL = 1
"""The output's default ``png_compression``."""


def make_inputs(root: Path, n: int, per_shard: int = 50) -> list[Path]:
    """``n`` 1024x768 JPEGs (q90, toy scenes enlarged, with sensor-like noise) in WebDataset tars."""
    from PIL import Image

    from rayedit.toy.scenes import scene_at

    rng = np.random.default_rng(0)
    paths = []
    for start in range(0, n, per_shard):
        path = root / f"in-{start // per_shard:05d}.tar"
        with tarfile.open(path, "w") as tar:
            for i in range(start, min(n, start + per_shard)):
                img = Image.fromarray(scene_at(99, i)[1]).resize((1024, 768), Image.Resampling.BICUBIC)
                noisy = np.clip(np.asarray(img, np.int16) + rng.normal(0, 3, (768, 1024, 3)), 0, 255).astype(np.uint8)
                buf = io.BytesIO()
                Image.fromarray(noisy).save(buf, format="JPEG", quality=90)
                for name, data in ((f"img{i:06d}.jpg", buf.getvalue()), (f"img{i:06d}.txt", b"a photo")):
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
        paths.append(path)
    return paths


class CpuMeter:
    """CPU seconds spent by this process and everything it starts (Ray's raylet, GCS, workers - also those that
    exit before the end): the machine's CPU time over the interval minus what the processes that were already
    running elsewhere (e.g. a training job) spent in it."""

    def __init__(self):
        import psutil

        self.psutil = psutil
        ours = {os.getpid()} | {c.pid for c in psutil.Process().children(recursive=True)}
        self.others = {p.pid: self._cpu(p) for p in psutil.process_iter() if p.pid not in ours}
        self.total = self._machine()

    def _machine(self) -> float:
        t = self.psutil.cpu_times()
        return t.user + t.nice + t.system + t.irq + t.softirq

    def _cpu(self, proc) -> float:
        try:
            t = proc.cpu_times()
            return t.user + t.system
        except self.psutil.Error:
            return 0.0

    def seconds(self) -> float:
        """Our CPU seconds since the meter started."""
        elsewhere = 0.0
        for pid, before in self.others.items():
            try:
                elsewhere += max(0.0, self._cpu(self.psutil.Process(pid)) - before)
            except self.psutil.Error:
                continue
        return self._machine() - self.total - elsewhere


def written_format(fmt: str) -> str:
    """The format a rayedit job with ``output.image_format: fmt`` writes these JPEG inputs in."""
    from rayedit.config import OutputSpec

    return OutputSpec(url=".", image_format=fmt).format_for("jpg")


def bare_loop(paths: list[Path], fmt: str, out: Path) -> dict:
    """The same work in one process, step by step: CPU ms per image of each step."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from rayedit.config import InputSpec
    from rayedit.imaging import decode_image, encode_image, to_model_size
    from rayedit.stages.model_output import to_model_range, to_uint8
    from rayedit.storage.readers import read_shard
    from rayedit.storage.shards import plan_shards

    fmt = written_format(fmt)
    spent = dict.fromkeys(("read", "decode", "resize_crop", "to_tensor", "from_tensor", "encode", "tar_write",
                           "manifest"), 0.0)
    n = 0
    spec = InputSpec(url=[str(p) for p in paths])
    for shard in plan_shards(spec):
        t = time.process_time()
        samples = list(read_shard(shard, spec))
        spent["read"] += time.process_time() - t
        encoded = []
        for s in samples:
            t0 = time.process_time()
            img = decode_image(s["image"], needed=(RESOLUTION, "short"))
            t1 = time.process_time()
            pixels, _ = to_model_size(img, RESOLUTION, "center_crop")
            t2 = time.process_time()
            x = to_model_range(pixels[None])
            t3 = time.process_time()
            back = to_uint8(x)[0]
            t4 = time.process_time()
            encoded.append((s["key"], encode_image(back, fmt, png_compression=PNG_LEVEL)))
            t5 = time.process_time()
            for k, v in zip(("decode", "resize_crop", "to_tensor", "from_tensor", "encode"),
                            (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
                spent[k] += v
        t = time.process_time()
        with tarfile.open(out / f"{shard.shard_id}.tar", "w") as tar:
            for key, data in encoded:
                info = tarfile.TarInfo(f"{key}.{fmt}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        spent["tar_write"] += time.process_time() - t
        t = time.process_time()
        pq.write_table(pa.table({"key": [k for k, _ in encoded], "status": ["edited"] * len(encoded)}),
                       out / f"{shard.shard_id}.parquet")
        spent["manifest"] += time.process_time() - t
        n += len(samples)
    ms = {k: round(v / n * 1000, 2) for k, v in spent.items()}
    return {"run": "bare loop", "format": fmt, "n": n, "cpu_ms_per_image": round(sum(ms.values()), 2), **ms}


def _score_only_spec(paths: list[Path], fmt: str, out: Path):
    from rayedit.config import parse_spec

    return parse_spec({"input": {"url": [str(p) for p in paths]}, "editor": {"kind": "none"},
                       "model": {"resolution": RESOLUTION}, "score": {"clip": None},
                       "output": {"url": str(out), "image_format": fmt}, "resources": {"io_batch_size": 16}})


def rayedit_stages(paths: list[Path], fmt: str, out: Path) -> dict:
    """The job's own stages and commit, called in this process without Ray: rayedit's code cost apart from Ray's."""
    from rayedit.cluster.shard_tracker import ShardTracker
    from rayedit.pipelines.edit import dataset_rows, plan_job, stage_plans
    from rayedit.rows import obj_array
    from rayedit.storage.commit import commit_shard

    plan = plan_job(_score_only_spec(paths, fmt, out))
    read, *rest = [p.make() for p in stage_plans(plan)]
    tracker, n, start = ShardTracker(), 0, time.process_time()
    for row in dataset_rows(plan):
        for batch in read({k: obj_array([v]) for k, v in row.items()}):
            for stage in rest:
                batch = stage(batch)
            for sid in tracker.add(batch):
                commit_shard(plan.spec.output, sid, sorted(tracker.parts[sid]), plan.spec.output.format_for())
            n += int((batch["status"] != "eos").sum())
    cpu = time.process_time() - start
    return {"run": "rayedit stages, no Ray", "format": fmt, "n": n, "cpu_ms_per_image": round(cpu / n * 1000, 2)}


def rayedit_job(paths: list[Path], fmt: str, out: Path) -> dict:
    """A score-only rayedit job with ``fmt`` output: the pass-through editor, everything else as in an edit job."""
    from rayedit.cluster.runtime import init_ray, shutdown_ray
    from rayedit.pipelines.edit import run_job

    spec = _score_only_spec(paths, fmt, out)
    meter, wall = CpuMeter(), time.time()
    init_ray(num_cpus=2)
    result = run_job(spec, progress=False)
    cpu, wall = meter.seconds(), time.time() - wall
    shutdown_ray()
    n = sum(result.counts.values())
    return {"run": "rayedit job", "format": fmt, "n": n, "cpu_ms_per_image": round(cpu / n * 1000, 2),
            "wall_s": round(wall, 1)}


def ray_data_native(paths: list[Path], fmt: str, out: Path) -> dict:
    """Ray Data's own WebDataset reader and writer around the same decode / resize / encode."""
    import ray

    from rayedit.cluster.runtime import init_ray, shutdown_ray
    from rayedit.imaging import decode_image, encode_image, to_model_size

    fmt = written_format(fmt)

    def edit(batch):
        imgs = [encode_image(to_model_size(decode_image(bytes(b), needed=(RESOLUTION, "short")), RESOLUTION,
                                       "center_crop")[0], fmt, png_compression=PNG_LEVEL) for b in batch["jpg"]]
        return {"__key__": batch["__key__"], fmt: np.array(imgs, dtype=object)}

    meter, wall = CpuMeter(), time.time()
    init_ray(num_cpus=2)
    ds = ray.data.read_webdataset([str(p) for p in paths], decoder=None)
    ds.map_batches(edit, batch_size=16, batch_format="numpy").write_webdataset(str(out), encoder=None)
    cpu, wall = meter.seconds(), time.time() - wall
    shutdown_ray()
    n = sum(1 for p in paths for m in tarfile.open(p).getnames() if m.endswith(".jpg"))
    return {"run": "ray data native", "format": fmt, "n": n, "cpu_ms_per_image": round(cpu / n * 1000, 2),
            "wall_s": round(wall, 1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=400, help="images in the large run (default: %(default)s)")
    p.add_argument("--formats", nargs="+", default=["auto", "png", "jpg", "webp"])
    p.add_argument("--skip-native", action="store_true", help="leave out Ray Data's own pipeline")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = make_inputs(root, args.n)
        small = paths[: max(1, len(paths) // 4)]
        print(json.dumps({"inputs": args.n, "jpeg_kb_mean": round(sum(p.stat().st_size for p in paths) / args.n / 1024,
                                                                    1)}))
        for fmt in args.formats:
            print(json.dumps(bare_loop(paths, fmt, _fresh(root, f"bare-{fmt}"))), flush=True)
            print(json.dumps(rayedit_stages(paths, fmt, _fresh(root, f"stages-{fmt}"))), flush=True)
            for run in [rayedit_job] + ([] if args.skip_native else [ray_data_native]):
                a = run(small, fmt, _fresh(root, f"{run.__name__}-{fmt}-small"))
                b = run(paths, fmt, _fresh(root, f"{run.__name__}-{fmt}"))
                marginal = (b["cpu_ms_per_image"] * b["n"] - a["cpu_ms_per_image"] * a["n"]) / (b["n"] - a["n"])
                # the fixed cost (Ray and worker start-up, imports) is what the small run adds beyond the marginal
                fixed_s = (a["cpu_ms_per_image"] - marginal) * a["n"] / 1000
                print(json.dumps(b | {"marginal_cpu_ms_per_image": round(marginal, 2),
                                      "fixed_cpu_s": round(fixed_s, 1)}), flush=True)
    return 0


def _fresh(root: Path, name: str) -> Path:
    out = root / name
    out.mkdir()
    return out


if __name__ == "__main__":
    raise SystemExit(main())
