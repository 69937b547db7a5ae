"""Training commands: train asyrp | dds | sdd, select-timesteps, asyrp curves."""

from __future__ import annotations

from rayedit.cli.common import SET_HELP, spec_command


def load_train_spec(args):
    from rayedit.config import AsyrpTrainSpec, load_spec

    return load_spec(args.spec, args.set, kind=AsyrpTrainSpec)


def cmd_train_asyrp(args) -> int:
    """Train one Asyrp direction (f_t) from a source and a target caption - or from before/after image pairs
    (paired_targets) - as a Ray task (on a GPU when the spec's resources.num_gpus asks for one). Writes
    direction.safetensors + direction.json to the spec's output."""
    from rayedit.pipelines.train_asyrp import train_asyrp

    spec = load_train_spec(args)
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

    found = asyrp_curves(load_train_spec(args), png=args.png)
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


def register(sub) -> None:
    """Register train, select-timesteps and asyrp."""
    train = sub.add_parser("train", help="train an editor (asyrp, dds, sdd)",
                           description="Train an editor from a spec.")
    train_sub = train.add_subparsers(dest="train_command", required=True, metavar="EDITOR")
    spec_command(train_sub, "asyrp", "train an Asyrp h-space direction", cmd_train_asyrp.__doc__, cmd_train_asyrp,
                  "asyrp-train")
    spec_command(train_sub, "dds", "train a multi-task DDS translator (Ray Train)", cmd_train_dds.__doc__,
                  cmd_train_dds, "dds-train")
    spec_command(train_sub, "sdd", "train an SDD-style distilled editor (SDS at HQS-selected timesteps)",
                  "The SDD distilled editor: the same trainer and spec as `train dds` (fields: `rayedit spec --kind "
                  "dds-train`) with loss: sds; give `hqs: .../hqs.json` from `rayedit select-timesteps` (and "
                  "optionally hqs_threshold) so t is drawn from the selected set. Apply it with kind: translator.",
                  cmd_train_dds, "dds-train")
    spec_command(sub, "select-timesteps", "HQS: which timesteps carry an edit", cmd_select_timesteps.__doc__,
                  cmd_select_timesteps, "hqs", progress=False)

    asy = sub.add_parser("asyrp", help="Asyrp tools: interval curves", description="Asyrp helper commands.")
    asy_sub = asy.add_subparsers(dest="asyrp_command", required=True, metavar="ASYRP_COMMAND")
    ac = asy_sub.add_parser("curves", help="LPIPS curves -> t_edit, t_boost", description=cmd_asyrp_curves.__doc__)
    ac.add_argument("spec", help="Asyrp training spec YAML")
    ac.add_argument("--set", action="append", default=[], metavar="A.B=V", help=SET_HELP)
    ac.add_argument("--png", default=None, help="also write the curves as a PNG plot here")
    ac.set_defaults(fn=cmd_asyrp_curves)
