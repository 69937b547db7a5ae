"""A Ray cluster-launcher config (``ray up``) for a job spec on VMs: a CPU head that runs the driver and a GPU
worker type sized from the spec's actor pools. Checked against the ``ray-schema.json`` that ships with Ray."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

from rayedit import __version__
from rayedit.cluster.manifests import (
    SPEC_DIR,
    SPEC_FILE,
    ClusterShape,
    resource_name,
    spec_text,
    workers_needed,
    workers_needed_gpu,
)
from rayedit.config import JobSpec


@dataclass(frozen=True)
class VMShape:
    """Cloud and instance types for the launcher (AWS by default)."""

    provider: str = "aws"
    region: str = "us-west-2"
    head_instance: str = "m5.2xlarge"
    worker_instance: str = "g5.2xlarge"
    """One NVIDIA A10G, 8 vCPUs; match ``gpus_per_worker`` / ``cpus_per_worker`` of the ClusterShape."""
    ssh_user: str = "ubuntu"


def launcher_config(spec: JobSpec, shape: ClusterShape | None = None, vm: VMShape | None = None) -> dict:
    """The cluster-launcher YAML as a dict: `ray up` it, then `ray exec CONFIG "rayedit run ..."` (see README).
    The spec is written to SPEC_DIR on every node by a setup command; credentials are refused (use the instance
    role / profile)."""
    shape, vm = shape or ClusterShape(), vm or VMShape()
    name = resource_name(spec)
    replicas = workers_needed(spec, shape)
    gpus = shape.gpus_per_worker if workers_needed_gpu(spec) else 0
    worker_resources = {"CPU": shape.cpus_per_worker} | ({"GPU": gpus} if gpus else {})
    write_spec = f"mkdir -p {SPEC_DIR} && cat > {SPEC_DIR}/{SPEC_FILE} <<'RAYEDIT_SPEC'\n{spec_text(spec)}RAYEDIT_SPEC"
    return {
        "cluster_name": f"rayedit-{name}",
        "max_workers": replicas,
        "upscaling_speed": 1.0,
        "idle_timeout_minutes": 5,
        "provider": {"type": vm.provider, "region": vm.region, "cache_stopped_nodes": False},
        "auth": {"ssh_user": vm.ssh_user},
        "available_node_types": {
            "head": {"node_config": {"InstanceType": vm.head_instance}, "resources": {"CPU": 0},  # driver only
                     "min_workers": 0, "max_workers": 0},
            "workers": {"node_config": {"InstanceType": vm.worker_instance}, "resources": worker_resources,
                        "min_workers": replicas, "max_workers": replicas},
        },
        "head_node_type": "head",
        "setup_commands": [f"pip install -q 'rayedit=={__version__}'", write_spec],
        "head_start_ray_commands": ["ray stop",
                                    "ray start --head --port=6379 --autoscaling-config=~/ray_bootstrap_config.yaml"],
        "worker_start_ray_commands": ["ray stop", "ray start --address=$RAY_HEAD_IP:6379"],
    }


def ray_schema() -> dict:
    """The cluster-launcher JSON schema of the installed Ray."""
    return json.loads(resources.files("ray.autoscaler").joinpath("ray-schema.json").read_text())


def check_launcher_config(config: dict) -> list[str]:
    """Schema violations of a launcher config (empty if it is valid)."""
    import jsonschema

    validator = jsonschema.Draft7Validator(ray_schema())
    return [f"{'.'.join(map(str, e.path)) or '<root>'}: {e.message}" for e in validator.iter_errors(config)]
