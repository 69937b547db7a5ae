"""The rayedit command line: choose a job and a spec; everything else lives in the spec (``--set`` overrides)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from rayedit import __version__, events

SET_HELP = "override a spec field, e.g. --set ddim.steps=20 --set resources.edit.actors=2 (repeatable)"


def _load(args):
    from rayedit.config import load_spec

    return load_spec(args.spec, args.set)


def _load_any(args):
    """A job spec, or a generate spec when the YAML has a ``prompts`` section."""
    from rayedit.config import load_spec, read_spec_file
    from rayedit.generate_spec import GenerateSpec

    data = read_spec_file(args.spec)
    kind = GenerateSpec if isinstance(data, dict) and "prompts" in data else None
    return load_spec(args.spec, args.set, kind=kind, data=data)


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
    """Check a job spec (fields, inputs, output, model, filters) or a generate spec (prompts, model, output)
    without running it."""
    from rayedit.generate_spec import GenerateSpec
    from rayedit.pipelines.edit import plan_job

    spec = _load_any(args)
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
    print(f"ok: {len(plan.shards)} input shard(s), {len(plan.done)} already committed, "
          f"model {plan.spec.model.name!r} at {plan.resolution}px, output {plan.spec.output.url}")
    for note in plan.notes:
        print(f"note: {note}")
    return 0


def _ray_up() -> bool:
    import ray

    return ray.is_initialized()


def _quiet_ray(was_up: bool) -> None:
    """Stop Ray if this command started (or joined) it, so Ray's log lines cannot follow the summary."""
    if not was_up:
        from rayedit.cluster.runtime import shutdown_ray

        shutdown_ray()


EXIT_SAMPLES_FAILED = 3
"""Exit code of a job that finished but has failed samples (a job that could not finish exits 1; a bad spec 2)."""


def job_exit_code(result) -> int:
    """0 if every sample was edited or filtered, EXIT_SAMPLES_FAILED if some failed."""
    return EXIT_SAMPLES_FAILED if result.counts.get("failed") else 0


def cmd_run(args) -> int:
    """Run (or resume) an edit job."""
    from rayedit.pipelines.edit import run_job

    was_up = _ray_up()
    result = run_job(_load(args), address=args.address, progress=not args.no_progress)
    _quiet_ray(was_up)
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
    from rayedit.generate_spec import GenerateSpec
    from rayedit.pipelines.generate import run_generate
    from rayedit.pipelines.generate_summary import print_summary, summarize

    spec = load_spec(args.spec, args.set, kind=GenerateSpec)
    was_up = _ray_up()
    result = run_generate(spec, address=args.address, progress=not args.no_progress)
    _quiet_ray(was_up)
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


def cmd_demo(args) -> int:
    """Generate toy images and run a real edit job on them, locally."""
    from rayedit.pipelines.demo import run_demo

    result = run_demo(args.out, n=args.n, steps=args.steps, progress=not args.no_progress, editor=args.editor)
    print_result(result.job)
    print("  mean scores: " + ", ".join(f"{k} {v:.4f}" for k, v in result.mean_scores.items()))
    print("  oracle verdict on the edits: " + ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                                         for k, v in result.verdict.items()))
    print(f"  before/after page: {result.page}")
    return 0


def _load_train_spec(args):
    from rayedit.config import AsyrpTrainSpec, load_spec

    return load_spec(args.spec, args.set, kind=AsyrpTrainSpec)


def cmd_train_asyrp(args) -> int:
    """Train one Asyrp direction (f_t) from a source and a target caption - or from before/after image pairs
    (paired_targets) - as a Ray task (on a GPU when the spec's resources.num_gpus asks for one). Writes
    direction.safetensors + direction.json to the spec's output."""
    from rayedit.pipelines.train_asyrp import train_asyrp

    spec = _load_train_spec(args)
    meta = train_asyrp(spec, address=args.address, progress=not args.no_progress)
    print(f"rayedit: direction {meta['name']!r} saved to {spec.output}")
    losses = (f"pair {meta['final_pair_loss']:.4f}" if meta["loss"] == "paired" else
              f"clip {meta['final_clip_loss']:.4f}, recon {meta['final_recon_loss']:.4f} "
              f"(lambda_recon {meta['lambda_recon']:.3g})")
    print(f"  t_edit {meta['t_edit']}, t_boost {meta['t_boost']}, {meta['images']} images, "
          f"{meta['minutes']:.1f} min; final losses: {losses}")
    if meta["loss"] == "paired":
        kept = meta.get("paired_changed_share")
        print(f"  pairs: {meta['images']} used, {meta['unpaired_images_skipped']} sources without a target skipped"
              + ("" if kept is None else f"; {kept:.1%} of target pixels kept as edited")
              + ("; also trained back" if meta.get("reverse_pairs") else ""))
    checked = meta.get("strength_validation")
    if checked:
        errors = ", ".join(f"{c}: {e:.4f}" for c, e in checked["mse_by_strength"].items())
        print(f"  strength {checked['strength']} chosen on {checked['pairs']} held-out pairs (MSE to their targets by "
              f"strength: {errors}); jobs use it unless they set one")
    return 0


