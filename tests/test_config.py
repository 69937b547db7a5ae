"""Job spec validation: every bad field names itself."""

from pathlib import Path

import pytest
import yaml

from rayedit.config import SpecError, apply_overrides, load_spec, parse_spec

BASE = {"input": {"url": "/data/*.tar"}, "output": {"url": "/out"}}


def _err(data) -> str:
    with pytest.raises(SpecError) as exc:
        parse_spec(data, "job.yaml")
    return str(exc.value)


def test_minimal_spec_has_sane_defaults():
    spec = parse_spec(BASE)
    assert spec.model.name == "tiny" and spec.ddim.steps == 40 and spec.ddim.eta == 0.0
    assert spec.output.image_format == "png"


def test_unknown_field_is_named():
    msg = _err(BASE | {"ddim": {"stepz": 3}})
    assert "ddim.stepz: unknown field" in msg


def test_wrong_type_and_range_are_named():
    assert "ddim.steps" in _err(BASE | {"ddim": {"steps": "many"}})
    assert "ddim.eta" in _err(BASE | {"ddim": {"eta": 3}})
    assert "output.image_format" in _err(BASE | {"output": {"url": "/o", "image_format": "gif"}})


def test_missing_required_field():
    assert "input: required field is missing" in _err({"output": {"url": "/o"}})


def test_filter_needs_a_bound():
    assert "needs min or max" in _err(BASE | {"filters": [{"score": "clip_score"}]})


def test_secrets_are_not_printed(tmp_path):
    spec = parse_spec(BASE | {"output": {"url": "s3://b/o", "storage": {"key": "AKIAXXX", "secret": "sup3rs3cret"}}})
    assert "sup3rs3cret" not in repr(spec) and "sup3rs3cret" not in str(spec.model_dump())
    assert spec.output.storage.fsspec_options("s3")["secret"] == "sup3rs3cret"


def test_overrides_and_yaml_errors(tmp_path):
    data = apply_overrides({"ddim": {"steps": 40}}, ["ddim.steps=7", "model.name=tiny-latent"])
    assert data == {"ddim": {"steps": 7}, "model": {"name": "tiny-latent"}}
    with pytest.raises(SpecError, match="a.b.c=value"):
        apply_overrides({}, ["nonsense"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: [unclosed")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(bad)
    with pytest.raises(SpecError, match="not found"):
        load_spec(tmp_path / "missing.yaml")


@pytest.mark.parametrize("path", sorted(Path(__file__).resolve().parent.parent.glob("examples/*.yaml")),
                         ids=lambda p: p.name)
def test_every_example_spec_is_valid(path):
    from rayedit.config import AsyrpTrainSpec, DDSTrainSpec, HQSSelectSpec, JobSpec, load_spec
    from rayedit.generate_spec import GenerateSpec

    if "input" in yaml.safe_load(path.read_text()):
        load_spec(path, kind=JobSpec)
        return
    if "prompts" in yaml.safe_load(path.read_text()):
        load_spec(path, kind=GenerateSpec)
        return
    errors = []
    for kind in (AsyrpTrainSpec, DDSTrainSpec, HQSSelectSpec):  # a training / selection spec: one kind must fit
        try:
            load_spec(path, kind=kind)
            return
        except SpecError as err:
            errors.append(str(err))
    pytest.fail("\n".join(errors))
