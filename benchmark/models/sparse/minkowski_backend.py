"""Optional MinkowskiEngine backend (NVIDIA/MinkowskiEngine, the original study's library).

Same interface as ``spconv_backend``. Importing this module without MinkowskiEngine installed raises
an ImportError that names the fix; nothing else in SimShift imports it unless ``backend="minkowski"``
is asked for. Unlike spconv it has channel-wise (depthwise) convolutions, so ``depthwise=True``
reproduces the study's 7^3 depthwise ConvNeXt-V2 block. Not exercised by the test-suite (MinkowskiEngine
does not build in the CI environment); the spconv backend is the tested default.

MinkowskiEngine tracks strides itself, so ``spatial_shape`` is ignored here.
"""
from __future__ import annotations

import torch

try:
    import MinkowskiEngine as ME
except ImportError as exc:
    raise ImportError(
        "backend='minkowski' needs MinkowskiEngine, which is not installed. Either use the default "
        "backend='spconv', or build MinkowskiEngine from source (it needs a CUDA toolkit and OpenBLAS): "
        "see https://github.com/NVIDIA/MinkowskiEngine#installation, e.g. "
        "`pip install -U git+https://github.com/NVIDIA/MinkowskiEngine --no-deps`."
    ) from exc

NAME = "minkowski"
SUPPORTS_DEPTHWISE = True
SparseTensor = ME.SparseTensor


def make_tensor(coords: torch.Tensor, feats: torch.Tensor, spatial_shape, batch_size: int):
    del spatial_shape, batch_size  # ME needs neither
    return ME.SparseTensor(features=feats.contiguous(), coordinates=coords.to(torch.int32).contiguous(),
                           device=feats.device)


def subm_conv(c_in: int, c_out: int, kernel_size: int, indice_key: str | None = None,
              depthwise: bool = False, bias: bool = True) -> torch.nn.Module:
    del indice_key  # ME caches kernel maps itself
    if depthwise:
        if c_in != c_out:
            raise ValueError(f"depthwise conv needs c_in == c_out, got {c_in} and {c_out}")
        return ME.MinkowskiChannelwiseConvolution(c_in, kernel_size=kernel_size, bias=bias, dimension=3)
    return ME.MinkowskiConvolution(c_in, c_out, kernel_size=kernel_size, stride=1, bias=bias, dimension=3)


def down_conv(c_in: int, c_out: int, kernel_size: int, stride: int, bias: bool = True) -> torch.nn.Module:
    return ME.MinkowskiConvolution(c_in, c_out, kernel_size=kernel_size, stride=stride, bias=bias, dimension=3)


def features(x) -> torch.Tensor:
    return x.F


def batch_index(x) -> torch.Tensor:
    return x.C[:, 0].long()


def replace(x, feats: torch.Tensor):
    return ME.SparseTensor(feats, coordinate_map_key=x.coordinate_map_key,
                           coordinate_manager=x.coordinate_manager)
