"""The edit job: read -> decode -> edit -> score -> filter -> write, then commit each finished shard."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from rayedit import __version__
from rayedit.config import JobSpec, OutputSpec, SpecError
from rayedit.models.checks import usable_scores
from rayedit.models.clip_source import clip_has_weights
from rayedit.models.layout import check_model, model_resolution, model_takes_text, size_step
from rayedit.models.presets import PRESETS
from rayedit.pipelines.result import JobResult
from rayedit.stages.score_names import score_names
from rayedit.storage.commit import committed_shards
from rayedit.storage.fs import endpoint_of, filesystem, has_atomic_rename, join, protocol_of, redact
from rayedit.storage.job_record import check_same_job, clear_output, write_job_record
from rayedit.storage.shards import Shard, plan_shards

SCORE_ONLY_RESOLUTION = 256
"""Side of the square a score-only job decodes to (CLIP resizes to its own input size; dedup and filters read it)."""
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
    size_step: int = 8
    """With ``input.resize: keep_aspect``, each image side is a multiple of this (:func:`size_step`)."""

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
    """Fail unless the job can write under the output URL, creating nothing: on a local disk the nearest existing
    folder must be writable; on an object store a probe object is written and deleted (a missing bucket or no
    permission fails here)."""
    fs = filesystem(output.url, output.storage)
    if has_atomic_rename(fs):  # local disk
        path = Path(output.url.split("://", 1)[-1]).expanduser().absolute()
        existing = next(p for p in (path, *path.parents) if p.exists())
        try:
            with tempfile.TemporaryFile(dir=existing):  # gone when closed: nothing is left behind
                pass
        except OSError as err:
            raise SpecError(f"output {redact(output.url)} is not writable ({existing}: {err.strerror or err})"
                            ) from None
        return
    probe = join(output.url, "_probe")
    try:
        with fs.open(probe, "wb") as f:
            f.write(b"ok")
        fs.rm(probe)
    except Exception as err:  # noqa: BLE001 - any store error means we cannot write there
        where = endpoint_of(output.url, output.storage)
        raise SpecError(f"output {redact(output.url)} is not writable ({where}): {type(err).__name__}: {err}"
                        ) from None


def _artifact_meta(read, url: str, where: str) -> dict:
    """``read(url)``: the JSON that marks a trained artifact complete; a missing or unreadable one is a SpecError
    naming the spec field."""
    try:
        return read(url)
    except (FileNotFoundError, SpecError) as err:
        raise SpecError(f"{where} {err}") from None


def check_editor_artifacts(spec: JobSpec) -> None:
    """Every trained artifact the editor names must be readable, and the model must suit the editor, before any
    work starts."""
    editor = spec.editor
    if editor.kind == "dds" and not model_takes_text(spec.model):
        raise SpecError(f"editor.kind dds needs a text-conditioned model (e.g. toy-text-ddpm or a Stable Diffusion "
                        f"checkpoint); model.name {spec.model.name!r} takes no text")
    if editor.kind == "asyrp":
        from rayedit.editors.artifact_meta import read_direction_meta

        for i, d in enumerate(editor.directions):
            _artifact_meta(read_direction_meta, d.url, f"editor.directions[{i}].url")
    if editor.kind == "translator":
        from rayedit.editors.artifact_meta import read_translator_meta, task_index

        meta = _artifact_meta(read_translator_meta, editor.url, "editor.url")
        try:
            task_index(meta["targets"], editor.task)
        except ValueError as err:
            raise SpecError(f"editor.task: {err}") from None


def plan_job(spec: JobSpec) -> JobPlan:
    """Validate everything that can be checked without running: inputs, output, model, filters."""
    urls = [spec.input.url] if isinstance(spec.input.url, str) else list(spec.input.url)
    check_shared_urls([("input.url", u) for u in urls] + [("output.url", spec.output.url)])
    if spec.editor.kind == "none":  # no diffusion model: images are decoded at the model.resolution asked, or 256
        resolution, notes = spec.model.resolution or SCORE_ONLY_RESOLUTION, []
    else:
        resolution, notes = check_model(spec.model)
    score, score_notes = usable_scores(spec.score, edited=spec.editor.kind != "none")
    spec, notes = spec.model_copy(update={"score": score}), notes + score_notes
    names = score_names(spec.score)
    for rule in spec.filters:
        if rule.score not in names:
            raise SpecError(f"filters: score {rule.score!r} is not computed by this job (it computes {names})")
    shards = plan_shards(spec.input)
    check_output_writable(spec.output)
    check_editor_artifacts(spec)
    judge = spec.score.guidance
    if judge is not None:
        if not model_takes_text(judge.model):
            raise SpecError(f"score.guidance.model {judge.model.name!r} takes no text; the residual needs a "
                            "text-conditioned model")
        if model_resolution(judge.model) != resolution:
            raise SpecError(f"score.guidance.model works at {model_resolution(judge.model)} px but the job's images "
                            f"are {resolution} px; use a judge model of the job's resolution")
    if spec.model.name in PRESETS:
        notes.append(f"model preset {spec.model.name!r} has random weights: a smoke run, not a real edit")
    if spec.score.clip is not None and not clip_has_weights(spec.score.clip.model, spec.score.clip.pretrained):
        notes.append(f"CLIP {spec.score.clip.model!r} has random weights: CLIP scores are not meaningful")
    if spec.score.lpips is not None and spec.score.lpips.random_backbone:
        notes.append("LPIPS uses a random backbone (lpips_random_backbone): not a perceptual metric")
    step = size_step(spec.model) if spec.input.resize == "keep_aspect" and spec.editor.kind != "none" else 8
    return JobPlan(spec, shards, committed_shards(spec.output), resolution, notes, step)


DDIM_PROVENANCE_KEYS = {"steps": "ddim_steps"}
"""Provenance key of a ``ddim`` field when it differs from the field's name."""


