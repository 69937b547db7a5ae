"""Reading shards: grouping, captions, and every kind of bad input becoming a failure row."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rayedit.config import InputSpec, SpecError
from rayedit.storage.readers import read_shard
from rayedit.storage.shards import plan_shards
from tests.helpers import png_bytes, sample_members, tar_bytes


def _read(url, **kw):
    spec = InputSpec(url=url, **kw)
    out = []
    for shard in plan_shards(spec):
        out.extend(read_shard(shard, spec))
    return out


def test_tar_groups_members_and_reads_captions(tmp_path):
    caption = json.dumps({"caption": "cap"}).encode()
    members = sample_members("a", 2) + [("b000.jpg.png", png_bytes()), ("b000.json", caption)]
    (tmp_path / "s.tar").write_bytes(tar_bytes(members))
    rows = _read(str(tmp_path / "s.tar"))
    assert [r["key"] for r in rows] == ["a000", "a001", "b000"]
    assert [r["caption"] for r in rows] == ["a photo", "a photo", "cap"]
    assert all(r["status"] == "ok" for r in rows) and [r["index"] for r in rows] == [0, 1, 2]


def test_unsafe_and_imageless_members_fail_with_reasons(tmp_path):
    members = sample_members("a", 1) + [("../evil.png", png_bytes()), ("/abs.png", png_bytes()),
                                        ("notes.txt", b"hello")]
    (tmp_path / "s.tar").write_bytes(tar_bytes(members, link=("lnk.png", "/etc/passwd")))
    rows = {r["key"]: r for r in _read(str(tmp_path / "s.tar"))}
    assert rows["a000"]["status"] == "ok"
    assert "path traversal" in rows["evil.png"]["reason"]
    assert "absolute path" in rows["abs.png"]["reason"]
    assert "links are not allowed" in rows["lnk.png"]["reason"]
    assert rows["notes"]["reason"].startswith("no image member") and rows["notes"]["status"] == "failed"


def test_truncated_tar_keeps_samples_before_damage(tmp_path):
    data = tar_bytes(sample_members("a", 6))
    (tmp_path / "t.tar").write_bytes(data[: len(data) // 2 + 100])
    rows = _read(str(tmp_path / "t.tar"))
    ok = [r for r in rows if r["status"] == "ok"]
    failed = [r for r in rows if r["status"] == "failed"]
    assert 1 <= len(ok) < 6 and len(failed) == 1
    assert "truncated or damaged" in failed[0]["reason"] and f"after {len(ok)} samples" in failed[0]["reason"]


def test_unreadable_tar_is_one_failure(tmp_path):
    (tmp_path / "x.tar").write_bytes(b"this is not a tar file at all" * 30)
    rows = _read(str(tmp_path / "x.tar"))
    assert len(rows) == 1 and rows[0]["status"] == "failed" and "unreadable" in rows[0]["reason"]


def test_zero_byte_tar_and_member(tmp_path):
    (tmp_path / "e.tar").write_bytes(b"")
    (tmp_path / "z.tar").write_bytes(tar_bytes([("z000.png", b""), ("z000.txt", b"c")]))
    empty = _read(str(tmp_path / "e.tar"))  # a zero-byte shard is a failed upload, not an empty shard
    assert [(r["key"], r["status"]) for r in empty] == [("e#unreadable", "failed")]
    assert "unreadable before any sample" in empty[0]["reason"]
    rows = _read(str(tmp_path / "z.tar"))
    assert rows[0]["status"] == "ok" and rows[0]["image"] == b""  # decode fails it with "empty image data"


def test_folder_with_sidecars_and_sharding(tmp_path):
    d = tmp_path / "imgs"
    (d / "sub").mkdir(parents=True)
    for i in range(5):
        (d / f"im{i}.png").write_bytes(png_bytes(seed=i))
    (d / "im0.txt").write_text("zero")
    (d / "sub" / "deep.webp").write_bytes(png_bytes())  # wrong content for the extension is the decoder's job
    (d / "sub" / "deep.json").write_text(json.dumps({"caption": "deep one"}))
    spec = InputSpec(url=str(d), files_per_shard=4)
    shards = plan_shards(spec)
    assert [s.shard_id for s in shards] == ["imgs-00000", "imgs-00001"]
    rows = [r for s in shards for r in read_shard(s, spec)]
    caps = {r["key"]: r["caption"] for r in rows}
    assert caps["im0"] == "zero" and caps["sub/deep"] == "deep one" and caps["im1"] == ""
    assert len(rows) == 6


def test_parquet_binary_and_struct_columns(tmp_path):
    t = pa.table({"img": [{"bytes": png_bytes(), "path": "x"}, {"bytes": None, "path": "y"}], "text": ["c1", "c2"]})
    pq.write_table(t, tmp_path / "p.parquet")
    rows = _read(str(tmp_path / "p.parquet"), image_column="img", caption_column="text")
    assert [r["status"] for r in rows] == ["ok", "failed"] and rows[0]["caption"] == "c1"
    assert rows[0]["key"] == "p-00000000"
    missing = _read(str(tmp_path / "p.parquet"), image_column="image")
    assert len(missing) == 1 and "lacks column" in missing[0]["reason"]
    (tmp_path / "bad.parquet").write_bytes(b"PAR1garbage")
    bad = _read(str(tmp_path / "bad.parquet"))
    assert len(bad) == 1 and "parquet unreadable" in bad[0]["reason"]


def test_brace_glob_and_missing_inputs(tmp_path):
    for i in range(3):
        (tmp_path / f"shards-{i:03d}.tar").write_bytes(tar_bytes(sample_members("k", 1, seed=i)))
    spec = InputSpec(url=str(tmp_path / "shards-{000..001}.tar"))
    assert [s.shard_id for s in plan_shards(spec)] == ["shards-000", "shards-001"]
    assert len(plan_shards(InputSpec(url=str(tmp_path / "*.tar")))) == 3
    with pytest.raises(SpecError, match="input not found"):
        plan_shards(InputSpec(url=str(tmp_path / "shards-{000..005}.tar")))
    with pytest.raises(SpecError, match="matches no files"):
        plan_shards(InputSpec(url=str(tmp_path / "nothing-*.tar")))


def test_memory_filesystem_input():
    import fsspec

    fs = fsspec.filesystem("memory")
    with fs.open("memory://bucket/in/m-000.tar", "wb") as f:
        f.write(tar_bytes(sample_members("m", 3)))
    rows = _read("memory://bucket/in/m-*.tar")
    assert len(rows) == 3 and all(r["status"] == "ok" for r in rows)


def test_clashing_and_dotted_names_get_distinct_webdataset_safe_keys(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("IMG_2000.jpg", "IMG_2000.png", "holiday.v2.jpg"):
        (photos / name).write_bytes(png_bytes())
    rows = _read(str(photos))
    assert sorted(r["key"] for r in rows) == ["IMG_2000", "IMG_2000_png", "holiday_v2"]
    assert {r["key"]: r["source_key"] for r in rows}["holiday_v2"] == "holiday.v2.jpg"  # the file it came from
    assert all(r["status"] == "ok" for r in rows)


def test_duplicate_keys_inside_a_tar_are_made_distinct(tmp_path):
    # a key whose members are not contiguous, and two unsafe members with one base name
    members = [("a.png", png_bytes()), ("a.txt", b"first"), ("b.png", png_bytes()), ("b.txt", b"b"),
               ("a.jpg", png_bytes(seed=1)), ("../x.png", png_bytes()), ("sub/../../x.png", png_bytes())]
    (tmp_path / "s.tar").write_bytes(tar_bytes(members))
    rows = _read(str(tmp_path / "s.tar"))
    keys = [r["key"] for r in rows]
    assert len(keys) == len(set(keys)) == 5
    assert keys[:3] == ["a", "b", "a_2"] and rows[2]["status"] == "ok"
    assert [r["status"] for r in rows[3:]] == ["failed", "failed"]


def test_json_sidecars_caption_fields_and_a_warning_when_none(tmp_path, capsys):
    photos = tmp_path / "p"
    photos.mkdir()
    for name, meta in (("a", {"text": "a lion"}), ("b", {"prompt": "a tiger"}), ("c", {"tags": ["x"]})):
        (photos / f"{name}.jpg").write_bytes(png_bytes())
        (photos / f"{name}.json").write_text(json.dumps(meta))
    rows = {r["key"]: r["caption"] for r in _read(str(photos))}
    assert rows == {"a": "a lion", "b": "a tiger", "c": ""}
    err = capsys.readouterr().err
    assert "1 sample .json file(s) have no caption field" in err and "found: tags" in err
