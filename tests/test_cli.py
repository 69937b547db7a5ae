"""The command line: help for everything, validate messages, kill-and-rerun idempotency."""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from rayedit.cli import build_parser, main
from rayedit.toy.generator import write_shards


def _subparsers(parser, prefix="rayedit"):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sp in action.choices.items():
                yield f"{prefix} {name}", sp
                yield from _subparsers(sp, f"{prefix} {name}")


def test_every_command_and_option_has_help():
    found = dict(_subparsers(build_parser()))
    assert {"rayedit run", "rayedit validate", "rayedit demo", "rayedit spec", "rayedit toy train"} <= set(found)
    for name, sp in found.items():
        assert sp.description, name
        assert f"usage: {name}" in sp.format_help()
        for action in sp._actions:
            if action.dest != "help" and (action.option_strings or action.dest == "spec"):
                assert action.help, f"{name} {action.option_strings or action.dest} has no help"


def test_spec_reference_lists_fields(capsys):
    assert main(["spec"]) == 0
    out = capsys.readouterr().out
    assert "ddim.steps (int, default 40)" in out and "output.url (str, default required)" in out
    assert main(["spec", "--kind", "generate"]) == 0  # a section's default set by its parent is shown
    out = capsys.readouterr().out
    assert "model.name (str, default 'toy-text-ddpm')" in out and "prompts.templates" in out


def _write(tmp_path, spec) -> str:
    p = tmp_path / "job.yaml"
    p.write_text(yaml.safe_dump(spec))
    return str(p)


def test_validate_messages(tmp_path, capsys):
    write_shards(str(tmp_path / "in" / "toy"), 4, per_shard=2)
    good = {"input": {"url": str(tmp_path / "in" / "toy-*.tar")}, "output": {"url": str(tmp_path / "out")}}
    assert main(["validate", _write(tmp_path, good)]) == 0
    assert "ok: 2 input shard(s)" in capsys.readouterr().out

    cases = [
        (good | {"ddim": {"steps": 0}}, "ddim.steps"),
        (good | {"modle": {}}, "modle: unknown field"),
        (good | {"input": {"url": str(tmp_path / "nope-{0..3}.tar")}}, "input not found"),
        (good | {"model": {"name": "no/such-model"}}, "could not load 'no/such-model'"),
        (good | {"filters": [{"score": "clip_direction", "min": 0.1}]}, "clip_direction' is not computed"),
        (good | {"output": {"url": "memory://out"}}, "output.url: memory:// lives inside one process"),
        (good | {"output": {"url": "/proc/no-such-dir/out"}}, "is not writable"),
    ]
    for spec, message in cases:
        assert main(["validate", _write(tmp_path, spec)]) == 2
        assert message in capsys.readouterr().err
    assert main(["validate", _write(tmp_path, good), "--set", "ddim.eta=5"]) == 2
    assert "ddim.eta" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("command", ["run", "generate"])
def test_killed_job_resumes_without_duplicates(tmp_path, command):
    if command == "run":
        write_shards(str(tmp_path / "in" / "toy"), 48, per_shard=6)  # 8 shards
        spec = {"input": {"url": str(tmp_path / "in" / "toy-*.tar")}, "output": {"url": str(tmp_path / "out")},
                "ddim": {"steps": 2}, "score": {"clip": None, "lpips": None},  # no score actor: resume is the point
                "resources": {"edit": {"batch_size": 2}, "io_batch_size": 2}}
    else:  # 16 prompts x 3 images in shards of 6: 8 shards
        spec = {"prompts": {"templates": ["a {c} {s}"], "slots": {"c": ["red", "green", "blue", "yellow"],
                                                                "s": ["circle", "square", "triangle", "disc"]}},
                "images_per_prompt": 3, "samples_per_shard": 6, "sampling": {"steps": 2}, "clip": None,
                "output": {"url": str(tmp_path / "out")},
                "resources": {"generate": {"batch_size": 2}, "io_batch_size": 2}}
    job = _write(tmp_path, spec)
    cmd = [sys.executable, "-m", "rayedit.cli", command, job, "--no-progress", "--json"]
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    done = tmp_path / "out" / "_done"
    deadline = time.time() + 300
    while time.time() < deadline and len(list(done.glob("*.json"))) < 2 and proc.poll() is None:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its local Ray, mid-job
    proc.wait()
    # Ray workers outside the process group may still finish a shard they were committing: wait until the
    # committed set has been stable for 3 s, so it is the set the rerun will find
    committed, stable_since = set(), time.time()
    while time.time() - stable_since < 3:
        now = {p.stem for p in done.glob("*.json")}
        if now != committed:
            committed, stable_since = now, time.time()
        time.sleep(0.2)
    assert 2 <= len(committed) < 8, "the kill should land mid-job"

    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    # Python warnings/errors, and any line of Ray's C++ core ("[2026-12-03 13:59:54,645 E 193 193] core_worker...")
    noise = [line for line in out.stderr.splitlines()
             if "WARNING" in line or "ERROR" in line or re.search(r"\[[\d\- :,]+ [IWEF] \d+ \d+\]", line)]
    assert noise == [], "a healthy run logs no Ray warnings or errors"
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["shards_skipped"] == len(committed)
    assert summary["samples_this_run"] == 6 * (8 - len(committed))  # only unfinished shards were processed
    rows = pq.read_table(tmp_path / "out" / "manifest.parquet").to_pylist()
    keys = [r["key"] for r in rows]
    assert len(keys) == 48 and len(set(keys)) == 48
    assert {r["status"] for r in rows} == {"edited"}
    tars = sorted(Path(tmp_path / "out" / "shards").glob("*.tar"))
    assert len(tars) == 8 and not list((tmp_path / "out" / "shards").glob(".tmp-*"))


def test_validate_checks_resources_and_failures_name_their_root_cause(tmp_path, capsys):
    from rayedit.cli import root_cause

    write_shards(str(tmp_path / "in" / "toy"), 2, per_shard=2)
    spec = {"input": {"url": str(tmp_path / "in" / "toy-*.tar")}, "output": {"url": str(tmp_path / "out")},
            "score": {"clip": None, "lpips": None}, "resources": {"edit": {"actors": 8, "num_gpus": 1}}}
    assert main(["validate", _write(tmp_path, spec)]) == 0
    out = capsys.readouterr().out
    assert "the actor pools need" in out and "GPUs but the cluster has 0" in out

    class Wrapper(Exception):  # like Ray's RayTaskError: the actor's exception in .cause
        def __init__(self, cause):
            super().__init__("ray wrapper")
            self.cause = cause

    try:
        try:
            raise KeyError("unet.conv_in.weight")
        except KeyError as inner:
            raise RuntimeError("actor died") from inner
    except RuntimeError as err:
        assert isinstance(root_cause(Wrapper(err)), KeyError)
