"""Sparse 3D encoders (voxel events). Backends: ``spconv`` (default, CPU and CUDA) and optional
``minkowski``. Backends are imported lazily so that importing this package never needs either."""
from benchmark.models.sparse.convnext import PRESETS, ConvNeXtConfig, SparseConvNeXtEncoder, get_backend

__all__ = ["PRESETS", "ConvNeXtConfig", "SparseConvNeXtEncoder", "get_backend"]
