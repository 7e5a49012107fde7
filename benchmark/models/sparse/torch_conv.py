"""Sparse 3D convolutions in plain PyTorch ops: deterministic at any CPU thread count.

Why this exists: spconv 2.3.8's CPU path (``ConvAlgo.Native``: per kernel offset ``gather_cpu`` ->
``torch.mm`` -> ``scatter_add_cpu``) gives different -- and wrong -- outputs when more than one
OpenMP thread runs (``torch.set_num_threads(2)`` also sets the OpenMP pool spconv's kernels use).
Measured here on one 3^3 submanifold layer, 64 events x ~420 sites, the *same* indice pairs:
max |delta| 35 between two calls, against 0 at one thread (``benchmarks/BENCHMARKS.md``,
"determinism"). So on CPU the spconv backend computes its convolutions with the functions below and
keeps spconv's weights (layout ``(C_out, k, k, k, C_in)``) and, on CUDA, spconv's own kernels.

Both convolutions are "gather into kernel slots, then one matmul":

Both convolutions use a "rulebook" (Graham, Engelcke and van der Maaten 2018, arXiv:1711.10275;
spconv's CPU algorithm): per kernel offset d the (input row, output row) pairs that exist, then
``out[dst] += f[src] @ W_d^T``, done as ONE gather of all pairs' inputs, one GEMM per offset on
contiguous slices, and ONE ``index_add`` into the output:

* submanifold conv (kernel k odd, stride 1, output at the input sites): neighbours found with a sort
  + ``searchsorted`` over linearised site keys, for half of the offsets only (the pair list of offset
  -d is that of +d reversed), the centre offset being a plain GEMM;
* strided conv (kernel k, stride s, no padding, output wherever the receptive field holds a site):
  each (input site, offset d) with ``(p - d) % s == 0`` feeds output site ``o = (p - d) / s``
  (kernel == stride, the encoder's case: one offset per input, computed directly).

Backward (autograd): GEMM transposes, an ``index_select`` (of the ``index_add``) and an
``index_add_`` (of the ``index_select`` gather). Gathers are written as ``index_select``, never as
``x[idx]``: the backward of advanced indexing is an accumulating ``index_put_``, which on CPU gave
different sums from call to call at two threads (measured: max |delta| 2e-6 for 200k rows into 30k),
while ``index_add_`` and ``scatter_add_`` were bit-identical (the PyTorch reproducibility notes list
only their CUDA versions as non-deterministic). Every op is therefore reproducible at a given thread
count, while the GEMMs still use every thread (``tests/test_models.py`` runs the encoder and a
short training at two threads). Across thread counts results agree to float rounding (~1e-6
relative), not bit for bit: the GEMM kernels block differently. Cross-correlation convention and output site set are those of ``torch.nn.functional.conv3d``
(padding k//2 for submanifold, 0 for strided), which ``tests/test_models.py`` checks.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch

__all__ = ["Rulebook", "site_keys", "subm_rulebook", "strided_rulebook", "sparse_conv"]


def _offsets(k: int, centred: bool, device) -> torch.Tensor:
    """(k^3, 3) kernel offsets in the order of spconv's weight axes (kx, ky, kz), x slowest."""
    r = range(-(k // 2), k // 2 + 1) if centred else range(k)
    return torch.tensor(list(itertools.product(r, r, r)), dtype=torch.long, device=device)


def site_keys(coords: torch.Tensor, shape, pad: int = 1) -> torch.Tensor:
    """int64 key of (b, x, y, z) on a grid padded by ``pad`` cells per side (offsets up to +-pad never wrap)."""
    c = coords.long()
    s0, s1, s2 = (int(n) + 2 * pad for n in shape)
    return ((c[:, 0] * s0 + c[:, 1] + pad) * s1 + c[:, 2] + pad) * s2 + c[:, 3] + pad


@dataclass
class Rulebook:
    """Pairs of one sparse conv, grouped by kernel offset.

    ``src``/``dst`` (P,) input/output rows, offset d's pairs at ``src[starts[d]:starts[d] + counts[d]]``;
    ``centre``: the offset (if any) whose pairs are the identity (submanifold centre: a plain GEMM).
    """

    src: torch.Tensor
    dst: torch.Tensor
    counts: list[int]
    n_out: int
    centre: int | None = None

    @property
    def starts(self) -> list[int]:
        out, acc = [], 0
        for c in self.counts:
            out.append(acc)
            acc += c
        return out


def subm_rulebook(coords: torch.Tensor, shape, k: int) -> Rulebook:
    """Rulebook of a submanifold conv (odd kernel k) on sites ``coords`` (M, 4)."""
    if k % 2 != 1:
        raise ValueError(f"submanifold kernel must be odd, got {k}")
    m = coords.shape[0]
    half = k // 2
    keys = site_keys(coords, shape, pad=half)
    sorted_keys, perm = torch.sort(keys)
    s1, s2 = int(shape[1]) + 2 * half, int(shape[2]) + 2 * half
    off = _offsets(k, True, coords.device)
    K = off.shape[0]
    c = K // 2                                               # centre; offset K-1-d is -(offset d)
    dkey = (off[:c, 0] * s1 + off[:c, 1]) * s2 + off[:c, 2]                  # (c,)
    q = keys[None, :] + dkey[:, None]                                        # (c, M)
    pos = torch.searchsorted(sorted_keys, q).clamp_max(m - 1)
    found = sorted_keys[pos] == q
    d_idx, rows = found.nonzero(as_tuple=True)                               # sorted by offset, then row
    src_half = perm[pos[d_idx, rows]]                                        # the neighbour at +offset d
    counts_half = found.sum(dim=1).tolist()
    # offset -d (index K-1-d): the same pairs reversed; emitted in index order K-1-(c-1) .. K-1
    rev_src, rev_dst, rev_counts = [], [], []
    starts = [0]
    for n in counts_half:
        starts.append(starts[-1] + n)
    for d in range(c - 1, -1, -1):
        a, b = starts[d], starts[d + 1]
        rev_src.append(rows[a:b])
        rev_dst.append(src_half[a:b])
        rev_counts.append(counts_half[d])
    src = torch.cat([src_half, *rev_src]) if m else src_half
    dst = torch.cat([rows, *rev_dst]) if m else rows
    return Rulebook(src, dst, counts_half + [0] + rev_counts, m, centre=c)


def strided_rulebook(coords: torch.Tensor, shape, k: int, s: int):
    """Rulebook of a strided conv (padding 0) and its output sites: (rulebook, out_coords int32, out_shape)."""
    c = coords.long()
    out_shape = [(int(n) - k) // s + 1 for n in shape]
    bound = torch.tensor(out_shape, device=c.device)
    if k == s:   # every input feeds exactly one output, at offset p % s
        o = torch.div(c[:, 1:], s, rounding_mode="floor")
        r = c[:, 1:] - o * s
        in_rows = torch.arange(c.shape[0], device=c.device)
        slots = (r[:, 0] * k + r[:, 1]) * k + r[:, 2]
        ok = (o < bound).all(-1)
        if not bool(ok.all()):
            in_rows, slots, o = in_rows[ok], slots[ok], o[ok]
        oc = torch.cat([c[in_rows, :1], o], dim=1)
    else:
        off = _offsets(k, False, c.device)                                  # (K, 3) in [0, k)
        rel = c[:, None, 1:] - off[None]                                    # (M, K, 3) = o * s
        o = torch.div(rel, s, rounding_mode="floor")
        ok = ((rel - o * s) == 0).all(-1) & (o >= 0).all(-1) & (o < bound).all(-1)
        in_rows, slots = ok.nonzero(as_tuple=True)
        oc = torch.cat([c[in_rows, :1], o[in_rows, slots]], dim=1)
    keys = site_keys(oc, out_shape, pad=0)
    uniq, out_rows = torch.unique(keys, sorted=True, return_inverse=True)
    first = torch.full((uniq.shape[0],), oc.shape[0], dtype=torch.long, device=c.device)
    first = first.scatter_reduce(0, out_rows, torch.arange(oc.shape[0], device=c.device), reduce="amin")
    out_coords = oc[first].to(torch.int32)
    order = torch.argsort(slots, stable=True)
    counts = torch.bincount(slots, minlength=k ** 3).tolist()
    return Rulebook(in_rows[order], out_rows[order], counts, int(uniq.shape[0])), out_coords, out_shape


def sparse_conv(feats: torch.Tensor, rb: Rulebook, weight: torch.Tensor) -> torch.Tensor:
    """out[dst] += f[src] @ W_d^T over the rulebook's offsets d; weight (C_out, k, k, k, C_in)."""
    c_out = weight.shape[0]
    w = weight.reshape(c_out, -1, weight.shape[-1])                          # (C_out, K, C_in)
    # one gather (index_select: its backward is index_add_, deterministic on CPU, whereas the backward of
    # feats[idx] is an accumulating index_put_, which is not at 2 threads); split's backward is one cat
    chunks = feats.index_select(0, rb.src).split(rb.counts)
    parts = [x @ w[:, d].T for d, x in enumerate(chunks) if x.shape[0]]
    out = feats @ w[:, rb.centre].T if rb.centre is not None else feats.new_zeros((rb.n_out, c_out))
    if parts:
        out = out.index_add(0, rb.dst, torch.cat(parts))                     # one scatter-add
    return out
