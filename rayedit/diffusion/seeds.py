"""Per-sample randomness that does not depend on batching, sharding or the number of workers."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # sample_seed is used where torch is not (a generate job's planning)
    import torch


def sample_seed(seed: int, key: str) -> int:
    """A 63-bit seed from the job seed and a sample key alone: the same noise however samples are grouped."""
    return int.from_bytes(hashlib.blake2b(f"{seed}/{key}".encode(), digest_size=8).digest(), "big") >> 1


def seeded_generators(seeds: Sequence[int]) -> list[torch.Generator]:
    """One CPU generator per seed (CPU, so the draws are the same on any device)."""
    import torch

    return [torch.Generator().manual_seed(int(s)) for s in seeds]


def sample_generators(seed: int, keys: Sequence[str]) -> list[torch.Generator]:
    """One CPU generator per sample key, seeded with ``sample_seed(seed, key)``."""
    return seeded_generators([sample_seed(seed, k) for k in keys])


def per_sample_noise(generators: Sequence[torch.Generator], shape: Sequence[int]) -> torch.Tensor:
    """Stack one standard-normal draw of ``shape`` per generator: (len(generators), *shape), float32 on CPU."""
    import torch

    return torch.stack([torch.randn(tuple(shape), generator=g) for g in generators])
