"""Asyrp end to end: `rayedit train asyrp` -> a direction artifact -> `rayedit run` with `editor: asyrp`."""

import pyarrow.parquet as pq
import pytest
import yaml

from rayedit.cli import main
from rayedit.config import AsyrpTrainSpec, SpecError, parse_spec
from rayedit.editors.asyrp.artifact import load_direction
from rayedit.pipelines.edit import plan_job
from rayedit.pipelines.train_asyrp import train_asyrp_local
from rayedit.toy.generator import write_shards

pytestmark = pytest.mark.slow


def _train_spec(tmp_path, **extra) -> dict:
    raw = {"source": "a red circle", "target": "a blue circle", "model": {"name": "tiny"}, "clip": {"model": "tiny"},
           "images": {"url": f"{tmp_path}/in/toy-*.tar"}, "max_images": 4, "steps": 4, "t_edit": 500, "t_boost": 200,
           "batch_size": 2, "output": str(tmp_path / "direction")}
    raw.update(extra)
    return raw


def test_train_then_apply_through_the_cli(tmp_path, ray_local, capsys):
    write_shards(f"{tmp_path}/in/toy", 6, per_shard=3)
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(_train_spec(tmp_path)))
    assert main(["train", "asyrp", str(tmp_path / "train.yaml"), "--no-progress"]) == 0
    assert "saved to" in capsys.readouterr().out
    f, meta = load_direction(str(tmp_path / "direction"))
    assert (meta["t_edit"], meta["t_boost"], meta["images"], meta["steps"]) == (500, 200, 4, 4)
    assert meta["edit_timesteps"] == [999, 666] and meta["model_id"] == "tiny"
    assert meta["mean_dh_timesteps"] == [999, 666] and f.mean_dh.shape[:2] == (2, f.channels)  # for mode: mean

    job = {"input": {"url": f"{tmp_path}/in/toy-*.tar"}, "model": {"name": "tiny"}, "ddim": {"steps": 4},
           "editor": {"kind": "asyrp", "directions": [{"url": str(tmp_path / "direction"), "strength": 0.5}]},
           "score": {"lpips": {"random_backbone": True}}, "output": {"url": str(tmp_path / "out")},
           "resources": {"edit": {"batch_size": 3}}}
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(job))
    assert main(["run", str(tmp_path / "job.yaml"), "--no-progress"]) == 0
    rows = pq.read_table(tmp_path / "out" / "manifest.parquet").to_pylist()
    assert len(rows) == 6 and {r["status"] for r in rows} == {"edited"}


def test_missing_direction_fails_before_work(tmp_path):
    write_shards(f"{tmp_path}/in/toy", 2, per_shard=2)
    spec = parse_spec({"input": {"url": f"{tmp_path}/in/toy-*.tar"}, "output": {"url": str(tmp_path / "out")},
                       "editor": {"kind": "asyrp", "directions": [{"url": str(tmp_path / "none")}]}})
    with pytest.raises(SpecError, match=r"editor.directions\[0\].url .* holds no Asyrp direction"):
        plan_job(spec)


def test_noise_mode_and_lpips_intervals(tmp_path):
    raw = _train_spec(tmp_path, images=None, t_edit=None, t_boost=None, curve_images=2,
                      lpips={"random_backbone": True})
    meta = train_asyrp_local(parse_spec(raw, kind=AsyrpTrainSpec), progress=False)
    assert meta["training_images"] == "random noise" and meta["images"] == 4
    assert meta["t_edit"] in meta["timesteps"] and meta["t_boost"] in meta["timesteps"]
    assert meta["interval_curves"]["lpips_random_backbone"] is True


def test_target_images_are_read_and_recorded(tmp_path):
    write_shards(f"{tmp_path}/in/toy", 4, per_shard=4)
    write_shards(f"{tmp_path}/tgt/toy", 3, per_shard=3, seed=1)
    raw = _train_spec(tmp_path, target_images={"url": f"{tmp_path}/tgt/toy-*.tar"})
    meta = train_asyrp_local(parse_spec(raw, kind=AsyrpTrainSpec), progress=False)
    assert meta["reverse_images"].endswith("tgt/toy-*.tar") and (meta["images"], meta["target_images"]) == (4, 3)
    assert len(meta["history"]) == (2 + 2) * len(meta["edit_timesteps"])  # 2 source + 2 target batches of <= 2


def test_caption_lists_must_pair(tmp_path):
    with pytest.raises(SpecError, match="source has 2 captions but target has 1"):
        parse_spec(_train_spec(tmp_path, source=["a", "b"], target=["c"]), kind=AsyrpTrainSpec)


def test_training_rejects_latent_models(tmp_path):
    write_shards(f"{tmp_path}/in/toy", 2, per_shard=2)
    spec = parse_spec(_train_spec(tmp_path, model={"name": "tiny-latent"}), kind=AsyrpTrainSpec)
    with pytest.raises(SpecError, match="latent model .* needs a pixel-space U-Net"):
        train_asyrp_local(spec, progress=False)
