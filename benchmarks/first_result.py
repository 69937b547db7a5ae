"""Time to first result: how long `rayedit run` takes, from the process start, until the first edited images are
written - the demo's job (its toy inputs, editor and scores) run as a user runs it, several times.

    python benchmarks/first_result.py [--runs 3] [--n 200] [--editor best] [--set KEY=VALUE ...]

Prints, per run, the seconds since the process started at each job event (job_start: imports and checks done;
cluster: Ray up; first_result: the first written rows back at the driver; job_end) and the median. Not a test:
numbers depend on the machine (on a 2-core machine every process start competes for the same two cores).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
EVENTS = ("job_start", "cluster", "first_result", "job_end")


def timed_run(spec_path: str, output: str, overrides: list[str]) -> dict[str, float]:
    """One `rayedit run` into a fresh ``output``: seconds since its start at each of ``EVENTS``."""
    sets = [a for kv in overrides for a in ("--set", kv)]
    cmd = [sys.executable, "-m", "rayedit.cli", "run", spec_path, "--set", f"output.url={output}", *sets,
           "--no-progress", "--log-format", "json"]
    start = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen: dict[str, float] = {}
    for line in proc.stderr:
        try:
            event = json.loads(line)["event"]
        except (ValueError, KeyError, TypeError):
            continue
        if event in EVENTS and event not in seen:
            seen[event] = time.time() - start
    if proc.wait() != 0:
        raise SystemExit(f"rayedit run failed (exit {proc.returncode})")
    seen["exit"] = time.time() - start
    return seen


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--n", type=int, default=200, help="toy images or scenes (the demo's 200)")
    ap.add_argument("--editor", default="best", help="the demo's editor choice (best, translator, asyrp, dds, ...)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="a spec override passed to every run, e.g. resources.score.colocate=false (repeatable)")
    args = ap.parse_args()

    import yaml

    from rayedit.pipelines.demo import demo_edit, demo_spec, write_demo_inputs

    with tempfile.TemporaryDirectory() as tmp:
        edit = demo_edit(args.editor)
        write_demo_inputs(tmp, args.n, edit)  # toy-sd's v2 scenes for the default editor, v1 images otherwise
        spec_path = Path(tmp, "job.yaml")
        spec_path.write_text(yaml.safe_dump(demo_spec(tmp, 20, edit), sort_keys=False))
        runs = [timed_run(str(spec_path), f"{tmp}/out{i}", args.overrides) for i in range(args.runs)]
    columns = (*EVENTS, "exit")
    print(f"rayedit run, demo job ({edit.label}, {args.n} images{''.join(', ' + o for o in args.overrides)}), "
          f"cores={os.cpu_count()}: seconds since the process started")
    print("run  " + "  ".join(f"{c:>12}" for c in columns))
    for i, run in enumerate(runs):
        print(f"{i:<4} " + "  ".join(f"{run.get(c, float('nan')):12.1f}" for c in columns))
    print("med  " + "  ".join(f"{statistics.median(r.get(c, float('nan')) for r in runs):12.1f}" for c in columns))


if __name__ == "__main__":
    main()
