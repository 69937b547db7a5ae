"""The toy world for users: train its models (to --out) and write its images as shards."""

from __future__ import annotations

from rayedit.cli.common import dataclass_overrides

TOY_COLOURS = ["red", "green", "blue", "yellow"]
"""The toy world's object colours (rayedit.toy.generator.COLOURS; listed here so --help needs no imports)."""


TOY_BACKGROUNDS = ["white", "gray", "black"]
"""The toy world's background colours (rayedit.toy.generator.BACKGROUNDS)."""


TOY_SHAPES = ["circle", "square", "triangle"]
"""The toy world's shapes (rayedit.toy.generator.SHAPES)."""


TOY_MODELS = {"ddpm": "toy-ddpm", "clip": "toy-clip", "text-ddpm": "toy-text-ddpm", "clip-v2": "toy-clip-v2"}
"""What `rayedit toy train` (and `python -m research eval`) accept, and the preset each one is."""


CLIP_V2_DEFAULTS = {"steps": 1000, "data_seed": 23001}
"""The shipped toy-clip-v2's settings (its own generator stream; v1's toy-clip keeps ClipTrainConfig's defaults)."""


TOY_SD_PARTS = ("sd-vae", "sd-unet")
"""toy-sd's training stages for `rayedit toy train` (v2 world, Stable Diffusion layout): the VAE first, then the
U-Net with its text encoder on that VAE's latents (`--set vae_from=DIR`)."""


def cmd_toy_train(args) -> int:
    """Retrain one of the toy world's models from the generator (reproducible: same settings, same weights).
    Train `clip` before `text-ddpm`: the text-conditioned DDPM uses the toy CLIP's text tower."""
    if args.what in TOY_SD_PARTS:
        return _train_toy_sd(args)
    preset, out = TOY_MODELS[args.what], args.out
    sizes = {k: v for k, v in (("steps", args.steps), ("batch_size", args.batch_size)) if v}
    if args.what in ("clip", "clip-v2"):
        from rayedit.toy.clip_train import ClipTrainConfig, train_clip

        overrides = dataclass_overrides(ClipTrainConfig, args.set)
        world = {"world": "v2", **CLIP_V2_DEFAULTS} if args.what == "clip-v2" else {}
        cfg = ClipTrainConfig(**{**world, **sizes, "max_minutes": args.minutes, **overrides})
        info = train_clip(out, cfg, progress=not args.no_progress)
    else:
        from rayedit.toy.ddpm import DDPMTrainConfig, train_ddpm
        from rayedit.toy.text_ddpm import TextDDPMTrainConfig, train_text_ddpm

        cls, train = (DDPMTrainConfig, train_ddpm) if args.what == "ddpm" else (TextDDPMTrainConfig, train_text_ddpm)
        extra = {k: v for k, v in (("lr", args.lr), ("data_seed", args.data_seed)) if v is not None}
        if args.continue_from:
            extra["continue_from"] = args.continue_from
        extra.update(dataclass_overrides(cls, args.set))
        try:
            cfg = cls(**{**sizes, "max_minutes": args.minutes, "threads": args.threads, **extra})
        except ValueError as e:
            raise SystemExit(f"rayedit: {e}") from None
        info = train(out, cfg, progress=not args.no_progress)
    print(f"{preset}: {info['steps_done']} steps in {info['minutes']:.1f} min; saved to {out}")
    return 0


def _train_toy_sd(args) -> int:
    """`rayedit toy train sd-vae | sd-unet --out DIR`: one stage of toy-sd."""
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
                     **dataclass_overrides(cls, args.set)})
        info = train(args.out, cfg, progress=not args.no_progress)
    except ValueError as e:
        raise SystemExit(f"rayedit: {e}") from None
    print(f"toy-sd {args.what}: {info['steps_done']} steps in {info['minutes']:.1f} min; saved to {args.out}")
    return 0


