"""The v2 toy world: scenes, the per-object oracle, one-object edit tasks and the exact-target metrics."""

import itertools
import math

import numpy as np
import pytest
from scipy import ndimage

from rayedit.toy.edit_metrics import edit_metrics, summarise
from rayedit.toy.edit_tasks import EditTask, task_samples
from rayedit.toy.scene_oracle import read_scene
from rayedit.toy.scenes import BACKGROUND_KINDS, draw_scene, edited_scene_at, scene_at

HELD_OUT_SEED = 31337  # never used to train or tune anything


def _read_exactly(scene, img) -> bool:
    r = read_scene(img)
    return (r.valid and r.background == scene.background and len(r.objects) == len(scene.objects)
            and all(o.colour == g.colour and o.shape == g.shape and math.hypot(o.cx - g.cx, o.cy - g.cy) < 1.5
                    for o, g in zip(r.objects, scene.objects, strict=True)))


def test_oracle_reads_every_object_of_clean_scenes():
    scenes = [scene_at(HELD_OUT_SEED, i) for i in range(1000)]
    exact = [_read_exactly(s, img) for s, img in scenes]
    assert np.mean(exact) >= 0.99
    # the world is what it says: 1-3 objects, every background kind, distinct colours, captions left to right
    assert {len(s.objects) for s, _ in scenes} == {1, 2, 3}
    assert {s.background for s, _ in scenes} == set(BACKGROUND_KINDS)
    assert all(len({o.colour for o in s.objects}) == len(s.objects) for s, _ in scenes)
    assert all([o.cx for o in s.objects] == sorted(o.cx for o in s.objects) for s, _ in scenes)


def test_caption_names_objects_left_to_right():
    scene = next(s for s, _ in (scene_at(HELD_OUT_SEED, i) for i in range(100)) if len(s.objects) == 3)
    a, b, c = scene.objects
    assert scene.caption == (f"a {a.colour} {a.shape}, a {b.colour} {b.shape} and a {c.colour} {c.shape} "
                             f"on a {scene.background} background")


def test_scenes_are_deterministic_and_edits_keep_the_texture():
    s1, img1 = scene_at(5, 17)
    s2, img2 = scene_at(5, 17)
    assert s1 == s2 and np.array_equal(img1, img2)
    assert np.array_equal(edited_scene_at(5, 17, s1), img1)  # an unchanged scene is drawn identically
    assert not np.array_equal(draw_scene(s1), img1)  # the texture is part of the image


def test_edit_task_parsing_and_rules():
    assert EditTask.parse("red->blue") == EditTask("red", "blue")
    assert EditTask.parse("red square->circle") == EditTask("red", "circle", "square")
    assert EditTask.parse("red square->circle").replace == {"red square": "red circle"}
    for bad in ("red->red", "red->circle", "purple->blue", "red blue"):
        with pytest.raises(ValueError):
            EditTask.parse(bad)
    task = EditTask("red", "blue")
    for ts in itertools.islice(task_samples(task, HELD_OUT_SEED), 50):
        assert ts.source.find("red") is not None and ts.source.find("blue") is None
        assert ts.target.find("blue") is not None and ts.target.find("red") is None
        assert ts.target.caption == ts.source.caption.replace("red", "blue")
        assert _read_exactly(ts.target, ts.target_image)


def test_an_edit_flips_contrast_when_the_object_changes_side_of_the_backgrounds_brightness():
    from rayedit.toy.scenes import Scene, SceneObject

    def scene(background, cy=32.0):
        return Scene((SceneObject("red", "square", 32.0, cy, 8.0),), background)

    yellow, blue = EditTask.parse("red->yellow"), EditTask.parse("red->blue")
    assert yellow.flips_contrast(scene("gray"))  # red (luma 94) darker than gray (150), yellow (192) lighter
    assert not blue.flips_contrast(scene("gray")) and not yellow.flips_contrast(scene("black"))
    assert not yellow.flips_contrast(scene("white"))
    # on the top-to-bottom light-to-dark gradient it depends on where the object is
    assert not yellow.flips_contrast(scene("gradient", cy=10.0)) and yellow.flips_contrast(scene("gradient", cy=30.0))
    assert not EditTask.parse("red square->circle").flips_contrast(scene("gray"))
    before, after = blue.contrast(scene("gray"))
    assert round(before) == 94 - 150 and round(after) == 78 - 150  # luma of red, blue, gray: 94, 78, 150
    assert EditTask.parse("red square->circle").contrast(scene("gray"))[1] == before  # a reshape keeps colour


