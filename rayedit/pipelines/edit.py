"""The edit job: read -> decode -> edit -> score -> filter -> write, then commit each finished shard."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import fsspec

from rayedit import __version__, events
from rayedit.config import JobSpec, OutputSpec, SpecError
from rayedit.models.clip import clip_has_weights
from rayedit.models.load import model_resolution, model_takes_text
from rayedit.models.presets import PRESETS
from rayedit.pipelines.execute import JobResult, run_plan
from rayedit.stages.score import score_names
from rayedit.storage.commit import committed_shards
from rayedit.storage.fs import filesystem, has_atomic_rename, join, protocol_of, redact
from rayedit.storage.shards import Shard, plan_shards

PROCESS_LOCAL_PROTOCOLS = ("memory",)
"""fsspec filesystems whose files exist only in the process that wrote them."""


@dataclass
class JobPlan:
    """What a job will do, worked out before any work starts."""

    spec: JobSpec
    shards: list[Shard]
    done: set[str]
    resolution: int
    notes: list[str] = field(default_factory=list)

    @property
    def todo(self) -> list[Shard]:
        """Shards without a commit marker."""
        return [s for s in self.shards if s.shard_id not in self.done]


def check_shared_urls(urls: list[tuple[str, str]]) -> None:
    """(field, URL) pairs Ray workers must all see: a process-local filesystem (memory://) is a SpecError."""
    for where, url in urls:
        if protocol_of(url) in PROCESS_LOCAL_PROTOCOLS:
            raise SpecError(f"{where}: {protocol_of(url)}:// lives inside one process and Ray workers cannot see it; "
                            "use a local path or an object store")


def check_output_writable(output: OutputSpec) -> None:
    """Write and delete a probe file under the output URL; a missing bucket or no permission fails here."""
    fs = filesystem(output.url, output.storage)
    probe = join(output.url, "_probe")
    try:
        if has_atomic_rename(fs):  # local disk; on object stores makedirs would silently CREATE a missing bucket
            fs.makedirs(output.url, exist_ok=True)
        with fs.open(probe, "wb") as f:
            f.write(b"ok")
        fs.rm(probe)
    except Exception as err:  # noqa: BLE001 - any store error means we cannot write there
        raise SpecError(f"output {redact(output.url)} is not writable: {type(err).__name__}: {err}") from None


def _artifact_meta(url: str, where: str, meta_name: str, what: str, how: str) -> dict:
    """The JSON that marks a trained artifact complete, or a SpecError naming the field."""
    import json

    try:
        fs, root = fsspec.core.url_to_fs(url)
        found = fs.exists(f"{root}/{meta_name}")
        meta = json.loads(fs.cat_file(f"{root}/{meta_name}")) if found else None
    except Exception as err:  # noqa: BLE001 - any store error means we cannot read it
        raise SpecError(f"{where} {redact(url)}: {type(err).__name__}: {err}") from None
    if meta is None:
        raise SpecError(f"{where} {redact(url)} holds no {what} ({meta_name}); make one with `{how}`")
    return meta


def check_editor_artifacts(spec: JobSpec) -> None:
    """Every trained artifact the editor names must be readable, and the model must suit the editor, before any
    work starts."""
    editor = spec.editor
    if editor.kind == "dds" and not model_takes_text(spec.model):
        raise SpecError(f"editor.kind dds needs a text-conditioned model (e.g. toy-text-ddpm or a Stable Diffusion "
                        f"checkpoint); model.name {spec.model.name!r} takes no text")
    if editor.kind == "asyrp":
        from rayedit.editors.asyrp.artifact import META

        for i, d in enumerate(editor.directions):
            _artifact_meta(d.url, f"editor.directions[{i}].url", META, "Asyrp direction", "rayedit train asyrp")
    if editor.kind == "translator":
        from rayedit.editors.dds.apply import task_index
        from rayedit.editors.dds.translator import META

        meta = _artifact_meta(editor.url, "editor.url", META, "DDS translator", "rayedit train dds")
        try:
            task_index(meta["targets"], editor.task)
        except ValueError as err:
            raise SpecError(f"editor.task: {err}") from None


def plan_job(spec: JobSpec) -> JobPlan:
    """Validate everything that can be checked without running: inputs, output, model, filters."""
    names = score_names(spec.score)
    for rule in spec.filters:
        if rule.score not in names:
            raise SpecError(f"filters: score {rule.score!r} is not computed by this job (it computes {names})")
    urls = [spec.input.url] if isinstance(spec.input.url, str) else list(spec.input.url)
    check_shared_urls([("input.url", u) for u in urls] + [("output.url", spec.output.url)])
    shards = plan_shards(spec.input)
    check_output_writable(spec.output)
    check_editor_artifacts(spec)
    resolution = model_resolution(spec.model)
    judge = spec.score.guidance
    if judge is not None:
        if not model_takes_text(judge.model):
            raise SpecError(f"score.guidance.model {judge.model.name!r} takes no text; the residual needs a "
                            "text-conditioned model")
        if model_resolution(judge.model) != resolution:
            raise SpecError(f"score.guidance.model works at {model_resolution(judge.model)} px but the job's images "
                            f"are {resolution} px; use a judge model of the job's resolution")
    notes = []
    if spec.model.name in PRESETS:
        notes.append(f"model preset {spec.model.name!r} has random weights: a smoke run, not a real edit")
    if spec.score.clip is not None and not clip_has_weights(spec.score.clip.model, spec.score.clip.pretrained):
        notes.append(f"CLIP {spec.score.clip.model!r} has random weights: CLIP scores are not meaningful")
    if spec.score.lpips is not None and spec.score.lpips.random_backbone:
        notes.append("LPIPS uses a random backbone (lpips_random_backbone): not a perceptual metric")
    return JobPlan(spec, shards, committed_shards(spec.output), resolution, notes)


def provenance(spec: JobSpec) -> dict:
    """What produced every output sample (no credentials: specs keep them in storage sections)."""
    return {
        "rayedit": __version__, "editor": spec.editor.model_dump(mode="json"), "model": spec.model.name,
        "ddim_steps": spec.ddim.steps, "spacing": spec.ddim.spacing, "eta": spec.ddim.eta,
        "guidance_scale": spec.ddim.guidance_scale, "seed": spec.seed,
        "dedup": None if spec.dedup is None else spec.dedup.threshold,
        "clip": None if spec.score.clip is None else f"{spec.score.clip.model}:{spec.score.clip.pretrained}",
        "lpips": None if spec.score.lpips is None else
        spec.score.lpips.net + (" random backbone" if spec.score.lpips.random_backbone else ""),
    }


def edit_target(spec: JobSpec) -> tuple[str | None, dict[str, str] | None]:
    """(target caption, word replacements) each sample is edited towards, for its metadata: the scores' target if
    set, else the editor's (dds target or replace, a translator task named by its caption)."""
    if spec.score.target_caption is not None or spec.score.replace is not None:
        return spec.score.target_caption, spec.score.replace
    editor = spec.editor
    if editor.kind == "dds":
        return editor.target_caption, editor.replace
    if editor.kind == "translator" and isinstance(editor.task, str):
        return editor.task, None
    return None, None


def stage_plans(plan: JobPlan) -> list:
    """The job's stages with their scheduling, one per line."""
    from rayedit.cluster.adapter import StagePlan
    from rayedit.stages.compose import Then
    from rayedit.stages.decode import DecodeImages
    from rayedit.stages.edit import EditImages
    from rayedit.stages.filter import FilterByScores
    from rayedit.stages.read import ReadShards
    from rayedit.stages.score import ScoreImages
    from rayedit.stages.write import WriteParts

    # The lambdas run on workers: they capture only plain values and stage classes, so a light worker (read,
    # write) never imports this module - and with it torch and diffusers - just to unpickle its function.
    spec, res, resolution, prov = plan.spec, plan.spec.resources, plan.resolution, provenance(plan.spec)
    inp, out, model, ddim, score, rules = spec.input, spec.output, spec.model, spec.ddim, spec.score, spec.filters
    seed, editor, (target, replace) = spec.seed, spec.editor, edit_target(spec)
    embeddings = spec.dedup is not None
    io, light = res.io_batch_size, 0.25  # light stages take a quarter CPU so model actors are never starved
    stages = [
        # decode runs in the read task (one shard per task: Ray would otherwise fuse and bundle many shards)
        StagePlan("read_decode", lambda: Then(ReadShards(inp, chunk_size=io), DecodeImages(resolution)),
                  1, num_cpus=light, generator=True),
        StagePlan("edit", lambda: EditImages(model, ddim, seed, editor=editor), res.edit.batch_size,
                  actors=res.edit.actors, num_cpus=res.edit.num_cpus, num_gpus=res.edit.num_gpus),
    ]
    if score_names(score) or embeddings:  # a score actor only when it scores (its start imports torch + diffusers)
        stages.append(StagePlan("score", lambda: ScoreImages(score, seed=seed, embeddings=embeddings),
                                res.score.batch_size, actors=res.score.actors, num_cpus=res.score.num_cpus,
                                num_gpus=res.score.num_gpus))
    stages += [StagePlan("filter", lambda: FilterByScores(rules), io, num_cpus=light),
               StagePlan("write", lambda: WriteParts(out, prov, target, replace), io, num_cpus=light)]
    return stages


def check_resources(stages: list, cluster: dict[str, float], strict: bool) -> list[str]:
    """Actor pools that cannot all start would wait forever: an error on a fixed (local) cluster, a warning
    on a remote one, which may autoscale."""
    problems = []
    light = max(s.num_cpus for s in stages if not s.actors)
    for kind, attr in (("CPU", "num_cpus"), ("GPU", "num_gpus")):
        need = sum(s.actors * getattr(s, attr) for s in stages) + (light if kind == "CPU" else 0)
        have = cluster.get(kind, 0)
        if need > have:
            problems.append(f"resources: the actor pools need {need:g} {kind}s but the cluster has {have:g}; "
                            f"lower resources.*.actors or resources.*.{attr}")
    if problems and strict:
        raise SpecError("; ".join(problems))
    return problems


def build_dataset(plan: JobPlan, strict_resources: bool = True):
    """The Ray Data pipeline over the unfinished shards."""
    import ray

    from rayedit.cluster.adapter import apply_stage

    stages = stage_plans(plan)
    io, resolution = plan.spec.resources.io_batch_size, plan.resolution
    for warning in check_resources(stages, ray.cluster_resources(), strict_resources):
        events.warn(f"{warning} (waiting for the cluster to scale up)")
    # blocks of about one io batch of decoded images, so stages overlap instead of waiting for whole shards
    ray.data.DataContext.get_current().target_max_block_size = io * resolution**2 * 3
    ds = ray.data.from_items([s.to_row() for s in plan.todo], override_num_blocks=len(plan.todo))
    for stage in stages:
        ds = apply_stage(ds, stage)
    return ds


def run_job(spec: JobSpec, address: str | None = None, progress: bool = True) -> JobResult:
    """Run (or resume) an edit job; returns counts over all committed shards of the job."""
    start = time.time()
    return run_plan(plan_job(spec), build_dataset, address, progress, start)
