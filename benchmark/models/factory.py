"""One entry point that turns (event kind, size, backend) into an encoder ``h = encoder(batch)``.

Every encoder has ``.out_dim`` and ``forward(batch) -> h (B, out_dim)``, where ``batch`` is what the
lead's collate functions return: sparse3d (coords (M,4), feats (M,1)[, batch_size]); jets (x (B,L,3), mask (B,L)).
"""
from __future__ import annotations

from torch import nn

__all__ = ["build_encoder", "ENCODER_KINDS", "SIZES"]

ENCODER_KINDS = ("sparse3d", "jets")
SIZES = ("default", "full")


def build_encoder(family_kind: str, size: str = "default", backend: str = "spconv", **overrides) -> nn.Module:
    """Build the encoder for an event kind.

    family_kind: "sparse3d" (ND-LAr, SFGD voxels) or "jets";
    size: "default" (CPU-sized) or "full" (the study's / JetCLR's sizes);
    backend: sparse backend, "spconv" (default) or "minkowski" (ignored for jets);
    overrides: fields of ConvNeXtConfig / JetTransformerConfig, e.g. ``grn=False`` (DANN), ``pooling="mean"``.
    """
    if size not in SIZES:
        raise ValueError(f"unknown encoder size {size!r}; choose one of {SIZES}")
    if family_kind == "sparse3d":
        from benchmark.models.sparse.convnext import PRESETS, SparseConvNeXtEncoder

        return SparseConvNeXtEncoder(PRESETS[size], backend=backend, **overrides)
    if family_kind == "jets":
        from benchmark.models.jets import PRESETS, JetTransformerEncoder

        return JetTransformerEncoder(PRESETS[size], **overrides)
    raise ValueError(f"unknown event kind {family_kind!r}; choose one of {ENCODER_KINDS} "
                     "(a family's kind is EventSet.kind / FamilySpec.event_kind)")