def editor_settings(spec: JobSpec) -> dict:
    """The editor section as applied: what it leaves to its artifacts resolved (an Asyrp direction's strength is
    the one validated in training when the job gives none, else 1.0; t_edit / t_boost from the direction)."""
    out = spec.editor.model_dump(mode="json")
    if spec.editor.kind == "asyrp":
        from rayedit.editors.artifact_meta import default_strength, read_direction_meta

        metas = [read_direction_meta(d.url) for d in spec.editor.directions]
        for used, meta in zip(out["directions"], metas, strict=True):
            used["strength"] = default_strength(used["strength"], meta)
        if out["t_edit"] is None and len(metas) > 1:  # several directions: each edits on its own interval
            out["windows"] = [[m["t_edit"], m.get("t_max")] for m in metas]
        out["t_edit"] = metas[0]["t_edit"] if out["t_edit"] is None else out["t_edit"]
        out["t_boost"] = metas[0]["t_boost"] if out["t_boost"] is None else out["t_boost"]
    return out


def provenance(spec: JobSpec) -> dict:
    """What produced every output sample: the editor's settings as applied and only the ``ddim`` fields the editor
    reads (no credentials: specs keep them in storage sections)."""
    ddim = {DDIM_PROVENANCE_KEYS.get(f, f): getattr(spec.ddim, f) for f in spec.editor.ddim_fields}
    return {
        "rayedit": __version__, "editor": editor_settings(spec),
        "model": None if spec.editor.kind == "none" else spec.model.name, **ddim, "seed": spec.seed,
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
    from rayedit.stages.filter import FilterByScores
    from rayedit.stages.pass_through import PassThrough
    from rayedit.stages.read import ReadShards
    from rayedit.stages.write import WriteParts

    # The factories run on workers: they capture only plain values and stage classes, so a light worker (read,
    # write) never imports this module just to unpickle its function; the model stages import their classes (and
    # with them torch, diffusers, open_clip) on their own workers, never on the driver.
    spec, res, resolution, prov = plan.spec, plan.spec.resources, plan.resolution, provenance(plan.spec)
    step = plan.size_step
    inp, out, model, ddim, score, rules = spec.input, spec.output, spec.model, spec.ddim, spec.score, spec.filters
    seed, editor, (target, replace) = spec.seed, spec.editor, edit_target(spec)
    embeddings = spec.dedup is not None
    io, light = res.io_batch_size, 0.25  # light stages take a quarter CPU so model actors are never starved
    score_only = editor.kind == "none"

    scoring = bool(score_names(score) or embeddings)  # score actors only when they score (they import torch)
    colocate = scoring and res.score.colocated_with(res.edit) and not score_only

    def scores():
        from rayedit.stages.score import ScoreImages

        return ScoreImages(score, seed=seed, embeddings=embeddings)

    def edit():
        from rayedit.stages.edit import EditImages

        stage = EditImages(model, ddim, seed, editor=editor)
        if colocate:  # score in the same actor: one process, one set of model imports
            from rayedit.stages.compose import Chain

            return Chain(stage, scores())
        return stage

    keep = score_only and "image_format" not in out.model_fields_set  # write the input files as they are
    stages = [
        # decode runs in the read task (one shard per task: Ray would otherwise fuse and bundle many shards)
        StagePlan("read_decode", lambda: Then(ReadShards(inp, chunk_size=io),
                                              DecodeImages(resolution, inp.resize, keep, step)),
                  1, num_cpus=light, generator=True),
        StagePlan("edit", PassThrough, io, num_cpus=light) if score_only else
        StagePlan("edit", edit, res.edit.batch_size, actors=res.edit.actors, num_cpus=res.edit.num_cpus,
                  num_gpus=res.edit.num_gpus, counts_progress=True),
    ]
    if scoring and not colocate:
        stages.append(StagePlan("score", scores, res.score.batch_size, actors=res.score.actors,
                                num_cpus=res.score.num_cpus, num_gpus=res.score.num_gpus))
    stages += [StagePlan("filter", lambda: FilterByScores(rules), io, num_cpus=light),
               StagePlan("write", lambda: WriteParts(out, prov, target, replace, inp.resize, keep), io,
                         num_cpus=light)]
    return stages


def dataset_rows(plan: JobPlan) -> list[dict]:
    """One row per unfinished input shard: what the read stage starts from."""
    return [s.to_row() for s in plan.todo]


def fingerprint(plan: JobPlan) -> dict:
    """Every spec field that decides an edit job's samples (not its name, resources or credentials): a rerun into
    the same output must match it."""
    spec = plan.spec
    inp = spec.input.model_dump(mode="json", exclude={"storage"})
    out = spec.output.model_dump(mode="json", exclude={"url", "storage"})
    return {"kind": "edit", "input": inp, "model": spec.model.model_dump(mode="json"), "resolution": plan.resolution,
            "ddim": spec.ddim.model_dump(mode="json"), "editor": spec.editor.model_dump(mode="json"),
            "score": spec.score.model_dump(mode="json"), "filters": [r.model_dump(mode="json") for r in spec.filters],
            "dedup": None if spec.dedup is None else spec.dedup.model_dump(mode="json"), "output": out,
            "seed": spec.seed}


def run_job(spec: JobSpec, address: str | None = None, progress: bool = True, restart: bool = False) -> JobResult:
    """Run (or resume) an edit job; returns counts over all committed shards of the job. An output holding samples
    made with other settings is refused; ``restart`` deletes what an earlier run wrote there first."""
    from rayedit.cluster.executor import run_plan

    start = time.time()
    if restart:
        clear_output(spec.output)
    plan = plan_job(spec)
    fp = fingerprint(plan)
    check_same_job(spec.output, fp)
    write_job_record(spec.output, fp)
    io = spec.resources.io_batch_size
    # blocks of about one io batch of decoded images, so stages overlap instead of waiting for whole shards
    return run_plan(plan, lambda: stage_plans(plan), lambda: dataset_rows(plan), len(plan.todo), address, progress,
                    start, block_bytes=io * plan.resolution**2 * 3)
