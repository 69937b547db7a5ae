"""KubeRay / Kubernetes manifests for a job spec: a RayJob (one run), a RayCronJob (KubeRay >= 1.6 with the
RayCronJob feature gate) or a plain Kubernetes CronJob that runs ``rayedit submit`` against an existing cluster.

The job spec travels in a ConfigMap mounted at /etc/rayedit; credentials never do (they come from a Kubernetes
Secret through ``envFrom``). The GPU worker group is sized from the spec's actor pools.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import ray
import yaml
from pydantic import BaseModel

from rayedit import __version__
from rayedit.config import JobSpec, SpecError, credential_fields

SPEC_DIR, SPEC_FILE = "/etc/rayedit", "job.yaml"


@dataclass(frozen=True)
class ClusterShape:
    """Where the job runs: container image, namespace and what one worker pod offers."""

    image: str = f"rayedit:{__version__}"
    namespace: str = "default"
    gpus_per_worker: int = 1
    cpus_per_worker: int = 8
    memory_per_worker: str = "32Gi"
    secret: str | None = None
    """Kubernetes Secret with AWS_* / HF_* variables, passed to every container with envFrom."""
    ttl_seconds: int = 3600
    deadline_seconds: int = 86400
    backoff_limit: int = 2
    ray_dashboard: str = "http://raycluster-head-svc:8265"
    """For ``cronjob``: the existing Ray cluster's dashboard (Jobs API) address."""


def resource_name(spec: JobSpec) -> str:
    """The job name as a Kubernetes / cluster resource name (lower case, '-' for '_' and '.')."""
    return spec.name.lower().replace("_", "-").replace(".", "-")


def workers_needed(spec: JobSpec, shape: ClusterShape) -> int:
    """GPU (or CPU) worker pods for the spec's edit and score actor pools."""
    res = spec.resources
    gpus = res.edit.actors * res.edit.num_gpus + res.score.actors * res.score.num_gpus
    if gpus > 0:
        return max(1, math.ceil(gpus / shape.gpus_per_worker))
    cpus = res.edit.actors * res.edit.num_cpus + res.score.actors * res.score.num_cpus + 1
    return max(1, math.ceil(cpus / shape.cpus_per_worker))


def spec_text(spec: BaseModel, where: str = "a ConfigMap",
              instead: str = "a Kubernetes Secret (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) and pass --secret NAME"
              ) -> str:
    """The spec as YAML to send to a cluster (``where``); refused when it holds credentials (``instead``)."""
    held = credential_fields(spec)
    if held:
        raise SpecError(f"{', '.join(held)} hold(s) credentials; they must not go into {where} - use {instead}")
    return yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False)  # nulls kept: `clip: null` means off


def _container(name: str, shape: ClusterShape, gpus: int = 0, cpus: int = 2, memory: str = "8Gi") -> dict:
    limits = {"cpu": str(cpus), "memory": memory} | ({"nvidia.com/gpu": str(gpus)} if gpus else {})
    c = {"name": name, "image": shape.image, "resources": {"limits": limits, "requests": dict(limits)},
         "volumeMounts": [{"name": "rayedit-spec", "mountPath": SPEC_DIR, "readOnly": True}]}
    if shape.secret:
        c["envFrom"] = [{"secretRef": {"name": shape.secret}}]
    return c


def _pod(container: dict, config_map: str, **spec) -> dict:
    volume = {"name": "rayedit-spec", "configMap": {"name": config_map}}
    return {"spec": {"containers": [container], "volumes": [volume], **spec}}


