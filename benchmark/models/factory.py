"""One entry point that turns (event kind, size, backend) into an encoder ``h = encoder(batch)``.

Every encoder has ``.out_dim`` and ``forward(batch) -> h (B, out_dim)``, where ``batch`` is what the
kind's ``inputs`` return: sparse3d (coords (M,4), feats (M,1)[, batch_size]); jets (x (B,L,3), mask (B,L)).
Which encoder a kind uses is the kind's choice (:meth:`benchmark.kinds.base.EventKind.build_encoder`).
"""
from __future__ import annotations

from torch import nn

__all__ = ["build_encoder", "SIZES"]

SIZES = ("default", "full")


def build_encoder(family_kind: str, size: str = "default", backend: str = "spconv", **overrides) -> nn.Module:
    """Build the encoder for an event kind.

    family_kind: a registered event kind (:func:`benchmark.kinds.get_kind`): "sparse3d" (ND-LAr, SFGD
    voxels) or "jets" built in;
    size: "default" (CPU-sized) or "full" (the study's / JetCLR's sizes);
    backend: sparse backend, "spconv" (default) or "minkowski" (ignored for jets);
    overrides: fields of ConvNeXtConfig / JetTransformerConfig, e.g. ``grn=False`` (DANN), ``pooling="mean"``.
    """
    from benchmark.kinds import get_kind

    if size not in SIZES:
        raise ValueError(f"unknown encoder size {size!r}; choose one of {SIZES}")
    return get_kind(family_kind).build_encoder(size, backend=backend, **overrides)
