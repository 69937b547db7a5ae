"""Asyrp end to end: `rayedit train asyrp` -> a direction artifact -> `rayedit run` with `editor: asyrp`."""

import pyarrow.parquet as pq
import pytest
import yaml

from rayedit.cli import main
from rayedit.config import AsyrpTrainSpec, InputSpec, SpecError, parse_spec
from rayedit.editors.asyrp.artifact import load_direction
from rayedit.editors.asyrp.strength import STRENGTHS
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


def test_a_latent_model_trains_through_its_decoder(tmp_path):
    """Asyrp on a latent U-Net's h-space: CLIP reads the decoded P_t (gradients through the frozen VAE decoder);
    the intervals come from LPIPS curves on decoded images."""
    import torch

    write_shards(f"{tmp_path}/in/toy", 2, per_shard=2)
    raw = _train_spec(tmp_path, model={"name": "tiny-latent"}, t_edit=None, t_boost=None, curve_images=2,
                      lpips={"random_backbone": True}, max_images=2)
    meta = train_asyrp_local(parse_spec(raw, kind=AsyrpTrainSpec), progress=False)
    f, _ = load_direction(str(tmp_path / "direction"))
    assert meta["loss"] == "clip+recon" and meta["t_edit"] in meta["timesteps"] and meta["model_id"] == "tiny-latent"
    curves = meta["interval_curves"]
    assert all(0 <= v for v in curves["lpips_x_predicted_x0"] + curves["lpips_x_noisy"])
    assert curves["lpips_x_noisy"][-1] > curves["lpips_x_noisy"][0]  # pixel noise grows with t
    assert any(p.abs().sum() > 0 for p in f.parameters()) and all(torch.isfinite(p).all() for p in f.parameters())


