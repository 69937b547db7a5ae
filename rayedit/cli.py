"""The rayedit command line: choose a job and a spec; everything else lives in the spec (``--set`` overrides)."""

from __future__ import annotations

import argparse
import json
import os
import sys

from rayedit import __version__

SET_HELP = "override a spec field, e.g. --set ddim.steps=20 --set resources.edit.actors=2 (repeatable)"


def _load(args):
    from rayedit.config import load_spec

    return load_spec(args.spec, args.set)


def print_result(result) -> None:
    """The end-of-job summary: counts per status, throughput, where the output is."""
    c = result.counts
    total = sum(c.values())
    print(f"\nrayedit: {total} samples accounted for: {c['edited']} edited, {c['filtered']} filtered, "
          f"{c['failed']} failed")
    print(f"  shards: {result.shards_committed} committed this run, {result.shards_skipped} already done, "
          f"{result.shards_total} in the job")
    print(f"  this run: {result.samples_this_run} samples in {result.seconds:.1f} s "
          f"({result.images_per_second:.2f} images/s)")
    print(f"  output: {result.output_url}/shards/*.tar and {result.output_url}/manifest.parquet")
    for note in result.notes:
        print(f"  note: {note}")


def cmd_validate(args) -> int:
    """Check a job spec (fields, inputs, output, model, filters) without running it."""
    from rayedit.pipelines.edit import plan_job

    plan = plan_job(_load(args))
    print(f"ok: {len(plan.shards)} input shard(s), {len(plan.done)} already committed, "
          f"model {plan.spec.model.name!r} at {plan.resolution}px, output {plan.spec.output.url}")
    for note in plan.notes:
        print(f"note: {note}")
    return 0


def cmd_run(args) -> int:
    """Run (or resume) an edit job."""
    from rayedit.pipelines.edit import run_job

    result = run_job(_load(args), address=args.address, progress=not args.no_progress)
    print_result(result)
    if args.json:
        print(json.dumps({"counts": result.counts, "samples_this_run": result.samples_this_run,
                          "shards_committed": result.shards_committed, "shards_skipped": result.shards_skipped,
                          "seconds": result.seconds, "output": result.output_url}))
    return 0


def cmd_demo(args) -> int:
    """Generate toy images and run a real edit job on them, locally."""
    from rayedit.pipelines.demo import run_demo

    result = run_demo(args.out, n=args.n, steps=args.steps, progress=not args.no_progress)
    print_result(result.job)
    print("  mean scores: " + ", ".join(f"{k} {v:.4f}" for k, v in result.mean_scores.items()))
    print("  oracle verdict: " + ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                                         for k, v in result.verdict.items()))
    print(f"  before/after page: {result.page}")
    return 0


def cmd_spec(args) -> int:
    """Print every job spec field with its type, default and meaning."""
    from rayedit.config import spec_reference

    print("\n".join(spec_reference()))
    return 0


def cmd_toy_train(args) -> int:
    """Retrain the toy world's models from the generator (reproducible: same settings, same weights)."""
    from rayedit.models.load import TOY_WEIGHTS
    from rayedit.toy.ddpm import DDPMTrainConfig, train_ddpm

    out = args.out or str(TOY_WEIGHTS / "toy-ddpm")
    cfg = DDPMTrainConfig(steps=args.steps, batch_size=args.batch_size, max_minutes=args.minutes, threads=args.threads)
    info = train_ddpm(out, cfg, progress=not args.no_progress)
    print(f"toy-ddpm: {info['steps_done']} steps in {info['minutes']:.1f} min, "
          f"final loss {info['final_loss_mean_last_200']:.4f}; saved to {out}")
    return 0


