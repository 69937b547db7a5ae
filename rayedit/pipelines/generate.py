"""The generate job: prompts -> sample (actor pool) -> CLIP score -> filter -> write, then commit each shard.

Output layout and resume are the edit job's (``shards/NAME-00000.tar``, ``_manifest/``, ``_done/``,
``manifest.parquet``); ``_job.json`` records what the output was generated from, and a rerun with a spec that
would make different samples is refused instead of mixing two generations in one output.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

from rayedit import __version__
from rayedit.config import ScoreSpec, SpecError
from rayedit.config.generate import GenerateSpec
from rayedit.generation.plan import OutputShard, SampleIndex, group_rows, output_shards
from rayedit.generation.prompts import resolve_prompts
from rayedit.models.checks import check_clip
from rayedit.models.clip_source import clip_has_weights
from rayedit.models.layout import check_model, model_takes_text
from rayedit.models.presets import PRESETS
from rayedit.pipelines.edit import check_output_writable, check_shared_urls
from rayedit.pipelines.result import JobResult
from rayedit.storage.commit import committed_shards
from rayedit.storage.job_record import check_same_job, clear_output, write_job_record


@dataclass
class GeneratePlan:
    """What a generate job will make, worked out before any work starts."""

    spec: GenerateSpec
    index: SampleIndex
    shards: list[OutputShard]
    done: set[str]
    resolution: int
    fingerprint: dict
    notes: list[str] = field(default_factory=list)

    @property
    def todo(self) -> list[OutputShard]:
        """Shards without a commit marker."""
        return [s for s in self.shards if s.shard_id not in self.done]


def settings(spec: GenerateSpec) -> dict:
    """How every sample is made (written into each sample's metadata)."""
    return {"rayedit": __version__, "model": spec.model.name, **spec.sampling.model_dump(mode="json"),
            "clip": None if spec.clip is None else f"{spec.clip.model}:{spec.clip.pretrained}",
            "dedup": None if spec.dedup is None else spec.dedup.threshold}


def fingerprint(spec: GenerateSpec, prompts: list[str]) -> dict:
    """Everything that decides which samples go to which shard and what they look like."""
    digest = hashlib.sha256("\n".join(prompts).encode()).hexdigest()
    return {"kind": "generate", "name": spec.name, "prompts": len(prompts), "prompts_sha256": digest,
            "images_per_prompt": spec.images_per_prompt, "samples_per_shard": spec.samples_per_shard,
            "group_size": spec.resources.generate.batch_size, "seed": spec.seed,
            "model": spec.model.model_dump(mode="json"), "sampling": spec.sampling.model_dump(mode="json"),
            "clip": None if spec.clip is None else spec.clip.model_dump(mode="json"),
            "filters": [r.model_dump(mode="json") for r in spec.filters],
            "dedup": None if spec.dedup is None else spec.dedup.model_dump(mode="json"),
            "image_format": spec.output.image_format}


def plan_generate(spec: GenerateSpec) -> GeneratePlan:
    """Validate everything that can be checked without running: prompts, model, output, earlier runs."""
    check_shared_urls([("output.url", spec.output.url)]
                      + ([("prompts.url", spec.prompts.url)] if spec.prompts.url else []))
    if not model_takes_text(spec.model):
        raise SpecError(f"model.name {spec.model.name!r} takes no text; generation needs a text-conditioned model "
                        "(e.g. toy-text-ddpm or a Stable Diffusion checkpoint)")
    resolution, notes = check_model(spec.model)
    check_clip(spec.clip, "clip")
    prompts = resolve_prompts(spec.prompts)
    check_output_writable(spec.output)
    fp = fingerprint(spec, prompts)
    check_same_job(spec.output, fp)
    index = SampleIndex(prompts, spec.images_per_prompt)
    if spec.model.name in PRESETS:
        notes.append(f"model preset {spec.model.name!r} has random weights: a smoke run, not real images")
    if spec.clip is not None and not clip_has_weights(spec.clip.model, spec.clip.pretrained):
        notes.append(f"CLIP {spec.clip.model!r} has random weights: CLIP scores and dedup are not meaningful")
    return GeneratePlan(spec, index, output_shards(len(index), spec.samples_per_shard, spec.name),
                        committed_shards(spec.output), resolution, fp, notes)


def stage_plans(plan: GeneratePlan) -> list:
    """The job's stages with their scheduling."""
    from rayedit.cluster.adapter import StagePlan
    from rayedit.stages.filter import FilterByScores
    from rayedit.stages.write import WriteParts

    spec, res = plan.spec, plan.spec.resources
    model, sampling, seed, clip = spec.model, spec.sampling, spec.seed, spec.clip
    rules, out = spec.filters, spec.output
    prov, embeddings, io, light = settings(spec), spec.dedup is not None, res.io_batch_size, 0.25
    gen = res.generate

    colocate = clip is not None and res.score.colocated_with(gen)

    def scores():
        from rayedit.stages.score import ScoreImages

        return ScoreImages(ScoreSpec(clip=clip, lpips=None), seed=seed, embeddings=embeddings)

    def generate():  # the model stages import their classes (torch, diffusers, open_clip) on their own workers
        from rayedit.stages.generate import GenerateImages

        stage = GenerateImages(model, sampling, seed=seed)
        if colocate:  # score in the same actor: one process, one set of model imports
            from rayedit.stages.compose import Chain

            return Chain(stage, scores())
        return stage

    stages = [  # batch_size 1 on the generate stage: one planned group (= one model call) per call
        StagePlan("generate", generate, 1,
                  actors=gen.actors, num_cpus=gen.num_cpus, num_gpus=gen.num_gpus, counts_progress=True),
    ]
    if clip is not None and not colocate:
        stages.append(StagePlan("score", scores, res.score.batch_size, actors=res.score.actors,
                                num_cpus=res.score.num_cpus, num_gpus=res.score.num_gpus))
    stages += [StagePlan("filter", lambda: FilterByScores(rules), io, num_cpus=light),
               StagePlan("write", lambda: WriteParts(out, prov), io, num_cpus=light)]
    return stages


def dataset_rows(plan: GeneratePlan) -> list[dict]:
    """The unfinished shards' sample groups (one model call each): what the generate stage starts from."""
    return group_rows(plan.index, plan.todo, plan.spec.resources.generate.batch_size, plan.spec.seed)


def run_generate(spec: GenerateSpec, address: str | None = None, progress: bool = True,
                 restart: bool = False) -> JobResult:
    """Run (or resume) a generate job; returns counts over all committed shards of the job. ``restart``: delete
    what an earlier run wrote to the output first."""
    from rayedit.cluster.executor import run_plan

    start = time.time()
    if restart:
        clear_output(spec.output)
    plan = plan_generate(spec)
    write_job_record(spec.output, plan.fingerprint)
    rows = dataset_rows(plan)
    return run_plan(plan, lambda: stage_plans(plan), lambda: rows, min(len(rows), 4 * len(plan.todo) + 4), address,
                    progress, start)
