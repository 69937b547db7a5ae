"""Starting or joining Ray. Local Ray is bound to 127.0.0.1 so a job on a laptop opens nothing to the network."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket

import ray

from rayedit import events

LOCAL_ADDRESS = "127.0.0.1"
QUIET_LOGGERS = ("ray._private.authentication.authentication_token_setup", "ray.data._internal.progress")
"""Ray loggers whose warnings a healthy run does not need: that a local cluster uses token authentication (it
does, on 127.0.0.1), and that Ray Data's own progress bars are off (rayedit shows one samples bar instead)."""
FORWARDED_SETTINGS = ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_EC2_METADATA_DISABLED",
                      "HF_HUB_OFFLINE", "HF_HOME", "TORCH_HOME")
"""Settings (never credentials) handed to the workers of a cluster rayedit joins, through the runtime_env."""
CREDENTIAL_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
"""Never put in a runtime_env: Ray writes it in plain text to runtime_env_agent.log (mode 644 under /tmp/ray)."""


def init_ray(address: str | None = None, num_cpus: int | None = None, state_api: bool = False) -> dict:
    """Connect to ``address`` (``auto``, ``ray://host:10001``) or start a local Ray on 127.0.0.1. Without an
    address, ``RAY_ADDRESS`` is used when set (it is, for the entrypoint of a Ray Jobs API submission).

    A local Ray's workers inherit this process's environment, credentials included, and get no runtime_env. The
    workers of a cluster rayedit joins get the non-secret settings (``FORWARDED_SETTINGS``) through the
    runtime_env; their credentials are their own (instance role, their AWS_* variables, a Kubernetes Secret) or the
    spec's ``storage.key`` / ``storage.secret``, which travel inside the stage objects and are never logged.
    ``state_api``: a local Ray starts its dashboard (on 127.0.0.1), which serves Ray's State API - Ray Train's
    placement-group cleaner polls it and logs a warning every few seconds without it.
    Returns a short description of the cluster.
    """
    if ray.is_initialized():
        return describe()
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        runtime_env = joined_cluster_runtime_env(os.environ)
        if any(k in os.environ for k in CREDENTIAL_ENV) and not _job_env_vars():
            events.warn("AWS credentials in this shell are not sent to the cluster's workers (Ray would log them in "
                         "plain text); the workers use their own, or the spec's storage.key / storage.secret")
        ray.init(address=address, runtime_env=runtime_env, logging_level=logging.WARNING,
                 log_to_driver=True)
    else:
        # Ray picks the node address from the default route unless "cluster mode" is off; this constant is read
        # at import, so set it for this process and (through the environment) for the workers it spawns.
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
        ray._private.ray_constants.ENABLE_RAY_CLUSTER = False
        # address="local": a new instance even when /tmp/ray names another (a `ray start` cluster, or a stale file
        # left by one that died - without it, ray.init tries to join that address and fails on num_cpus)
        with _workers_know_their_cluster():
            ray.init(address="local", num_cpus=num_cpus, include_dashboard=state_api, dashboard_host=LOCAL_ADDRESS,
                     _node_ip_address=LOCAL_ADDRESS,
                     logging_level=logging.WARNING, configure_logging=True)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # rayedit shows one samples bar; Ray's per-operator log lines are noise
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    return describe()


@contextlib.contextmanager
def _workers_know_their_cluster():
    """Start the local Ray's GCS on a free port of 127.0.0.1 and give its processes (they inherit the environment
    of this moment) ``RAY_ADDRESS`` naming it. Ray's own code in workers that finds the cluster by "auto" (Ray
    Train's placement-group cleaner, through the State API) otherwise fails with "Found multiple active Ray
    instances" whenever a second Ray runs on the machine. This process's environment is restored afterwards, so
    programs it starts later still start their own Ray."""
    with socket.socket() as s:
        s.bind((LOCAL_ADDRESS, 0))
        port = s.getsockname()[1]
    saved = {k: os.environ.get(k) for k in ("RAY_GCS_SERVER_PORT", "RAY_ADDRESS")}
    os.environ["RAY_GCS_SERVER_PORT"], os.environ["RAY_ADDRESS"] = str(port), f"{LOCAL_ADDRESS}:{port}"
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def joined_cluster_runtime_env(environ) -> dict | None:
    """The runtime_env for joining a cluster: the settings in ``environ`` that workers need and a Jobs API
    submission did not already set - never a credential."""
    submitted = _job_env_vars()
    env = {k: environ[k] for k in FORWARDED_SETTINGS if k in environ and k not in submitted}
    return {"env_vars": env} if env else None


def _job_env_vars() -> set[str]:
    """Variables a Jobs API submission already sets for its workers (Ray refuses to set one twice)."""
    raw = os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR")
    if not raw:
        return set()
    return set((json.loads(raw).get("runtime_env") or {}).get("env_vars") or {})


def describe() -> dict:
    """CPUs, GPUs and node addresses of the connected cluster."""
    res = ray.cluster_resources()
    nodes = [n["NodeManagerAddress"] for n in ray.nodes() if n.get("Alive")]
    return {"cpus": res.get("CPU", 0), "gpus": res.get("GPU", 0), "nodes": nodes}


def ray_is_running() -> bool:
    """Whether this process is connected to Ray."""
    return ray.is_initialized()


def shutdown_ray() -> None:
    """Disconnect (and stop a local Ray)."""
    if ray.is_initialized():
        ray.shutdown()
