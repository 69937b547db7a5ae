"""The field names rayedit's Kubernetes manifests may use, written from the KubeRay v1 CRDs (RayJob, RayCronJob;
ray-operator/apis/ray/v1) and Kubernetes batch/v1 CronJob docs. Kept small: only the fields rayedit emits and their
parents. :func:`unknown_fields` catches a typo'd or misplaced key before kubectl (or the operator) silently drops it.

A schema is a dict of field -> sub-schema; ``ANY`` accepts any value (free-form maps such as labels or
rayStartParams); a one-element list means "a list whose items follow this schema".
"""

from __future__ import annotations

ANY = "any"

CONTAINER = {"name": ANY, "image": ANY, "command": ANY, "args": ANY, "imagePullPolicy": ANY,
             "env": [{"name": ANY, "value": ANY, "valueFrom": {"fieldRef": {"fieldPath": ANY}}}],
             "envFrom": [{"secretRef": {"name": ANY}}], "ports": [{"containerPort": ANY, "name": ANY}],
             "resources": {"limits": ANY, "requests": ANY},
             "volumeMounts": [{"name": ANY, "mountPath": ANY, "readOnly": ANY}]}
POD_TEMPLATE = {"metadata": {"labels": ANY, "annotations": ANY},
                "spec": {"containers": [CONTAINER], "volumes": [{"name": ANY, "configMap": {"name": ANY}}],
                         "restartPolicy": ANY, "nodeSelector": ANY, "tolerations": ANY,
                         "serviceAccountName": ANY}}
RAY_CLUSTER_SPEC = {
    "rayVersion": ANY,
    "headGroupSpec": {"rayStartParams": ANY, "template": POD_TEMPLATE},
    "workerGroupSpecs": [{"groupName": ANY, "replicas": ANY, "minReplicas": ANY, "maxReplicas": ANY,
                          "rayStartParams": ANY, "template": POD_TEMPLATE}],
}
RAY_JOB_SPEC = {"entrypoint": ANY, "rayClusterSpec": RAY_CLUSTER_SPEC, "submissionMode": ANY,
                "shutdownAfterJobFinishes": ANY, "ttlSecondsAfterFinished": ANY, "activeDeadlineSeconds": ANY,
                "backoffLimit": ANY, "jobId": ANY, "runtimeEnvYAML": ANY, "metadata": ANY, "suspend": ANY}
METADATA = {"name": ANY, "namespace": ANY, "labels": ANY, "annotations": ANY}
CONFIG_MAP = {"apiVersion": ANY, "kind": ANY, "metadata": METADATA, "data": ANY}
RAY_JOB = {"apiVersion": ANY, "kind": ANY, "metadata": METADATA, "spec": RAY_JOB_SPEC}
RAY_CRON_JOB = {"apiVersion": ANY, "kind": ANY, "metadata": METADATA,
                "spec": {"schedule": ANY, "suspend": ANY, "jobTemplate": RAY_JOB_SPEC}}
CRON_JOB = {"apiVersion": ANY, "kind": ANY, "metadata": METADATA,
            "spec": {"schedule": ANY, "concurrencyPolicy": ANY, "suspend": ANY, "startingDeadlineSeconds": ANY,
                     "successfulJobsHistoryLimit": ANY, "failedJobsHistoryLimit": ANY,
                     "jobTemplate": {"spec": {"backoffLimit": ANY, "activeDeadlineSeconds": ANY,
                                              "ttlSecondsAfterFinished": ANY, "template": POD_TEMPLATE}}}}
SCHEMAS = {("ray.io/v1", "RayJob"): RAY_JOB, ("ray.io/v1", "RayCronJob"): RAY_CRON_JOB,
           ("batch/v1", "CronJob"): CRON_JOB, ("v1", "ConfigMap"): CONFIG_MAP}
REQUIRED = {"RayJob": ["spec.entrypoint", "spec.rayClusterSpec.headGroupSpec"],
            "RayCronJob": ["spec.schedule", "spec.jobTemplate.entrypoint"],
            "CronJob": ["spec.schedule", "spec.jobTemplate.spec.template.spec.containers"]}


def unknown_fields(value, schema, path: str = "") -> list[str]:
    """Paths of keys in ``value`` that ``schema`` does not know (empty: the manifest is made of known fields)."""
    if schema == ANY:
        return []
    if isinstance(schema, list):
        if not isinstance(value, list):
            return [f"{path} (expected a list)"]
        return [p for i, item in enumerate(value) for p in unknown_fields(item, schema[0], f"{path}[{i}]")]
    if not isinstance(value, dict):
        return [f"{path} (expected a mapping)"]
    out = []
    for key, sub in value.items():
        where = f"{path}.{key}" if path else key
        out += [where] if key not in schema else unknown_fields(sub, schema[key], where)
    return out


def check_manifest(doc: dict) -> list[str]:
    """Problems with one manifest: unknown kind, unknown fields, missing required fields."""
    schema = SCHEMAS.get((doc.get("apiVersion"), doc.get("kind")))
    if schema is None:
        return [f"unknown apiVersion/kind {doc.get('apiVersion')}/{doc.get('kind')}"]
    problems = [f"unknown field {p}" for p in unknown_fields(doc, schema)]
    for path in REQUIRED.get(doc["kind"], []):
        node = doc
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node in (None, "", [], {}):
            problems.append(f"missing {path}")
    return problems