def cmd_train_dds(args) -> int:
    """Train a multi-task DDS translator g(z^ | k) without pairs (DDS paper section 4) with Ray Train: data-parallel
    workers (GPUs when resources.num_gpus > 0), checkpoints under the spec's output, resume by rerunning. Writes
    translator.safetensors + translator.json and sample grids (output/samples)."""
    from rayedit.config import DDSTrainSpec, load_spec
    from rayedit.pipelines.train_dds import train_dds

    sdd = args.train_command == "sdd"
    spec = load_spec(args.spec, (["loss=sds"] if sdd else []) + args.set, kind=DDSTrainSpec)
    if sdd and spec.hqs is None:
        print("rayedit: note: no `hqs:` timestep set - t is drawn uniformly (the 'random t' baseline of SDD)")
    meta = train_dds(spec, address=args.address, progress=not args.no_progress)
    last = meta["history"][-1] if meta["history"] else {}
    print(f"rayedit: translator {meta['name']!r} ({len(meta['targets'])} tasks) saved to {spec.output}")
    if last:
        print(f"  step {last['step']}: grad_rms {last['grad_rms']:.4f}, identity {last['identity']:.4f}, "
              f"guidance {last['guidance_scale']:.2f}, lambda_ID {last['lambda_id']:.3f}")
    return 0


def cmd_select_timesteps(args) -> int:
    """HQS over candidate timesteps (SDD): for each t, the guidance gradient w.r.t. the sample images, its magnitude
    N_t and spatial entropy H_t, averaged, normalised across t; HQS_t = (N^_t + 1 - H^_t) / 2. Images are sharded
    across an actor pool (GPUs with resources.num_gpus). Writes hqs.json (curve, selected set) and hqs.png."""
    from rayedit.config import HQSSelectSpec, load_spec
    from rayedit.pipelines.select_timesteps import select_timesteps

    spec = load_spec(args.spec, args.set, kind=HQSSelectSpec)
    result = select_timesteps(spec, address=args.address)
    print("t      N_t         H_t       HQS_t")
    for t, n, h, q in zip(result["timesteps"], result["magnitude"], result["entropy"], result["hqs"], strict=True):
        print(f"{t:<6d} {n:10.5f}  {h:8.4f}  {q:6.3f}{'  *' if t in result['selected'] else ''}")
    rule = "argmax" if spec.threshold is None else f"HQS > {spec.threshold}"
    print(f"selected ({rule}): {result['selected']}; {result['images']} images in {result['seconds']:.1f} s; "
          f"written to {spec.output}/hqs.json and hqs.png")
    return 0


def cmd_asyrp_curves(args) -> int:
    """Print the LPIPS curves of an Asyrp training spec and the t_edit / t_boost they give; optionally a PNG."""
    from rayedit.pipelines.train_asyrp import asyrp_curves

    found = asyrp_curves(_load_train_spec(args), png=args.png)
    c = found["curves"]
    print("t      LPIPS(x,P_t)  LPIPS(x,x_t)")
    for t, a, b in zip(c["timesteps"], c["lpips_x_predicted_x0"], c["lpips_x_noisy"], strict=True):
        print(f"{t:<6d} {a:12.4f}  {b:12.4f}")
    print(f"t_edit {found['t_edit']} (LPIPS(x,P_t) >= {found['edit_threshold']:.3f}; text cosine "
          f"{found['text_cosine']:.3f}), t_boost {found['t_boost']} (LPIPS(x,x_t) >= 1.2)")
    if c["lpips_random_backbone"]:
        print("note: random-backbone LPIPS: these curves are not perceptual; set t_edit/t_boost in the spec")
    if args.png:
        print(f"plot: {args.png}")
    return 0


SPEC_KINDS = {"job": "config.JobSpec", "generate": "generate_spec.GenerateSpec",
              "asyrp-train": "config.AsyrpTrainSpec", "dds-train": "config.DDSTrainSpec",
              "hqs": "config.HQSSelectSpec"}


def cmd_spec(args) -> int:
    """Print every field of a spec (an edit job, a generate job, a training run, an HQS selection) with its type,
    default and meaning."""
    import importlib

    from rayedit.config import spec_reference

    module, name = SPEC_KINDS[args.kind].split(".")
    print("\n".join(spec_reference(getattr(importlib.import_module(f"rayedit.{module}"), name))))
    return 0


