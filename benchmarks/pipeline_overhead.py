"""Pipeline overhead: the same tiny model, images and batch size, as a bare in-process loop and as the
full Ray Data job (read, decode, edit, score, filter, write + commit), measured side by side in one run.

    python benchmarks/pipeline_overhead.py [--n 256] [--steps 20] [--batch 16] [--threads 1] [--set KEY=VALUE]

Prints images/s for both and their ratio. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def bare_loop(spec, threads: int) -> tuple[int, float, float, float]:
    """read -> decode -> edit -> score -> filter -> encode+tar, in one process, no Ray: (images, seconds of the
    loop, seconds to its first batch, seconds of imports and model loading before the loop)."""
    begin = time.perf_counter()
    import numpy as np
    import torch

    from rayedit.pipelines.edit import provenance
    from rayedit.stages.decode import DecodeImages
    from rayedit.stages.edit import EditImages
    from rayedit.stages.filter import FilterByScores
    from rayedit.stages.read import ReadShards
    from rayedit.stages.score import ScoreImages
    from rayedit.stages.write import WriteParts
    from rayedit.storage.commit import commit_shard
    from rayedit.storage.shards import plan_shards

    torch.set_num_threads(threads)
    edit, score = EditImages(spec.model, spec.ddim, spec.seed), ScoreImages(spec.score, seed=spec.seed)
    edit.setup()
    score.setup()
    decode, filt = DecodeImages(32), FilterByScores(spec.filters)
    write = WriteParts(spec.output, provenance(spec))
    bs = spec.resources.edit.batch_size
    start, n, first = time.perf_counter(), 0, 0.0
    setup = start - begin
    for shard in plan_shards(spec.input):
        row = {k: np.array([v], dtype=object) for k, v in shard.to_row().items()}
        parts = set()
        for chunk in ReadShards(spec.input, chunk_size=bs)(row):
            b = filt(score(edit(decode(chunk))))
            parts |= {p for p in write(b)["part"] if p}
            n += int((b["status"] != "eos").sum())
            first = first or time.perf_counter() - start
        commit_shard(spec.output, shard.shard_id, sorted(parts), "png")
    return n, time.perf_counter() - start, first, setup


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=256, help="images")
    ap.add_argument("--steps", type=int, default=20, help="DDIM steps (model cost per image)")
    ap.add_argument("--batch", type=int, default=16, help="edit batch size (both runs)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the bare loop (the edit actor has 1 CPU)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="a spec override for the Ray job, e.g. resources.score.colocate=true (repeatable)")
    args = ap.parse_args()

    from rayedit.config import parse_spec
    from rayedit.config.loading import apply_overrides
    from rayedit.pipelines.edit import run_job
    from rayedit.toy.generator import write_shards

    with tempfile.TemporaryDirectory() as tmp:
        write_shards(f"{tmp}/in/toy", args.n, per_shard=64)

        def spec(out, overrides=()):
            return parse_spec(apply_overrides({
                "input": {"url": f"{tmp}/in/toy-*.tar"}, "model": {"name": "tiny"}, "ddim": {"steps": args.steps},
                "score": {"lpips": {"random_backbone": True}}, "output": {"url": f"{tmp}/{out}"},
                "resources": {"edit": {"batch_size": args.batch}, "score": {"batch_size": args.batch},
                              "io_batch_size": args.batch},
            }, list(overrides)))

        n_bare, t_bare, t_bare_first, t_bare_setup = bare_loop(spec("bare"), args.threads)
        result = run_job(spec("ray", args.overrides), progress=False)
    bare = n_bare / t_bare
    bare_total = n_bare / (t_bare + t_bare_setup)  # as a user's script runs: imports and model loading included
    # steady state: after the first batch is out (bare) / the first results came back (Ray: init, actors, fill)
    bare_steady = (n_bare - args.batch) / (t_bare - t_bare_first)
    ray_ips = result.samples_this_run / result.seconds
    ray_steady = (result.samples_this_run - args.batch) / (result.seconds - result.first_result_seconds)
    print(f"images={args.n} steps={args.steps} batch={args.batch} bare_threads={args.threads} cores={os.cpu_count()}"
          + "".join(f" {o}" for o in args.overrides))
    print(f"bare loop: {n_bare} images in {t_bare:.1f} s = {bare:.2f} images/s; "
          f"after the first batch ({t_bare_first:.1f} s): {bare_steady:.2f} images/s; "
          f"with its imports and model loading ({t_bare_setup:.1f} s): {bare_total:.2f} images/s")
    print(f"ray job:   {result.samples_this_run} images in {result.seconds:.1f} s = {ray_ips:.2f} images/s; "
          f"after the first results ({result.first_result_seconds:.1f} s: ray.init, actors, model load): "
          f"{ray_steady:.2f} images/s")
    print(f"ratio ray/bare: end to end {ray_ips / bare:.2f} (vs the bare loop with its imports and model loading: "
          f"{ray_ips / bare_total:.2f}), steady state {ray_steady / bare_steady:.2f}")


if __name__ == "__main__":
    main()
