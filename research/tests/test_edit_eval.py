"""The research evaluations of colour, two-attribute and shape edits (research.edit_eval) and their CLI."""

import numpy as np

from rayedit.toy.generator import draw, sample_at
from rayedit.toy.oracle import read_image


def test_spread_sees_collapse():
    from research.edit_eval import images_of_colour, spread

    imgs, caps = images_of_colour("red", 6)
    assert len(caps) == 6 and all("red" in c for c in caps)
    assert spread(imgs) > 10 and spread(np.repeat(imgs[:1], 6, axis=0)) == 0.0


def test_hue_statistics_wrap_around_red():
    from research.edit_eval import circular_mean, hue_shift

    assert min(circular_mean([350.0, 10.0]), 360 - circular_mean([350.0, 10.0])) < 1e-6  # red, not cyan (180)
    assert abs(circular_mean([230.0, 250.0]) - 240.0) < 1e-6
    assert hue_shift(0.0, 240.0) == -120.0 and hue_shift(350.0, 10.0) == 20.0 and hue_shift(10.0, 350.0) == -20.0


def test_success_by_background_counts_each_background():
    from research.edit_eval import success_by_background

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
    from research.edit_eval import recoloured_share

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
    from research.edit_eval import evaluate_edit

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
    from rayedit.toy.generator import samples
    from research.edit_eval import evaluate_edit, images_of_colour
    from research.evaluate import HELD_OUT_SEED

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
    from rayedit.toy.generator import samples
    from research.edit_eval import evaluate_edit, images_of_colour
    from research.evaluate import HELD_OUT_SEED

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
    from research.cli import main

    assert main(["eval-edit", "--direction", "/a", "--target-shape", "circle"]) == 2
    assert "--target-shape needs --source-shape" in capsys.readouterr().err
    assert main(["eval-edit", "--direction", "/a", "--source-shape", "square", "--target-shape", "circle",
                 "--source-background", "white", "--target-background", "black"]) == 2
    assert "not both" in capsys.readouterr().err


def test_eval_edit_rejects_bad_strengths_before_loading_anything(capsys):
    from research.cli import main

    # the direction does not exist: a strengths error proves they are checked before it is read
    assert main(["eval-edit", "--direction", "/nonexistent", "--strengths", "1,x"]) == 2
    assert "--strengths '1,x': not a number" in capsys.readouterr().err
    assert main(["eval-edit", "--direction", "/a", "/b", "--strengths", "1", "1,2,3"]) == 2
    assert "one value or one per direction (2)" in capsys.readouterr().err