TOY_COLOURS = ["red", "green", "blue", "yellow"]
"""The toy world's object colours (rayedit.toy.generator.COLOURS; listed here so --help needs no imports)."""
TOY_BACKGROUNDS = ["white", "gray", "black"]
"""The toy world's background colours (rayedit.toy.generator.BACKGROUNDS)."""
TOY_SHAPES = ["circle", "square", "triangle"]
"""The toy world's shapes (rayedit.toy.generator.SHAPES)."""

TOY_MODELS = {"ddpm": "toy-ddpm", "clip": "toy-clip", "text-ddpm": "toy-text-ddpm"}
"""What `rayedit toy train/eval` accept, and the preset each one is."""
TOY_SD_PARTS = ("sd-vae", "sd-unet")
"""toy-sd's training stages for `rayedit toy train` (v2 world, Stable Diffusion layout): the VAE first, then the
U-Net with its text encoder on that VAE's latents (`--set vae_from=DIR`)."""


def cmd_toy_train(args) -> int:
    """Retrain one of the toy world's models from the generator (reproducible: same settings, same weights).
    Train `clip` before `text-ddpm`: the text-conditioned DDPM uses the toy CLIP's text tower."""
    from rayedit.models.load import TOY_WEIGHTS

    if args.what in TOY_SD_PARTS:
        return _train_toy_sd(args)
    preset = TOY_MODELS[args.what]
    out = args.out or str(TOY_WEIGHTS / preset)
    sizes = {k: v for k, v in (("steps", args.steps), ("batch_size", args.batch_size)) if v}
    if args.what == "clip":
        from rayedit.toy.clip_train import ClipTrainConfig, train_clip

        overrides = _dataclass_overrides(ClipTrainConfig, args.set)
        cfg = ClipTrainConfig(**{**sizes, "max_minutes": args.minutes, **overrides})
        info = train_clip(out, cfg, progress=not args.no_progress)
    else:
        from rayedit.toy.ddpm import DDPMTrainConfig, train_ddpm
        from rayedit.toy.text_ddpm import TextDDPMTrainConfig, train_text_ddpm

        cls, train = (DDPMTrainConfig, train_ddpm) if args.what == "ddpm" else (TextDDPMTrainConfig, train_text_ddpm)
        extra = {k: v for k, v in (("lr", args.lr), ("data_seed", args.data_seed)) if v is not None}
        if args.continue_from:
            extra["continue_from"] = args.continue_from
        extra.update(_dataclass_overrides(cls, args.set))
        try:
            cfg = cls(**{**sizes, "max_minutes": args.minutes, "threads": args.threads, **extra})
        except ValueError as e:
            raise SystemExit(f"rayedit: {e}") from None
        info = train(out, cfg, progress=not args.no_progress)
    print(f"{preset}: {info['steps_done']} steps in {info['minutes']:.1f} min; saved to {out}")
    return 0


def _train_toy_sd(args) -> int:
    """`rayedit toy train sd-vae | sd-unet --out DIR`: one stage of toy-sd, written to --out (required)."""
    if not args.out:
        raise SystemExit(f"rayedit: toy train {args.what} needs --out DIR (it never writes into the package)")
    if args.what == "sd-vae":
        from rayedit.toy.sd.vae import VAETrainConfig as cls
        from rayedit.toy.sd.vae import train_vae as train
    else:
        from rayedit.toy.sd.unet import SDUNetTrainConfig as cls
        from rayedit.toy.sd.unet import train_sd_unet as train
    sizes = {k: v for k, v in (("steps", args.steps), ("batch_size", args.batch_size), ("lr", args.lr),
                               ("data_seed", args.data_seed)) if v}
    extra = {"continue_from": args.continue_from} if args.continue_from else {}
    try:
        cfg = cls(**{**sizes, "max_minutes": args.minutes, "threads": args.threads, **extra,
                     **_dataclass_overrides(cls, args.set)})
        info = train(args.out, cfg, progress=not args.no_progress)
    except ValueError as e:
        raise SystemExit(f"rayedit: {e}") from None
    print(f"toy-sd {args.what}: {info['steps_done']} steps in {info['minutes']:.1f} min; saved to {args.out}")
    return 0


def _dataclass_overrides(cls, pairs: list[str]) -> dict:
    """``FIELD=VALUE`` strings -> {field: value} typed like ``cls``'s dataclass fields; unknown fields are an error."""
    import dataclasses

    types = {f.name: type(f.default) for f in dataclasses.fields(cls)}
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or name not in types:
            raise SystemExit(f"rayedit: --set {pair!r}: expected FIELD=VALUE with FIELD one of {', '.join(types)}")
        kind = types[name]
        try:
            out[name] = value.lower() in ("1", "true", "yes") if kind is bool else kind(value)
        except ValueError as e:
            raise SystemExit(f"rayedit: --set {pair!r}: {e}") from None
    return out