def cmd_toy_pack_sd(args) -> int:
    """Pack toy-sd for shipping: the U-Net run's pipeline (--unet) with a decoder-fine-tuned VAE (--vae), in
    float16, written by diffusers' StableDiffusionPipeline.save_pretrained (e.g. into rayedit/toy/weights/toy-sd of
    a checkout, which the `toy-sd` model preset loads)."""
    from rayedit.toy.sd.pack import pack_toy_sd

    try:
        info = pack_toy_sd(args.unet, args.vae, args.out)
    except ValueError as e:
        raise SystemExit(f"rayedit: {e}") from None
    print(f"toy-sd packed to {info['out']} ({info['megabytes']} MB)")
    return 0


def cmd_toy_generate(args) -> int:
    """Write toy images with exact captions as WebDataset shards (PREFIX-00000.tar, ...): seeded, deterministic.
    --world v2: 64-px scenes of 1-3 objects (toy-sd's world), optionally only those an edit task applies to, or
    their perfect edits."""
    if args.world == "v2":
        from rayedit.toy.edit_tasks import write_scene_shards

        v1_only = [f"--{k}" for k in ("colour", "background", "shape", "recolour") if getattr(args, k)]
        if v1_only:
            raise SystemExit(f"rayedit: {', '.join(v1_only)}: v1 options; with --world v2 use --task (and --perfect)")
        try:
            paths = write_scene_shards(args.prefix, args.n, args.per_shard, args.seed, args.task, args.perfect)
        except ValueError as e:
            raise SystemExit(f"rayedit: {e}") from None
        print(f"rayedit: {args.n} v2 scenes in {len(paths)} shard(s): {paths[0]} ... {paths[-1]}")
        return 0
    if args.task or args.perfect:
        raise SystemExit("rayedit: --task and --perfect are for --world v2")
    from rayedit.toy.generator import write_shards

    paths = write_shards(args.prefix, args.n, per_shard=args.per_shard, seed=args.seed, colour=args.colour,
                         background=args.background, shape=args.shape, recolour=args.recolour)
    print(f"rayedit: {args.n} toy images in {len(paths)} shard(s): {paths[0]} ... {paths[-1]}")
    return 0


def register(sub) -> None:
    """Register toy train and toy generate."""
    toy = sub.add_parser("toy", help="the built-in toy world: retrain its models, write its images",
                         description="The toy world: coloured shapes, an exact oracle, and small trained models "
                                     "(their measurements: python -m research, from a checkout).")
    toy_sub = toy.add_subparsers(dest="toy_command", required=True, metavar="TOY_COMMAND")
    tt = toy_sub.add_parser("train", help="retrain a toy model", description=cmd_toy_train.__doc__)
    tt.add_argument("what", choices=[*TOY_MODELS, *TOY_SD_PARTS],
                    help="which model: %(choices)s (sd-vae, then sd-unet with --set vae_from=DIR: toy-sd, the v2 "
                         "world in Stable Diffusion's layout; both need --out)")
    tt.add_argument("--out", required=True,
                    help="output folder (required: training never writes into the installed package; point a "
                         "model spec or the preset's folder at it to use the result)")
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
    tp = toy_sub.add_parser("pack-sd", help="pack toy-sd's trained parts into one float16 pipeline folder",
                            description=cmd_toy_pack_sd.__doc__)
    tp.add_argument("--unet", required=True, metavar="DIR", help="a `rayedit toy train sd-unet` output folder")
    tp.add_argument("--vae", required=True, metavar="DIR",
                    help="a `rayedit toy train sd-vae` output folder whose encoder is the one the U-Net trained on")
    tp.add_argument("--out", required=True, metavar="DIR", help="where to write the pipeline folder")
    tp.set_defaults(fn=cmd_toy_pack_sd)
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
    tg.add_argument("--world", default="v1", choices=["v1", "v2"],
                    help="v1: one shape at 32 px (default); v2: scenes of 1-3 objects at 64 px (toy-sd's world)")
    tg.add_argument("--task", default=None, metavar="EDIT",
                    help="v2: only scenes this edit task applies to, e.g. 'red->blue' or 'red square->circle'")
    tg.add_argument("--perfect", action="store_true",
                    help="v2 with --task: write each scene's perfect edit (same keys, target captions) instead")
    tg.set_defaults(fn=cmd_toy_generate)
