"""DDS translator: the network, its objective and schedules, artifacts, Ray Train training with resume, apply."""

import json

import pyarrow.parquet as pq
import pytest
import torch
import yaml

from rayedit.cli import main
from rayedit.config import DDSTrainSpec, ModelSpec, SpecError, parse_spec
from rayedit.diffusion.guidance import dds_gradient
from rayedit.editors.artifact_meta import task_index
from rayedit.editors.dds.apply import TranslatorEditor
from rayedit.editors.dds.objective import (
    PerImageConditions,
    TaskConditions,
    cosine_decay,
    sample_timesteps,
    translator_loss,
    warmup,
)
from rayedit.editors.dds.translator import build_translator, load_translator, save_translator
from rayedit.models.load import load_diffusion
from rayedit.pipelines.edit import plan_job
from rayedit.pipelines.train_dds import training_timesteps
from rayedit.toy.generator import write_shards


@pytest.fixture(scope="module")
def model():
    return load_diffusion(ModelSpec(name="tiny-latent"), device="cpu")


def test_schedules():
    assert [warmup(s, 1.5, 7.5, 100) for s in (0, 50, 100, 500)] == [1.5, 4.5, 7.5, 7.5]
    assert warmup(0, 1.5, 7.5, 0) == 7.5  # no warm-up: the ablation
    assert cosine_decay(0, 1.0, 0.1, 10) == 1.0 and cosine_decay(10, 1.0, 0.1, 10) == pytest.approx(0.1)
    assert cosine_decay(5, 1.0, 0.1, 10) == pytest.approx(0.55)
    assert cosine_decay(4500, 1.0, 0.1, 3000) == pytest.approx(0.1)  # held at `end` after a shorter decay
    from rayedit.config.training import IdentitySchedule

    assert IdentitySchedule().steps is None and IdentitySchedule(steps=3000).steps == 3000
    with pytest.raises(ValueError):
        IdentitySchedule(steps=0)


def test_timesteps_from_a_range_or_an_hqs_selection(tmp_path):
    gen = torch.Generator().manual_seed(0)
    assert set(sample_timesteps(200, [150, 700], gen).tolist()) == {150, 700}
    t = sample_timesteps(200, (50, 60), gen)
    assert t.min() >= 50 and t.max() <= 59
    curve = {"timesteps": [100, 300, 500, 700], "hqs": [0.1, 0.9, 0.6, 0.3], "selected": [300]}
    (tmp_path / "hqs.json").write_text(json.dumps(curve))
    base = {"images": {"url": "x/*.tar"}, "source": "a cat", "targets": ["a lion"], "output": "out"}
    spec = parse_spec(base | {"hqs": str(tmp_path / "hqs.json")}, kind=DDSTrainSpec)
    assert training_timesteps(spec) == [300]
    assert training_timesteps(spec.model_copy(update={"hqs_threshold": 0.5})) == [300, 500]
    assert training_timesteps(parse_spec(base, kind=DDSTrainSpec)) == (50, 950)
    with pytest.raises(SpecError, match="hqs_threshold: no timestep has HQS > 0.95"):
        training_timesteps(spec.model_copy(update={"hqs_threshold": 0.95}))
    with pytest.raises(SpecError, match="hqs: cannot read"):
        training_timesteps(spec.model_copy(update={"hqs": str(tmp_path / "none.json")}))


def test_workers_must_fit_a_local_cluster():
    from rayedit.config import TrainWorkers
    from rayedit.pipelines.train_dds import check_workers_fit

    check_workers_fit(TrainWorkers(workers=2, num_cpus=0.75), {"CPU": 2.0}, strict=True)
    with pytest.raises(SpecError, match=r"need 2.25 CPUs \(have 2\)"):
        check_workers_fit(TrainWorkers(workers=2, num_cpus=1), {"CPU": 2.0}, strict=True)
    with pytest.raises(SpecError, match="1 GPUs"):
        check_workers_fit(TrainWorkers(num_gpus=1), {"CPU": 8.0}, strict=True)
    check_workers_fit(TrainWorkers(num_gpus=1), {"CPU": 8.0}, strict=False)  # remote: a warning, it may scale up


