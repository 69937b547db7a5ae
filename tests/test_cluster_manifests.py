"""KubeRay / CronJob manifests: valid field names (the schema), sizing from the spec, no credentials, CLI."""

import subprocess

import pytest
import yaml

from rayedit.cli import main
from rayedit.cluster.kuberay_schema import check_manifest
from rayedit.cluster.manifests import ClusterShape, render, workers_needed
from rayedit.config import SpecError, parse_spec

JOB = {"name": "cats_to_lions", "input": {"url": "s3://bucket/cats/{000..009}.tar"},
       "model": {"name": "toy-text-ddpm"}, "editor": {"kind": "dds", "replace": {"cat": "lion"}},
       "score": {"clip": None},  # an explicit null must survive the trip to the cluster
       "output": {"url": "s3://bucket/lions"},
       "resources": {"edit": {"actors": 3, "num_gpus": 1}, "score": {"actors": 2, "num_gpus": 0.5}}}


@pytest.mark.parametrize("kind", ["rayjob", "raycronjob", "cronjob"])
def test_every_kind_uses_known_fields_only(kind):
    docs = render(parse_spec(JOB), kind, ClusterShape(secret="s3-creds"), schedule="0 3 * * *")
    assert [d["kind"] for d in docs][0] == "ConfigMap"
    for doc in docs:
        assert check_manifest(doc) == [], doc["kind"]
    spec_back = parse_spec(yaml.safe_load(docs[0]["data"]["job.yaml"]))
    assert spec_back == parse_spec(JOB)  # the ConfigMap carries the whole spec


def test_schema_catches_typos_and_missing_fields():
    doc = render(parse_spec(JOB), "rayjob")[1]
    doc["spec"]["shutdownAfterJobFinish"] = True
    doc["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["replica"] = 2
    del doc["spec"]["entrypoint"]
    assert check_manifest(doc) == ["unknown field spec.rayClusterSpec.workerGroupSpecs[0].replica",
                                   "unknown field spec.shutdownAfterJobFinish", "missing spec.entrypoint"]
    assert check_manifest({"apiVersion": "ray.io/v1", "kind": "RayServe"}) == [
        "unknown apiVersion/kind ray.io/v1/RayServe"]


def test_rayjob_is_sized_from_the_spec_and_cleans_up():
    spec = parse_spec(JOB)
    assert workers_needed(spec, ClusterShape(gpus_per_worker=1)) == 4  # 3 x 1 + 2 x 0.5 GPUs
    assert workers_needed(spec, ClusterShape(gpus_per_worker=8)) == 1
    job = render(spec, "rayjob", ClusterShape(gpus_per_worker=2))[1]["spec"]
    group = job["rayClusterSpec"]["workerGroupSpecs"][0]
    assert group["replicas"] == 2 and group["template"]["spec"]["containers"][0]["resources"]["limits"][
        "nvidia.com/gpu"] == "2"
    assert job["shutdownAfterJobFinishes"] is True and job["ttlSecondsAfterFinished"] > 0
    assert "--address auto" in job["entrypoint"]
    cpu_only = parse_spec(JOB | {"resources": {"edit": {"actors": 2}}})
    cpu_group = render(cpu_only, "rayjob")[1]["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]
    assert cpu_group["groupName"] == "cpu-workers"
    assert "nvidia.com/gpu" not in cpu_group["template"]["spec"]["containers"][0]["resources"]["limits"]


def test_cronjob_submits_with_the_schedule_slot_as_id():
    cron = render(parse_spec(JOB), "cronjob", schedule="*/30 * * * *")[1]
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert pod["restartPolicy"] == "Never" and cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert c["command"][2].startswith("rayedit submit /etc/rayedit/job.yaml --address http")
    assert '--slot "${SLOT##*-}"' in c["command"][2]  # cats-to-lions-29383920 -> slot 29383920
    slot = subprocess.run(["sh", "-c", 'SLOT=cats-to-lions-29383920; echo "${SLOT##*-}"'], capture_output=True,
                          text=True).stdout.strip()
    assert slot == "29383920"
    assert c["env"][0]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.labels['batch.kubernetes.io/job-name']"


def test_refusals():
    with pytest.raises(SpecError, match="needs --schedule"):
        render(parse_spec(JOB), "raycronjob")
    secret = JOB | {"output": {"url": "s3://b/o", "storage": {"key": "AKIA-do-not-ship", "secret": "s3cr3t"}}}
    with pytest.raises(SpecError, match="must not go into a ConfigMap") as err:
        render(parse_spec(secret), "rayjob")
    assert "AKIA" not in str(err.value)


def test_render_cli(tmp_path, capsys):
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(JOB))
    out = tmp_path / "m.yaml"
    assert main(["cluster", "render", str(tmp_path / "job.yaml"), "--kind", "raycronjob", "--schedule", "0 3 * * *",
                 "--out", str(out)]) == 0
    docs = list(yaml.safe_load_all(out.read_text()))
    assert [d["kind"] for d in docs] == ["ConfigMap", "RayCronJob"] and docs[1]["spec"]["schedule"] == "0 3 * * *"
    assert "job.yaml: |" in out.read_text()  # the spec is readable in the ConfigMap


def test_cluster_launcher_config_is_valid_for_rays_schema_and_carries_the_spec(tmp_path):
    from rayedit.cluster.launcher import check_launcher_config, launcher_config

    config = launcher_config(parse_spec(JOB), ClusterShape(gpus_per_worker=2))
    assert check_launcher_config(config) == []
    workers = config["available_node_types"]["workers"]
    assert workers["resources"] == {"CPU": 8, "GPU": 2}  # 3 + 2 x 0.5 = 4 GPUs on 2-GPU nodes
    assert workers["min_workers"] == workers["max_workers"] == config["max_workers"] == 2
    assert config["available_node_types"]["head"]["resources"] == {"CPU": 0}
    script = config["setup_commands"][1]
    body = script.split("<<'RAYEDIT_SPEC'\n", 1)[1].rsplit("RAYEDIT_SPEC", 1)[0]
    assert parse_spec(yaml.safe_load(body)) == parse_spec(JOB)  # the heredoc carries the whole spec
    bad = config | {"max_worker": 3}
    assert any("max_worker" in p for p in check_launcher_config(bad))  # the schema catches typos
    job = tmp_path / "job.yaml"
    job.write_text(yaml.safe_dump(JOB))
    assert main(["cluster", "render", str(job), "--kind", "launcher", "--out", str(tmp_path / "c.yaml")]) == 0
    assert yaml.safe_load((tmp_path / "c.yaml").read_text())["cluster_name"] == "rayedit-cats-to-lions"
