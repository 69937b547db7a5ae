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


def test_spread_sees_collapse():
    from rayedit.toy.edit_eval import images_of_colour, spread

    imgs, caps = images_of_colour("red", 6)
    assert len(caps) == 6 and all("red" in c for c in caps)
    assert spread(imgs) > 10 and spread(np.repeat(imgs[:1], 6, axis=0)) == 0.0


def test_hue_statistics_wrap_around_red():
    from rayedit.toy.edit_eval import circular_mean, hue_shift

    assert min(circular_mean([350.0, 10.0]), 360 - circular_mean([350.0, 10.0])) < 1e-6  # red, not cyan (180)
    assert abs(circular_mean([230.0, 250.0]) - 240.0) < 1e-6
    assert hue_shift(0.0, 240.0) == -120.0 and hue_shift(350.0, 10.0) == 20.0 and hue_shift(10.0, 350.0) == -20.0


def test_success_by_background_counts_each_background():
    from rayedit.toy.edit_eval import success_by_background

    picked = [sample_at(11, i) for i in range(40)]
    src = np.stack([img for _, img in picked])
    blue = np.stack([draw(t.__class__("blue" if t.colour != "blue" else "red", t.shape, t.background, t.cx, t.cy,
                                      t.size)) for t, _ in picked])
    wanted = [t.colour != "blue" for t, _ in picked]  # the redraw reached blue for these
    by_bg = success_by_background(src, blue, "blue")
    assert set(by_bg) == {t.background for t, _ in picked} and sum(v["n"] for v in by_bg.values()) == 40
    for bg, v in by_bg.items():
        share = np.mean([w for (t, _), w in zip(picked, wanted, strict=True) if t.background == bg])
        assert v["reached"] == v["success"] == share  # a perfect recolour keeps shape, background and mask
    unchanged = success_by_background(src, src, "blue")  # only the images that were blue already count
    for bg, v in unchanged.items():
        assert v["success"] == np.mean([t.colour == "blue" for t, _ in picked if t.background == bg]) < 1


