"""LPIPS from the lpips package, by net name. Offline, only a random backbone is available - labelled as such."""

from __future__ import annotations

import contextlib
import io
import warnings

import torch
from torch import nn

from rayedit.models.errors import ModelLoadError


def load_lpips(net: str = "alex", random_backbone: bool = False, device: str = "cpu", seed: int = 0) -> nn.Module:
    """An LPIPS module (inputs in [-1, 1]). The trained backbone comes from torchvision's weight cache."""
    import lpips

    torch.manual_seed(seed)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torchvision's 'pretrained' deprecation, raised inside lpips
            model = lpips.LPIPS(net=net, pretrained=True, pnet_rand=random_backbone, verbose=False)
    except (OSError, RuntimeError) as err:  # URLError is an OSError
        raise ModelLoadError(
            f"LPIPS-{net} needs torchvision's pretrained {net} backbone, which could not be fetched ({err}). "
            "Copy the torchvision checkpoint into $TORCH_HOME/hub/checkpoints/, or set "
            "score.lpips.random_backbone: true (not a perceptual metric; scored as lpips_random_backbone)."
        ) from None
    return model.eval().to(device)
