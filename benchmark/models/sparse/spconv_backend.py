"""spconv (traveller59/spconv 2.x) backend for the sparse 3D encoders; the default backend.

Why this module exists: the ConvNeXt-like encoder (``benchmark.models.sparse.convnext``) is written
once against a tiny backend interface (build a sparse tensor, submanifold conv, strided conv, read and
replace features, batch index of each active site). This module implements it with spconv; the
optional MinkowskiEngine backend implements the same names.

CPU patch (applied once, at import, only when ``torch.cuda.is_available()`` is False):
spconv 2.3.8 asks ``torch.cuda.current_stream()`` for a stream handle in its *backward* kernels
(``spconv.pytorch.ops`` and ``spconv.pytorch.hash`` call ``cppcore.get_current_stream``), even when
all tensors are on the CPU. On a CPU-only torch build that raises "Torch not compiled with CUDA
enabled", so training (not inference) fails. The CPU kernels ignore the stream, so returning the
null stream 0 is correct there. Because those modules did ``from spconv.pytorch.cppcore import
get_current_stream``, the name is rebound in every already-imported ``spconv.*`` module, not only in
``cppcore``. ``tests/test_models.py`` checks forward and gradients against a dense
``torch.nn.functional.conv3d``, so a wrong or missing patch fails the suite.

Bias (second CPU issue): in eval mode spconv fuses the bias into its kernel, and its CPU kernels refuse
that ("cpu don't support act and bias"), so a model with biased convs could train but not embed on the
CPU. The convolutions here are therefore built without bias and a :class:`BiasedSparseConv` wrapper adds
the bias to the output features, in train and eval mode alike (same result, one code path).

Layout facts (checked by the tests): spconv 2.x stores weights as (C_out, k, k, k, C_in) and computes a
cross-correlation like ``conv3d`` (no kernel flip), so ``weight.permute(0, 4, 1, 2, 3)`` is the dense
weight; index columns are (batch, d0, d1, d2) matching ``spatial_shape``. spconv silently misreads
non-contiguous index/feature tensors (e.g. straight out of ``Tensor.nonzero()``), so this backend
always makes them contiguous.

Determinism on CPU (third CPU issue): spconv's CPU convolution kernels race when more than one OpenMP
thread runs (``torch.set_num_threads(n > 1)`` sets the same OpenMP pool): the same layer on the same
input and indice pairs gave outputs differing by up to 35 (|out| ~ 200) between calls, so a trained
encoder's embeddings, and training itself, changed with the thread count. On CPU the convolutions
are therefore computed by :mod:`benchmark.models.sparse.torch_conv` (a neighbour table, gathers and
one GEMM per layer, all PyTorch ops, deterministic at any thread count) with the same weights and the
same output site set; on CUDA spconv's kernels run. ``SIMSHIFT_SPCONV_CPU=spconv`` restores spconv's
CPU kernels (then pin ``torch.set_num_threads(1)`` for reproducible results).
"""
from __future__ import annotations

import importlib
import logging
import os
import sys

import torch

# spconv's SparseConvTensor is an fx-proxyable class: creating one calls torch.fx's is_fx_tracing(),
# which in torch 2.13 logs a deprecation warning ("is_fx_tracing will return true for both ...") once per
# process, in the middle of `run`'s progress output. It is about torch.fx's API, not about anything this
# package does (nothing here is traced), so that one logger is kept at ERROR.
logging.getLogger("torch.fx._symbolic_trace").setLevel(logging.ERROR)

try:
    import spconv.pytorch as spconv
    import spconv.pytorch.cppcore as _cppcore
except ImportError as exc:  # pragma: no cover - spconv is a declared dependency
    raise ImportError(
        "The default sparse backend needs spconv 2.x. Install it with `pip install spconv` "
        "(CPU) or `pip install spconv-cu120` (pick the wheel matching your CUDA), or select "
        "backend='minkowski' if you have MinkowskiEngine."
    ) from exc

NAME = "spconv"
SUPPORTS_DEPTHWISE = False  # spconv 2.3.8 has no groups>1 / depthwise sparse convolution


def _null_stream() -> int:
    """CPU kernels ignore the stream handle; 0 is the null stream."""
    return 0


def _apply_cpu_stream_patch() -> int:
    """Rebind ``get_current_stream`` in every loaded spconv module. Returns the number rebound."""
    original = getattr(_cppcore, "_simshift_original_get_current_stream", _cppcore.get_current_stream)
    _cppcore._simshift_original_get_current_stream = original
    n = 0
    for name, module in list(sys.modules.items()):
        if (name == "spconv" or name.startswith("spconv.")) and getattr(
            module, "get_current_stream", None
        ) is original:
            module.get_current_stream = _null_stream
            n += 1
    return n


CPU_PATCH_APPLIED = False
if not torch.cuda.is_available():
    # Import the modules that bind the name at import time before patching them.
    for _name in ("spconv.pytorch.ops", "spconv.pytorch.hash", "spconv.pytorch.utils"):
        importlib.import_module(_name)

    _apply_cpu_stream_patch()
    CPU_PATCH_APPLIED = True


