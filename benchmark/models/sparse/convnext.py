"""Sparse ConvNeXt-V2-like encoder for 3D voxel events (ND-LAr, SFGD).

Structure (Woo et al. 2023, ConvNeXt V2, arXiv:2301.00808; sparse version as used by the original
study, arXiv:2502.07724, code radiradev/contrastive-neutrino ``no_lightning/voxel_convnext.py``):

    stem: strided sparse conv (kernel = stride)
    stage i: depth_i x Block(width_i); between stages LayerNorm + sparse conv kernel 2, stride 2
    Block(C): spatial-mixing conv (k^3) -> LayerNorm -> Linear(C, 4C) -> GELU -> GRN -> Linear(4C, C) -> + input
    head: global pooling per event -> h (B, out_dim): max, mean, attention, or several of max / mean /
          attn / logcount concatenated ("mean+logcount"); on ND-LAr neither attention nor the site count
          beat plain mean pooling (docs/learning_curves.md)

As in the study's code (no LayerNorm after the stem, none after pooling, unlike the image ConvNeXt V2;
no drop-path; GRN on for the contrastive encoder, off for its classifier/DANN: ``grn=False``).

How it differs from the study's block (DESIGN.md section 8): the study's spatial mixing is a 7^3
*depthwise* convolution. spconv 2.3.8 (the default backend) has no depthwise/grouped sparse
convolution, so here the spatial mixing is a regular (dense-in-channels) submanifold convolution,
which has C times more weights per block and mixes channels as well as space; to keep that affordable
the kernel is 3^3 in both presets (the study: 7^3). With ``backend="minkowski"`` and
``depthwise=True`` the block uses MinkowskiEngine's channel-wise convolution like the study:
``build_encoder("sparse3d", "full", backend="minkowski", depthwise=True, kernel_size=7)`` is the study's
encoder (MinkowskiEngine only; untested here). The stem of the "full" preset matches the study (4^3 kernel, stride 4); the CPU
"default" preset uses a 2^3 stride-2 stem. Consequence for "full" with spconv: a regular 3^3 conv at
width C has 27*C^2 weights against 343*C for the study's 7^3 depthwise one, so the encoder has about
116 M parameters (the study's: about 31 M) and a 3^3 instead of 7^3 receptive field per block; the
widths, depths, strides, GRN, pooling and the 768-d output are the study's.

Input pose: with ``align=True`` every event is first rotated into its charge-weighted principal axes
and re-voxelised (after any augmentation, in training and inference alike), so the network need not
learn rotation invariance from data; see :func:`benchmark.augment.sparse3d.align_principal_axes`.

Input: the charge enters through sign(q) * log(1 + |q|) by default (``input_transform``). Why: the stem
output is linear in the charge and feeds the residual stream un-normalised, so raw charges of hundreds
to thousands (ADC counts, photo-electrons, different per family) would make the stream's scale depend
on the family's charge unit; the log compresses the dynamic range to O(1-10) and still allows the
slightly negative charges of the charge-noise augmentation. The study fed the raw ADC value; use
``input_transform="none"`` to do the same.

Charge embedding (``charge_embed=K``, off by default): each voxel's transformed charge becomes K channels
GELU(w_k q + b_k), a learned per-voxel code, before the stem. Why: the stem is linear in its input, and the
LayerNorms over channels that follow (in every block and before every downsampling) remove a common scale
of a site's features; with one input channel the amplitude of an isolated track voxel (its dE/dx) is
such a scale. Coded as a pattern across K channels, the amplitude survives the normalisation, as the
scalar inputs of point-cloud networks are lifted by a shared per-point MLP before any aggregation
(PointNet, Qi et al. 2017, arXiv:1612.00593). Measured on ND-LAr in docs/learning_curves.md ("ndlar/*embed16").

LayerNorm and GRN act on the flat (M, C) feature matrix of active sites; GRN's global L2 norm is
taken per event (using the batch index), as in ConvNeXt-V2's sparse MinkowskiGRN.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, replace as dc_replace

import torch
from torch import nn

__all__ = ["ConvNeXtConfig", "SparseConvNeXtEncoder", "PRESETS", "get_backend", "unpack_sparse_batch"]


#: Parts of the global pooling. ``logcount`` = log(1 + number of active sites of the event after the last
#: stage): a mean or max over sites cannot tell a 3 cm stub from a 3 m track of the same local look, and
#: a linear head on top cannot count; the logarithmic degree scaler of PNA (Corso et al. 2020,
#: arXiv:2004.05718) restores that information to mean aggregation in the same way.
#: ``attn`` = attention pooling (Ilse et al. 2018, arXiv:1802.04712): a softmax over the event's sites of a
#: learned score, so that a few telling sites (a shower's first centimetres, a Bragg peak) can dominate
#: the embedding instead of being averaged away among hundreds of track sites.
POOLING_PARTS = ("max", "mean", "attn", "logcount")


@dataclass(frozen=True)
class ConvNeXtConfig:
    """Hyper-parameters of the sparse encoder. ``PRESETS`` holds "default" (CPU) and "full" (the study's)."""

    in_channels: int = 1
    widths: tuple[int, ...] = (16, 32, 64)
    depths: tuple[int, ...] = (1, 1, 1)
    kernel_size: int = 3            # spatial-mixing kernel of each block (study: 7, depthwise)
    stem_kernel: int = 2            # stem conv kernel == stride (study: 4)
    mlp_ratio: int = 4
    grn: bool = True                # study: GRN in the contrastive encoder, not in DANN
    depthwise: bool = False         # only the MinkowskiEngine backend supports True
    pooling: str = "max"            # "max" (study), "mean", or parts joined by "+": "max+mean", "mean+logcount"
    input_transform: str = "log1p"  # "log1p": sign(q) log(1 + |q|) on the charge; "none": raw
    align: bool = False             # rotate each event into its charge-weighted principal axes first
                                    # (benchmark.augment.sparse3d.align_principal_axes): a canonical pose
    charge_embed: int = 0           # > 0: a per-voxel learned embedding Linear(in, K) -> GELU of the
                                    # (transformed) charge before the stem (see module docstring)
    ln_eps: float = 1e-6

    def __post_init__(self):
        if len(self.widths) != len(self.depths) or not self.widths:
            raise ValueError(f"widths {self.widths} and depths {self.depths} must be non-empty and equally long")
        parts = self.pooling.split("+")
        if not parts or any(p not in POOLING_PARTS for p in parts) or len(set(parts)) != len(parts) \
                or parts == ["logcount"]:
            raise ValueError(f"pooling must be one or more of {POOLING_PARTS} joined by '+' (not logcount alone), "
                             f"e.g. 'max', 'mean+logcount'; got {self.pooling!r}")
        if self.input_transform not in ("log1p", "none"):
            raise ValueError(f"input_transform must be 'log1p' or 'none', got {self.input_transform!r}")
        if self.charge_embed < 0:
            raise ValueError(f"charge_embed must be 0 (off) or the width of the charge embedding, got {self.charge_embed}")
        if self.kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd for a centred submanifold conv, got {self.kernel_size}")

    @property
    def pooled_dim(self) -> int:
        """Width of the pooled embedding: the last stage's width per max/mean part, 1 for logcount."""
        return sum(1 if p == "logcount" else self.widths[-1] for p in self.pooling_parts)

    @property
    def pooling_parts(self) -> tuple[str, ...]:
        return tuple(self.pooling.split("+"))

    @property
    def total_stride(self) -> int:
        return self.stem_kernel * 2 ** (len(self.widths) - 1)


PRESETS: dict[str, ConvNeXtConfig] = {
    # CPU-sized: 0.21 M parameters; ~0.3 s forward+backward for 64 events x 300 voxels on one core.
    "default": ConvNeXtConfig(),
    # The study's widths/depths/stem (arXiv:2502.07724 code, voxel_convnext.py); 3^3 regular instead of
    # 7^3 depthwise spatial mixing with spconv (see module docstring). Needs a GPU.
    "full": ConvNeXtConfig(widths=(96, 192, 384, 768), depths=(3, 3, 9, 3), kernel_size=3, stem_kernel=4),
}


def get_backend(name: str):
    """Import a sparse backend module by name ("spconv" default, "minkowski" optional)."""
    modules = {"spconv": "benchmark.models.sparse.spconv_backend",
               "minkowski": "benchmark.models.sparse.minkowski_backend"}
    if name not in modules:
        raise ValueError(f"unknown sparse backend {name!r}; choose one of {sorted(modules)}")
    return importlib.import_module(modules[name])


def unpack_sparse_batch(batch):
    """Accept (coords, feats), (coords, feats, batch_size) or a dict with those keys.

    coords: int (M, 4) [batch_index, x, y, z], each event shifted to start at 0; feats: float (M, C).
    batch_size defaults to max(batch_index) + 1 (pass it when trailing events may be empty).
    """
    if isinstance(batch, dict):
        coords, feats, batch_size = batch["coords"], batch["feats"], batch.get("batch_size")
    elif isinstance(batch, (tuple, list)) and len(batch) in (2, 3):
        coords, feats = batch[0], batch[1]
        batch_size = batch[2] if len(batch) == 3 else None
    else:
        raise TypeError("a sparse batch is (coords (M,4), feats (M,C)[, batch_size]) or a dict with "
                        f"keys coords/feats[/batch_size]; got {type(batch).__name__}")
    coords, feats = torch.as_tensor(coords), torch.as_tensor(feats)
    if coords.ndim != 2 or coords.shape[1] != 4:
        raise ValueError(f"coords must have shape (M, 4) [batch, x, y, z], got {tuple(coords.shape)}")
    if feats.ndim == 1:
        feats = feats[:, None]
    if feats.shape[0] != coords.shape[0]:
        raise ValueError(f"coords has {coords.shape[0]} rows but feats has {feats.shape[0]}")
    if coords.shape[0] == 0:
        raise ValueError("empty sparse batch (no active voxels): drop empty events before encoding")
    if coords.dtype.is_floating_point:
        raise ValueError("coords must be integer voxel indices; re-voxelise (round) float coordinates first")
    if bool((coords[:, 1:] < 0).any()):
        raise ValueError("negative voxel coordinates: shift each event so its coordinates start at 0")
    if batch_size is None:
        batch_size = int(coords[:, 0].max()) + 1
    c = coords.long()
    ext = c.max(dim=0).values + 1
    key = ((c[:, 0] * ext[1] + c[:, 1]) * ext[2] + c[:, 2]) * ext[3] + c[:, 3]
    if torch.unique(key).numel() != key.numel():
        raise ValueError("duplicate (batch, x, y, z) sites in the sparse batch; merge them first "
                         "(benchmark.augment.sparse3d.revoxelise sums their charge)")
    return coords, feats.float(), int(batch_size)


def _scatter_sum(values: torch.Tensor, index: torch.Tensor, n: int) -> torch.Tensor:
    out = values.new_zeros((n,) + values.shape[1:])
    return out.index_add_(0, index, values)


def segment_softmax(scores: torch.Tensor, index: torch.Tensor, n: int) -> torch.Tensor:
    """Softmax of (M,) scores over the sites of each event (max-subtracted for stability)."""
    top = scores.new_full((n,), -torch.inf).scatter_reduce(0, index, scores, reduce="amax", include_self=True)
    e = torch.exp(scores - top.index_select(0, index).detach())
    return e / _scatter_sum(e, index, n).index_select(0, index).clamp_min(1e-30)


class AttentionPool(nn.Module):
    """Attention-based pooling of Ilse et al. (2018), arXiv:1802.04712 eq. 8: score = w^T tanh(V h)."""

    def __init__(self, dim: int, hidden: int | None = None):
        super().__init__()
        hidden = hidden or dim
        self.score = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def forward(self, feats: torch.Tensor, index: torch.Tensor, n: int) -> torch.Tensor:
        a = segment_softmax(self.score(feats).squeeze(1), index, n)
        return _scatter_sum(feats * a[:, None], index, n)


def segment_pool(feats: torch.Tensor, index: torch.Tensor, n: int, mode: str,
                 attention: AttentionPool | None = None) -> torch.Tensor:
    """Per-event pooling of (M, C) site features; ``mode`` = parts of POOLING_PARTS joined by "+", concatenated
    in that order (``attn`` needs the encoder's ``attention`` module). Events with no sites get zeros."""
    counts = None  # sites per event, computed once if a part needs it
    parts = []
    for part in mode.split("+"):
        if part == "attn":
            if attention is None:
                raise ValueError("pooling part 'attn' needs an AttentionPool module")
            parts.append(attention(feats, index, n))
        elif part == "max":
            out = feats.new_zeros((n, feats.shape[1]))
            idx = index[:, None].expand_as(feats)
            parts.append(out.scatter_reduce(0, idx, feats, reduce="amax", include_self=False))
        elif part in ("mean", "logcount"):
            if counts is None:
                counts = _scatter_sum(torch.ones_like(index, dtype=feats.dtype), index, n)
            parts.append(_scatter_sum(feats, index, n) / counts.clamp_min(1)[:, None] if part == "mean"
                         else torch.log1p(counts)[:, None])
        else:
            raise ValueError(f"unknown pooling part {part!r}; choose from {POOLING_PARTS}")
    return torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]


