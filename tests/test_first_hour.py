"""What a new user hit in their first hour with their own photos and an SD-layout checkpoint: each problem is caught
before any work, with one line naming the cause (exit 2), and nothing is left behind."""

import pytest
import torch
import yaml

from rayedit.cli import main
from tests.helpers import png_bytes
from tests.test_models import _tiny_sd_folder


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        (folder / f"p{i}.jpg").write_bytes(png_bytes(seed=i))
    return folder


def _validate(tmp_path, capsys, spec: dict) -> tuple[int, str]:
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(spec))
    capsys.readouterr()  # what building the fixtures printed
    code = main(["validate", str(path)])
    return code, capsys.readouterr().err.strip()


def _job(photos, tmp_path, **extra) -> dict:
    return {"input": {"url": str(photos)}, "output": {"url": str(tmp_path / "out")},
            "score": {"clip": None, "lpips": None}} | extra


def test_resolution_must_suit_the_vae(tmp_path, photos, capsys):
    folder, _, _ = _tiny_sd_folder(tmp_path)  # VAE factor 2
    code, err = _validate(tmp_path, capsys, _job(photos, tmp_path, model={"name": str(folder), "resolution": 33}))
    assert code == 2 and "model.resolution 33 is not a multiple of 2" in err and "use 32 or 34" in err
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(_job(photos, tmp_path, model={"name": str(folder), "resolution": 64})))
    assert main(["validate", str(path)]) == 0
    assert "above the model's native 32 px" in capsys.readouterr().out


def test_a_pickled_model_file_is_refused_before_anything_runs(tmp_path, photos, capsys):
    folder, _, _ = _tiny_sd_folder(tmp_path)
    for f in (folder / "unet").glob("*.safetensors"):
        f.unlink()

    class Payload:
        def __reduce__(self):
            return (print, ("the payload ran",))

    torch.save({"w": Payload()}, folder / "unet" / "diffusion_pytorch_model.bin")
    code, err = _validate(tmp_path, capsys, _job(photos, tmp_path, model={"name": str(folder)}))
    assert code == 2 and "weights_only=True" in err and "refused" in err and len(err.splitlines()) == 1
    assert "the payload ran" not in capsys.readouterr().out


def test_a_single_checkpoint_file_gets_the_right_advice(tmp_path, photos, capsys):
    single = tmp_path / "model.safetensors"
    single.write_bytes(b"x")
    code, err = _validate(tmp_path, capsys, _job(photos, tmp_path, model={"name": str(single)}))
    assert code == 2 and "single checkpoint file" in err and "from_single_file" in err and "hf download" not in err


def test_an_unknown_hub_id_offline_leaves_no_output_folder(tmp_path, photos, capsys):
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(_job(photos, tmp_path, model={"name": "nobody/no-such-model"})))
    assert main(["run", str(path), "--no-progress"]) == 2
    assert "could not load 'nobody/no-such-model'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_an_unreachable_object_store_names_its_endpoint(tmp_path, capsys):
    job = {"input": {"url": "s3://bucket/in/*.tar", "storage": {"endpoint_url": "http://127.0.0.1:9"}},
           "output": {"url": str(tmp_path / "out")}, "score": {"clip": None, "lpips": None}}
    code, err = _validate(tmp_path, capsys, job)
    assert code == 2 and "endpoint http://127.0.0.1:9" in err and len(err.splitlines()) == 1


def test_fp16_variant_files_load(tmp_path):
    from diffusers import StableDiffusionPipeline

    from rayedit.config import ModelSpec
    from rayedit.models.load import load_diffusion

    folder, _, _ = _tiny_sd_folder(tmp_path)
    StableDiffusionPipeline.from_pretrained(folder).save_pretrained(tmp_path / "v", variant="fp16")
    assert list((tmp_path / "v" / "unet").glob("*.fp16.safetensors"))
    model = load_diffusion(ModelSpec(name=str(tmp_path / "v"), variant="fp16"), device="cpu")
    assert model.vae is not None and model.conditional


def test_default_lpips_without_its_backbone_is_skipped_with_a_note(tmp_path, photos, capsys, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump({"input": {"url": str(photos)}, "output": {"url": str(tmp_path / "out")}}))
    assert main(["validate", str(path)]) == 0
    assert "the default LPIPS-alex is skipped" in capsys.readouterr().out
    path.write_text(yaml.safe_dump({"input": {"url": str(photos)}, "output": {"url": str(tmp_path / "out")},
                                    "score": {"lpips": {"net": "alex"}}}))
    assert main(["validate", str(path)]) == 2  # asked for explicitly: it must be usable
    assert "LPIPS-alex needs torchvision's alex weights" in capsys.readouterr().err


def test_fit_keeps_the_whole_photo_and_every_sample_records_its_box():
    from PIL import Image

    from rayedit.imaging import fit_box, to_model_size

    wide = Image.new("RGB", (300, 150), (200, 10, 10))
    pixels, box = to_model_size(wide, 32, "fit")
    assert pixels.shape == (32, 32, 3) and box == [0, 0, 300, 150]
    left, top, right, bottom = fit_box(300, 150, 32)
    assert (right - left, bottom - top) == (32, 16) and (pixels[:top] == pixels[top]).all()  # edge-filled
    _, crop = to_model_size(wide, 32, "center_crop")
    assert crop == [75, 0, 225, 150]  # the middle square of the source


