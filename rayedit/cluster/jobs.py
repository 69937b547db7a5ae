"""Ray Jobs API: submit a spec to an existing cluster, read its status and logs.

A submission's id is the job name plus a slot (a schedule's fire time, or a label the caller chooses), so a
retried trigger of the same slot finds the job already there and does not run it twice. The spec travels in the
job's environment (RAYEDIT_SPEC_YAML; no working_dir package to upload and download); credentials never travel -
the cluster's workers use their own environment (instance role, Kubernetes Secret).
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from rayedit import __version__
from rayedit.config import SpecError
from rayedit.config.generate import GenerateSpec

DEFAULT_DASHBOARD = "http://127.0.0.1:8265"
SAFE_ENV = ("AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EC2_METADATA_DISABLED", "HF_HUB_OFFLINE")
"""Environment variables sent with a submission: settings only, never keys (they would show in the dashboard)."""
AGENT_WAIT_SECONDS = 120
"""How long submit retries while a new cluster's head reports "No available agent to submit job"."""
EXIT_MEANINGS = {0: "every sample edited or filtered", 1: "the job failed", 2: "bad spec, input or address",
                 3: "finished, some samples failed", 130: "interrupted"}
"""What a rayedit entrypoint's exit code means (``driver_exit_code`` of the Ray job)."""


def dashboard_address(address: str | None) -> str:
    """The Jobs API address: ``address``, else ``RAY_API_SERVER_ADDRESS`` / an http ``RAY_ADDRESS``, else local."""
    if address:
        return address
    for var in ("RAY_API_SERVER_ADDRESS", "RAY_ADDRESS"):
        value = os.environ.get(var, "")
        if value.startswith(("http://", "https://")):
            return value
    return DEFAULT_DASHBOARD


def schedule_slot(schedule: str, now: datetime | None = None) -> datetime:
    """The latest fire time of cron ``schedule`` at or before ``now`` (UTC): the slot a trigger belongs to."""
    from croniter import croniter

    if not croniter.is_valid(schedule):
        raise SpecError(f"--schedule {schedule!r} is not a cron expression (e.g. '0 3 * * *')")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    return croniter(schedule, now + timedelta(seconds=1)).get_prev(datetime)


def slot_label(when: datetime) -> str:
    """A slot time as it appears in submission ids: YYYYMMDD-HHMM (UTC)."""
    return when.astimezone(UTC).strftime("%Y%m%d-%H%M")


def submission_id(job_name: str, slot: str) -> str:
    """``<job name>-<slot>`` in lower case, other characters than [a-z0-9.-] turned into '-'."""
    raw = f"{job_name}-{slot}".lower()
    return re.sub(r"[^a-z0-9.-]+", "-", raw).strip("-")


SPEC_VAR = "RAYEDIT_SPEC_YAML"
"""The job's environment variable that carries the spec (no working_dir package: nothing to upload or download)."""


def entrypoint(spec) -> str:
    """The command the cluster runs: the spec from $RAYEDIT_SPEC_YAML into a temporary file, then ``rayedit run``
    or ``rayedit generate`` on it."""
    command = "generate" if isinstance(spec, GenerateSpec) else "run"
    return (f'f=$(mktemp --suffix .yaml) && printf "%s" "${SPEC_VAR}" > "$f" && exec rayedit {command} "$f" '
            "--address auto --json --no-progress --log-format json")


@dataclass(frozen=True)
class Submission:
    """The outcome of ``submit``: the id, whether this call created the job, and the job's status."""

    submission_id: str
    created: bool
    status: str
    message: str = ""


class JobsAPIError(RuntimeError):
    """The Jobs API cannot be used: unreachable, or the cluster wants a token the caller does not have."""


def _client(address: str | None):
    from ray.exceptions import AuthenticationError
    from ray.job_submission import JobSubmissionClient

    url = dashboard_address(address)
    try:
        return JobSubmissionClient(url)
    except AuthenticationError:
        raise JobsAPIError(f"the Ray cluster at {url} requires a token: set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN "
                           "(or put the token in ~/.ray/auth_token)") from None
    except ConnectionError as err:
        raise JobsAPIError(f"cannot reach the Ray Jobs API at {url} ({err}); give --address http://HEAD:8265"
                           ) from None


