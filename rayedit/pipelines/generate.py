"""The generate job: prompts -> sample (actor pool) -> CLIP score -> filter -> write, then commit each shard.

Output layout and resume are the edit job's (``shards/NAME-00000.tar``, ``_manifest/``, ``_done/``,
``manifest.parquet``); ``_job.json`` records what the output was generated from, and a rerun with a spec that
would make different samples is refused instead of mixing two generations in one output.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field

from rayedit import __version__, events
from rayedit.config import ScoreSpec, SpecError
from rayedit.generate_spec import GenerateSpec
from rayedit.generation.plan import OutputShard, SampleIndex, group_rows, output_shards
from rayedit.generation.prompts import resolve_prompts
from rayedit.models.clip import clip_has_weights
from rayedit.models.load import model_resolution, model_takes_text
from rayedit.models.presets import PRESETS
from rayedit.pipelines.edit import check_output_writable, check_shared_urls
from rayedit.pipelines.execute import JobResult, run_plan
from rayedit.storage.commit import committed_shards
from rayedit.storage.fs import filesystem, join, redact, write_atomic

JOB_FILE = "_job.json"


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


def check_same_generation(spec: GenerateSpec, fp: dict) -> None:
    """An output that already holds another generation (other prompts, seeds, settings) is refused."""
    fs = filesystem(spec.output.url, spec.output.storage)
    path = join(spec.output.url, JOB_FILE)
    if not fs.exists(path):
        return
    old = json.loads(fs.cat_file(path))
    changed = sorted(k for k in set(old) | set(fp) if old.get(k) != fp.get(k))
    if changed:
        raise SpecError(f"output {redact(spec.output.url)} holds a generation made with other settings "
                        f"(changed: {', '.join(changed)}); use a new output URL or restore those fields")


def plan_generate(spec: GenerateSpec) -> GeneratePlan:
    """Validate everything that can be checked without running: prompts, model, output, earlier runs."""
    check_shared_urls([("output.url", spec.output.url)]
                      + ([("prompts.url", spec.prompts.url)] if spec.prompts.url else []))
    if not model_takes_text(spec.model):
        raise SpecError(f"model.name {spec.model.name!r} takes no text; generation needs a text-conditioned model "
                        "(e.g. toy-text-ddpm or a Stable Diffusion checkpoint)")
    prompts = resolve_prompts(spec.prompts)
    check_output_writable(spec.output)
    fp = fingerprint(spec, prompts)
    check_same_generation(spec, fp)
    index = SampleIndex(prompts, spec.images_per_prompt)
    notes = []
    if spec.model.name in PRESETS:
        notes.append(f"model preset {spec.model.name!r} has random weights: a smoke run, not real images")
    if spec.clip is not None and not clip_has_weights(spec.clip.model, spec.clip.pretrained):
        notes.append(f"CLIP {spec.clip.model!r} has random weights: CLIP scores and dedup are not meaningful")
    return GeneratePlan(spec, index, output_shards(len(index), spec.samples_per_shard, spec.name),
                        committed_shards(spec.output), model_resolution(spec.model), fp, notes)


def stage_plans(plan: GeneratePlan) -> list:
    """The job's stages with their scheduling."""
    from rayedit.cluster.adapter import StagePlan
    from rayedit.stages.filter import FilterByScores
    from rayedit.stages.generate import GenerateImages
    from rayedit.stages.score import ScoreImages
    from rayedit.stages.write import WriteParts

    spec, res = plan.spec, plan.spec.resources
    model, sampling, seed, clip = spec.model, spec.sampling, spec.seed, spec.clip
    rules, out = spec.filters, spec.output
    prov, embeddings, io, light = settings(spec), spec.dedup is not None, res.io_batch_size, 0.25
    gen = res.generate
    stages = [  # batch_size 1 on the generate stage: one planned group (= one model call) per call
        StagePlan("generate", lambda: GenerateImages(model, sampling, seed=seed), 1,
                  actors=gen.actors, num_cpus=gen.num_cpus, num_gpus=gen.num_gpus),
    ]
    if clip is not None:
        stages.append(StagePlan("score", lambda: ScoreImages(ScoreSpec(clip=clip, lpips=None), seed=seed,
                                                             embeddings=embeddings),
                                res.score.batch_size, actors=res.score.actors, num_cpus=res.score.num_cpus,
                                num_gpus=res.score.num_gpus))
    stages += [StagePlan("filter", lambda: FilterByScores(rules), io, num_cpus=light),
               StagePlan("write", lambda: WriteParts(out, prov), io, num_cpus=light)]
    return stages


def build_dataset(plan: GeneratePlan, strict_resources: bool = True):
    """The Ray Data pipeline over the unfinished shards' sample groups."""
    import ray

    from rayedit.cluster.adapter import apply_stage
    from rayedit.pipelines.edit import check_resources

    stages = stage_plans(plan)
    for warning in check_resources(stages, ray.cluster_resources(), strict_resources):
        events.warn(f"{warning} (waiting for the cluster to scale up)")
    rows = group_rows(plan.index, plan.todo, plan.spec.resources.generate.batch_size, plan.spec.seed)
    ds = ray.data.from_items(rows, override_num_blocks=min(len(rows), 4 * len(plan.todo) + 4))
    for stage in stages:
        ds = apply_stage(ds, stage)
    return ds


def run_generate(spec: GenerateSpec, address: str | None = None, progress: bool = True) -> JobResult:
    """Run (or resume) a generate job; returns counts over all committed shards of the job."""
    start = time.time()
    plan = plan_generate(spec)
    fs = filesystem(spec.output.url, spec.output.storage)
    write_atomic(fs, join(spec.output.url, JOB_FILE), json.dumps(plan.fingerprint, indent=2).encode())
    return run_plan(plan, build_dataset, address, progress, start)
