"""HQS on constructed gradients whose answer is known; normalisation, selection and the sharded reduction."""

import pytest
import torch

from rayedit.diffusion.hqs import HQSAccumulator, hqs, minmax, select, spatial_entropy


def _grad(t: int, b: int = 3) -> torch.Tensor:
    """Strong and concentrated at t = 500, weak and diffuse elsewhere."""
    d = torch.full((b, 4, 8, 8), 0.01)
    if t == 500:
        d[:, :, 2, 3] = 5.0
    return d


def test_concentrated_strong_guidance_wins():
    ts = [100, 300, 500, 700, 900]
    acc = HQSAccumulator(ts)
    for i, t in enumerate(ts):
        acc.add(i, _grad(t), count=(i == 0))
    s = acc.scores()
    assert select(ts, torch.tensor(s["hqs"])) == [500]
    assert s["hqs"][2] == pytest.approx(1.0) and max(s["hqs"][:2] + s["hqs"][3:]) == pytest.approx(0.0)


def test_entropy_bounds_and_minmax():
    flat = torch.ones(1, 3, 4, 4)
    peak = torch.zeros(1, 3, 4, 4)
    peak[0, :, 0, 0] = 100.0
    assert spatial_entropy(flat).item() == pytest.approx(torch.log(torch.tensor(16.0)).item(), rel=1e-5)
    assert spatial_entropy(peak).item() < 1e-3
    assert minmax(torch.tensor([2.0, 4.0, 3.0])).tolist() == [0.0, 1.0, 0.5]
    assert minmax(torch.tensor([1.0, 1.0])).tolist() == [0.0, 0.0]
    assert hqs(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 0.0])).tolist() == [0.0, 1.0]


def test_selection_rules():
    ts, s = [50, 100, 150], torch.tensor([0.2, 0.9, 0.6])
    assert select(ts, s, 0.5) == [100, 150]
    with pytest.raises(ValueError, match="no timestep has HQS > 0.95"):
        select(ts, s, 0.95)


def test_sharded_sums_equal_one_pass():
    ts = [100, 500]
    whole, a, b = HQSAccumulator(ts), HQSAccumulator(ts), HQSAccumulator(ts)
    g = torch.Generator().manual_seed(0)
    grads = [torch.randn(4, 3, 8, 8, generator=g) for _ in range(4)]
    for acc_part, gs in ((a, grads[:2]), (b, grads[2:])):
        for i, d in enumerate(gs):
            acc_part.add(i, d, count=(i == 0))
            whole.add(i, d, count=(i == 0))
    merged = a.merge(b).scores()
    assert merged["hqs"] == pytest.approx(whole.scores()["hqs"]) and merged["magnitude"] == pytest.approx(
        whole.scores()["magnitude"])
    with pytest.raises(ValueError, match="different timesteps"):
        a.merge(HQSAccumulator([1, 2]))