def test_keep_aspect_sizes_are_model_multiples_near_the_resolution_area():
    import numpy as np
    from PIL import Image

    from rayedit.image_column import image_column, size_groups, stacked
    from rayedit.imaging import aspect_size, to_model_size

    assert aspect_size(640, 480, 512, 64) == (576, 448)  # 4:3 at SD 1.5's 512 px: ~512^2 pixels, multiples of 64
    assert aspect_size(480, 640, 512, 64) == (448, 576) and aspect_size(500, 500, 512, 64) == (512, 512)
    assert aspect_size(5000, 1000, 512, 64) == (1024, 256)  # a panorama: clamped to 4:1
    pixels, box = to_model_size(Image.new("RGB", (300, 150)), 32, "keep_aspect", 4)
    assert pixels.shape == (24, 44, 3) and box == [12, 0, 288, 150]  # 44:24 of a 2:1 image: a sliver cropped
    wide, tall = np.zeros((24, 44, 3), np.uint8), np.ones((44, 24, 3), np.uint8)
    col = image_column([wide, tall, wide])
    assert col.dtype == object and [g.tolist() for g in size_groups(col, np.arange(3))] == [[0, 2], [1]]
    assert stacked(col, np.array([0, 2])).shape == (2, 24, 44, 3)
    assert image_column([np.zeros((4, 4, 3), np.uint8)] * 2).shape == (2, 4, 4, 3)  # one size: stacked


def test_training_refuses_keep_aspect():
    from rayedit.config import SpecError
    from rayedit.config.loading import parse_spec
    from rayedit.config.training import DDSTrainSpec

    with pytest.raises(SpecError, match="images.resize: keep_aspect is for edit jobs"):
        parse_spec({"source": "a cat", "targets": ["a lion"], "images": {"url": "x", "resize": "keep_aspect"},
                    "output": "tr"}, kind=DDSTrainSpec)


@pytest.mark.slow
@pytest.mark.parametrize("resize", ["fit", "keep_aspect"])
def test_a_job_writes_the_photo_s_own_aspect_ratio(tmp_path, ray_local, resize):
    import io
    import tarfile

    import pyarrow.parquet as pq
    from PIL import Image

    from rayedit.config import parse_spec
    from rayedit.pipelines.edit import run_job

    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (300, 150), (200, 10, 10)).save(photos / "wide.png")
    Image.new("RGB", (600, 300), (10, 200, 10)).save(photos / "wide2.png")
    Image.new("RGB", (90, 180), (10, 10, 200)).save(photos / "tall.png")
    raw = {"input": {"url": str(photos), "resize": resize}, "output": {"url": str(tmp_path / "out")},
           "ddim": {"steps": 2}, "score": {"clip": None, "lpips": None}}
    if resize == "keep_aspect":  # a latent model (sides multiples of 4 = VAE 2 x U-Net 2); scoring per size is
        raw |= {"model": {"name": "tiny-latent", "resolution": 64}}  # tests/test_stages.py's (no score actor here)
    spec = parse_spec(raw)
    assert run_job(spec, progress=False).counts["edited"] == 3
    rows = {r["key"]: r for r in pq.read_table(tmp_path / "out" / "manifest.parquet").to_pylist()}
    assert rows["wide"]["source_size"] == [300, 150] and rows["tall"]["source_key"] == "tall.png"
    with tarfile.open(tmp_path / "out" / "shards" / "photos-00000.tar") as tar:
        sizes = {m.name: Image.open(io.BytesIO(tar.extractfile(m).read())).size
                 for m in tar.getmembers() if m.name.endswith(".png")}
    if resize == "fit":
        assert rows["wide"]["box"] == [0, 0, 300, 150]
        assert sizes == {"tall.png": (16, 32), "wide.png": (32, 16), "wide2.png": (32, 16)}
    else:  # ~64^2 pixels in the photo's aspect ratio; the box is the part used
        assert rows["wide"]["box"] == [0, 3, 300, 147]
        assert sizes == {"tall.png": (44, 92), "wide.png": (92, 44), "wide2.png": (92, 44)}


def test_weights_load_straight_into_the_asked_dtype(monkeypatch):
    from diffusers import UNet2DConditionModel

    from rayedit.config import ModelSpec
    from rayedit.models.load import load_diffusion

    seen = []
    original = UNet2DConditionModel.from_pretrained.__func__

    def spy(cls, *args, **kwargs):
        seen.append(kwargs.get("dtype"))
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(UNet2DConditionModel, "from_pretrained", classmethod(spy))
    model = load_diffusion(ModelSpec(name="toy-text-ddpm", dtype="bfloat16"), device="cpu")
    assert seen == [torch.bfloat16] and next(model.unet.parameters()).dtype == torch.bfloat16
