"""JetCLR-style permutation-invariant transformer over jet constituents.

Architecture after JetCLR (Dillon et al., arXiv:2108.04253; code bmdillon/JetCLR @90b02f9,
scripts/modules/transformer.py; arXiv:2108.04253):
    per-constituent (pT, eta, phi) -> Linear(3, d) -> TransformerEncoder (no positional encoding, so the
    set is permutation-equivariant) with 0.5 * ln(pT_k) added to the attention logits of key k
    (soft constituents get little attention: IR safety) -> per-constituent outputs multiplied by
    pT / pt_scale and summed over the jet (permutation-invariant pooling) -> h (B, d).

Inputs: x float (B, L, 3) = (pT [GeV], eta, phi) per constituent, eta/phi relative to the jet axis,
mask bool (B, L) True for real constituents (padding anywhere). The pT feature and the pooling weight
are pT / pt_scale with pt_scale = 600 GeV, JetCLR's "pT/600" for its 550-650 GeV jets. Padding is
excluded from attention and from the sum, so h does not depend on the padding amount.

Presets: "full" = JetCLR's d = 1000, 4 layers, 4 heads, feed-forward 1000, dropout 0.1; "default" =
a CPU-sized d = 64, 2 layers, 4 heads, feed-forward 128. The projection head lives in
``benchmark.models.heads`` (JetCLR's head: 2 x (ReLU, Linear 1000->1000)).
"""
from __future__ import annotations

from dataclasses import dataclass, replace as dc_replace

import torch
from torch import nn

__all__ = ["JetTransformerConfig", "JetTransformerEncoder", "PRESETS", "unpack_jet_batch"]


@dataclass(frozen=True)
class JetTransformerConfig:
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int = 128
    dropout: float = 0.1
    pt_scale: float = 600.0        # GeV; JetCLR divides pT by 600 after augmenting
    pt_attention_bias: bool = True  # JetCLR's 0.5 ln(pT) on the attention logits

    def __post_init__(self):
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")


PRESETS = {
    "default": JetTransformerConfig(),
    "full": JetTransformerConfig(d_model=1000, n_layers=4, n_heads=4, d_ff=1000, dropout=0.1),
}


def unpack_jet_batch(batch):
    """Accept (x, mask) or a dict with keys x/mask; check shapes."""
    if isinstance(batch, dict):
        x, mask = batch["x"], batch["mask"]
    elif isinstance(batch, (tuple, list)) and len(batch) == 2:
        x, mask = batch
    else:
        raise TypeError("a jet batch is (x (B,L,3), mask (B,L)) or a dict with keys x/mask; "
                        f"got {type(batch).__name__}")
    x, mask = torch.as_tensor(x), torch.as_tensor(mask)
    if x.ndim != 3 or x.shape[2] != 3:
        raise ValueError(f"x must have shape (B, L, 3) = (pT, eta, phi) per constituent, got {tuple(x.shape)}")
    if mask.shape != x.shape[:2]:
        raise ValueError(f"mask must have shape (B, L) = {tuple(x.shape[:2])}, got {tuple(mask.shape)}")
    return x.float(), mask.bool()


class JetTransformerEncoder(nn.Module):
    """(x (B,L,3), mask (B,L)) -> h (B, d_model); invariant to constituent order and padding."""

    kind = "jets"

    def __init__(self, cfg: JetTransformerConfig | None = None, **overrides):
        super().__init__()
        cfg = dc_replace(cfg or PRESETS["default"], **overrides)
        self.cfg = cfg
        self.embed = nn.Linear(3, cfg.d_model)
        layer = nn.TransformerEncoderLayer(cfg.d_model, cfg.n_heads, cfg.d_ff, cfg.dropout, batch_first=True)
        self.transformer = nn.TransformerEncoder(layer, cfg.n_layers, enable_nested_tensor=False)
        self.out_dim = cfg.d_model

    def _attention_mask(self, pt: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Float (B*heads, L, L) additive mask: 0.5 ln pT of the key, -inf on padded keys."""
        B, L = mask.shape
        key_mask = mask.clone()
        key_mask[~mask.any(dim=1), 0] = True  # an empty jet keeps one (zero-weight) key: no NaN rows
        bias = torch.zeros_like(pt)
        if self.cfg.pt_attention_bias:  # ln(pT / pt_scale) = ln pT - const: same softmax as JetCLR's ln pT
            bias = 0.5 * torch.log(pt.clamp_min(1e-8))
        bias = bias.masked_fill(~key_mask, float("-inf"))
        bias = bias[:, None, None, :].expand(B, self.cfg.n_heads, L, L)
        return bias.reshape(B * self.cfg.n_heads, L, L)

    def forward(self, batch) -> torch.Tensor:
        x, mask = unpack_jet_batch(batch)
        dev = self.embed.weight.device
        x, mask = x.to(dev), mask.to(dev)
        pt = x[..., 0] / self.cfg.pt_scale
        feats = torch.stack([pt, x[..., 1], x[..., 2]], dim=-1)
        # PyTorch's eval-mode transformer fast path returns NaN with a per-head float mask (torch 2.13, CPU)
        fast = torch.backends.mha.get_fastpath_enabled()
        torch.backends.mha.set_fastpath_enabled(False)
        try:
            y = self.transformer(self.embed(feats), mask=self._attention_mask(pt, mask))
        finally:
            torch.backends.mha.set_fastpath_enabled(fast)
        weight = torch.where(mask, pt, torch.zeros_like(pt))
        return (y * weight[..., None]).sum(dim=1)