def test_translator_starts_as_identity_and_roundtrips(model, tmp_path):
    tr = build_translator(model, ["a lion", "a tiger"], init="small", widths=(16, 32))
    assert torch.allclose(tr.task_tokens, model.embed_prompts(["a lion", "a tiger"]))
    assert torch.equal(tr.task_time, torch.full((2,), 500.0))
    x = torch.randn(3, 4, 16, 16)
    task = torch.tensor([0, 1, 1])
    assert torch.equal(tr(x, task), x)  # zeroed output convolution: g starts as the identity
    with torch.no_grad():
        for p in tr.unet.conv_out.parameters():
            p.normal_()
    before = tr(x, task)
    assert not torch.allclose(before[1], tr(x, torch.tensor([0, 0, 0]))[1])  # the task changes the output
    save_translator(str(tmp_path / "tr"), tr, {"targets": ["a lion", "a tiger"]})
    loaded, meta = load_translator(str(tmp_path / "tr"))
    assert meta["tasks"] == 2 and torch.allclose(loaded(x, task), before, atol=1e-6)
    copy = build_translator(model, ["a lion"], init="model")
    assert copy.unet.config.block_out_channels == model.unet.config.block_out_channels


def test_task_choice():
    assert task_index(["a lion", "a tiger"], "a tiger") == 1 and task_index(["a lion"], 0) == 0
    with pytest.raises(ValueError, match="not one of"):
        task_index(["a lion"], "a bear")
    with pytest.raises(ValueError, match="out of range"):
        task_index(["a lion"], 3)


def test_objective_gradient_is_the_dds_gradient_plus_identity(model):
    conds = TaskConditions.encode(model, ["a lion", "a tiger"], "a cat")
    z_src = torch.randn(2, 4, 16, 16)
    z = (z_src + 0.1 * torch.randn_like(z_src)).requires_grad_(True)
    task = torch.tensor([1, 0])
    loss, parts = translator_loss(model, z, z_src, conds.pairs(task), conds.uncond, 7.5, 0.5, (100, 900),
                                  torch.Generator().manual_seed(3))
    loss.backward()
    gen = torch.Generator().manual_seed(3)  # replay the same t and noise
    t = torch.randint(100, 900, (2,), generator=gen)
    noise = torch.randn(z.shape, generator=gen)
    cond = conds.targets[task]
    grad = dds_gradient(model, z.detach(), z_src, t, noise, cond, conds.source.expand_as(cond),
                        conds.uncond.expand_as(cond), 6.5)
    norm = 2000 / (16 * 16) / 2
    assert torch.allclose(z.grad, norm * (grad + 0.5 * 2 * (z.detach() - z_src)), atol=1e-5)
    assert parts["guidance_scale"] == 7.5 and parts["lambda_id"] == 0.5
    # the L1 identity pulls every pixel back with the same force lambda_ID, whatever its distance from the source
    z.grad = None
    loss, parts = translator_loss(model, z, z_src, conds.pairs(task), conds.uncond, 7.5, 0.5, (100, 900),
                                  torch.Generator().manual_seed(3), identity_norm="l1")
    loss.backward()
    assert torch.allclose(z.grad, norm * (grad + 0.5 * torch.sign(z.detach() - z_src)), atol=1e-5)
    assert parts["identity"] == pytest.approx(float((z - z_src).abs().sum()) * norm, rel=1e-5)


def test_per_image_pairs_use_each_caption_with_the_task_word_map(model):
    conds = TaskConditions.encode(model, ["a blue circle", "a green circle"], "a red circle")
    per_image = PerImageConditions(model, conds, [{"red": "blue"}, {"red": "green"}])
    caps = ["a red square on a gray background", "", "a red square on a gray background"]
    cond, source = per_image.pairs(torch.tensor([1, 0, 0]), caps)
    want = model.embed_prompts(["a green square on a gray background", "a blue square on a gray background",
                                "a red square on a gray background"])
    def same(a, b):  # batch composition moves the text encoder's output by float rounding only
        return torch.allclose(a, b, atol=1e-5)

    assert same(cond[0], want[0]) and same(cond[2], want[1])
    assert same(source[0], want[2]) and same(source[2], want[2])
    assert same(cond[1], conds.targets[0]) and same(source[1], conds.source[0])  # no caption: the task captions
    assert not same(cond[0], cond[2])


