"""Starting or joining Ray. Local Ray is bound to 127.0.0.1 so a job on a laptop opens nothing to the network."""

from __future__ import annotations

import json
import logging
import os

import ray

LOCAL_ADDRESS = "127.0.0.1"
_FORWARDED_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION",
                  "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_EC2_METADATA_DISABLED", "HF_HUB_OFFLINE", "HF_HOME",
                  "TORCH_HOME")


def init_ray(address: str | None = None, num_cpus: int | None = None) -> dict:
    """Connect to ``address`` (``auto``, ``ray://host:10001``) or start a local Ray on 127.0.0.1. Without an
    address, ``RAY_ADDRESS`` is used when set (it is, for the entrypoint of a Ray Jobs API submission).

    Environment variables that workers need (AWS, HF, TORCH) are forwarded through the runtime_env, never
    printed. Returns a short description of the cluster.
    """
    if ray.is_initialized():
        return describe()
    submitted = _job_env_vars()
    env = {k: os.environ[k] for k in _FORWARDED_ENV if k in os.environ and k not in submitted}
    runtime_env = {"env_vars": env} if env else None
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        ray.init(address=address, runtime_env=runtime_env, logging_level=logging.WARNING,
                 log_to_driver=True)
    else:
        # Ray picks the node address from the default route unless "cluster mode" is off; this constant is read
        # at import, so set it for this process and (through the environment) for the workers it spawns.
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
        ray._private.ray_constants.ENABLE_RAY_CLUSTER = False
        # address="local": a new instance even when /tmp/ray names another (a `ray start` cluster, or a stale file
        # left by one that died - without it, ray.init tries to join that address and fails on num_cpus)
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, _node_ip_address=LOCAL_ADDRESS,
                 runtime_env=runtime_env, logging_level=logging.WARNING, configure_logging=True)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # rayedit shows one samples bar; Ray's per-operator log lines are noise
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    return describe()


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


def shutdown_ray() -> None:
    """Disconnect (and stop a local Ray)."""
    if ray.is_initialized():
        ray.shutdown()