def cmd_toy_eval(args) -> int:
    """Measure a toy diffusion model: DDIM inversion PSNR at several step counts and sample validity."""
    import json as _json

    from rayedit.config import ModelSpec
    from rayedit.models.load import load_diffusion
    from rayedit.toy.evaluate import inversion_quality, sample_quality

    model = load_diffusion(ModelSpec(name=args.model), device="cpu")
    for steps in args.steps:
        print(_json.dumps({"model": args.model, "inversion": inversion_quality(model, n=args.n, steps=steps)}))
    for eta in (0.0, 1.0):
        print(_json.dumps({"model": args.model, "samples": sample_quality(model, n=args.n, steps=50, eta=eta)}))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (every option documented in --help)."""
    p = argparse.ArgumentParser(prog="rayedit",
                                description="Edit image datasets at scale with diffusion models on Ray.")
    p.add_argument("--version", action="version", version=f"rayedit {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run or resume an edit job", description=cmd_run.__doc__ +
                         " Committed output shards are skipped, so rerunning a killed job finishes it.")
    run.add_argument("spec", help="job spec YAML (see README: 'Job spec')")
    run.add_argument("--set", action="append", default=[], metavar="A.B=V", help=SET_HELP)
    run.add_argument("--address", default=None,
                     help="Ray cluster to join ('auto' or ray://HOST:10001); default: start Ray locally on 127.0.0.1")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--json", action="store_true", help="also print the summary as one JSON line")
    run.set_defaults(fn=cmd_run)

    val = sub.add_parser("validate", help="check a job spec without running it", description=cmd_validate.__doc__)
    val.add_argument("spec", help="job spec YAML")
    val.add_argument("--set", action="append", default=[], metavar="A.B=V", help=SET_HELP)
    val.set_defaults(fn=cmd_validate)

    ref = sub.add_parser("spec", help="print the job spec reference (every field)", description=cmd_spec.__doc__)
    ref.set_defaults(fn=cmd_spec)

    toy = sub.add_parser("toy", help="the built-in toy world: train and evaluate its models",
                         description="The toy world: coloured shapes, an exact oracle, and small trained models.")
    toy_sub = toy.add_subparsers(dest="toy_command", required=True, metavar="TOY_COMMAND")
    tt = toy_sub.add_parser("train", help="retrain the toy DDPM", description=cmd_toy_train.__doc__)
    tt.add_argument("--out", default=None, help="output folder (default: the package's shipped weights folder)")
    tt.add_argument("--steps", type=int, default=12000, help="optimizer steps (default: %(default)s)")
    tt.add_argument("--batch-size", type=int, default=64, help="images per step (default: %(default)s)")
    tt.add_argument("--minutes", type=float, default=0.0, help="stop after this many minutes (0: no limit)")
    tt.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    tt.add_argument("--no-progress", action="store_true", help="no progress bar")
    tt.set_defaults(fn=cmd_toy_train)
    te = toy_sub.add_parser("eval", help="measure a toy diffusion model", description=cmd_toy_eval.__doc__)
    te.add_argument("--model", default="toy-ddpm", help="model to measure (default: %(default)s)")
    te.add_argument("--n", type=int, default=128, help="held-out images / samples (default: %(default)s)")
    te.add_argument("--steps", type=int, nargs="+", default=[20, 40, 100], help="DDIM step counts for inversion")
    te.set_defaults(fn=cmd_toy_eval)

    demo = sub.add_parser("demo", help="generate toy images and edit them (no arguments needed)",
                          description=cmd_demo.__doc__)
    demo.add_argument("--out", default="rayedit-demo",
                      help="folder for the demo input and output (default: %(default)s)")
    demo.add_argument("--n", type=int, default=200, help="number of toy images (default: %(default)s)")
    demo.add_argument("--steps", type=int, default=20, help="DDIM steps (default: %(default)s)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")
    demo.set_defaults(fn=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rayedit`` command."""
    from rayedit.config import SpecError
    from rayedit.models.errors import ModelLoadError

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except (SpecError, ModelLoadError) as err:
        print(f"rayedit: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rayedit: interrupted; rerun the same command to resume (committed shards are kept)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
