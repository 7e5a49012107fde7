"""JetCLR augmentations of jets given as padded constituents (Dillon et al., arXiv:2108.04253;
code bmdillon/JetCLR @90b02f9, scripts/modules/jet_augs.py).

Convention: x float (B, L, 3) = (pT [GeV], eta, phi) per constituent, eta/phi relative to the jet axis;
mask bool (B, L) True for real constituents. Padding entries are left untouched (and stay masked).
Every function returns new tensors ``(x, mask)`` and takes an optional ``torch.Generator``.

- rotate_jets: rotation in the (eta, phi) plane about the jet's pT-weighted centroid by an independent
  uniform angle in [0, 2 pi) per jet. JetCLR rotates about the origin and expects jets centred on their
  pT-weighted centroid (its README); for centred jets the two are the same, for uncentred ones this
  version still keeps the jet in place. Centre jets first anyway (phi is periodic).
- translate_jets: shift of the whole jet by U(-w*(max-min), +w*(max-min)) in eta and, independently, in
  phi, w = 1.0 (JetCLR's default width); phi then wrapped into [-pi, pi) as in JetCLR. Deviation: the
  range (max - min) is taken over real constituents only (JetCLR's includes the zero padding).
- collinear_split: a constituent of transverse momentum pT becomes two, z*pT and (1-z)*pT with
  z ~ U(0, 1), at the same (eta, phi): total pT and the pT-weighted direction are unchanged (an IR- and
  collinear-safe observable is invariant). As in JetCLR the splits fill the free padding slots: each jet
  splits min(n_real, n_free) distinct real constituents chosen uniformly (JetCLR: 50 - max(n, 25) of the
  first max(n, 25) entries of a 50-slot array, i.e. it also fills the padding). Pass ``max_splits`` to cap
  it, and ``pad_to`` to add padding first (a batch padded to its longest jet has no free slot there;
  JetCLR's arrays have 50).
- soft_smear: eta and phi of each constituent get independent Gaussian shifts with sigma = Lambda_soft / pT,
  Lambda_soft = 0.1 GeV (JetCLR: sigma = 0.1 / max(pT [GeV], 0.1), so the width never exceeds 1).
- jetclr_views: JetCLR's pair of views (code order): view 1 = rotate, translate; view 2 = rotate,
  collinear split, soft smear, translate (each view with its own draws).
- jet_views: the same pair of views from any subset of the named augmentations
  (:data:`JET_AUGMENTATIONS`: "rotation", "translation", "soft_smearing", "collinear_splitting"), e.g.
  for an ablation like JetCLR's (arXiv:2108.04253 compares subsets, down to no augmentation at all).
  Each selected one is applied where and in the order JetCLR applies it (rotation and translation to
  both views, splitting and smearing to view 2 only), the others are skipped; the default (all four)
  is jetclr_views, draw for draw.
"""
from __future__ import annotations

import math

import torch

__all__ = ["pt_centroid", "rotate_jets", "translate_jets", "collinear_split", "soft_smear", "jetclr_views", "jet_views", "selected_augmentations",
           "JET_AUGMENTATIONS", "LAMBDA_SOFT_GEV"]

LAMBDA_SOFT_GEV = 0.1  # JetCLR soft-smearing scale (bmdillon/JetCLR jet_augs.py: 0.1 / pT)
#: the names :func:`jet_views` accepts, in the order JetCLR applies them to view 2
JET_AUGMENTATIONS = ("rotation", "collinear_splitting", "soft_smearing", "translation")


def _check(x, mask):
    x, mask = torch.as_tensor(x), torch.as_tensor(mask).bool()
    if x.ndim != 3 or x.shape[2] != 3 or mask.shape != x.shape[:2]:
        raise ValueError(f"expected x (B, L, 3) = (pT, eta, phi) and mask (B, L); got {tuple(x.shape)}, "
                         f"{tuple(mask.shape)}")
    return x, mask


def _u(shape, generator, like):
    return torch.rand(shape, generator=generator, dtype=like.dtype).to(like.device)