SparseTensor = spconv.SparseConvTensor
ConvAlgo = spconv.ConvAlgo

#: "torch" (default): CPU convolutions in deterministic PyTorch ops; "spconv": spconv's CPU kernels
CPU_KERNELS = os.environ.get("SIMSHIFT_SPCONV_CPU", "torch")
if CPU_KERNELS not in ("torch", "spconv"):
    raise ValueError(f"SIMSHIFT_SPCONV_CPU must be 'torch' or 'spconv', got {CPU_KERNELS!r}")


def make_tensor(coords: torch.Tensor, feats: torch.Tensor, spatial_shape, batch_size: int):
    """Sparse tensor from (M,4) int [batch, x, y, z] coords and (M,C) features."""
    return spconv.SparseConvTensor(
        feats.contiguous(), coords.to(torch.int32).contiguous(), list(int(s) for s in spatial_shape),
        int(batch_size),
    )


class BiasedSparseConv(torch.nn.Module):
    """A bias-free spconv convolution followed by ``+ bias`` on the features (see module docstring).

    It also picks spconv's algorithm per call from the input's device: spconv fixes it at construction
    (implicit GEMM whenever its build has CUDA kernels), and the implicit-GEMM kernels exist only on
    CUDA, so a model built on a GPU machine but run on its CPU failed ("implicit gemm only support
    cuda"). Weights are stored in the same KRSC layout for every algorithm in spconv 2.x, so switching
    is safe; all layers of one forward pass see the same device, so shared indice keys stay consistent.
    """

    def __init__(self, conv: torch.nn.Module, bias: bool):
        super().__init__()
        self.conv = conv
        self._cuda_algo = conv.algo
        fan_in = conv.in_channels * int(torch.tensor(conv.kernel_size).prod())
        bound = fan_in ** -0.5  # torch.nn.ConvNd's default bias init
        self.bias = torch.nn.Parameter(torch.empty(conv.out_channels).uniform_(-bound, bound)) if bias else None

    @property
    def weight(self) -> torch.nn.Parameter:
        """spconv layout (C_out, k, k, k, C_in)."""
        return self.conv.weight

    def forward(self, x):
        self.conv.algo = self._cuda_algo if x.features.is_cuda else ConvAlgo.Native
        y = self._forward_cpu(x) if not x.features.is_cuda and CPU_KERNELS == "torch" else self.conv(x)
        return y if self.bias is None else y.replace_feature(y.features + self.bias)

    def _forward_cpu(self, x):
        """The same convolution with :mod:`torch_conv` (deterministic at any thread count)."""
        from benchmark.models.sparse import torch_conv as tc

        conv = self.conv
        k = int(conv.kernel_size[0])
        if conv.subm:
            # rulebooks are shared by the layers with the same indice_key, like spconv's indice pairs
            key = f"simshift-rulebook/{conv.indice_key}/{k}" if conv.indice_key else None
            rb = x.indice_dict.get(key) if key else None
            if rb is None:
                rb = tc.subm_rulebook(x.indices, x.spatial_shape, k)
                if key:
                    x.indice_dict[key] = rb
            return x.replace_feature(tc.sparse_conv(x.features, rb, conv.weight))
        if any(int(p) for p in conv.padding) or any(int(d) != 1 for d in conv.dilation):
            raise NotImplementedError("CPU strided conv supports padding 0, dilation 1 only")
        rb, out_coords, out_shape = tc.strided_rulebook(x.indices, x.spatial_shape, k, int(conv.stride[0]))
        feats = tc.sparse_conv(x.features, rb, conv.weight)
        y = spconv.SparseConvTensor(feats, out_coords, out_shape, x.batch_size)
        y.indice_dict = x.indice_dict
        return y


def subm_conv(c_in: int, c_out: int, kernel_size: int, indice_key: str | None = None,
              depthwise: bool = False, bias: bool = True) -> torch.nn.Module:
    """Submanifold convolution: outputs only at the active input sites (keeps sparsity)."""
    if depthwise:
        raise ValueError(
            "spconv 2.3.8 has no depthwise/grouped sparse convolution; use depthwise=False "
            "(a regular SubMConv3d) or backend='minkowski'."
        )
    return BiasedSparseConv(spconv.SubMConv3d(c_in, c_out, kernel_size, padding=kernel_size // 2, bias=False,
                                              indice_key=indice_key), bias)


def down_conv(c_in: int, c_out: int, kernel_size: int, stride: int, bias: bool = True) -> torch.nn.Module:
    """Strided sparse convolution (no padding): output site set is the coarser grid's occupied cells."""
    return BiasedSparseConv(spconv.SparseConv3d(c_in, c_out, kernel_size, stride=stride, padding=0,
                                                bias=False), bias)


def features(x) -> torch.Tensor:
    return x.features


def batch_index(x) -> torch.Tensor:
    return x.indices[:, 0].long()


def replace(x, feats: torch.Tensor):
    return x.replace_feature(feats)