def cmd_toy_eval(args) -> int:
    """Measure a toy model, one JSON line per measurement. ddpm: DDIM inversion PSNR at each --steps, sample
    validity, and how often x0 predicted from noised held-out images keeps its shape at t = 200 / 400 / 600;
    text-ddpm: prompt match at each --cfg scale; clip: zero-shot accuracy."""
    import json as _json

    model_name = args.model or TOY_MODELS[args.what]
    if args.what == "clip":
        from rayedit.models.clip import load_clip
        from rayedit.toy.evaluate import clip_zero_shot

        print(_json.dumps({"model": model_name, "zero_shot": clip_zero_shot(load_clip(model_name), n=args.n)}))
        return 0
    from rayedit.config import ModelSpec
    from rayedit.models.load import load_diffusion
    from rayedit.toy.evaluate import denoised_shape_kept, inversion_quality, prompt_match, sample_quality

    model = load_diffusion(ModelSpec(name=model_name), device="cpu")
    if model.conditional:
        for scale in args.cfg:
            print(_json.dumps({"model": model_name, "prompt_match": prompt_match(model, scale, n=args.n)}))
        return 0
    for steps in args.steps:
        print(_json.dumps({"model": model_name, "inversion": inversion_quality(model, n=args.n, steps=steps)}))
    for eta in (0.0, 1.0):
        print(_json.dumps({"model": model_name, "samples": sample_quality(model, n=args.n, steps=50, eta=eta)}))
    print(_json.dumps({"model": model_name, "denoised": denoised_shape_kept(model, n=max(args.n, 192))}))
    return 0


def cmd_toy_generate(args) -> int:
    """Write toy images with exact captions as WebDataset shards (PREFIX-00000.tar, ...): seeded, deterministic."""
    from rayedit.toy.generator import write_shards

    paths = write_shards(args.prefix, args.n, per_shard=args.per_shard, seed=args.seed, colour=args.colour,
                         background=args.background, shape=args.shape, recolour=args.recolour)
    print(f"rayedit: {args.n} toy images in {len(paths)} shard(s): {paths[0]} ... {paths[-1]}")
    return 0


def cmd_toy_eval_generated(args) -> int:
    """Judge a generated toy set (the output of `rayedit generate` with toy prompts) with the oracle: how often the
    colour, shape and background drawn match the prompt, and the confusion of asked vs. drawn, as one JSON line."""
    from rayedit.toy.generated_eval import judge_generated

    print(json.dumps(judge_generated(args.output, args.limit)))
    return 0


def _strength_sets(values: list[str], n_directions: int) -> list[list[float]]:
    """``--strengths`` of ``rayedit toy eval-edit``: each value one number (for every direction) or one per
    direction, comma-separated; a clear error for anything else."""
    from rayedit.config import SpecError

    sets = []
    for value in values:
        try:
            given = [float(v) for v in value.split(",")]
        except ValueError as err:
            raise SpecError(f"--strengths {value!r}: not a number or comma-separated numbers") from err
        if len(given) not in (1, n_directions):
            raise SpecError(f"--strengths {value!r}: give one value or one per direction ({n_directions})")
        sets.append(given)
    return sets


def cmd_toy_eval_edit(args) -> int:
    """Judge an editor on held-out toy images of the source colour with the oracle: target colour reached,
    shape/background/mask preserved, object hue, directional CLIP (toy CLIP). Either Asyrp direction(s)
    (--direction, one JSON line per --strengths value) or any job spec's model + editor (--spec, with --set
    overrides, e.g. --set editor.loss=sds); the spec's input and output are not used."""
    import functools
    import json as _json

    from rayedit.config import AsyrpSpec, DirectionUse, ModelSpec, SpecError
    from rayedit.editors.build import build_editor
    from rayedit.models.clip import load_clip
    from rayedit.models.load import load_diffusion
    from rayedit.toy.edit_eval import evaluate_edit

    if args.target_background and not args.source_background:
        raise SpecError("--target-background needs --source-background (the background the edit starts from)")
    if args.target_shape and not args.source_shape:
        raise SpecError("--target-shape needs --source-shape (the shape the edit starts from)")
    if args.target_shape and args.target_background:
        raise SpecError("give --target-background or --target-shape, not both (the judge takes two attributes)")
    if not args.spec and not args.direction:
        raise SpecError("give --direction DIR... or --spec JOB.yaml")
    strength_sets = ([] if args.spec else [[None]] if args.strengths is None
                     else _strength_sets(args.strengths, len(args.direction)))  # before any loading
    clip = load_clip(args.clip)
    judge = functools.partial(evaluate_edit, source=args.source, target=args.target, n=args.n, clip=clip,
                              source_background=args.source_background, target_background=args.target_background,
                              source_shape=args.source_shape, target_shape=args.target_shape)
    if args.spec:
        spec = _load(args)
        model = load_diffusion(spec.model, device="cpu")
        result = judge(build_editor(model, spec.editor, spec.ddim, spec.seed))
        head = {"spec": args.spec, "set": args.set, "editor": spec.editor.model_dump(mode="json")}
        print(_json.dumps(head | result))
        return 0
    from rayedit.editors.asyrp.artifact import read_direction_meta
    from rayedit.editors.asyrp.editor import asyrp_from_spec

    model = load_diffusion(ModelSpec(name=read_direction_meta(args.direction[0])["model_id"]), device="cpu")
    for given in strength_sets:
        each = given * len(args.direction) if len(given) == 1 else given
        editor_spec = AsyrpSpec(directions=[DirectionUse(url=u, strength=c) for u, c in zip(args.direction, each,
                                                                                           strict=True)],
                                t_edit=args.t_edit, boost=not args.no_boost, mode=args.mode)
        editor = asyrp_from_spec(model, editor_spec, steps=args.steps)
        result = judge(editor)
        shown = editor.strengths[0] if len(editor.strengths) == 1 else editor.strengths
        print(_json.dumps({"directions": args.direction, "strength": shown, "mode": args.mode, "steps": args.steps,
                           "t_edit": editor.t_edit, "t_boost": editor.t_boost, "boost": editor.boost} | result))
    return 0


