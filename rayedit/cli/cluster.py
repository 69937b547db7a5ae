"""Cluster commands: submit / status / logs through the Ray Jobs API, and cluster render (KubeRay, CronJob,
cluster launcher)."""

from __future__ import annotations

import json
import sys

from rayedit.cli.common import SET_HELP, block_dumper, load_any_spec, load_job_spec


def cmd_submit(args) -> int:
    """Submit a job or generate spec to a Ray cluster through the Jobs API. The submission id is the job name plus
    a slot - the latest fire time of --schedule, or --slot - so a retried trigger of the same slot is not run
    twice. The spec travels with the job; credentials do not (the cluster uses its own environment)."""
    from datetime import UTC, datetime

    from rayedit.cluster import jobs

    spec = load_any_spec(args)
    if args.schedule:
        slot = jobs.slot_label(jobs.schedule_slot(args.schedule))
    else:
        slot = args.slot or datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    for where, url in (("output", spec.output.url), ("input", getattr(getattr(spec, "input", None), "url", None))):
        if url and "://" not in url:
            print(f"rayedit: note: {where}.url {url!r} is a local path; every node of the cluster must see it "
                  "(use s3:// or a shared filesystem)", file=sys.stderr)
    sub = jobs.submit(spec, slot, args.address)
    verb = "submitted" if sub.created else "not submitted"
    print(f"rayedit: {verb} {sub.submission_id} to {jobs.dashboard_address(args.address)}: {sub.message} "
          f"(status {sub.status})")
    result = {"submission_id": sub.submission_id, "created": sub.created, "status": sub.status, "slot": slot}
    if args.wait:
        info = jobs.wait(sub.submission_id, args.address, on_logs=lambda text: print(text, end="", flush=True))
        _print_job(info)
        result |= {"status": info["status"], "exit_code": info["exit_code"], "summary": info.get("summary")}
    if args.json:
        print(json.dumps(result))
    if args.wait:
        return result["exit_code"] if result["exit_code"] is not None else int(result["status"] != "SUCCEEDED")
    return 0


def _print_job(info: dict) -> None:
    code = info["exit_code"]
    meaning = f" ({info['exit_meaning']})" if info.get("exit_meaning") else ""
    print(f"{info['submission_id']}: {info['status']}, exit code {code}{meaning}")
    print(f"  started {info['start']}, ended {info['end']}; {info['message']}")
    if info.get("summary"):
        counts = info["summary"].get("counts", {})
        print("  samples: " + ", ".join(f"{v} {k}" for k, v in counts.items()) +
              f"; output {info['summary'].get('output')}")


def cmd_status(args) -> int:
    """Show one submission (status, exit code and what it means, the job's summary) or list rayedit's
    submissions on the cluster."""
    from rayedit.cluster import jobs

    if args.submission_id:
        info = jobs.job_info(args.submission_id, args.address)
        if args.json:
            print(json.dumps(info))
        else:
            _print_job(info)
        return 0
    rows = jobs.list_jobs(args.address)
    if args.json:
        print(json.dumps(rows))
        return 0
    if not rows:
        print(f"no rayedit jobs on {jobs.dashboard_address(args.address)}")
    for r in rows:
        print(f"{r['submission_id']:<48} {r['status']:<10} exit {r['exit_code']!s:<5} started {r['start']}")
    return 0


def cmd_logs(args) -> int:
    """Print what a submission's entrypoint printed (--follow: keep printing until it ends)."""
    from rayedit.cluster import jobs

    if args.follow:
        info = jobs.wait(args.submission_id, args.address, on_logs=lambda text: print(text, end="", flush=True))
        return 0 if info["status"] == "SUCCEEDED" else 1
    print(jobs.logs(args.submission_id, args.address), end="")
    return 0


def cmd_cluster_render(args) -> int:
    """Print Kubernetes manifests for a job spec: a KubeRay RayJob (head + a worker group sized from the spec's
    actor pools, cluster deleted after the job, TTL, deadline, backoff limit), a RayCronJob (KubeRay >= 1.6 with
    the RayCronJob feature gate), or a Kubernetes CronJob that runs `ray job submit` against an existing cluster with
    the schedule slot as submission id (a retried slot never runs twice). The spec goes in a ConfigMap; credentials
    must come from a Secret (--secret). Every manifest is checked against the KubeRay / batch/v1 field names.
    `--kind launcher` prints a Ray cluster-launcher YAML for VMs instead (checked against Ray's ray-schema.json)."""
    import yaml

    from rayedit.cluster.kuberay_schema import check_manifest
    from rayedit.cluster.manifests import ClusterShape, render

    spec = load_job_spec(args)
    shape = ClusterShape(image=args.image or ClusterShape.image, namespace=args.namespace,
                         gpus_per_worker=args.gpus_per_worker, cpus_per_worker=args.cpus_per_worker,
                         memory_per_worker=args.memory_per_worker, secret=args.secret,
                         ray_dashboard=args.ray_dashboard)
    if args.kind == "launcher":
        from rayedit.cluster.launcher import VMShape, check_launcher_config, launcher_config

        docs = [launcher_config(spec, shape, VMShape(region=args.region, worker_instance=args.instance_type))]
        checks = [("cluster-launcher config", check_launcher_config(docs[0]))]
    else:
        docs = render(spec, args.kind, shape, args.schedule)
        checks = [(doc["kind"], check_manifest(doc)) for doc in docs]
    for what, problems in checks:
        if problems:
            raise RuntimeError(f"rayedit rendered an invalid {what}: {problems}")
    text = yaml.dump_all(docs, Dumper=block_dumper(), sort_keys=False)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
        print(f"rayedit: {len(docs)} document(s) ({', '.join(d.get('kind', 'cluster-launcher') for d in docs)}) "
              f"written to {args.out}")
    else:
        print(text, end="")
    return 0