def test_recoloured_share_sees_leftover_source_colour():
    from rayedit.toy.edit_eval import recoloured_share

    truth, img = next((t, i) for t, i in (sample_at(13, k) for k in range(50)) if t.colour == "red")
    blue = draw(truth.__class__("blue", truth.shape, truth.background, truth.cx, truth.cy, truth.size))
    assert recoloured_share(img, blue, "blue") == 1.0 and recoloured_share(img, img, "blue") == 0.0
    mask = read_image(img).mask
    half = blue.copy()
    rows = np.nonzero(mask.any(1))[0]
    half[rows[: len(rows) // 2]] = img[rows[: len(rows) // 2]]  # top half of the object stays red
    share = recoloured_share(img, half, "blue")
    assert 0.2 < share < 0.8


def test_colour_edit_evaluation_of_the_identity_edit():
    from rayedit.toy.edit_eval import evaluate_edit

    def identity(x0, captions):
        return x0

    kept = evaluate_edit(identity, "red", "red", n=8, batch=4)
    assert kept["n"] == 8 and kept["target_colour_reached"] == kept["preserved_share_of_successes"] == 1.0
    assert kept["recoloured_share_mean"] == 1.0 and sum(v["n"] for v in kept["by_background"].values()) == 8
    assert all(v["success"] == 1.0 for v in kept["by_background"].values())
    missed = evaluate_edit(identity, "red", "blue", n=8, batch=4)
    assert missed["target_colour_reached"] == 0.0 and missed["recoloured_share_mean"] == 0.0
    assert all(v["reached"] == v["success"] == 0.0 for v in missed["by_background"].values())


def test_two_attribute_edit_needs_both_targets_and_the_shape():
    from itertools import islice

    from rayedit.stages.model_output import to_model_range, to_uint8
    from rayedit.toy.edit_eval import evaluate_edit, images_of_colour
    from rayedit.toy.evaluate import HELD_OUT_SEED
    from rayedit.toy.generator import samples

    imgs, caps = images_of_colour("red", 5, background="white")
    assert all(c.startswith("a red ") and c.endswith("on a white background") for c in caps)
    truths = {img.tobytes(): t for _, t, img in islice(samples(HELD_OUT_SEED, "red", background="white"), 20)}

    def redraw(colour, background):
        def edit(x0, captions):  # the exact edit: the same object, redrawn with the asked attributes
            out = []
            for img in to_uint8(x0):
                t = truths[img.tobytes()]
                out.append(draw(t.__class__(colour or t.colour, t.shape, background or t.background, t.cx, t.cy,
                                            t.size)))
            return to_model_range(np.stack(out))
        return edit

    both = evaluate_edit(redraw("blue", "black"), "red", "blue", n=6, batch=3, source_background="white",
                         target_background="black")
    assert both["both_targets_reached"] == both["preserved_share_of_successes"] == 1.0
    assert both["shape_kept_background_reached"] == 1.0 and "by_background" not in both
    colour_only = evaluate_edit(redraw("blue", None), "red", "blue", n=6, batch=3, source_background="white",
                                target_background="black")
    assert colour_only["target_colour_reached"] == 1.0 and colour_only["target_background_reached"] == 0.0
    assert colour_only["both_targets_reached"] == colour_only["preserved_share_of_successes"] == 0.0


def test_shape_edit_needs_both_targets_and_the_object_in_place():
    from itertools import islice

    from rayedit.stages.model_output import to_model_range, to_uint8
    from rayedit.toy.edit_eval import evaluate_edit, images_of_colour
    from rayedit.toy.evaluate import HELD_OUT_SEED
    from rayedit.toy.generator import samples

    imgs, caps = images_of_colour("red", 4, shape="square")
    assert all(c.startswith("a red square on a ") for c in caps)
    truths = {img.tobytes(): t for _, t, img in islice(samples(HELD_OUT_SEED, "red", shape="square"), 12)}

    def redraw(colour, shape, dx=0.0):
        def edit(x0, captions):  # the exact edit: the same object, redrawn with the asked attributes, moved by dx
            out = []
            for img in to_uint8(x0):
                t = truths[img.tobytes()]
                cx = t.cx + dx if t.cx + dx < 26 else t.cx - dx
                out.append(draw(t.__class__(colour, shape or t.shape, t.background, cx, t.cy, t.size)))
            return to_model_range(np.stack(out))
        return edit

    kw = {"n": 6, "batch": 3, "source_shape": "square", "target_shape": "circle"}
    both = evaluate_edit(redraw("blue", "circle"), "red", "blue", **kw)
    assert both["both_targets_reached"] == both["preserved_share_of_successes"] == 1.0
    assert both["target_shape_reached"] == both["shape_reached_background_kept"] == 1.0
    assert both["iou_ge_0.8_share"] < 1.0  # why a shape edit is judged by its centre, not its mask
    colour_only = evaluate_edit(redraw("blue", None), "red", "blue", **kw)
    assert colour_only["target_colour_reached"] == 1.0 and colour_only["target_shape_reached"] == 0.0
    assert colour_only["both_targets_reached"] == colour_only["preserved_share_of_successes"] == 0.0
    moved = evaluate_edit(redraw("blue", "circle", dx=4.0), "red", "blue", **kw)
    assert moved["both_targets_reached"] == 1.0 and moved["preserved_share_of_successes"] == 0.0


def test_eval_edit_rejects_a_second_target_without_its_source(capsys):
    from rayedit.cli import main

    assert main(["toy", "eval-edit", "--direction", "/a", "--target-shape", "circle"]) == 2
    assert "--target-shape needs --source-shape" in capsys.readouterr().err
    assert main(["toy", "eval-edit", "--direction", "/a", "--source-shape", "square", "--target-shape", "circle",
                 "--source-background", "white", "--target-background", "black"]) == 2
    assert "not both" in capsys.readouterr().err


def test_eval_edit_rejects_bad_strengths_before_loading_anything(capsys):
    from rayedit.cli import main

    # the direction does not exist: a strengths error proves they are checked before it is read
    assert main(["toy", "eval-edit", "--direction", "/nonexistent", "--strengths", "1,x"]) == 2
    assert "--strengths '1,x': not a number" in capsys.readouterr().err
    assert main(["toy", "eval-edit", "--direction", "/a", "/b", "--strengths", "1", "1,2,3"]) == 2
    assert "one value or one per direction (2)" in capsys.readouterr().err


def test_cli_lists_the_generators_attributes():
    from rayedit.cli import TOY_BACKGROUNDS, TOY_COLOURS, TOY_SHAPES
    from rayedit.toy.generator import BACKGROUNDS, COLOURS

    # cli.py repeats them so --help needs no imports; they must not drift apart
    assert (TOY_COLOURS, TOY_BACKGROUNDS, TOY_SHAPES) == (list(COLOURS), list(BACKGROUNDS), list(SHAPES))