def test_paired_seeing_direction_trains_saves_and_applies(tmp_path, ray_local, capsys):
    """Paired targets from `toy generate --recolour`, f_t of arch 'seeing', dh only on [t_edit, t_max]."""
    write_shards(f"{tmp_path}/in/toy", 5, per_shard=5, colour="red")
    write_shards(f"{tmp_path}/pairs/toy", 5, per_shard=5, colour="red", recolour="blue")
    raw = _train_spec(tmp_path, paired_targets={"url": f"{tmp_path}/pairs/toy-*.tar"}, arch="seeing", steps=6,
                      t_edit=300, t_max=700, zero_init=True, optimizer="adam", lr=1e-3, epochs=2,
                      lr_schedule="cosine", paired_change_threshold=0.2, paired_reverse=True,
                      paired_project_t=300, paired_validation=1)
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(raw))
    assert main(["train", "asyrp", str(tmp_path / "train.yaml"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "final losses: pair " in out and "pairs: 3 used, 0 sources without a target skipped; " in out
    assert "also trained back" in out and "chosen on 1 held-out pairs" in out
    f, meta = load_direction(str(tmp_path / "direction"))
    assert meta["loss"] == "paired" and meta["arch"] == "seeing" and meta["paired_targets"].endswith("toy-*.tar")
    assert meta["unpaired_images_skipped"] == 0 and meta["reverse_pairs"] is True
    assert 0 < meta["paired_changed_share"] <= 1 and meta["settings"]["paired_project_t"] == 300
    assert meta["edit_timesteps"] == [599, 399] and meta["t_max"] == 700  # 999 and 799 are above t_max
    checked = meta["strength_validation"]  # the 4th pair was held out, its error measured at every strength
    assert checked["pairs"] == 1 and meta["images"] == 3 and [float(c) for c in checked["mse_by_strength"]] == list(
        STRENGTHS)
    assert meta["strength"] == min(STRENGTHS, key=lambda c: checked["mse_by_strength"][str(c)])
    pair_losses = [c for c, _ in meta["history"]]
    assert len(pair_losses) == 2 * 4 * 2 and all(v > 0 for v in pair_losses)  # 2 epochs x (2 + 2 back) x 2 steps
    assert f.arch == "seeing" and f.conv_out.weight.abs().sum() > 0  # trained away from the zero init

    job = {"input": {"url": f"{tmp_path}/in/toy-*.tar"}, "model": {"name": "tiny"}, "ddim": {"steps": 6},
           "editor": {"kind": "asyrp", "directions": [{"url": str(tmp_path / "direction")}]},
           "score": {"lpips": {"random_backbone": True}}, "output": {"url": str(tmp_path / "out")}}
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(job))
    assert main(["run", str(tmp_path / "job.yaml"), "--no-progress"]) == 0
    rows = pq.read_table(tmp_path / "out" / "manifest.parquet").to_pylist()
    assert len(rows) == 5 and {r["status"] for r in rows} == {"edited"}


def test_pairs_are_matched_by_key_and_unpaired_sources_are_counted(tmp_path):
    from rayedit.pipelines.train_asyrp import read_pairs
    from rayedit.toy.oracle import read_image

    write_shards(f"{tmp_path}/in/toy", 4, per_shard=2, colour="red")
    write_shards(f"{tmp_path}/pairs/toy", 3, per_shard=3, colour="red", recolour="blue")  # the 4th has no target
    src, tgt, unpaired = read_pairs(InputSpec(url=f"{tmp_path}/in/toy-*.tar"),
                                    InputSpec(url=f"{tmp_path}/pairs/toy-*.tar"), 32, 10)
    assert src.shape == tgt.shape == (3, 32, 32, 3) and unpaired == 1
    for a, b in zip(src, tgt, strict=True):
        ra, rb = read_image(a), read_image(b)
        assert (ra.colour, rb.colour) == ("red", "blue") and (ra.mask == rb.mask).all()
    write_shards(f"{tmp_path}/other/toy", 2, per_shard=2, seed=9)
    with pytest.raises(SpecError, match="has a decodable image under the same key"):
        read_pairs(InputSpec(url=f"{tmp_path}/in/toy-*.tar"), InputSpec(url=f"{tmp_path}/other/toy-*.tar"), 32, 10)


def test_only_the_targets_of_the_sources_taken_are_decoded(tmp_path, monkeypatch):
    from rayedit.pipelines.train_asyrp import read_pairs
    from rayedit.stages import decode

    write_shards(f"{tmp_path}/in/toy", 4, per_shard=2, colour="red")
    write_shards(f"{tmp_path}/pairs/toy", 6, per_shard=6, colour="red", recolour="blue")
    decoded = []
    real = decode.decode_image
    monkeypatch.setattr(decode, "decode_image", lambda data, *a, **k: decoded.append(1) or real(data, *a, **k))
    src, tgt, unpaired = read_pairs(InputSpec(url=f"{tmp_path}/in/toy-*.tar"),
                                    InputSpec(url=f"{tmp_path}/pairs/toy-*.tar"), 32, 2)
    assert len(src) == len(tgt) == 2 and unpaired == 0
    assert len(decoded) == 4 + 2  # both source shards (read a shard at a time), but 2 of the 6 targets


def test_paired_targets_need_images_and_exclude_reverse_training(tmp_path):
    pairs = {"url": f"{tmp_path}/pairs/toy-*.tar"}
    with pytest.raises(SpecError, match="paired_targets needs images"):
        parse_spec(_train_spec(tmp_path, images=None, paired_targets=pairs), kind=AsyrpTrainSpec)
    with pytest.raises(SpecError, match="excludes target_images"):
        parse_spec(_train_spec(tmp_path, paired_targets=pairs, target_images=pairs), kind=AsyrpTrainSpec)
    with pytest.raises(SpecError, match="paired_change_threshold needs paired_targets"):
        parse_spec(_train_spec(tmp_path, paired_change_threshold=0.2), kind=AsyrpTrainSpec)
    with pytest.raises(SpecError, match="paired_project_t needs paired_targets"):
        parse_spec(_train_spec(tmp_path, paired_project_t=200), kind=AsyrpTrainSpec)
    with pytest.raises(SpecError, match="paired_validation needs paired_targets"):
        parse_spec(_train_spec(tmp_path, paired_validation=2), kind=AsyrpTrainSpec)
    with pytest.raises(SpecError, match=r"paired_validation \(4\) must leave training pairs"):
        parse_spec(_train_spec(tmp_path, paired_targets=pairs, paired_validation=4), kind=AsyrpTrainSpec)
    with pytest.raises(SpecError, match="paired_reverse needs paired_targets"):
        parse_spec(_train_spec(tmp_path, paired_reverse=True), kind=AsyrpTrainSpec)
    with pytest.raises(SpecError, match=r"t_max \(400\) is below t_edit \(500\)"):
        parse_spec(_train_spec(tmp_path, t_max=400), kind=AsyrpTrainSpec)