class SparseGRN(nn.Module):
    """Global Response Normalisation (ConvNeXt V2) on sparse features, norms taken per event."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(dim))
        self.beta = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor, index: torch.Tensor, n: int) -> torch.Tensor:
        gx = _scatter_sum(x * x, index, n).clamp_min(1e-12).sqrt()        # (B, C) L2 over sites
        nx = gx / (gx.mean(dim=1, keepdim=True) + self.eps)                  # (B, C)
        # index_select, not nx[index]: the latter's backward (accumulating index_put_) is not
        # deterministic on CPU with more than one thread (see torch_conv.py)
        return self.gamma * (x * nx.index_select(0, index)) + self.beta + x


class Block(nn.Module):
    """ConvNeXt-V2 block with a sparse spatial-mixing conv (regular SubMConv3d for spconv)."""

    def __init__(self, backend, dim: int, cfg: ConvNeXtConfig, indice_key: str):
        super().__init__()
        self.backend_name = backend.NAME  # a name, not the module: keeps the model deep-copyable/picklable
        self.conv = backend.subm_conv(dim, dim, cfg.kernel_size, indice_key=indice_key, depthwise=cfg.depthwise)
        self.norm = nn.LayerNorm(dim, eps=cfg.ln_eps)
        self.pw1 = nn.Linear(dim, cfg.mlp_ratio * dim)
        self.act = nn.GELU()
        self.grn = SparseGRN(cfg.mlp_ratio * dim) if cfg.grn else None
        self.pw2 = nn.Linear(cfg.mlp_ratio * dim, dim)

    def forward(self, x, n: int):
        b = get_backend(self.backend_name)
        shortcut = b.features(x)
        y = b.features(self.conv(x))
        y = self.act(self.pw1(self.norm(y)))
        if self.grn is not None:
            y = self.grn(y, b.batch_index(x), n)
        y = self.pw2(y)
        return b.replace(x, shortcut + y)


class SparseConvNeXtEncoder(nn.Module):
    """(coords, feats[, batch_size]) -> h (B, out_dim). See the module docstring for the architecture."""

    kind = "sparse3d"

    def __init__(self, cfg: ConvNeXtConfig | None = None, backend: str = "spconv", **overrides):
        super().__init__()
        cfg = dc_replace(cfg or PRESETS["default"], **overrides)
        self.cfg = cfg
        self.backend_name = backend
        b = get_backend(backend)
        w = cfg.widths
        self.embed = (nn.Sequential(nn.Linear(cfg.in_channels, cfg.charge_embed), nn.GELU())
                      if cfg.charge_embed > 0 else None)
        stem_in = cfg.charge_embed if cfg.charge_embed > 0 else cfg.in_channels
        self.stem = b.down_conv(stem_in, w[0], cfg.stem_kernel, cfg.stem_kernel)
        self.stages = nn.ModuleList()
        self.downs = nn.ModuleList()
        for i, (width, depth) in enumerate(zip(w, cfg.depths)):
            if i > 0:
                self.downs.append(nn.ModuleDict({
                    "norm": nn.LayerNorm(w[i - 1], eps=cfg.ln_eps),
                    "conv": b.down_conv(w[i - 1], width, 2, 2),
                }))
            self.stages.append(nn.ModuleList(Block(b, width, cfg, indice_key=f"subm{i}") for _ in range(depth)))
        self.attention = AttentionPool(w[-1]) if "attn" in cfg.pooling_parts else None
        self.out_dim = cfg.pooled_dim

    def spatial_shape(self, coords: torch.Tensor) -> list[int]:
        """max+1 per axis, rounded up to a multiple of the total stride (and at least one output cell)."""
        s = self.cfg.total_stride
        extent = coords[:, 1:].max(dim=0).values.long() + 1
        return [int(-(-int(e) // s) * s) for e in extent]

    def forward(self, batch) -> torch.Tensor:
        coords, feats, n = unpack_sparse_batch(batch)
        b = get_backend(self.backend_name)
        dev = next(self.parameters()).device
        feats = feats.to(dev)
        if self.cfg.align:
            from benchmark.augment.sparse3d import align_principal_axes

            coords, feats = align_principal_axes(coords.to(dev), feats, n)
        if self.cfg.input_transform == "log1p":
            feats = torch.sign(feats) * torch.log1p(feats.abs())
        if self.embed is not None:
            feats = self.embed(feats)
        x = b.make_tensor(coords.to(dev), feats, self.spatial_shape(coords), n)
        x = self.stem(x)
        for i, blocks in enumerate(self.stages):
            if i > 0:
                down = self.downs[i - 1]
                x = b.replace(x, down["norm"](b.features(x)))
                x = down["conv"](x)
            for block in blocks:
                x = block(x, n)
        return segment_pool(b.features(x), b.batch_index(x), n, self.cfg.pooling, self.attention)
