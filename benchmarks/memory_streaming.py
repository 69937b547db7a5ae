"""Memory stays flat with dataset size: the same job on N and 10 x N toy images, peak RSS of the driver and of all
Ray processes, measured side by side in one run.

    python benchmarks/memory_streaming.py [--n 200] [--steps 2] [--per-shard 100]

Each job runs as `rayedit run` in a subprocess (its own local Ray); a sampler reads the RSS of the driver and of
every process in its tree (raylet, workers; from /proc, so Linux only) every 0.2 s. Prints both runs' peaks and
their ratios (the sum over processes counts shared object-store pages once per process: an over-count, but
the same one in both runs). Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _rss(pid: int) -> int:
    """Resident set size of a process in bytes (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc/PID/task/*/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*/children") if Path(f"/proc/{p}/task").exists() else []:
            try:
                kids = [int(k) for k in task.read_text().split()]
            except OSError:
                continue
            out.extend(kids)
            todo.extend(kids)
    return out


def _tree_rss(pid: int) -> tuple[int, int]:
    """(driver RSS, driver + all descendants RSS) in bytes."""
    own = _rss(pid)
    return own, own + sum(_rss(k) for k in _descendants(pid))


def run_once(n: int, steps: int, per_shard: int, root: Path) -> dict:
    """Write n toy images, run a reconstruct job over them, return peaks and time."""
    from rayedit.toy.generator import write_shards

    write_shards(str(root / "in" / "toy"), n, per_shard=per_shard)
    spec = {"input": {"url": str(root / "in" / "toy-*.tar")}, "output": {"url": str(root / "out")},
            "model": {"name": "tiny"}, "ddim": {"steps": steps},
            "score": {"clip": None, "lpips": {"random_backbone": True}}}
    (root / "job.yaml").write_text(yaml.safe_dump(spec))
    cmd = [sys.executable, "-m", "rayedit.cli", "run", str(root / "job.yaml"), "--no-progress", "--json"]
    started = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    watched, peaks, stop = proc.pid, [0, 0], threading.Event()

    def sample():
        while not stop.is_set():
            own, total = _tree_rss(watched)
            peaks[0], peaks[1] = max(peaks[0], own), max(peaks[1], total)
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    stop.set()
    sampler.join()
    summary = json.loads(out.strip().splitlines()[-1])
    return {"images": n, "seconds": time.time() - started, "counts": summary["counts"],
            "driver_peak_mb": peaks[0] / 2**20, "all_processes_peak_mb": peaks[1] / 2**20}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="images in the small run (the large one has 10x)")
    ap.add_argument("--steps", type=int, default=2, help="DDIM steps (default: %(default)s)")
    ap.add_argument("--per-shard", type=int, default=100, help="images per input shard (default: %(default)s)")
    args = ap.parse_args()
    results = []
    for n in (args.n, 10 * args.n):
        with tempfile.TemporaryDirectory() as tmp:
            results.append(run_once(n, args.steps, args.per_shard, Path(tmp)))
            r = results[-1]
            print(f"{r['images']:>6} images: {r['seconds']:.1f} s, driver peak {r['driver_peak_mb']:.0f} MB, "
                  f"all Ray processes peak {r['all_processes_peak_mb']:.0f} MB, counts {r['counts']}")
    small, large = results
    print(f"10x the images: driver peak x{large['driver_peak_mb'] / small['driver_peak_mb']:.2f}, "
          f"all processes peak x{large['all_processes_peak_mb'] / small['all_processes_peak_mb']:.2f}, "
          f"time x{large['seconds'] / small['seconds']:.2f}")


if __name__ == "__main__":
    main()