def _existing(client, sid: str):
    try:
        return client.get_job_info(sid)
    except RuntimeError as err:
        if "does not exist" in str(err) or "404" in str(err):
            return None
        raise


def submit(spec, slot: str, address: str | None = None) -> Submission:
    """Submit ``spec`` (a JobSpec or GenerateSpec) for ``slot``; a slot already submitted is left alone."""
    from rayedit.cluster.manifests import spec_text

    text = spec_text(spec, where="a Ray job submission",
                     instead="the cluster's own environment (instance role or AWS_* variables on the workers)")
    client, sid = _client(address), submission_id(spec.name, slot)
    known = _existing(client, sid)
    if known is not None:
        return Submission(sid, False, str(known.status), f"slot already submitted ({known.status}); not run again")
    env = {k: os.environ[k] for k in SAFE_ENV if k in os.environ} | {SPEC_VAR: text}
    metadata = {"rayedit_version": __version__, "rayedit_job": spec.name, "rayedit_slot": slot}
    deadline = time.time() + AGENT_WAIT_SECONDS
    while True:
        try:
            client.submit_job(entrypoint=entrypoint(spec), submission_id=sid, metadata=metadata,
                              runtime_env={"env_vars": env})
            break
        except RuntimeError as err:
            if "No available agent" in str(err) and time.time() < deadline:
                time.sleep(2.0)  # a freshly started head: its dashboard agent has not registered yet
                continue
            if "already exists" not in str(err):
                raise
            # another trigger of the same slot won the race
            status = str(client.get_job_status(sid))
            return Submission(sid, False, status, "slot submitted concurrently; not run again")
    return Submission(sid, True, str(client.get_job_status(sid)), "submitted")


def job_info(submission: str, address: str | None = None) -> dict:
    """Status, timing, exit code (and its meaning) and the rayedit summary line of one submission."""
    return _info(_client(address), submission, address)


def _info(client, submission: str, address: str | None, logs_text: str | None = None) -> dict:
    """job_info with a client at hand (and the job's logs, when the caller already fetched them)."""
    info = _existing(client, submission)
    if info is None:
        raise SpecError(f"no job {submission!r} on {dashboard_address(address)}")
    out = {"submission_id": submission, "status": str(info.status), "message": info.message,
           "entrypoint": info.entrypoint, "start": _when(info.start_time), "end": _when(info.end_time),
           "exit_code": info.driver_exit_code, "exit_meaning": EXIT_MEANINGS.get(info.driver_exit_code),
           "metadata": info.metadata or {}}
    if info.status.is_terminal():
        out["summary"] = summary_line(logs_text if logs_text is not None else client.get_job_logs(submission))
    return out


def list_jobs(address: str | None = None) -> list[dict]:
    """rayedit's submissions on the cluster (those with rayedit metadata), oldest first."""
    jobs = [j for j in _client(address).list_jobs() if (j.metadata or {}).get("rayedit_job")]
    jobs.sort(key=lambda j: j.start_time or 0)
    return [{"submission_id": j.submission_id, "status": str(j.status), "job": j.metadata["rayedit_job"],
             "slot": j.metadata.get("rayedit_slot"), "start": _when(j.start_time),
             "exit_code": j.driver_exit_code} for j in jobs]


def logs(submission: str, address: str | None = None) -> str:
    """Everything the submission's entrypoint printed so far."""
    return _client(address).get_job_logs(submission)


def wait(submission: str, address: str | None = None, poll_seconds: float = 2.0, on_logs=None) -> dict:
    """Poll until the submission ends; ``on_logs(text)`` receives new log text as it appears. Returns job_info."""
    client, shown = _client(address), 0
    while True:
        status = client.get_job_status(submission)
        text = client.get_job_logs(submission)
        if on_logs and len(text) > shown:
            on_logs(text[shown:])
            shown = len(text)
        if status.is_terminal():  # the logs fetched after the terminal status are complete
            return _info(client, submission, address, text)
        time.sleep(poll_seconds)


def summary_line(text: str) -> dict | None:
    """The last JSON object line with ``counts`` in a job's logs: rayedit's final summary."""
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{") and '"counts"' in line:
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    return None


def _when(ms: int | None) -> str | None:
    return None if not ms else datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
