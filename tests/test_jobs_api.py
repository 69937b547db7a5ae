"""rayedit submit / status / logs against a real Ray Jobs API (a local Ray with its dashboard on 127.0.0.1), slot
ids, exit codes through the Jobs API, and the structured (JSON) event log."""

import json
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from rayedit.cli import main
from rayedit.cluster.jobs import schedule_slot, slot_label, submission_id, summary_line
from rayedit.config import SpecError
from rayedit.toy.generator import write_shards
from tests.helpers import png_bytes, tar_bytes

CLUSTER = textwrap.dedent("""
    import os, socket, sys
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import ray
    import ray._private.parameter as parameter
    ray._private.ray_constants.ENABLE_RAY_CLUSTER = False  # bind every Ray service to 127.0.0.1
    # The dashboard agent (which runs submitted jobs) listens on a fixed port, 52365, which the test session's own
    # local Ray already holds; ray.init cannot change it, so give this cluster's agent a free port.
    s = socket.socket(); s.bind(("127.0.0.1", 0)); agent_port = s.getsockname()[1]; s.close()
    _init = parameter.RayParams.__init__
    def _with_agent_port(self, *args, **kwargs):
        kwargs.setdefault("dashboard_agent_listen_port", agent_port)
        _init(self, *args, **kwargs)
    parameter.RayParams.__init__ = _with_agent_port
    ctx = ray.init(num_cpus=2, include_dashboard=True, dashboard_host="127.0.0.1", _node_ip_address="127.0.0.1",
                   logging_level="WARNING")
    nodes = sorted({n["NodeManagerAddress"] for n in ray.nodes()})
    print("http://" + ctx.dashboard_url, ",".join(nodes), flush=True)
    sys.stdin.read()  # until the test closes stdin
    ray.shutdown()
""")


def test_schedule_slot_is_the_latest_fire_time():
    at = datetime(2026, 11, 22, 3, 0, 0, tzinfo=UTC)
    assert schedule_slot("0 3 * * *", at) == at  # a trigger exactly on time
    assert schedule_slot("0 3 * * *", datetime(2026, 11, 22, 3, 7, tzinfo=UTC)) == at  # a retried trigger
    assert schedule_slot("0 3 * * *", datetime(2026, 11, 22, 2, 59, tzinfo=UTC)).day == 21  # before today's slot
    assert slot_label(at) == "20261122-0300"
    with pytest.raises(SpecError, match="not a cron expression"):
        schedule_slot("every night")


def test_submission_ids_are_deterministic_and_safe():
    assert submission_id("Cats_to.Lions", "20261122-0300") == "cats-to.lions-20261122-0300"
    assert submission_id("job", "2026-11-22T03:00") == submission_id("job", "2026-11-22T03:00")
    assert submission_id("job", "a/b c") == "job-a-b-c"


def test_summary_line_is_the_last_json_summary():
    logs = 'Running entrypoint\n{"ts": "x", "event": "job_end"}\n{"counts": {"edited": 2}, "output": "o"}\n'
    assert summary_line(logs) == {"counts": {"edited": 2}, "output": "o"}
    assert summary_line("no summary\n{broken\n") is None


def test_credentials_never_leave_in_a_submission(tmp_path, capsys):
    spec = {"input": {"url": "s3://b/in/*.tar", "storage": {"key": "AKIA-SECRET", "secret": "s3cr3t"}},
            "output": {"url": "s3://b/out"}}
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(spec))
    code = main(["submit", str(tmp_path / "job.yaml"), "--address", "http://127.0.0.1:1", "--slot", "x"])
    err = capsys.readouterr().err
    assert code == 2 and "input.storage" in err and "must not go into a Ray job submission" in err
    assert "AKIA-SECRET" not in err and "s3cr3t" not in err


def test_unreachable_jobs_api_is_a_clear_error(capsys):
    assert main(["status", "--address", "http://127.0.0.1:1"]) == 2
    assert "cannot reach the Ray Jobs API at http://127.0.0.1:1" in capsys.readouterr().err


def test_json_log_format_reports_a_failed_job(tmp_path, capsys):
    (tmp_path / "job.yaml").write_text(yaml.safe_dump({"input": {"url": str(tmp_path / "none-*.tar")},
                                                       "output": {"url": str(tmp_path / "out")}}))
    assert main(["run", str(tmp_path / "job.yaml"), "--log-format", "json"]) == 2
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    assert events[-1]["event"] == "job_failed" and events[-1]["exit_code"] == 2
    assert events[-1]["level"] == "error" and "none-*.tar" in events[-1]["error"]


