"""Decoding every kind of image the wild produces: handled, or failed with a clear reason."""

import io

import numpy as np
import pytest
from PIL import Image

from rayedit.imaging import ImageError, decode_image, encode_image, resize_center_crop
from rayedit.rows import obj_array
from rayedit.stages.decode import DecodeImages
from tests.helpers import png_bytes


def _save(img: Image.Image, fmt="PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("data, reason", [
    (b"", "empty image data"),
    (b"\x89PNG\r\n\x1a\nnot really", "corrupt image"),
    (png_bytes()[:60], "corrupt image"),
    (b"hello world" * 10, "not a recognised image format"),
])
def test_bad_bytes_fail_with_reason(data, reason):
    with pytest.raises(ImageError, match=reason):
        decode_image(data)


def test_tiny_and_huge_images_fail():
    with pytest.raises(ImageError, match=r"too small \(1x1"):
        decode_image(_save(Image.new("RGB", (1, 1))))
    huge = _save(Image.new("1", (20000, 20000)))  # 400 MP declared, a few KB on disk
    with pytest.raises(ImageError, match="too large"):
        decode_image(huge)


def test_modes_become_rgb():
    cmyk = decode_image(_save(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG"))
    assert cmyk.mode == "RGB" and cmyk.getpixel((8, 8))[0] > 200 and cmyk.getpixel((8, 8))[1] < 60  # red
    sixteen = Image.fromarray(np.full((16, 16), 65535, dtype=np.uint16))
    assert decode_image(_save(sixteen)).getpixel((3, 3)) == (255, 255, 255)  # scaled, not clipped garbage
    half = Image.fromarray(np.full((16, 16), 32768, dtype=np.uint16))
    assert decode_image(_save(half)).getpixel((3, 3))[0] == 128
    pal = Image.new("P", (16, 16), 0)
    pal.putpalette([0, 0, 255] + [0] * 765)
    assert decode_image(_save(pal, transparency=0)).getpixel((1, 1)) == (255, 255, 255)  # transparent -> white
    rgba = Image.new("RGBA", (16, 16), (255, 0, 0, 128))
    r, g, b = decode_image(_save(rgba)).getpixel((1, 1))
    assert r == 255 and 120 < g < 135  # half-transparent red over white
    assert decode_image(_save(Image.new("L", (16, 16), 7))).getpixel((0, 0)) == (7, 7, 7)


def test_exif_orientation_is_applied():
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    img.paste((0, 0, 255), (0, 0, 20, 20))  # left half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    out = decode_image(_save(img, "JPEG", exif=exif.tobytes(), quality=95))
    assert out.size == (20, 40)
    assert out.getpixel((10, 5))[2] > 200  # the blue half is now on top


def test_resize_center_crop_shapes():
    arr = resize_center_crop(Image.new("RGB", (100, 50), (10, 20, 30)), 32)
    assert arr.shape == (32, 32, 3) and arr.dtype == np.uint8 and tuple(arr[16, 16]) == (10, 20, 30)
    assert encode_image(arr) == encode_image(arr.copy())  # png is deterministic


def test_decode_stage_marks_failures_and_keeps_rows():
    batch = {
        "image": obj_array([png_bytes(), b"", png_bytes(w=1, h=1)]),
        "status": obj_array(["ok", "ok", "failed"]),
        "reason": obj_array(["", "", "earlier reason"]),
    }
    out = DecodeImages(32)(batch)
    assert out["pixels"].shape == (3, 32, 32, 3) and "image" not in out
    assert list(out["status"]) == ["ok", "failed", "failed"]
    assert out["reason"][1] == "empty image data (0 bytes)" and out["reason"][2] == "earlier reason"


def test_a_large_jpeg_is_decoded_at_a_reduced_scale_and_its_box_is_in_full_size_pixels():
    import io

    import numpy as np
    from PIL import Image

    from rayedit.imaging import decode_image
    from rayedit.rows import obj_array
    from rayedit.stages.decode import DecodeImages

    big = Image.fromarray(np.random.default_rng(0).integers(0, 255, (1536, 2048, 3), dtype=np.uint8))
    buf = io.BytesIO()
    big.save(buf, format="JPEG", quality=90)
    img, fmt, size = decode_image(buf.getvalue(), with_format=True, needed=(256, "short"))
    assert fmt == "JPEG" and size == (2048, 1536) and img.size == (512, 384)  # libjpeg decoded a quarter
    out = DecodeImages(256)({"image": obj_array([buf.getvalue()]), "status": obj_array(["ok"]),
                             "reason": obj_array([""])})
    assert out["pixels"].shape == (1, 256, 256, 3)
    assert list(out["source_size"][0]) == [2048, 1536]
    assert np.abs(out["box"][0] - [256, 0, 1792, 1536]).max() <= 4  # the centre square, to within rounding


def test_keep_aspect_rows_come_out_grouped_by_size_with_their_own_columns():
    imgs = [Image.new("RGB", (w, h), (i * 40, 0, 0)) for i, (w, h) in enumerate([(300, 150), (90, 180), (600, 300),
                                                                                (100, 200)])]
    batch = {"image": obj_array([_save(im) for im in imgs]), "key": obj_array(["w1", "t1", "w2", "t2"]),
             "status": obj_array(["ok"] * 4), "reason": obj_array([""] * 4)}
    out = DecodeImages(32, "keep_aspect", step=4)(batch)
    assert list(out["key"]) == ["w1", "w2", "t1", "t2"]  # sorted by (height, width): the wide ones first
    assert [p.shape[:2] for p in out["pixels"]] == [(24, 44), (24, 44), (44, 24), (44, 24)]
    assert out["source_size"].tolist() == [[300, 150], [600, 300], [90, 180], [100, 200]]
    assert out["pixels"][3][0, 0, 0] == 120  # the row's own pixels travelled with it (t2's red is 3 * 40)
