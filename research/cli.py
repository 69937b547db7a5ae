"""Research commands: measure the toy models and editors with the oracle (python -m research ...)."""

from __future__ import annotations

import argparse
import json
import sys

from rayedit.cli.common import SET_HELP, load_job_spec
from rayedit.cli.toy import TOY_BACKGROUNDS, TOY_COLOURS, TOY_MODELS, TOY_SHAPES


def cmd_toy_eval(args) -> int:
    """Measure a toy model, one JSON line per measurement. ddpm: DDIM inversion PSNR at each --steps, sample
    validity, and how often x0 predicted from noised held-out images keeps its shape at t = 200 / 400 / 600;
    text-ddpm: prompt match at each --cfg scale; clip: zero-shot accuracy; clip-v2: exact captions of v2 scenes
    against one-object changes and clip_direction / clip_score of right vs wrong one-object recolours."""
    import json as _json

    model_name = args.model or TOY_MODELS[args.what]
    if args.what == "clip":
        from rayedit.models.clip import load_clip
        from research.evaluate import clip_zero_shot

        print(_json.dumps({"model": model_name, "zero_shot": clip_zero_shot(load_clip(model_name), n=args.n)}))
        return 0
    if args.what == "clip-v2":  # any CLIP on v2 scenes (e.g. --model toy-clip: the v1 CLIP as the baseline)
        from rayedit.models.clip import load_clip
        from research.clip_v2_eval import clip_v2_scores

        print(_json.dumps({"model": model_name, "v2_scenes": clip_v2_scores(load_clip(model_name), n=args.n)}))
        return 0
    from rayedit.config import ModelSpec
    from rayedit.models.load import load_diffusion
    from research.evaluate import denoised_shape_kept, inversion_quality, prompt_match, sample_quality

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


def cmd_toy_eval_generated(args) -> int:
    """Judge a generated toy set (the output of `rayedit generate` with toy prompts) with the oracle: how often the
    colour, shape and background drawn match the prompt, and the confusion of asked vs. drawn, as one JSON line."""
    from research.generated_eval import judge_generated

    print(json.dumps(judge_generated(args.output, args.limit)))
    return 0


def _strength_sets(values: list[str], n_directions: int) -> list[list[float]]:
    """``--strengths`` of ``python -m research eval-edit``: each value one number (for every direction) or one per
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
    from research.edit_eval import evaluate_edit

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
        spec = load_job_spec(args)
        model = load_diffusion(spec.model, device="cpu")
        result = judge(build_editor(model, spec.editor, spec.ddim, spec.seed))
        head = {"spec": args.spec, "set": args.set, "editor": spec.editor.model_dump(mode="json")}
        print(_json.dumps(head | result))
        return 0
    from rayedit.editors.artifact_meta import read_direction_meta
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
    from research.asyrp_ceiling import asyrp_ceiling, asyrp_ceiling_v2

    if args.source == args.target:
        raise SpecError("--source and --target are the same colour: nothing to edit")
    model = load_diffusion(ModelSpec(name=args.model), device="cpu")
    settings = {"n": args.n, "fit_n": args.fit_n, "steps": args.steps, "t_edit": args.t_edit, "t_max": args.t_max,
                "fit_iters": args.fit_iters, "lr": args.lr}
    if args.task:
        results = asyrp_ceiling_v2(model, args.task, seed=args.seed, where=args.where, **settings)
    else:
        results = asyrp_ceiling(model, args.source, args.target, **settings)
    for name, verdict_ in results.items():
        head = {"editor": name, "model": args.model, "task": args.task, "where": args.where, "t_edit": args.t_edit,
                "t_max": args.t_max}
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
    from research.filter_eval import evaluate_filters

    spec = load_job_spec(args)
    editor = build_editor(load_diffusion(spec.model, device="cpu"), spec.editor, spec.ddim, spec.seed)
    result = evaluate_filters(editor, ScoreImages(spec.score, device="cpu", seed=spec.seed), args.source,
                              args.target, n=args.n)
    print(_json.dumps({"spec": args.spec, "set": args.set} | result))
    return 0


def cmd_toy_sd_eval(args) -> int:
    """Measure a toy-sd pipeline folder on held-out scenes (seed 31337), one JSON line per measurement: the VAE
    (reconstruction PSNR, every object read back exactly), DDIM inversion + reconstruction through rayedit's loader
    (PSNR, attributes kept) and diffusers' own StableDiffusionPipeline text-to-image prompt match per CFG scale."""
    from diffusers import AutoencoderKL

    from research.toy_sd_eval import inversion_quality, text_to_image, vae_quality

    parts = set(args.only or ["vae", "inversion", "t2i"])
    if "vae" in parts:
        vae = AutoencoderKL.from_pretrained(args.folder, subfolder="vae")
        print(json.dumps({"folder": args.folder, "vae": vae_quality(vae, n=args.n)}), flush=True)
    if "inversion" in parts:
        for row in inversion_quality(args.folder, n=args.n, steps=tuple(args.steps)):
            print(json.dumps({"folder": args.folder, "inversion": row}), flush=True)
    if "t2i" in parts:
        for row in text_to_image(args.folder, cfgs=tuple(args.cfg), per_count=args.per_count):
            print(json.dumps({"folder": args.folder, "text_to_image": row}), flush=True)
    return 0