@pytest.fixture(scope="module")
def jobs_api():
    """A separate local Ray with the dashboard (Jobs API) on 127.0.0.1; yields (address, environment)."""
    env = os.environ | {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token",
                        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}
    proc = subprocess.Popen([sys.executable, "-c", CLUSTER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=env)
    url, nodes = proc.stdout.readline().split()
    assert nodes == "127.0.0.1", "the test cluster must listen on loopback only"
    assert url.startswith("http://127.0.0.1:")
    yield url, env
    proc.stdin.close()
    proc.wait(timeout=120)


def _rayedit(env, *args, timeout=600):
    out = subprocess.run([sys.executable, "-m", "rayedit.cli", *args], env=env, capture_output=True, text=True,
                         timeout=timeout)
    return out.returncode, out.stdout, out.stderr


def _last_json(out: str, err: str) -> dict:
    lines = out.strip().splitlines()
    assert lines, f"no output; stderr: {err[-3000:]}"
    return json.loads(lines[-1])


@pytest.mark.slow
def test_submit_runs_a_slot_once_and_passes_the_exit_code_through(tmp_path, jobs_api):
    url, env = jobs_api
    write_shards(str(tmp_path / "in" / "toy"), 4, per_shard=4)
    bad = [("bad000.png", b"\x89PNG not an image"), ("bad000.txt", b"a photo"),
           ("ok001.png", png_bytes(32, 32)), ("ok001.txt", b"a photo")]
    (tmp_path / "in" / "toy-00001.tar").write_bytes(tar_bytes(bad))
    spec = {"name": "nightly", "input": {"url": str(tmp_path / "in" / "toy-*.tar")},
            "output": {"url": str(tmp_path / "out")}, "ddim": {"steps": 2},
            "score": {"clip": None, "lpips": {"random_backbone": True}},
            "resources": {"edit": {"batch_size": 2}, "io_batch_size": 2}}
    job = tmp_path / "job.yaml"
    job.write_text(yaml.safe_dump(spec))

    code, out, err = _rayedit(env, "submit", str(job), "--address", url, "--schedule", "0 3 * * *", "--wait",
                              "--json")
    result = _last_json(out, err)
    assert code == 3, out[-3000:] + err[-3000:]  # finished, one sample failed: exit 3 through the Jobs API
    sid = f"nightly-{slot_label(schedule_slot('0 3 * * *'))}"
    assert result["submission_id"] == sid and result["created"] and result["exit_code"] == 3
    assert result["summary"]["counts"] == {"edited": 5, "filtered": 0, "failed": 1}

    # a retried trigger of the same slot is not run again
    code, out, err = _rayedit(env, "submit", str(job), "--address", url, "--schedule", "0 3 * * *", "--json")
    again = _last_json(out, err)
    assert code == 0 and again["submission_id"] == sid and not again["created"]

    code, out, _ = _rayedit(env, "status", sid, "--address", url, "--json")
    info = json.loads(out)
    assert code == 0 and info["status"] == "FAILED" and info["exit_code"] == 3
    assert info["exit_meaning"] == "finished, some samples failed" and info["metadata"]["rayedit_job"] == "nightly"

    code, out, _ = _rayedit(env, "logs", sid, "--address", url)
    events = [json.loads(line) for line in out.splitlines() if line.startswith('{"ts"')]
    names = [e["event"] for e in events]
    assert names[0] == "job_start" and names[-1] == "job_end" and names.count("shard_committed") == 2
    end = events[-1]
    assert (end["edited"], end["failed"], end["samples_this_run"]) == (5, 1, 6)
    assert sorted(e["shard"] for e in events if e["event"] == "shard_committed") == ["toy-00000", "toy-00001"]
    first = events[names.index("first_result")]  # once, before any shard is committed, with the start-up cost
    assert names.count("first_result") == 1 and names.index("first_result") < names.index("shard_committed")
    assert 0 < first["seconds"] <= first["since_process_start"] and first["rows"] > 0


@pytest.mark.slow
def test_concurrent_triggers_of_one_slot_submit_once(tmp_path, jobs_api):
    url, env = jobs_api
    job = tmp_path / "job.yaml"  # no input shards: the job itself exits 2 (bad input), quickly
    job.write_text(yaml.safe_dump({"name": "racy", "input": {"url": str(tmp_path / "missing-*.tar")},
                                   "output": {"url": str(tmp_path / "out")}}))
    args = ("submit", str(job), "--address", url, "--slot", "20261122-0300", "--wait", "--json")
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda _: _rayedit(env, *args), range(2)))
    results = [_last_json(out, err) for _, out, err in runs]
    assert sorted(r["created"] for r in results) == [False, True]
    assert {r["submission_id"] for r in results} == {"racy-20261122-0300"}
    assert [code for code, _, _ in runs] == [2, 2]  # both report the one job's exit code: bad input
    code, out, _ = _rayedit(env, "status", "--address", url, "--json")
    assert [r["submission_id"] for r in json.loads(out)].count("racy-20261122-0300") == 1
    assert not Path(tmp_path / "out" / "_done").exists()
