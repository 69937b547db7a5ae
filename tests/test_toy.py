"""The toy world: generator determinism and oracle accuracy on clean samples."""

import numpy as np

from rayedit.toy.generator import SHAPES, draw, sample_at, shape_mask, write_shards
from rayedit.toy.oracle import mask_iou, read_image


def test_generator_is_deterministic_and_varied():
    a = [sample_at(7, i) for i in range(50)]
    b = [sample_at(7, i) for i in range(50)]
    assert all(np.array_equal(x[1], y[1]) and x[0] == y[0] for x, y in zip(a, b, strict=True))
    assert not np.array_equal(sample_at(8, 0)[1], a[0][1])
    assert {s.shape for s, _ in a} == set(SHAPES) and len({s.colour for s, _ in a}) == 4
    assert a[0][0].caption.startswith("a ") and " on a " in a[0][0].caption


def test_oracle_reads_clean_samples():
    n, right, centre_err, ious = 1000, 0, [], []
    for i in range(n):
        truth, img = sample_at(123, i)
        r = read_image(img)
        right += r.valid and (r.colour, r.shape, r.background) == (truth.colour, truth.shape, truth.background)
        centre_err.append(np.hypot(r.cx - truth.cx, r.cy - truth.cy))
        ious.append(mask_iou(r.mask, shape_mask(truth.shape, truth.cx, truth.cy, truth.size, 32)))
    assert right / n >= 0.99, right / n
    assert np.mean(centre_err) < 1.0 and np.mean(ious) > 0.95


def test_oracle_sees_a_recolour_and_nothing_else():
    truth, img = sample_at(5, 3)
    other = next(c for c in ("red", "blue") if c != truth.colour)
    edited = draw(truth.__class__(other, truth.shape, truth.background, truth.cx, truth.cy, truth.size))
    r0, r1 = read_image(img), read_image(edited)
    assert r1.colour == other and r1.shape == r0.shape and mask_iou(r0.mask, r1.mask) > 0.9


def test_oracle_rejects_noise_and_blank():
    rng = np.random.default_rng(0)
    assert not read_image(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).valid
    assert read_image(np.full((32, 32, 3), 245, np.uint8)).reason == "no object"


def test_shards_are_valid_pipeline_input(tmp_path):
    from rayedit.config import InputSpec
    from rayedit.storage.readers import read_shard
    from rayedit.storage.shards import plan_shards

    paths = write_shards(str(tmp_path / "toy"), 25, per_shard=10)
    assert len(paths) == 3
    spec = InputSpec(url=str(tmp_path / "toy-*.tar"))
    rows = [r for s in plan_shards(spec) for r in read_shard(s, spec)]
    assert len(rows) == 25 and rows[0]["caption"] == sample_at(0, 0)[0].caption


def test_colour_filtered_shards_are_deterministic(tmp_path):
    import tarfile

    from rayedit.cli import main

    assert main(["toy", "generate", str(tmp_path / "a" / "red"), "--n", "7", "--per-shard", "4",
                 "--colour", "red", "--seed", "3"]) == 0
    write_shards(str(tmp_path / "b" / "red"), 7, per_shard=4, seed=3, colour="red")
    for name in ("red-00000.tar", "red-00001.tar"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    with tarfile.open(tmp_path / "a" / "red-00000.tar") as tar:
        captions = [tar.extractfile(m).read().decode() for m in tar.getmembers() if m.name.endswith(".txt")]
    assert len(captions) == 4 and all(c.startswith("a red ") for c in captions)
    assert main(["toy", "generate", str(tmp_path / "c" / "w"), "--n", "3", "--background", "white"]) == 0
    with tarfile.open(tmp_path / "c" / "w-00000.tar") as tar:
        captions = [tar.extractfile(m).read().decode() for m in tar.getmembers() if m.name.endswith(".txt")]
    assert len(captions) == 3 and all(c.endswith(" on a white background") for c in captions)
    assert main(["toy", "generate", str(tmp_path / "d" / "sq"), "--n", "3", "--shape", "square"]) == 0
    with tarfile.open(tmp_path / "d" / "sq-00000.tar") as tar:
        captions = [tar.extractfile(m).read().decode() for m in tar.getmembers() if m.name.endswith(".txt")]
    assert len(captions) == 3 and all(" square on a " in c for c in captions)




def test_cli_lists_the_generators_attributes():
    from rayedit.cli.toy import TOY_BACKGROUNDS, TOY_COLOURS, TOY_SHAPES
    from rayedit.toy.generator import BACKGROUNDS, COLOURS

    # cli.py repeats them so --help needs no imports; they must not drift apart
    assert (TOY_COLOURS, TOY_BACKGROUNDS, TOY_SHAPES) == (list(COLOURS), list(BACKGROUNDS), list(SHAPES))