def register(sub) -> None:
    """Register submit, status, logs and cluster."""
    dash = ("Ray Jobs API (dashboard) address, e.g. http://HOST:8265 (default: $RAY_API_SERVER_ADDRESS, an http "
            "$RAY_ADDRESS, else http://127.0.0.1:8265)")
    sb = sub.add_parser("submit", help="submit a spec to a Ray cluster (Jobs API), once per schedule slot",
                        description=cmd_submit.__doc__)
    sb.add_argument("spec", help="job spec YAML, or a generate spec (one with a prompts section)")
    sb.add_argument("--set", action="append", default=[], metavar="A.B=V", help=SET_HELP)
    sb.add_argument("--address", default=None, help=dash)
    slot = sb.add_mutually_exclusive_group()
    slot.add_argument("--schedule", default=None, metavar="CRON",
                      help="cron schedule this trigger belongs to, e.g. '0 3 * * *': the slot is its latest fire "
                           "time (UTC) at or before now")
    slot.add_argument("--slot", default=None,
                      help="slot label for the submission id (default without --schedule: the current UTC time "
                           "to the second, i.e. always a new job)")
    sb.add_argument("--wait", action="store_true",
                    help="print the job's logs until it ends; exit with its exit code (0 ok, 3 some samples "
                         "failed, 2 bad spec, 1 failed)")
    sb.add_argument("--json", action="store_true", help="also print the outcome as one JSON line")
    sb.set_defaults(fn=cmd_submit)
    st = sub.add_parser("status", help="status of a submitted job, or the list of rayedit jobs on a cluster",
                        description=cmd_status.__doc__)
    st.add_argument("submission_id", nargs="?", default=None, help="submission id (omit to list rayedit's jobs)")
    st.add_argument("--address", default=None, help=dash)
    st.add_argument("--json", action="store_true", help="print JSON instead of text")
    st.set_defaults(fn=cmd_status)
    lg = sub.add_parser("logs", help="logs of a submitted job", description=cmd_logs.__doc__)
    lg.add_argument("submission_id", help="submission id (printed by submit; listed by status)")
    lg.add_argument("--address", default=None, help=dash)
    lg.add_argument("--follow", action="store_true", help="keep printing until the job ends")
    lg.set_defaults(fn=cmd_logs)

    cl = sub.add_parser("cluster", help="cluster tools: Kubernetes manifests", description="Cluster helpers.")
    cl_sub = cl.add_subparsers(dest="cluster_command", required=True, metavar="CLUSTER_COMMAND")
    cr = cl_sub.add_parser("render", help="KubeRay RayJob / RayCronJob, a CronJob, or a cluster-launcher YAML",
                           description=cmd_cluster_render.__doc__)
    cr.add_argument("spec", help="job spec YAML")
    cr.add_argument("--set", action="append", default=[], metavar="A.B=V", help=SET_HELP)
    cr.add_argument("--kind", choices=["rayjob", "raycronjob", "cronjob", "launcher"], default="rayjob",
                    help="what to render; launcher: a Ray cluster-launcher YAML for VMs (`ray up`) "
                         "(default: %(default)s)")
    cr.add_argument("--region", default="us-west-2", help="launcher: AWS region (default: %(default)s)")
    cr.add_argument("--instance-type", default="g5.2xlarge",
                    help="launcher: worker instance type, with --gpus/--cpus-per-worker to match (default: "
                         "%(default)s)")
    cr.add_argument("--schedule", default=None, help="cron string for raycronjob / cronjob, e.g. '0 3 * * *'")
    cr.add_argument("--image", default=None, help="container image with rayedit installed (default: rayedit:VERSION)")
    cr.add_argument("--namespace", default="default", help="Kubernetes namespace (default: %(default)s)")
    cr.add_argument("--gpus-per-worker", type=int, default=1, help="GPUs per worker pod (default: %(default)s)")
    cr.add_argument("--cpus-per-worker", type=int, default=8, help="CPUs per worker pod (default: %(default)s)")
    cr.add_argument("--memory-per-worker", default="32Gi", help="memory per worker pod (default: %(default)s)")
    cr.add_argument("--secret", default=None, help="Kubernetes Secret with AWS_* / HF_* variables (envFrom)")
    cr.add_argument("--ray-dashboard", default="http://raycluster-head-svc:8265",
                    help="cronjob: the existing cluster's Jobs API address (default: %(default)s)")
    cr.add_argument("--out", default=None, help="write the manifests here instead of stdout")
    cr.set_defaults(fn=cmd_cluster_render)
