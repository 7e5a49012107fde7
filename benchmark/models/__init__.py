"""Shared model building blocks for all baselines (one implementation each).

- ``factory.build_encoder(kind, size, backend)`` -> encoder with ``.out_dim`` and ``encoder(batch) -> h``
  (which encoder: the event kind's choice, :mod:`benchmark.kinds`)
- ``sparse/``: sparse ConvNeXt-V2-like encoder, spconv backend (default) and optional MinkowskiEngine
- ``jets.py``: JetCLR-style transformer over constituents
- ``heads.py``: projection head, linear head, gradient reversal + domain head (DANN)
"""
from benchmark.models.factory import SIZES, build_encoder
from benchmark.models.heads import DomainHead, GradientReversal, LinearHead, ProjectionHead, grad_reverse

__all__ = ["build_encoder", "SIZES", "ProjectionHead", "LinearHead", "GradientReversal",
           "grad_reverse", "DomainHead"]