def cmd_toy_asyrp_ceiling(args) -> int:
    """Upper bounds of an Asyrp colour edit on held-out toy images, judged by the oracle (one JSON line each):
    ``plain`` (no edit: inversion + reconstruction), ``ideal_p`` (the asymmetric reverse process with an oracle P_t:
    the source trajectory's P_t, recoloured exactly) and ``fitted_dh`` (a free dh per image and step, fitted so
    that the U-Net's P_t(x_t | h + dh) approaches that oracle; with |dh| / |h| per timestep). If ideal_p succeeds
    and fitted_dh does too, the process and h-space can make the edit in place, and a trained f_t that fails to falls
    short in its training, not in the editor."""
    import json as _json

    from rayedit.config import ModelSpec, SpecError
    from rayedit.models.load import load_diffusion
    from rayedit.toy.asyrp_ceiling import asyrp_ceiling

    if args.source == args.target:
        raise SpecError("--source and --target are the same colour: nothing to edit")
    model = load_diffusion(ModelSpec(name=args.model), device="cpu")
    results = asyrp_ceiling(model, args.source, args.target, n=args.n, fit_n=args.fit_n, steps=args.steps,
                            t_edit=args.t_edit, t_max=args.t_max, fit_iters=args.fit_iters, lr=args.lr)
    for name, verdict_ in results.items():
        head = {"editor": name, "model": args.model, "t_edit": args.t_edit, "t_max": args.t_max}
        print(_json.dumps(head | verdict_))
    return 0


def cmd_toy_eval_filters(args) -> int:
    """How well each score of a job spec separates successful from failed edits on held-out toy images: the spec's
    editor edits --n images of the source colour, its score section scores them, the oracle judges each (target
    colour reached, shape/background kept, mask IoU >= 0.8); prints ROC AUC per score as JSON (0.5 = no
    separation; below 0.5, lower scores mark success)."""
    import json as _json

    from rayedit.editors.build import build_editor
    from rayedit.models.load import load_diffusion
    from rayedit.stages.score import ScoreImages
    from rayedit.toy.filter_eval import evaluate_filters

    spec = _load(args)
    editor = build_editor(load_diffusion(spec.model, device="cpu"), spec.editor, spec.ddim, spec.seed)
    result = evaluate_filters(editor, ScoreImages(spec.score, device="cpu", seed=spec.seed), args.source,
                              args.target, n=args.n)
    print(_json.dumps({"spec": args.spec, "set": args.set} | result))
    return 0


def _block_dumper():
    import yaml

    class BlockDumper(yaml.SafeDumper):
        """Multi-line strings (the embedded job spec) as YAML literal blocks."""

    def text(dumper, value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)

    BlockDumper.add_representer(str, text)
    return BlockDumper


def cmd_submit(args) -> int:
    """Submit a job or generate spec to a Ray cluster through the Jobs API. The submission id is the job name plus
    a slot - the latest fire time of --schedule, or --slot - so a retried trigger of the same slot is not run
    twice. The spec travels with the job; credentials do not (the cluster uses its own environment)."""
    from datetime import UTC, datetime

    from rayedit.cluster import jobs

    spec = _load_any(args)
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

    spec = _load(args)
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
    text = yaml.dump_all(docs, Dumper=_block_dumper(), sort_keys=False)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
        print(f"rayedit: {len(docs)} document(s) ({', '.join(d.get('kind', 'cluster-launcher') for d in docs)}) "
              f"written to {args.out}")
    else:
        print(text, end="")
    return 0


def _log_options() -> argparse.ArgumentParser:
    """--log-format, shared by every command that runs a job."""
    from rayedit.events import LOG_FORMATS

    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--log-format", choices=LOG_FORMATS, default=os.environ.get("RAYEDIT_LOG_FORMAT", "text"),
                   help="events on stderr: text lines, or one JSON object per line (job_start, shard_committed, "
                        "job_end, job_failed, warning) for schedulers; env RAYEDIT_LOG_FORMAT (default: %(default)s)")
    return p