def test_translator_editor_applies_one_task(model):
    tr = build_translator(model, ["a lion", "a tiger"], widths=(16, 32))
    with torch.no_grad():
        for p in tr.unet.conv_out.parameters():
            p.normal_()
    x = torch.randn(2, 4, 16, 16)
    out = TranslatorEditor(model, tr, 1)(x, ["a cat", "a cat"])
    assert torch.allclose(out, tr(x, torch.tensor([1, 1])), atol=1e-6)


def test_a_translator_is_bound_to_its_latent_space_not_to_the_unet(model):
    import copy

    from rayedit.editors.dds.apply import check_latent_space
    from rayedit.models.errors import DirectionMismatch
    from rayedit.models.weights import latent_space_hash, model_hash

    meta = {"model_id": "tiny-latent", "model_hash": model_hash(model.unet), "latent_hash": latent_space_hash(model)}
    other_unet = copy.deepcopy(model)
    with torch.no_grad():
        next(other_unet.unet.parameters()).add_(0.01)  # a fine-tuned U-Net, the same VAE
    check_latent_space(other_unet, meta, "tr")
    with pytest.raises(DirectionMismatch, match="weights hash"):  # a translator saved before latent_hash
        check_latent_space(other_unet, {k: meta[k] for k in ("model_id", "model_hash")}, "tr")
    other_vae = copy.deepcopy(model)
    with torch.no_grad():
        next(other_vae.vae.parameters()).add_(0.01)
    with pytest.raises(DirectionMismatch, match="latent space of VAE hash"):
        check_latent_space(other_vae, meta, "tr")
    pixel = load_diffusion(ModelSpec(name="tiny"), device="cpu")
    with pytest.raises(DirectionMismatch, match="works in pixel space"):
        check_latent_space(pixel, meta, "tr")


@pytest.mark.slow
def test_train_resume_and_apply_through_the_cli(tmp_path, ray_local, capsys, monkeypatch):
    write_shards(f"{tmp_path}/in/toy", 8, per_shard=4)
    monkeypatch.chdir(tmp_path)  # a relative output lands here, not in the Ray Train worker's own directory
    train = {"source": "a red circle", "targets": ["a blue circle", "a green circle"],
             "model": {"name": "tiny-latent"}, "images": {"url": "in/toy-*.tar"}, "steps": 4,
             "batch_size": 2, "checkpoint_every": 2,
             "sample_every": 2, "widths": [16, 32], "output": "tr"}
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(train))
    assert main(["train", "dds", str(tmp_path / "train.yaml"), "--no-progress"]) == 0
    _, meta = load_translator(str(tmp_path / "tr"))
    assert [h["step"] for h in meta["history"]] == [2, 4] and meta["targets"] == train["targets"]
    assert (tmp_path / "tr" / "samples" / "step-000004.png").is_file()
    first = meta["history"]
    # rerun with more steps (and two DDP workers): resumes from the step-4 checkpoint instead of starting over
    two = ["--set", "resources.workers=2", "--set", "resources.num_cpus=0.75"]
    assert main(["train", "dds", str(tmp_path / "train.yaml"), "--set", "steps=6", *two, "--no-progress"]) == 0
    _, meta = load_translator(str(tmp_path / "tr"))
    assert [h["step"] for h in meta["history"]] == [2, 4, 6] and meta["history"][:2] == first
    assert "translator" in capsys.readouterr().out

    job = {"input": {"url": f"{tmp_path}/in/toy-*.tar"}, "model": {"name": "tiny-latent"},
           "editor": {"kind": "translator", "url": str(tmp_path / "tr"), "task": "a green circle"},
           "score": {"lpips": {"random_backbone": True}}, "output": {"url": str(tmp_path / "out")}}
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(job))
    assert main(["run", str(tmp_path / "job.yaml"), "--no-progress"]) == 0
    rows = pq.read_table(tmp_path / "out" / "manifest.parquet").to_pylist()
    assert len(rows) == 8 and {r["status"] for r in rows} == {"edited"}
    bad = parse_spec(job | {"editor": job["editor"] | {"task": "a purple circle"}})
    with pytest.raises(SpecError, match="editor.task: task 'a purple circle' is not one of"):
        plan_job(bad)
    missing = parse_spec(job | {"editor": {"kind": "translator", "url": str(tmp_path / "none")}})
    with pytest.raises(SpecError, match="holds no DDS translator"):
        plan_job(missing)
