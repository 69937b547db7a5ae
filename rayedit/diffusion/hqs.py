"""HQS, the Hybrid Quality Score over timesteps (SDD; definition in docs/algorithms.md).

For guidance gradients d_t (B, C, H, W) at candidate timesteps: magnitude N_t = mean |d_t|, concentration
H_t = entropy of softmax over pixels of the channel-mean |d_t|; both averaged over images, min-max normalised
across t, and HQS_t = (N^_t + 1 - H^_t) / 2 in [0, 1]. Pure torch; the reduction is sums, so shards of images
can be scored apart and merged (:class:`HQSAccumulator`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


def magnitude(d: torch.Tensor) -> torch.Tensor:
    """N per image: mean |d| over channels and pixels, (B,)."""
    return d.abs().flatten(1).mean(1)


def spatial_entropy(d: torch.Tensor) -> torch.Tensor:
    """H per image: entropy (nats) of softmax over pixels of the channel-mean |d|, (B,)."""
    p = torch.softmax(d.abs().mean(1).flatten(1).double(), dim=1)
    return -(p * p.clamp_min(1e-300).log()).sum(1).float()


def minmax(x: torch.Tensor) -> torch.Tensor:
    """Min-max normalisation to [0, 1]; a constant curve maps to 0."""
    span = x.max() - x.min()
    return torch.zeros_like(x) if span <= 0 else (x - x.min()) / span


def hqs(n_mean: torch.Tensor, h_mean: torch.Tensor) -> torch.Tensor:
    """HQS_t = (N^_t + 1 - H^_t) / 2 from per-t means (SDD's hybrid of strength and concentration)."""
    return (minmax(n_mean) + 1 - minmax(h_mean)) / 2


def select(timesteps: list[int], scores: torch.Tensor, threshold: float | None = None) -> list[int]:
    """S = {t : HQS_t > threshold}, or [argmax] when threshold is None. An empty set is an error, not a guess."""
    if threshold is None:
        return [timesteps[int(scores.argmax())]]
    chosen = [t for t, s in zip(timesteps, scores.tolist(), strict=True) if s > threshold]
    if not chosen:
        raise ValueError(f"no timestep has HQS > {threshold} (max {float(scores.max()):.3f}); lower the threshold")
    return chosen


@dataclass
class HQSAccumulator:
    """Running sums of N and H per timestep; merge() combines partial results from different workers."""

    timesteps: list[int]
    n_sum: torch.Tensor = field(init=False)
    h_sum: torch.Tensor = field(init=False)
    count: int = 0

    def __post_init__(self):
        self.n_sum = torch.zeros(len(self.timesteps), dtype=torch.float64)
        self.h_sum = torch.zeros(len(self.timesteps), dtype=torch.float64)

    def add(self, t_index: int, d: torch.Tensor, count: bool = False) -> None:
        """Add the gradients of one batch at timestep ``timesteps[t_index]``; ``count`` the batch once per batch."""
        self.n_sum[t_index] += magnitude(d).double().sum()
        self.h_sum[t_index] += spatial_entropy(d).double().sum()
        if count:
            self.count += d.shape[0]

    def merge(self, other: HQSAccumulator) -> HQSAccumulator:
        """The sum of two partial accumulators over the same timesteps."""
        if other.timesteps != self.timesteps:
            raise ValueError("cannot merge HQS sums over different timesteps")
        out = HQSAccumulator(self.timesteps)
        out.n_sum, out.h_sum, out.count = self.n_sum + other.n_sum, self.h_sum + other.h_sum, self.count + other.count
        return out

    def scores(self) -> dict:
        """Mean N and H per t, and HQS."""
        if self.count == 0:
            raise ValueError("no images were scored")
        n, h = self.n_sum / self.count, self.h_sum / self.count
        return {"timesteps": self.timesteps, "magnitude": n.tolist(), "entropy": h.tolist(),
                "hqs": hqs(n, h).tolist()}
