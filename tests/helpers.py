"""Test data builders: tars, images, parquet files."""

import io
import tarfile

import numpy as np
from PIL import Image


def png_bytes(w=40, h=48, seed=0, mode="RGB") -> bytes:
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).convert(mode)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def tar_bytes(members: list[tuple[str, bytes]], link: tuple[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if link:
            info = tarfile.TarInfo(link[0])
            info.type, info.linkname = tarfile.SYMTYPE, link[1]
            tar.addfile(info)
    return buf.getvalue()


def sample_members(prefix: str, n: int, caption: str = "a photo", seed: int = 0) -> list[tuple[str, bytes]]:
    out = []
    for i in range(n):
        out.append((f"{prefix}{i:03d}.png", png_bytes(seed=seed * 1000 + i)))
        out.append((f"{prefix}{i:03d}.txt", caption.encode()))
    return out