def pt_centroid(x, mask):
    """(B, 2) pT-weighted mean (eta, phi) of the real constituents (zeros for an empty jet)."""
    w = torch.where(mask, x[..., 0], torch.zeros_like(x[..., 0]))
    return (x[..., 1:] * w[..., None]).sum(1) / w.sum(1, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)


def rotate_jets(x, mask, generator=None, angle: torch.Tensor | None = None):
    """Rotate (eta, phi) about the pT-weighted centroid by ``angle`` (B,) or by U[0, 2 pi) per jet."""
    x, mask = _check(x, mask)
    if angle is None:
        angle = 2 * math.pi * _u(x.shape[0], generator, x)
    c, s = torch.cos(angle)[:, None], torch.sin(angle)[:, None]
    centre = pt_centroid(x, mask)
    eta, phi = x[..., 1] - centre[:, None, 0], x[..., 2] - centre[:, None, 1]
    new = torch.stack([x[..., 0], c * eta - s * phi + centre[:, None, 0],
                       s * eta + c * phi + centre[:, None, 1]], dim=-1)
    return torch.where(mask[..., None], new, x), mask


def _wrap_phi(phi):
    return torch.remainder(phi + math.pi, 2 * math.pi) - math.pi


def translate_jets(x, mask, generator=None, width: float = 1.0, shift: torch.Tensor | None = None,
                   return_shift: bool = False):
    """Shift each jet by ``shift`` (B, 2) (d_eta, d_phi) or by U(+-width*(max-min)) per coordinate."""
    x, mask = _check(x, mask)
    if shift is None:
        big = torch.finfo(x.dtype).max
        hi = torch.where(mask[..., None], x[..., 1:], torch.full_like(x[..., 1:], -big)).amax(dim=1)
        lo = torch.where(mask[..., None], x[..., 1:], torch.full_like(x[..., 1:], big)).amin(dim=1)
        span = torch.where(mask.any(dim=1)[:, None], hi - lo, torch.zeros_like(hi))
        shift = width * span * (2 * _u((x.shape[0], 2), generator, x) - 1)
    eta = x[..., 1] + shift[:, None, 0]
    phi = _wrap_phi(x[..., 2] + shift[:, None, 1])
    new = torch.stack([x[..., 0], eta, phi], dim=-1)
    out = torch.where(mask[..., None], new, x), mask
    return (*out, shift) if return_shift else out


def collinear_split(x, mask, generator=None, max_splits: int | None = None, pad_to: int | None = None):
    """Split distinct real constituents into two collinear ones sharing the pT; new ones fill padding."""
    x, mask = _check(x, mask)
    if pad_to is not None and pad_to > x.shape[1]:
        extra = pad_to - x.shape[1]
        x = torch.cat([x, x.new_zeros((x.shape[0], extra, 3))], dim=1)
        mask = torch.cat([mask, mask.new_zeros((mask.shape[0], extra))], dim=1)
    B, L, _ = x.shape
    n_real = mask.sum(dim=1)
    k = torch.minimum(n_real, L - n_real)
    if max_splits is not None:
        k = k.clamp_max(int(max_splits))
    # real constituents in random order first; free slots (padding) in index order first
    keys = _u((B, L), generator, x) + (~mask).to(x.dtype) * 2
    src = keys.argsort(dim=1)
    dst = (mask.to(torch.int8)).argsort(dim=1, stable=True)
    use = torch.arange(L, device=x.device)[None, :] < k[:, None]          # (B, L): j-th split happens
    z = _u((B, L), generator, x)
    x, mask = x.clone(), mask.clone()
    rows = torch.arange(B, device=x.device)[:, None].expand(B, L)
    src_b, dst_b, rows_b, z_b = src[use], dst[use], rows[use], z[use]
    parent = x[rows_b, src_b]
    child = parent.clone()
    child[:, 0] = parent[:, 0] * (1 - z_b)
    x[rows_b, src_b, 0] = parent[:, 0] * z_b
    x[rows_b, dst_b] = child
    mask[rows_b, dst_b] = True
    return x, mask