def _spec_command(parent, name: str, help_: str, description: str, fn, kind: str, progress: bool = True):
    """A subcommand that runs one spec on Ray: SPEC, --set, --address, --log-format (and --no-progress)."""
    p = parent.add_parser(name, help=help_, description=description, parents=[_log_options()])
    p.add_argument("spec", help=f"spec YAML (fields: `rayedit spec --kind {kind}`)")
    p.add_argument("--set", action="append", default=[], metavar="A.B=V", help=SET_HELP)
    p.add_argument("--address", default=None,
                   help="Ray cluster to join ('auto' or ray://HOST:10001); default: start Ray locally on 127.0.0.1")
    if progress:
        p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(fn=fn)
    return p


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (every option documented in --help)."""
    p = argparse.ArgumentParser(prog="rayedit",
                                description="Edit image datasets at scale with diffusion models on Ray.")
    p.add_argument("--version", action="version", version=f"rayedit {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run or resume an edit job", description=cmd_run.__doc__ +
                         " Committed output shards are skipped, so rerunning a killed job finishes it.",
                         parents=[_log_options()])
    run.add_argument("spec", help="job spec YAML (see README: 'Job spec')")
    run.add_argument("--set", action="append", default=[], metavar="A.B=V", help=SET_HELP)
    run.add_argument("--address", default=None,
                     help="Ray cluster to join ('auto' or ray://HOST:10001); default: start Ray locally on 127.0.0.1")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--json", action="store_true", help="also print the summary as one JSON line")
    run.set_defaults(fn=cmd_run)

    gen = _spec_command(sub, "generate", "generate images from prompts (WebDataset shards + manifest)",
                        cmd_generate.__doc__ + " Committed shards are skipped, so rerunning a killed job finishes it.",
                        cmd_generate, "generate")
    gen.add_argument("--json", action="store_true", help="also print the summary as one JSON line")

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

    toy = sub.add_parser("toy", help="the built-in toy world: train and evaluate its models",
                         description="The toy world: coloured shapes, an exact oracle, and small trained models.")
    toy_sub = toy.add_subparsers(dest="toy_command", required=True, metavar="TOY_COMMAND")
    tt = toy_sub.add_parser("train", help="retrain a toy model", description=cmd_toy_train.__doc__)
    tt.add_argument("what", choices=[*TOY_MODELS, *TOY_SD_PARTS],
                    help="which model: %(choices)s (sd-vae, then sd-unet with --set vae_from=DIR: toy-sd, the v2 "
                         "world in Stable Diffusion's layout; both need --out)")
    tt.add_argument("--out", default=None, help="output folder (default: the package's shipped weights folder)")
    tt.add_argument("--steps", type=int, default=None, help="optimizer steps (default: the model's own)")
    tt.add_argument("--batch-size", type=int, default=None, help="images per step (default: the model's own)")
    tt.add_argument("--minutes", type=float, default=0.0, help="stop after this many minutes (0: no limit)")
    tt.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default; DDPMs only)")
    tt.add_argument("--continue-from", default=None, metavar="DIR",
                    help="DDPMs: start from this pipeline folder's weights (e.g. the shipped ones) instead of scratch")
    tt.add_argument("--lr", type=float, default=None, help="DDPMs: peak learning rate (default: the model's own)")
    tt.add_argument("--data-seed", type=int, default=None,
                    help="DDPMs: generator stream to train on (use a new one when continuing a run)")
    tt.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="any training setting, e.g. --set lr_schedule=constant --set ema_decay=0.995 (fields of "
                         "DDPMTrainConfig / TextDDPMTrainConfig / ClipTrainConfig; repeatable)")
    tt.add_argument("--no-progress", action="store_true", help="no progress bar")
    tt.set_defaults(fn=cmd_toy_train)
    te = toy_sub.add_parser("eval", help="measure a toy model", description=cmd_toy_eval.__doc__)
    te.add_argument("what", choices=list(TOY_MODELS), help="which kind of model: %(choices)s")
    te.add_argument("--model", default=None, help="model to measure (default: the shipped toy preset)")
    te.add_argument("--n", type=int, default=128, help="held-out images / samples (default: %(default)s)")
    te.add_argument("--steps", type=int, nargs="+", default=[20, 40, 100], help="DDIM step counts for inversion")
    te.add_argument("--cfg", type=float, nargs="+", default=[1.0, 3.0, 7.5],
                    help="guidance scales for text-ddpm prompt match (default: 1 3 7.5)")
    te.set_defaults(fn=cmd_toy_eval)

    train = sub.add_parser("train", help="train an editor (asyrp, dds, sdd)",
                           description="Train an editor from a spec.")
    train_sub = train.add_subparsers(dest="train_command", required=True, metavar="EDITOR")
    _spec_command(train_sub, "asyrp", "train an Asyrp h-space direction", cmd_train_asyrp.__doc__, cmd_train_asyrp,
                  "asyrp-train")
    _spec_command(train_sub, "dds", "train a multi-task DDS translator (Ray Train)", cmd_train_dds.__doc__,
                  cmd_train_dds, "dds-train")
    _spec_command(train_sub, "sdd", "train an SDD-style distilled editor (SDS at HQS-selected timesteps)",
                  "The SDD distilled editor: the same trainer and spec as `train dds` (fields: `rayedit spec --kind "
                  "dds-train`) with loss: sds; give `hqs: .../hqs.json` from `rayedit select-timesteps` (and "
                  "optionally hqs_threshold) so t is drawn from the selected set. Apply it with kind: translator.",
                  cmd_train_dds, "dds-train")
    _spec_command(sub, "select-timesteps", "HQS: which timesteps carry an edit", cmd_select_timesteps.__doc__,
                  cmd_select_timesteps, "hqs", progress=False)

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

    asy = sub.add_parser("asyrp", help="Asyrp tools: interval curves", description="Asyrp helper commands.")
    asy_sub = asy.add_subparsers(dest="asyrp_command", required=True, metavar="ASYRP_COMMAND")
    ac = asy_sub.add_parser("curves", help="LPIPS curves -> t_edit, t_boost", description=cmd_asyrp_curves.__doc__)
    ac.add_argument("spec", help="Asyrp training spec YAML")
    ac.add_argument("--set", action="append", default=[], metavar="A.B=V", help=SET_HELP)
    ac.add_argument("--png", default=None, help="also write the curves as a PNG plot here")
    ac.set_defaults(fn=cmd_asyrp_curves)

    tg = toy_sub.add_parser("generate", help="write toy images as WebDataset shards",
                            description=cmd_toy_generate.__doc__)
    tg.add_argument("prefix", help="output prefix, any fsspec URL (e.g. data/toy or s3://bucket/toy)")
    tg.add_argument("--n", type=int, default=1000, help="images (default: %(default)s)")
    tg.add_argument("--per-shard", type=int, default=100, help="images per shard (default: %(default)s)")
    tg.add_argument("--seed", type=int, default=0, help="generator stream (default: %(default)s)")
    tg.add_argument("--colour", default=None, choices=TOY_COLOURS, help="only objects of this colour")
    tg.add_argument("--background", default=None, choices=TOY_BACKGROUNDS, help="only images on this background")
    tg.add_argument("--shape", default=None, choices=TOY_SHAPES, help="only objects of this shape")
    tg.add_argument("--recolour", default=None, choices=TOY_COLOURS, metavar="COLOUR",
                    help="write the same images (same keys) with the object in COLOUR instead: the exact targets of "
                         "a colour edit, e.g. `paired_targets` for `rayedit train asyrp`")
    tg.set_defaults(fn=cmd_toy_generate)
    tgv = toy_sub.add_parser("eval-generated", help="prompt match of a generated toy set, judged by the oracle",
                             description=cmd_toy_eval_generated.__doc__)
    tgv.add_argument("output", help="output URL of a generate job (its shards/*.tar are read)")
    tgv.add_argument("--limit", type=int, default=None, help="judge at most this many samples (default: all)")
    tgv.set_defaults(fn=cmd_toy_eval_generated)
    tv = toy_sub.add_parser("eval-edit", help="judge an editor (Asyrp directions or a job spec) with the oracle",
                            description=cmd_toy_eval_edit.__doc__)
    tv.add_argument("--direction", nargs="+", default=None, help="direction folder(s), combined with one strength")
    tv.add_argument("--spec", default=None, metavar="JOB.yaml",
                    help="judge this job spec's model and editor instead (e.g. a dds editor)")
    tv.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help=SET_HELP)
    tv.add_argument("--source", default="red", choices=TOY_COLOURS, help="colour of the images to edit (default: red)")
    tv.add_argument("--target", default="blue", choices=TOY_COLOURS, help="colour to reach (default: blue)")
    tv.add_argument("--source-background", default=None, choices=TOY_BACKGROUNDS,
                    help="only images on this background (default: any)")
    tv.add_argument("--target-background", default=None, choices=TOY_BACKGROUNDS,
                    help="a two-attribute edit: the background must become this too (give --source-background)")
    tv.add_argument("--source-shape", default=None, choices=TOY_SHAPES,
                    help="only objects of this shape (default: any)")
    tv.add_argument("--target-shape", default=None, choices=TOY_SHAPES,
                    help="a two-attribute edit: the shape must become this too, in place (give --source-shape)")
    tv.add_argument("--strengths", nargs="+", default=None,
                    help="strengths to try (default: each direction's validated strength, else 1.0); with several "
                         "--direction, one value per direction "
                         "(comma-separated, e.g. 1,0.5) or one value for all")
    tv.add_argument("--n", type=int, default=200, help="held-out images (default: %(default)s)")
    tv.add_argument("--steps", type=int, default=40, help="DDIM steps (default: %(default)s)")
    tv.add_argument("--t-edit", type=int, default=None, help="override the direction's t_edit")
    tv.add_argument("--no-boost", action="store_true", help="eta = 0 all the way (no quality boosting)")
    tv.add_argument("--mode", choices=["per_image", "mean", "global"], default="per_image",
                    help="Asyrp dh per image, or the saved mean / global direction (default: %(default)s)")
    tv.add_argument("--clip", default="toy-clip", help="CLIP for directional similarity (default: %(default)s)")
    tv.set_defaults(fn=cmd_toy_eval_edit)

    tc = toy_sub.add_parser("asyrp-ceiling", help="what the asymmetric process and h-space can do with an oracle",
                            description=cmd_toy_asyrp_ceiling.__doc__)
    tc.add_argument("--model", default="toy-text-ddpm", help="toy model preset or folder (default: %(default)s)")
    tc.add_argument("--source", default="red", choices=TOY_COLOURS, help="colour of the images to edit (default: red)")
    tc.add_argument("--target", default="blue", choices=TOY_COLOURS, help="colour to reach (default: blue)")
    tc.add_argument("--n", type=int, default=100, help="held-out images for plain and ideal_p (default: %(default)s)")
    tc.add_argument("--fit-n", type=int, default=20,
                    help="of those, images for fitted_dh (slow: ~14 s each here; 0 skips it; default: %(default)s)")
    tc.add_argument("--fit-iters", type=int, default=30,
                    help="Adam steps per image and timestep (default: %(default)s)")
    tc.add_argument("--lr", type=float, default=0.05, help="Adam step size for the fitted dh (default: %(default)s)")
    tc.add_argument("--steps", type=int, default=40, help="DDIM steps (default: %(default)s)")
    tc.add_argument("--t-edit", type=int, default=500, help="lowest edited timestep (default: %(default)s)")
    tc.add_argument("--t-max", type=int, default=1000, help="highest edited timestep (default: all, %(default)s)")
    tc.set_defaults(fn=cmd_toy_asyrp_ceiling)

    tf = toy_sub.add_parser("eval-filters", help="ROC AUC of each score against the oracle's verdict",
                            description=cmd_toy_eval_filters.__doc__)
    tf.add_argument("--spec", required=True, metavar="JOB.yaml", help="job spec: its model, editor and score are used")
    tf.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help=SET_HELP)
    tf.add_argument("--source", default="red", choices=TOY_COLOURS, help="colour of the images to edit (default: red)")
    tf.add_argument("--target", default="blue", choices=TOY_COLOURS, help="colour to reach (default: blue)")
    tf.add_argument("--n", type=int, default=200, help="held-out images (default: %(default)s)")
    tf.set_defaults(fn=cmd_toy_eval_filters)

    demo = sub.add_parser("demo", help="generate toy images and edit them (no arguments needed)",
                          description=cmd_demo.__doc__)
    demo.add_argument("--out", default="rayedit-demo",
                      help="folder for the demo input and output (default: %(default)s)")
    demo.add_argument("--n", type=int, default=200, help="number of toy images (default: %(default)s)")
    demo.add_argument("--steps", type=int, default=None,
                      help="DDS optimisation steps for zero-shot DDS (default 50), else DDIM steps (default 20; "
                           "for asyrp, the direction's training steps: 40)")
    demo.add_argument("--editor", default="best", choices=["best", "translator", "asyrp", "dds", "reconstruct"],
                      help="which shipped editor to show (default: best = translator, else asyrp, else dds, "
                           "else reconstruct)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")
    demo.set_defaults(fn=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rayedit`` command."""
    from rayedit.cluster.jobs import JobsAPIError
    from rayedit.config import SpecError
    from rayedit.models.errors import ModelLoadError

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = build_parser().parse_args(argv)
    runs_job = hasattr(args, "log_format")
    if runs_job:
        events.configure(args.log_format, verbose=getattr(args, "no_progress", False))
    try:
        return args.fn(args)
    except (SpecError, ModelLoadError, FileNotFoundError, JobsAPIError) as err:
        if runs_job and args.log_format == "json":
            events.emit("job_failed", logging.ERROR, exit_code=2, error=str(err), error_type=type(err).__name__)
        print(f"rayedit: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rayedit: interrupted; rerun the same command to resume (committed shards are kept)", file=sys.stderr)
        return 130
    except Exception as err:
        if runs_job:
            events.emit("job_failed", logging.ERROR, exit_code=1, error=str(err), error_type=type(err).__name__)
        raise


if __name__ == "__main__":
    sys.exit(main())