def test_target_contrast_groups_cover_every_value_once():
    from rayedit.toy.v2_judge import contrast_bin

    assert [contrast_bin(v) for v in (0, -24.9, 25, -49, 50, 99.9, 100, -230)] == \
        ["<25", "<25", "25-50", "25-50", "50-100", "50-100", ">=100", ">=100"]


@pytest.mark.parametrize("task", ["red->blue", "green square->circle"])
def test_metrics_score_the_perfect_edit_highest(task):
    task = EditTask.parse(task)
    rows = {k: [] for k in ("perfect", "shift", "blur", "unedited")}
    for ts in itertools.islice(task_samples(task, HELD_OUT_SEED), 40):
        shifted = ts.target_image.copy()
        shifted[:, 1:] = ts.target_image[:, :-1]  # everything one pixel to the right (border column kept)
        versions = {"perfect": ts.target_image, "shift": shifted, "unedited": ts.source_image,
                    "blur": ndimage.uniform_filter(ts.target_image, (3, 3, 1))}
        for k, img in versions.items():
            rows[k].append(edit_metrics(task, ts.source, ts.target, ts.target_image, img))
    perfect, shift, blur, unedited = (summarise(rows[k]) for k in ("perfect", "shift", "blur", "unedited"))
    assert perfect["psnr_median"] == math.inf and perfect["success_iou_0.9"] == 1.0
    assert perfect["target_palette_dist_median"] == 0.0 and perfect["target_iou_mean"] == 1.0
    for worse in (shift, blur):
        assert worse["psnr_median"] < 32 and worse["background_psnr_median"] < 35
        assert worse["success_iou_0.9"] < 0.5
    assert blur["success_iou_0.8"] > blur["success_iou_0.9"]
    assert unedited["target_reached"] == 0.0 and unedited["success_iou_0.8"] == 0.0
    assert unedited["background_psnr_median"] == math.inf  # nothing but the target object changed


def test_recolouring_the_wrong_object_fails():
    task = EditTask("red", "blue")
    ts = next(t for t in task_samples(task, HELD_OUT_SEED) if len(t.source.objects) >= 2)
    other = next(i for i, o in enumerate(ts.source.objects) if o.colour != "red")
    wrong = ts.source.with_object(other, colour="blue")
    m = edit_metrics(task, ts.source, ts.target, ts.target_image, edited_scene_at(HELD_OUT_SEED, ts.index, wrong))
    assert not m["target_reached"] and not m["kept_objects_read"]
    assert not m["success_iou_0.8"] and m["kept_objects_psnr"] < 20


def test_judge_reads_a_jobs_output_and_scores_it_against_the_perfect_edits(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from rayedit.toy.edit_tasks import write_scene_shards
    from rayedit.toy.v2_judge import judge_job

    # a job's output layout: the perfect edits as "edited" samples, the sources as a second job's
    for name, perfect in (("perfect", True), ("unedited", False)):
        out = tmp_path / name
        write_scene_shards(str(out / "shards" / "v2"), 6, per_shard=4, seed=HELD_OUT_SEED, task="red->blue",
                           perfect=perfect)
        keys = [f"scene{t.index:07d}" for t in itertools.islice(task_samples(EditTask.parse("red->blue"),
                                                                               HELD_OUT_SEED), 6)]
        pq.write_table(pa.table({"key": keys, "status": ["edited"] * 5 + ["failed"]}), out / "manifest.parquet")
    good, bad = judge_job(str(tmp_path / "perfect"), "red->blue", HELD_OUT_SEED), \
        judge_job(str(tmp_path / "unedited"), "red->blue", HELD_OUT_SEED)
    assert (good["samples"], good["edited"], good["failed"], good["n"]) == (6, 5, 1, 5)  # failed ones not judged
    assert good["success_iou_0.9"] == 1.0 and good["psnr_median"] == math.inf
    assert bad["target_reached"] == 0.0 and bad["kept_objects_read"] == 1.0
    # each sample in one group; each group perfect
    for name in ("by_background", "by_objects", "by_contrast", "by_target_contrast"):
        assert sum(g["n"] for g in good[name].values()) == 5
        assert all(g["success_iou_0.9"] == 1.0 for g in good[name].values())
        assert all(g["target_reached"] == 0.0 for g in bad[name].values())
    assert set(good["by_objects"]) <= {"1", "2", "3"}
    with pytest.raises(ValueError, match="does not apply"):
        judge_job(str(tmp_path / "perfect"), "red->green", HELD_OUT_SEED + 1)