def soft_smear(x, mask, generator=None, lambda_soft: float = LAMBDA_SOFT_GEV):
    """eta, phi += N(0, 1) * lambda_soft / max(pT, lambda_soft)  (pT and lambda_soft in GeV)."""
    x, mask = _check(x, mask)
    sigma = lambda_soft / x[..., 0].clamp_min(lambda_soft)
    noise = torch.randn(x.shape[:2] + (2,), generator=generator, dtype=x.dtype).to(x.device)
    new = torch.cat([x[..., :1], x[..., 1:] + noise * sigma[..., None]], dim=-1)
    return torch.where(mask[..., None], new, x), mask


def _pad(x, mask, pad_to):
    if pad_to is None or pad_to <= x.shape[1]:
        return x, mask
    extra = pad_to - x.shape[1]
    return (torch.cat([x, x.new_zeros((x.shape[0], extra, 3))], dim=1),
            torch.cat([mask, mask.new_zeros((mask.shape[0], extra))], dim=1))


def selected_augmentations(augmentations) -> frozenset:
    names = (augmentations,) if isinstance(augmentations, str) else tuple(augmentations)
    unknown = sorted({str(n) for n in names} - set(JET_AUGMENTATIONS))
    if unknown:
        raise ValueError(f"unknown jet augmentation(s) {unknown}; valid names: {', '.join(JET_AUGMENTATIONS)} "
                         "(any subset, () for none)")
    return frozenset(names)


def jet_views(x, mask, generator=None, augmentations=JET_AUGMENTATIONS, width: float = 1.0,
              pad_to: int | None = None):
    """Two views of a batch of jets from a named subset of JetCLR's augmentations; ``((x1, m1), (x2, m2))``.

    ``augmentations``: any subset of :data:`JET_AUGMENTATIONS` (a list, tuple, set or one name; order
    and repeats do not matter).  View 1 gets rotation then translation, view 2 rotation, collinear
    splitting, soft smearing, translation (JetCLR's code order), each only if selected; the random draws
    of the skipped ones are not made, so the default reproduces :func:`jetclr_views` exactly.  The
    empty subset gives the inputs back unchanged (the "no augmentation" row of an ablation).
    ``width`` is the translation width; ``pad_to`` pads view 2 with masked zeros to that many slots
    whatever the subset (room for the splits; padding changes no jet), so the shapes do not depend on it.
    Unknown names raise a ``ValueError`` listing the valid ones.
    """
    chosen = selected_augmentations(augmentations)
    x, mask = _check(x, mask)
    x1, m1 = x.clone(), mask.clone()
    if "rotation" in chosen:
        x1, m1 = rotate_jets(x1, m1, generator)
    if "translation" in chosen:
        x1, m1 = translate_jets(x1, m1, generator, width=width)
    x2, m2 = x.clone(), mask.clone()
    if "rotation" in chosen:
        x2, m2 = rotate_jets(x2, m2, generator)
    x2, m2 = _pad(x2, m2, pad_to)
    if "collinear_splitting" in chosen:
        x2, m2 = collinear_split(x2, m2, generator)
    if "soft_smearing" in chosen:
        x2, m2 = soft_smear(x2, m2, generator)
    if "translation" in chosen:
        x2, m2 = translate_jets(x2, m2, generator, width=width)
    return (x1, m1), (x2, m2)


def jetclr_views(x, mask, generator=None, width: float = 1.0, pad_to: int | None = None):
    """JetCLR's two views of a batch of jets (see module docstring); returns ((x1, m1), (x2, m2)).

    ``pad_to`` (e.g. 50 as JetCLR, or the collate's max_constituents) gives view 2 room for the splits.
    The same as :func:`jet_views` with all four augmentations.
    """
    return jet_views(x, mask, generator, JET_AUGMENTATIONS, width=width, pad_to=pad_to)
