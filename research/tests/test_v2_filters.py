"""ROC AUC of a finished job's scores against the exact-target verdict of its edits on v2 scenes."""

import itertools
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rayedit.toy.edit_tasks import EditTask, task_samples, write_scene_shards
from research.v2_filters import filter_report, scores_and_verdicts

SEED = 31338


def test_scores_from_the_manifest_are_judged_against_the_perfect_edits(tmp_path):
    # scenes 0-2 of the task edited perfectly, 3-5 left unedited (failures): a job output in rayedit's layout
    out = tmp_path / "job"
    write_scene_shards(str(out / "shards" / "v2"), 6, per_shard=3, seed=SEED, task="red->blue", perfect=True)
    write_scene_shards(str(tmp_path / "src" / "v2"), 6, per_shard=3, seed=SEED, task="red->blue", perfect=False)
    shutil.copy(tmp_path / "src" / "v2-00001.tar", out / "shards" / "v2-00001.tar")
    keys = [f"scene{t.index:07d}" for t in itertools.islice(task_samples(EditTask.parse("red->blue"), SEED), 6)]
    marks = [0.9, 0.8, 0.7, 0.2, 0.1, 0.75]  # high marks success, but one failure (0.75) outranks a success (0.7)
    scores = [[("good", m), ("flat", 1.0)] for m in marks]
    pq.write_table(pa.table({"key": keys, "status": ["edited"] * 6, "scores": pa.array(
        scores, type=pa.map_(pa.string(), pa.float64()))}), out / "manifest.parquet")

    values, labels = scores_and_verdicts(str(out), "red->blue", SEED)
    assert labels.tolist() == [True, True, True, False, False, False]
    report = filter_report(values, labels)
    assert report["success_share"] == 0.5
    assert report["scores"]["good"]["roc_auc"] == pytest.approx(8 / 9)  # 8 of 9 (success, failure) pairs in order
    assert report["scores"]["flat"]["roc_auc"] == 0.5  # a constant separates nothing and joins no filter
    assert report["combined"]["filters"] == [report["combined"]["filters"][0]] and \
        report["combined"]["filters"][0]["score"] == "good"
    assert np.isfinite(report["scores"]["good"]["mean_success"])

    pq.write_table(pa.table({"key": keys, "status": ["edited"] * 6, "scores": pa.array(
        [[]] * 6, type=pa.map_(pa.string(), pa.float64()))}), out / "manifest.parquet")
    with pytest.raises(ValueError, match="no edited sample carries scores"):
        scores_and_verdicts(str(out), "red->blue", SEED)