def cmd_v2_judge(args) -> int:
    """Judge a finished rayedit job on v2 scene shards (`rayedit toy generate --world v2 --task T --seed S`)
    against the perfect edits: one JSON line with the job's statuses and the exact-target metrics."""
    from rayedit.toy.v2_judge import judge_job

    print(json.dumps({"output": args.output} | judge_job(args.output, args.task, args.seed)))
    return 0


def cmd_v1_exact(args) -> int:
    """The exact-target metrics of a finished v1 colour-edit job (e.g. `rayedit demo`'s output): each edit against
    the perfect edit of its toy image (same shape, place and texture, only the colour changed). One JSON line."""
    from research.v1_exact import v1_edit_metrics

    print(json.dumps({"output": args.output, "seed": args.seed, "target": args.target}
                     | v1_edit_metrics(args.output, args.seed, args.target)))
    return 0


def cmd_v2_filters(args) -> int:
    """ROC AUC of every score in a finished job's manifest against the exact-target verdict of its edits on v2 scene
    shards (success at mask IoU >= --bar), the best single bound per score and what the separating scores' bounds
    keep together: one JSON line. Run the job with a score: section and no filters, so every edit is kept."""
    from research.v2_filters import filter_report, scores_and_verdicts

    values, labels = scores_and_verdicts(args.output, args.task, args.seed, args.bar)
    print(json.dumps({"output": args.output, "task": args.task, "seed": args.seed, "bar": args.bar}
                     | filter_report(values, labels)))
    return 0