def ray_job_spec(spec: JobSpec, shape: ClusterShape, config_map: str) -> dict:
    """A RayJob spec: head + one worker group sized from the spec, the cluster deleted after the job."""
    gpus = shape.gpus_per_worker if workers_needed_gpu(spec) else 0
    replicas = workers_needed(spec, shape)
    return {
        "entrypoint": f"rayedit run {SPEC_DIR}/{SPEC_FILE} --address auto --json --no-progress --log-format json",
        "shutdownAfterJobFinishes": True,
        "ttlSecondsAfterFinished": shape.ttl_seconds,
        "activeDeadlineSeconds": shape.deadline_seconds,
        "backoffLimit": shape.backoff_limit,
        "submissionMode": "K8sJobMode",
        "rayClusterSpec": {
            "rayVersion": ray.__version__,
            "headGroupSpec": {"rayStartParams": {"num-cpus": "0"},  # no actors on the head: it runs the driver
                              "template": _pod(_container("ray-head", shape), config_map)},
            "workerGroupSpecs": [{
                "groupName": "gpu-workers" if gpus else "cpu-workers", "replicas": replicas,
                "minReplicas": replicas, "maxReplicas": replicas, "rayStartParams": {},
                "template": _pod(_container("ray-worker", shape, gpus, shape.cpus_per_worker,
                                            shape.memory_per_worker), config_map),
            }],
        },
    }


def workers_needed_gpu(spec: JobSpec) -> bool:
    """Whether any actor pool asks for GPUs."""
    return spec.resources.edit.num_gpus > 0 or spec.resources.score.num_gpus > 0


def render(spec: JobSpec, kind: str, shape: ClusterShape = ClusterShape(), schedule: str | None = None) -> list[dict]:
    """The manifests (ConfigMap first) for ``kind`` in {rayjob, raycronjob, cronjob}."""
    if kind in ("raycronjob", "cronjob") and not schedule:
        raise SpecError(f"--kind {kind} needs --schedule (a cron string such as '0 3 * * *')")
    name = resource_name(spec)
    cm_name = f"{name}-spec"
    meta = {"name": name, "namespace": shape.namespace, "labels": {"app.kubernetes.io/name": "rayedit"}}
    docs = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta | {"name": cm_name},
             "data": {SPEC_FILE: spec_text(spec)}}]
    if kind == "rayjob":
        docs.append({"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": meta,
                     "spec": ray_job_spec(spec, shape, cm_name)})
    elif kind == "raycronjob":
        docs.append({"apiVersion": "ray.io/v1", "kind": "RayCronJob", "metadata": meta,
                     "spec": {"schedule": schedule, "jobTemplate": ray_job_spec(spec, shape, cm_name)}})
    elif kind == "cronjob":
        docs.append(_cron_job(spec, shape, schedule, meta, cm_name))
    else:
        raise SpecError(f"unknown manifest kind {kind!r}; use rayjob, raycronjob or cronjob")
    return docs


def _cron_job(spec: JobSpec, shape: ClusterShape, schedule: str, meta: dict, cm_name: str) -> dict:
    """A Kubernetes CronJob whose pod runs ``rayedit submit`` against an existing Ray cluster. The slot is the
    Kubernetes Job name's suffix, which the CronJob controller derives from the scheduled time: a retried pod of
    the same slot finds its submission already there instead of running the slot twice."""
    submit = (f"rayedit submit {SPEC_DIR}/{SPEC_FILE} --address {shape.ray_dashboard} --slot \"${{SLOT##*-}}\" "
              "--json")
    container = _container("submit", shape, cpus=1, memory="1Gi") | {"command": ["sh", "-c", submit]}
    container["env"] = [{"name": "SLOT", "valueFrom": {"fieldRef": {
        "fieldPath": "metadata.labels['batch.kubernetes.io/job-name']"}}}]
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta,
            "spec": {"schedule": schedule, "concurrencyPolicy": "Forbid",
                     "jobTemplate": {"spec": {"backoffLimit": shape.backoff_limit,
                                              "activeDeadlineSeconds": shape.deadline_seconds,
                                              "ttlSecondsAfterFinished": shape.ttl_seconds,
                                              "template": _pod(container, cm_name, restartPolicy="Never")}}}}
