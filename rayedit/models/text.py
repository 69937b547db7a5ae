"""Text encoders that give per-token hidden states for cross-attention conditioning."""

from __future__ import annotations

import torch
from torch import nn


class OpenClipTextEncoder(nn.Module):
    """The text tower of an open_clip model (its shipped BPE tokenizer); returns (B, L, width) tokens."""

    def __init__(self, clip_model: nn.Module, tokenizer):
        super().__init__()
        text = getattr(clip_model, "text", None)
        if text is None:
            raise ValueError("open_clip model must be built with force_custom_text=True to expose its text tower")
        text.output_tokens = True
        self.text = text
        self.tokenizer = tokenizer
        self.width = text.width

    @torch.no_grad()
    def forward(self, captions: list[str]) -> torch.Tensor:
        device = next(self.text.parameters()).device
        tokens = self.tokenizer(list(captions)).to(device)
        _, hidden = self.text(tokens)
        return hidden


class HFClipTextEncoder(nn.Module):
    """A transformers CLIPTextModel + CLIPTokenizer (Stable Diffusion layout); returns last_hidden_state."""

    def __init__(self, model: nn.Module, tokenizer):
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.width = model.config.hidden_size

    @torch.no_grad()
    def forward(self, captions: list[str]) -> torch.Tensor:
        device = next(self.model.parameters()).device
        ids = self.tokenizer(
            list(captions), padding="max_length", max_length=self.tokenizer.model_max_length,
            truncation=True, return_tensors="pt",
        ).input_ids.to(device)
        return self.model(ids)[0]
