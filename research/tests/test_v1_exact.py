"""The exact-target metrics of a v1 colour-edit job against the perfect recolour of each toy image."""

import math

from rayedit.toy.generator import write_shards
from research.v1_exact import v1_edit_metrics


def test_perfect_recolours_score_exact_and_unedited_images_fail(tmp_path):
    write_shards(str(tmp_path / "perfect" / "shards" / "toy"), 8, per_shard=4, colour="red", recolour="blue")
    write_shards(str(tmp_path / "unedited" / "shards" / "toy"), 8, per_shard=4, colour="red")
    good = v1_edit_metrics(str(tmp_path / "perfect"), 0, "blue")
    bad = v1_edit_metrics(str(tmp_path / "unedited"), 0, "blue")
    assert good["n"] == 8 and good["success_iou_0.9"] == 1.0 and good["psnr_median"] == math.inf
    assert good["target_palette_dist_median"] < 10 and good["target_iou_mean"] > 0.9
    assert bad["success_iou_0.9"] == 0.0 and bad["psnr_median"] < 20 and bad["target_palette_dist_median"] > 100
