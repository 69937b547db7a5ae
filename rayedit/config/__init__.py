"""Typed, frozen specs loaded from YAML: every bad field fails at load time with a message naming it.

One module per kind of spec: ``sections`` (what every spec shares), ``editors`` (the editor kinds), ``job`` (the
edit job), ``training``, ``generate``; ``loading`` reads YAML, applies ``--set`` overrides and writes the field
reference. ``from rayedit.config import JobSpec`` (or any spec class) is the import to use.
"""

from rayedit.config.base import JobName, SpecError, StrictSpec, check_job_name
from rayedit.config.editors import (
    AsyrpSpec,
    DirectionUse,
    EditorSpec,
    ReconstructSpec,
    ScoreDistillationSpec,
    ScoreOnlySpec,
    TranslatorSpec,
)
from rayedit.config.generate import GenerateResources, GenerateSpec, PromptSource, SamplingSpec, template_slots
from rayedit.config.job import JobSpec, ResourcesSpec
from rayedit.config.loading import (
    apply_overrides,
    credential_fields,
    load_spec,
    parse_spec,
    read_spec_file,
    spec_reference,
)
from rayedit.config.sections import (
    ClipSpec,
    DDIMSpec,
    DedupSpec,
    FilterRule,
    GuidanceResidualSpec,
    InputSpec,
    LpipsSpec,
    ModelSpec,
    OutputSpec,
    ScoreResources,
    ScoreSpec,
    StageResources,
    StorageSpec,
)
from rayedit.config.training import (
    AsyrpTrainSpec,
    DDSTrainSpec,
    GuidanceWarmup,
    HQSSelectSpec,
    IdentitySchedule,
    TrainResources,
    TrainWorkers,
)

__all__ = [
    "SpecError",
    "check_job_name",
    "JobName",
    "StrictSpec",
    "StorageSpec",
    "InputSpec",
    "ModelSpec",
    "DDIMSpec",
    "ClipSpec",
    "LpipsSpec",
    "GuidanceResidualSpec",
    "ScoreSpec",
    "FilterRule",
    "OutputSpec",
    "DedupSpec",
    "StageResources",
    "ScoreResources",
    "ReconstructSpec",
    "DirectionUse",
    "AsyrpSpec",
    "ScoreDistillationSpec",
    "ScoreOnlySpec",
    "TranslatorSpec",
    "EditorSpec",
    "ResourcesSpec",
    "JobSpec",
    "TrainResources",
    "AsyrpTrainSpec",
    "GuidanceWarmup",
    "IdentitySchedule",
    "TrainWorkers",
    "DDSTrainSpec",
    "HQSSelectSpec",
    "template_slots",
    "PromptSource",
    "SamplingSpec",
    "GenerateResources",
    "GenerateSpec",
    "apply_overrides",
    "parse_spec",
    "credential_fields",
    "read_spec_file",
    "load_spec",
    "spec_reference",
]