def cmd_dds_gradients(args) -> int:
    """Where zero-shot DDS and SDS push on a model, per timestep: the first-step gradient's mean norm per latent
    cell on the target object, the other objects and the background, and its alignment with the perfect edit, on
    v2 scenes of a task (research/dds_gradients.py). One JSON line per (method, timestep, one / multi-object
    scenes); --rows FILE keeps every scene's numbers."""
    from rayedit.config import ModelSpec
    from rayedit.models.load import load_diffusion
    from rayedit.toy.edit_tasks import EditTask
    from research.dds_gradients import gradient_regions, summarise

    torch_threads(args.threads)
    model = load_diffusion(ModelSpec(name=args.model), device="cpu")
    rows = gradient_regions(model, EditTask.parse(args.task), args.n, args.seed, args.t, args.cfg, draws=args.draws)
    if args.rows:
        with open(args.rows, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
    for row in summarise(rows):
        print(json.dumps({"model": args.model, "task": args.task, "seed": args.seed, "cfg": args.cfg} | row))
    return 0


def cmd_contrast_probe(args) -> int:
    """What colour one DDS step asks for on a v2 recolour task, for edits that keep and that flip the object's
    contrast against its background (research/contrast_probe.py): one JSON line per (group, timestep)."""
    from rayedit.config import ModelSpec
    from rayedit.models.load import load_diffusion
    from rayedit.toy.edit_tasks import EditTask
    from research.contrast_probe import contrast_probe, summarise

    torch_threads(args.threads)
    model = load_diffusion(ModelSpec(name=args.model), device="cpu")
    task = EditTask.parse(args.task)
    rows = contrast_probe(model, task, args.n, args.seed, args.t, args.cfg)
    for row in summarise(rows, task.target, by=args.by):
        print(json.dumps({"model": args.model, "task": args.task, "seed": args.seed, "cfg": args.cfg} | row))
    return 0


def cmd_dds_sweep(args) -> int:
    """Zero-shot DDS / SDS on the first --n scenes of a v2 task, every combination of --loss, --lr, --cfg and
    --steps, judged against the perfect edits (research/dds_sweep.py): one JSON line each. Tune on a seed that is
    not the held-out one."""
    import itertools

    from rayedit.config import ModelSpec
    from rayedit.models.load import load_diffusion
    from research.dds_sweep import sweep

    torch_threads(args.threads)
    model = load_diffusion(ModelSpec(name=args.model), device="cpu")
    for loss, lr, cfg, steps in itertools.product(args.loss, args.lr, args.cfg, args.steps):
        setting = {"loss": loss, "lr": lr, "guidance_scale": cfg, "steps": steps}
        for row in sweep(model, args.task, args.n, args.seed, [setting]):
            print(json.dumps({"model": args.model} | row), flush=True)
    return 0


def torch_threads(n: int | None) -> None:
    """Limit torch's CPU threads (a measurement beside a training run)."""
    if n:
        import torch

        torch.set_num_threads(n)


def build_parser() -> argparse.ArgumentParser:
    """python -m research COMMAND: the toy world's evaluations and diagnostics."""
    p = argparse.ArgumentParser(prog="python -m research",
                                description="rayedit's research diagnostics on the toy worlds (not in the package).")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    te = sub.add_parser("eval", help="measure a toy model", description=cmd_toy_eval.__doc__)
    te.add_argument("what", choices=list(TOY_MODELS), help="which kind of model: %(choices)s")
    te.add_argument("--model", default=None, help="model to measure (default: the shipped toy preset)")
    te.add_argument("--n", type=int, default=128, help="held-out images / samples (default: %(default)s)")
    te.add_argument("--steps", type=int, nargs="+", default=[20, 40, 100], help="DDIM step counts for inversion")
    te.add_argument("--cfg", type=float, nargs="+", default=[1.0, 3.0, 7.5],
                    help="guidance scales for text-ddpm prompt match (default: 1 3 7.5)")
    te.set_defaults(fn=cmd_toy_eval)

    ts = sub.add_parser("toy-sd", help="measure a toy-sd pipeline folder (VAE, inversion, text-to-image)",
                        description=cmd_toy_sd_eval.__doc__)
    ts.add_argument("folder", help="a toy-sd pipeline folder (rayedit toy train sd-unet --out FOLDER)")
    ts.add_argument("--only", nargs="+", choices=["vae", "inversion", "t2i"], default=None,
                    help="measure only these (default: all three)")
    ts.add_argument("--n", type=int, default=64, help="held-out scenes for the VAE and inversion (default: 64)")
    ts.add_argument("--steps", type=int, nargs="+", default=[20, 50], help="DDIM steps for inversion")
    ts.add_argument("--cfg", type=float, nargs="+", default=[3.0, 5.0, 7.5], help="CFG scales for text-to-image")
    ts.add_argument("--per-count", type=int, default=24, help="prompts per object count (1, 2, 3) and CFG scale")
    ts.set_defaults(fn=cmd_toy_sd_eval)

    tgv = sub.add_parser("eval-generated", help="prompt match of a generated toy set, judged by the oracle",
                             description=cmd_toy_eval_generated.__doc__)
    tgv.add_argument("output", help="output URL of a generate job (its shards/*.tar are read)")
    tgv.add_argument("--limit", type=int, default=None, help="judge at most this many samples (default: all)")
    tgv.set_defaults(fn=cmd_toy_eval_generated)
    tv = sub.add_parser("eval-edit", help="judge an editor (Asyrp directions or a job spec) with the oracle",
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

    tc = sub.add_parser("asyrp-ceiling", help="what the asymmetric process and h-space can do with an oracle",
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
    tc.add_argument("--task", default=None,
                    help="a v2 task such as 'red->blue': multi-object scenes, judged against the perfect edit with "
                         "the v2 metrics (use with --model toy-sd); without it, v1 images of --source")
    tc.add_argument("--seed", type=int, default=31338, help="with --task: the v2 stream (31338: held out)")
    tc.add_argument("--where", default="mid_block",
                    help="with --task: the U-Net submodule whose output is h (default: Asyrp's mid_block; e.g. "
                         "up_blocks.0)")
    tc.set_defaults(fn=cmd_toy_asyrp_ceiling)

    tf = sub.add_parser("eval-filters", help="ROC AUC of each score against the oracle's verdict",
                            description=cmd_toy_eval_filters.__doc__)
    tf.add_argument("--spec", required=True, metavar="JOB.yaml", help="job spec: its model, editor and score are used")
    tf.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help=SET_HELP)
    tf.add_argument("--source", default="red", choices=TOY_COLOURS, help="colour of the images to edit (default: red)")
    tf.add_argument("--target", default="blue", choices=TOY_COLOURS, help="colour to reach (default: blue)")
    tf.add_argument("--n", type=int, default=200, help="held-out images (default: %(default)s)")
    tf.set_defaults(fn=cmd_toy_eval_filters)
    tj = sub.add_parser("v2-judge", help="exact-target metrics of a job's output on v2 scenes",
                        description=cmd_v2_judge.__doc__)
    tj.add_argument("output", help="the job's output.url")
    tj.add_argument("--task", required=True, help="the edit task of the input shards, e.g. 'red->blue'")
    tj.add_argument("--seed", type=int, required=True, help="the seed the input shards were generated with")
    tj.set_defaults(fn=cmd_v2_judge)
    t1 = sub.add_parser("v1-exact", help="exact-target metrics of a v1 colour-edit job (the 32-px demo)",
                        description=cmd_v1_exact.__doc__)
    t1.add_argument("output", help="the job's output.url")
    t1.add_argument("--seed", type=int, default=0, help="the seed of the input toy images (demo: %(default)s)")
    t1.add_argument("--target", default="blue", choices=TOY_COLOURS, help="colour edited to (default: blue)")
    t1.set_defaults(fn=cmd_v1_exact)
    tr = sub.add_parser("v2-filters", help="ROC AUC of a job's scores against the v2 verdict of its edits",
                        description=cmd_v2_filters.__doc__)
    tr.add_argument("output", help="the job's output.url")
    tr.add_argument("--task", required=True, help="the edit task of the input shards, e.g. 'red->blue'")
    tr.add_argument("--seed", type=int, required=True, help="the seed the input shards were generated with")
    tr.add_argument("--bar", type=float, default=0.9, choices=(0.8, 0.9),
                    help="mask IoU a success needs (default: %(default)s)")
    tr.set_defaults(fn=cmd_v2_filters)
    tg = sub.add_parser("dds-gradients", help="where zero-shot DDS and SDS push, per region and timestep",
                        description=cmd_dds_gradients.__doc__)
    tg.add_argument("--model", default="toy-sd", help="a text-conditioned latent model (preset, folder, hub id)")
    tg.add_argument("--task", default="red->blue", help="a v2 edit task")
    tg.add_argument("--n", type=int, default=200, help="scenes of the task")
    tg.add_argument("--seed", type=int, default=31338, help="the v2 stream (31338: held out, never trained on)")
    tg.add_argument("--t", type=int, nargs="+", default=[50, 100, 200, 300, 400, 500, 600, 700, 800, 900])
    tg.add_argument("--cfg", type=float, default=7.5, help="classifier-free guidance scale (diffusers' s)")
    tg.add_argument("--draws", type=int, default=2, help="noise draws averaged per timestep")
    tg.add_argument("--threads", type=int, help="torch CPU threads")
    tg.add_argument("--rows", help="write every scene's numbers here (JSON lines)")
    tg.set_defaults(fn=cmd_dds_gradients)
    tc = sub.add_parser("contrast-probe", help="the colour one DDS step asks for, by contrast kept / flipped",
                        description=cmd_contrast_probe.__doc__)
    tc.add_argument("--model", default="toy-sd", help="a text-conditioned latent model (preset, folder, hub id)")
    tc.add_argument("--task", default="red->yellow", help="a v2 recolour task")
    tc.add_argument("--n", type=int, default=96, help="scenes of the task")
    tc.add_argument("--seed", type=int, default=31339, help="the v2 stream (31339: the tuning stream)")
    tc.add_argument("--t", type=int, nargs="+", default=[100, 200, 400, 600, 800])
    tc.add_argument("--cfg", type=float, default=3.0, help="classifier-free guidance scale (diffusers' s)")
    tc.add_argument("--by", choices=["contrast", "target_contrast"], default="contrast",
                    help="group scenes by contrast kept / flipped, or by the edited object's contrast (|luma "
                         "difference| with the background behind it: <25, 25-50, 50-100, >=100)")
    tc.add_argument("--threads", type=int, help="torch CPU threads")
    tc.set_defaults(fn=cmd_contrast_probe)
    tw = sub.add_parser("dds-sweep", help="zero-shot DDS / SDS settings judged on a v2 task",
                        description=cmd_dds_sweep.__doc__)
    tw.add_argument("--model", default="toy-sd", help="a text-conditioned model (preset, folder, hub id)")
    tw.add_argument("--task", default="red->blue", help="a v2 edit task")
    tw.add_argument("--n", type=int, default=32, help="scenes of the task")
    tw.add_argument("--seed", type=int, default=31339, help="the v2 stream to tune on (not the held-out 31338)")
    tw.add_argument("--loss", nargs="+", default=["dds"], choices=["dds", "sds"])
    tw.add_argument("--lr", type=float, nargs="+", default=[0.1])
    tw.add_argument("--cfg", type=float, nargs="+", default=[7.5])
    tw.add_argument("--steps", type=int, nargs="+", default=[200])
    tw.add_argument("--threads", type=int, help="torch CPU threads")
    tw.set_defaults(fn=cmd_dds_sweep)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m research``: bad arguments or specs exit 2 with one line."""
    from rayedit.config import SpecError
    from rayedit.models.errors import ModelLoadError

    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except (SpecError, ModelLoadError, FileNotFoundError) as err:
        print(f"research: error: {err}", file=sys.stderr)
        return 2
