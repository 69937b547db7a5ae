"""Job commands: run, generate, validate, report, spec, demo."""

from __future__ import annotations

import json

from rayedit.cli.common import (
    SET_HELP,
    job_exit_code,
    load_any_spec,
    load_job_spec,
    log_options,
    print_result,
    quiet_ray,
    ray_up,
    spec_command,
)


def cmd_validate(args) -> int:
    """Check a job spec (fields, inputs, output, model, filters) or a generate spec (prompts, model, output)
    without running it."""
    from rayedit.config.generate import GenerateSpec
    from rayedit.pipelines.edit import fingerprint, plan_job, stage_plans
    from rayedit.storage.job_record import check_same_job

    spec = load_any_spec(args)
    if isinstance(spec, GenerateSpec):
        from rayedit.pipelines.generate import plan_generate

        gen = plan_generate(spec)
        print(f"ok: {len(gen.index.prompts)} prompt(s) x {gen.spec.images_per_prompt} = {len(gen.index)} samples in "
              f"{len(gen.shards)} shard(s), {len(gen.done)} already committed, model {gen.spec.model.name!r} at "
              f"{gen.resolution}px, output {gen.spec.output.url}")
        for note in gen.notes:
            print(f"note: {note}")
        return 0
    plan = plan_job(spec)
    check_same_job(spec.output, fingerprint(plan))
    plan.notes += local_resource_notes(stage_plans(plan))
    print(f"ok: {len(plan.shards)} input shard(s), {len(plan.done)} already committed, "
          f"model {plan.spec.model.name!r} at {plan.resolution}px, output {plan.spec.output.url}")
    for note in plan.notes:
        print(f"note: {note}")
    return 0


def local_resource_notes(stages: list) -> list[str]:
    """What the actor pools need beyond this machine's CPUs and GPUs (what a local `rayedit run` would refuse)."""
    import os

    import torch

    from rayedit.cluster.executor import check_resources

    here = {"CPU": float(os.cpu_count() or 1), "GPU": float(torch.cuda.device_count())}
    return [f"{p} (on this machine; `rayedit run` here would stop at this, a cluster may have more)"
            for p in check_resources(stages, here, strict=False)]


def cmd_run(args) -> int:
    """Run (or resume) an edit job."""
    spec = load_job_spec(args)  # a missing or wrong spec is an error before the heavy imports
    from rayedit.pipelines.edit import run_job

    was_up = ray_up()
    result = run_job(spec, address=args.address, progress=not args.no_progress,
                     restart=args.restart)
    quiet_ray(was_up)
    print_result(result)
    if args.json:
        print(json.dumps({"counts": result.counts, "samples_this_run": result.samples_this_run,
                          "shards_committed": result.shards_committed, "shards_skipped": result.shards_skipped,
                          "seconds": result.seconds, "output": result.output_url}))
    return job_exit_code(result)


def cmd_generate(args) -> int:
    """Generate images from prompts with a text-conditioned model (or resume a generate job): WebDataset shards and
    a manifest with each sample's prompt and seed, then a summary of what was made."""
    from rayedit.config import load_spec
    from rayedit.config.generate import GenerateSpec
    from rayedit.pipelines.generate import run_generate
    from rayedit.pipelines.generate_summary import print_summary, summarize

    spec = load_spec(args.spec, args.set, kind=GenerateSpec)
    was_up = ray_up()
    result = run_generate(spec, address=args.address, progress=not args.no_progress, restart=args.restart)
    quiet_ray(was_up)
    print_result(result)
    summary = summarize(spec.output)
    print_summary(summary)
    if args.json:
        print(json.dumps({"counts": result.counts, "samples_this_run": result.samples_this_run,
                          "shards_committed": result.shards_committed, "shards_skipped": result.shards_skipped,
                          "seconds": result.seconds, "output": result.output_url, "summary": summary}))
    return job_exit_code(result)


def cmd_report(args) -> int:
    """Write an HTML report of a job's output: counts by status and reason, score histograms, before/after pairs
    (best, worst and random by a score), runs and settings - plus the pairs as one PNG."""
    from rayedit.config import OutputSpec
    from rayedit.reporting.build import build_report

    html_path = args.out or "report.html"
    png_path = None if args.no_png else (args.png or html_path.rsplit(".", 1)[0] + ".png")
    info = build_report(OutputSpec(url=args.output), html_path, png_path, score=args.score, per_section=args.n)
    print(f"rayedit: report of {info['samples']} samples ({', '.join(f'{n} {s}' for s, n in info['status'].items())})"
          f": {info['html']}" + (f", grid {info['png']}" if info["png"] else ""))
    return 0


DEMO_EDITOR_CHOICES = ["best", "toy-sd-translator", "translator", "asyrp", "dds", "reconstruct"]
"""``rayedit demo --editor``: rayedit.pipelines.demo.DEMO_EDITORS (kept here so the CLI starts without importing
the pipeline)."""


