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
    assert spec.output.image_format == "auto"
    assert [spec.output.format_for(e) for e in ("jpg", "webp", "png", "gif", "")] == ["jpg", "webp"] + ["png"] * 3


def test_unknown_field_is_named():
    msg = _err(BASE | {"ddim": {"stepz": 3}})
    assert "ddim.stepz: unknown field" in msg


def test_wrong_type_and_range_are_named():
    assert "ddim.steps" in _err(BASE | {"ddim": {"steps": "many"}})
    assert "ddim.eta" in _err(BASE | {"ddim": {"eta": 3}})
    assert "output.image_format" in _err(BASE | {"output": {"url": "/o", "image_format": "gif"}})


def test_missing_required_field():
    assert "input: required field is missing" in _err({"output": {"url": "/o"}})


def test_pairs_need_an_edit():
    assert "score-only job" in _err(BASE | {"editor": {"kind": "none"}, "output": {"url": "/o", "paired": True}})


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
    from rayedit.config.generate import GenerateSpec

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


def test_provenance_records_what_the_editor_used(tmp_path):
    import json

    from rayedit.pipelines.edit import provenance

    direction = tmp_path / "d"
    direction.mkdir()
    (direction / "direction.json").write_text(json.dumps({"strength": 0.8, "t_edit": 500, "t_boost": 200}))
    asyrp = parse_spec(BASE | {"editor": {"kind": "asyrp", "directions": [{"url": str(direction)}]},
                               "ddim": {"steps": 30, "eta": 0.5}})
    prov = provenance(asyrp)
    assert prov["editor"]["directions"][0]["strength"] == 0.8  # the validated strength, not null
    assert prov["editor"]["t_edit"] == 500 and prov["editor"]["t_boost"] == 200
    assert prov["ddim_steps"] == 30 and "eta" not in prov  # asyrp reads the grid only
    dds = provenance(parse_spec(BASE | {"editor": {"kind": "dds", "target_caption": "a lion"}}))
    assert "ddim_steps" not in dds and "spacing" not in dds and dds["editor"]["kind"] == "dds"
    plain = provenance(parse_spec(BASE | {"ddim": {"steps": 7, "eta": 0.3}}))
    assert plain["ddim_steps"] == 7 and plain["eta"] == 0.3 and plain["guidance_scale"] == 1.0


def test_near_miss_field_names_suggest_the_right_one():
    assert "input.caption_field: unknown field - did you mean 'caption_key'?" in _err(
        BASE | {"input": {"url": "/d/*.tar", "caption_field": "text"}})
    assert "did you mean 'replace'?" in _err(BASE | {"editor": {"kind": "dds", "replce": {"a": "b"}}})
    assert "did you mean" not in _err(BASE | {"zzz": 1})