def cmd_demo(args) -> int:
    """Generate toy images and run a real edit job on them, locally."""
    from rayedit.pipelines.demo import run_demo

    result = run_demo(args.out, n=args.n, steps=args.steps, progress=not args.no_progress, editor=args.editor)
    print_result(result.job)
    print("  mean scores: " + ", ".join(f"{k} {v:.4f}" for k, v in result.mean_scores.items()))
    if all(isinstance(v, str) for v in result.verdict.values()):  # toy-sd: numbers rounded for people
        print("  judged against the perfect edit of each scene:")
        print("\n".join(f"    {k}: {v}" for k, v in result.verdict.items()))
    else:
        print("  oracle verdict on the edits: " + ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                                             for k, v in result.verdict.items()))
    print(f"  page with every edit: {result.page}")
    return 0


SPEC_KINDS = {"job": "JobSpec", "generate": "GenerateSpec", "asyrp-train": "AsyrpTrainSpec",
              "dds-train": "DDSTrainSpec", "hqs": "HQSSelectSpec"}


def cmd_spec(args) -> int:
    """Print every field of a spec (an edit job, a generate job, a training run, an HQS selection) with its type,
    default and meaning."""
    import rayedit.config

    print("\n".join(rayedit.config.spec_reference(getattr(rayedit.config, SPEC_KINDS[args.kind]))))
    return 0


def register(sub) -> None:
    """Register run, generate, report, validate, spec and demo."""
    run = sub.add_parser("run", help="run or resume an edit job", description=cmd_run.__doc__ +
                         " Committed output shards are skipped, so rerunning a killed job finishes it.",
                         parents=[log_options()])
    run.add_argument("spec", help="job spec YAML (see README: 'Job spec')")
    run.add_argument("--set", action="append", default=[], metavar="A.B=V", help=SET_HELP)
    run.add_argument("--address", default=None,
                     help="Ray cluster to join ('auto' or ray://HOST:10001); default: start Ray locally on 127.0.0.1")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--json", action="store_true", help="also print the summary as one JSON line")
    run.add_argument("--restart", action="store_true",
                     help="delete what an earlier run wrote to the output (shards, manifest, markers) and start over; "
                          "needed when the spec's settings changed since")
    run.set_defaults(fn=cmd_run)

    gen = spec_command(sub, "generate", "generate images from prompts (WebDataset shards + manifest)",
                        cmd_generate.__doc__ + " Committed shards are skipped, so rerunning a killed job finishes it.",
                        cmd_generate, "generate")
    gen.add_argument("--json", action="store_true", help="also print the summary as one JSON line")
    gen.add_argument("--restart", action="store_true",
                     help="delete what an earlier run wrote to the output and start over")

    rep = sub.add_parser("report", help="HTML report of a job's output (counts, reasons, scores, pairs)",
                         description=cmd_report.__doc__)
    rep.add_argument("output", help="output URL of a job (local path or any fsspec URL; credentials from AWS_*)")
    rep.add_argument("--out", default=None, help="HTML file to write (default: report.html)")
    rep.add_argument("--png", default=None, help="grid PNG to write (default: the HTML name with .png)")
    rep.add_argument("--no-png", action="store_true", help="do not write the grid PNG")
    rep.add_argument("--score", default=None,
                     help="score that ranks best/worst (default: clip_direction, else clip_score, else any)")
    rep.add_argument("--n", type=int, default=6, help="pairs per section (default: %(default)s)")
    rep.set_defaults(fn=cmd_report)

    val = sub.add_parser("validate", help="check a job or generate spec without running it",
                         description=cmd_validate.__doc__)
    val.add_argument("spec", help="job spec YAML, or a generate spec (one with a prompts section)")
    val.add_argument("--set", action="append", default=[], metavar="A.B=V", help=SET_HELP)
    val.set_defaults(fn=cmd_validate)

    ref = sub.add_parser("spec", help="print the job spec reference (every field)", description=cmd_spec.__doc__)
    ref.add_argument("--kind", choices=list(SPEC_KINDS), default="job", help="which spec (default: %(default)s)")
    ref.set_defaults(fn=cmd_spec)

    demo = sub.add_parser("demo", help="generate toy images and edit them (no arguments needed)",
                          description=cmd_demo.__doc__)
    demo.add_argument("--out", default="rayedit-demo",
                      help="folder for the demo input and output (default: %(default)s)")
    demo.add_argument("--n", type=int, default=200, help="number of toy images (default: %(default)s)")
    demo.add_argument("--steps", type=int, default=None,
                      help="DDS optimisation steps for zero-shot DDS (default 50), else DDIM steps (default 20; "
                           "for asyrp, the direction's training steps: 40)")
    demo.add_argument("--editor", default="best", choices=DEMO_EDITOR_CHOICES,
                      help="which shipped editor to show: toy-sd-translator edits 64-px scenes with toy-sd, the "
                           "others 32-px v1 images (default: best = toy-sd-translator, else translator, else asyrp, "
                           "else dds, else reconstruct)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")
    demo.set_defaults(fn=cmd_demo)
