"""Augmentations of sparse 3D voxel events (ND-LAr, SFGD), vectorised over a flat batch.

The original study's augmentation set (arXiv:2502.07724; code radiradev/contrastive-neutrino
``no_lightning/augmentations.py``): per view, three functions drawn *with
replacement* from {identity, rotate, drop, charge noise, wiggle}, then re-voxelise:

- rotate: uniform random 3D rotation (Haar measure, from a random unit quaternion). Here about the
  event's voxel centroid (the study multiplies the raw coordinates by the matrix, i.e. about the origin;
  re-shifting to start at 0 afterwards makes the two equivalent up to the voxel-grid phase).
- drop: each voxel removed independently with p = 0.1 (study's ``drop``); an event never loses all of
  its voxels (the study skips the drop when it would empty the event; here one voxel is kept).
- charge noise: per-voxel charge scale 1 - 0.25 * N(0, 1) (study's ``shift_energy_byvoxel`` at scale 0.25).
- wiggle: per-voxel Gaussian coordinate jitter, sigma = 0.3 voxel for ND-LAr (1.0 for the cube detector)
  (study's ``translate_byvoxel``).
- energy_scale (available, not in the default draw; the study's "tuned" set adds it): one charge scale
  per event, 1 - 0.1 * N(0, 1) (study's ``shift_energy_normal``, scale_factor 0.1).
- translate (available, not in the default draw): whole-event shift, uniform in [0, max_shift] voxels per axis.
- crop (available, not in the default draw): one slab of the event along a random direction (SimCLR's crop).

Everything works on float coordinates; :func:`revoxelise` rounds to integer voxels, merges sites that
land in the same voxel by summing their charge, and shifts each event so no coordinate is negative.
Input/output convention (the lead's collate): coords int (M, 4) [batch, x, y, z], feats float (M, 1).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = [
    "random_rotation_matrices", "rotate", "drop", "charge_noise", "wiggle", "energy_scale", "translate", "crop",
    "revoxelise", "align_principal_axes",
    "SparseAugmentConfig", "SparseAugment", "OPS",
]


def _rand(shape, generator, device, dtype=torch.float32):
    return torch.rand(shape, generator=generator, dtype=dtype).to(device)


def _randn(shape, generator, device, dtype=torch.float32):
    return torch.randn(shape, generator=generator, dtype=dtype).to(device)


def random_rotation_matrices(n: int, generator: torch.Generator | None = None, device="cpu",
                             dtype=torch.float32) -> torch.Tensor:
    """(n, 3, 3) rotations uniform on SO(3): normalised 4D Gaussian = uniform unit quaternion (Shoemake 1992)."""
    q = _randn((n, 4), generator, device, dtype)
    q = q / q.norm(dim=1, keepdim=True)
    w, x, y, z = q.unbind(1)
    return torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
        2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
        2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
    ], dim=1).reshape(n, 3, 3)


def _event_mean(xyz: torch.Tensor, b: torch.Tensor, n: int) -> torch.Tensor:
    s = xyz.new_zeros((n, 3)).index_add_(0, b, xyz)
    c = xyz.new_zeros(n).index_add_(0, b, torch.ones_like(xyz[:, 0])).clamp_min(1)
    return s / c[:, None]


# Each op: (b (M,) long, xyz (M,3) float, feats (M,C) float, n_events, selected (n,) bool, generator)
#          -> (b, xyz, feats); events with selected False are left untouched.

def rotate(b, xyz, feats, n, selected, generator=None):
    """Rotate the selected events by independent uniform rotations about their voxel centroid."""
    rot = random_rotation_matrices(n, generator, xyz.device, xyz.dtype)
    eye = torch.eye(3, dtype=xyz.dtype, device=xyz.device).expand(n, 3, 3)
    rot = torch.where(selected[:, None, None], rot, eye)
    centre = _event_mean(xyz, b, n)[b]
    xyz = torch.einsum("mij,mj->mi", rot[b], xyz - centre) + centre
    return b, xyz, feats


def _keep_at_least_one(b, keep, n):
    """Re-admit the first voxel of every event that ``keep`` would empty (an event is never lost)."""
    m = b.shape[0]
    kept = torch.zeros(n, dtype=torch.long, device=b.device).index_add_(0, b, keep.long())
    first = torch.full((n,), m, dtype=torch.long, device=b.device).scatter_reduce(
        0, b, torch.arange(m, device=b.device), reduce="amin")
    emptied = (kept == 0) & (first < m)
    keep[first[emptied]] = True
    return keep


def drop(b, xyz, feats, n, selected, generator=None, p: float = 0.1):
    """Remove each voxel of the selected events with probability p; keep >= 1 voxel per event."""
    keep = ~((_rand(b.shape[0], generator, xyz.device) < p) & selected[b])
    keep = _keep_at_least_one(b, keep, n)
    return b[keep], xyz[keep], feats[keep]


def crop(b, xyz, feats, n, selected, generator=None, min_fraction: float = 0.5):
    """Keep one slab of each selected event: along a uniformly random direction, a window of a fraction
    U[min_fraction, 1] of the event's extent, placed uniformly; keep >= 1 voxel per event.

    The sparse analogue of SimCLR's random crop, the augmentation its ablation found most needed
    (Chen et al. 2020, arXiv:2002.05709, section 3): two views that show different parts of a shower
    can only be matched through what the parts share. Not in the study's set.
    """
    u = _randn((n, 3), generator, xyz.device, xyz.dtype)
    u = u / u.norm(dim=1, keepdim=True).clamp_min(1e-12)
    t = (xyz * u[b]).sum(dim=1)
    lo = torch.full((n,), float("inf"), dtype=t.dtype, device=t.device).scatter_reduce(0, b, t, reduce="amin")
    hi = torch.full((n,), float("-inf"), dtype=t.dtype, device=t.device).scatter_reduce(0, b, t, reduce="amax")
    extent = (hi - lo).clamp_min(0)
    frac = min_fraction + (1 - min_fraction) * _rand(n, generator, xyz.device, xyz.dtype)
    start = lo + (1 - frac) * extent * _rand(n, generator, xyz.device, xyz.dtype)
    inside = (t >= start[b]) & (t <= (start + frac * extent)[b])
    keep = _keep_at_least_one(b, inside | ~selected[b], n)
    return b[keep], xyz[keep], feats[keep]


def charge_noise(b, xyz, feats, n, selected, generator=None, sigma: float = 0.25):
    """Multiply each voxel's charge by 1 - sigma * N(0, 1) (study: sigma = 0.25)."""
    scale = 1 - sigma * _randn((b.shape[0], 1), generator, feats.device, feats.dtype)
    scale = torch.where(selected[b][:, None], scale, torch.ones_like(scale))
    return b, xyz, feats * scale


def energy_scale(b, xyz, feats, n, selected, generator=None, sigma: float = 0.1):
    """Multiply all charges of an event by one factor 1 - sigma * N(0, 1) (study: sigma = 0.1)."""
    scale = 1 - sigma * _randn((n, 1), generator, feats.device, feats.dtype)
    scale = torch.where(selected[:, None], scale, torch.ones_like(scale))
    return b, xyz, feats * scale[b]


def wiggle(b, xyz, feats, n, selected, generator=None, sigma: float = 0.3):
    """Gaussian jitter of every voxel coordinate, sigma in voxels (ND-LAr 0.3, cubes 1.0)."""
    jitter = sigma * _randn(xyz.shape, generator, xyz.device, xyz.dtype)
    return b, xyz + jitter * selected[b][:, None], feats


def translate(b, xyz, feats, n, selected, generator=None, max_shift: float = 4.0):
    """Shift each selected event by U[0, max_shift] voxels per axis (changes the stride-grid phase)."""
    shift = max_shift * _rand((n, 3), generator, xyz.device, xyz.dtype) * selected[:, None]
    return b, xyz + shift[b], feats


def revoxelise(b, xyz, feats, n):
    """Round to integer voxels, sum the charge of sites sharing a voxel, shift events to start >= 0.

    Returns coords int32 (M', 4) [batch, x, y, z] sorted by (batch, x, y, z) and feats (M', C).
    """
    ijk = torch.round(xyz).long()
    lo = torch.zeros((n, 3), dtype=torch.long, device=ijk.device).scatter_reduce(
        0, b[:, None].expand(-1, 3), ijk, reduce="amin", include_self=True)  # min(0, event min)
    ijk = ijk - lo[b]
    ext = ijk.max(dim=0).values + 1 if ijk.shape[0] else torch.ones(3, dtype=torch.long)
    key = ((b * ext[0] + ijk[:, 0]) * ext[1] + ijk[:, 1]) * ext[2] + ijk[:, 2]
    uniq, inverse = torch.unique(key, sorted=True, return_inverse=True)
    out_feats = feats.new_zeros((uniq.shape[0], feats.shape[1])).index_add_(0, inverse, feats)
    z = uniq % ext[2]
    y = (uniq // ext[2]) % ext[1]
    x = (uniq // (ext[2] * ext[1])) % ext[0]
    bb = uniq // (ext[2] * ext[1] * ext[0])
    return torch.stack([bb, x, y, z], dim=1).to(torch.int32), out_feats


def align_principal_axes(coords, feats, n: int):
    """Rotate every event into its charge-weighted principal axes and re-voxelise (a canonical pose).

    The voxel analogue of jet-image preprocessing (de Oliveira et al. 2016, arXiv:1511.05190: translate,
    rotate, flip) and of JetCLR's (arXiv:2108.04253): centre on the charge centroid, rotate so that the axes of largest,
    middle and smallest charge-weighted spread become x, y, z, and fix each axis's sign so that the
    charge's third moment along it is positive: the fainter, longer side of the charge centroid points to
    +x, and a stopping track's Bragg peak lies at small x. A network fed events
    in this pose need not learn rotation invariance from the data (ND-LAr particles point anywhere),
    the same way the eigenvalue observables of the physics-feature floor are rotation invariant;
    PCA canonical poses for rotation-invariant point-cloud networks: Luo and Gao 2024, arXiv:2402.01331.

    coords int (M, 4) [batch, x, y, z], feats float (M, C) with the charge in column 0 (negative
    charges get no weight). Returns coords int32 (M', 4) and feats (M', C), as :func:`revoxelise`.
    """
    b = coords[:, 0].long()
    xyz = coords[:, 1:].to(torch.float64)
    q = feats[:, 0].to(torch.float64).clamp_min(0) + 1e-6        # weights; every voxel counts a little
    qsum = q.new_zeros(n).index_add_(0, b, q).clamp_min(1e-12)
    centre = xyz.new_zeros((n, 3)).index_add_(0, b, xyz * q[:, None]) / qsum[:, None]
    d = xyz - centre[b]
    cov = xyz.new_zeros((n, 3, 3)).index_add_(0, b, d[:, :, None] * d[:, None, :] * q[:, None, None])
    cov = cov / qsum[:, None, None] + 1e-9 * torch.eye(3, dtype=xyz.dtype, device=xyz.device)
    _, vecs = torch.linalg.eigh(cov)                              # ascending eigenvalues
    axes = vecs.flip(-1)                                          # columns: largest spread first
    t = torch.einsum("mi,mij->mj", d, axes[b])                    # coordinates along the axes
    skew = xyz.new_zeros((n, 3)).index_add_(0, b, q[:, None] * t ** 3)
    t = t * torch.where(skew < 0, -1.0, 1.0).to(t.dtype)[b]
    return revoxelise(b, t.to(torch.float32), feats, n)


OPS = {"identity": None, "rotate": rotate, "drop": drop, "charge_noise": charge_noise,
       "wiggle": wiggle, "energy_scale": energy_scale, "translate": translate, "crop": crop}


@dataclass(frozen=True)
class SparseAugmentConfig:
    """The study's defaults for ND-LAr; use wiggle_sigma=1.0 for the cube detector."""

    ops: tuple[str, ...] = ("identity", "rotate", "drop", "charge_noise", "wiggle")
    n_draws: int = 3                 # functions drawn with replacement per view (per event)
    p_drop: float = 0.1
    charge_sigma: float = 0.25
    wiggle_sigma: float = 0.3        # voxels
    energy_sigma: float = 0.1        # only used when "energy_scale" is in ops ("tuned" set)
    max_shift: float = 4.0           # voxels, only used when "translate" is in ops
    crop_min_fraction: float = 0.5   # only used when "crop" is in ops

    def __post_init__(self):
        unknown = set(self.ops) - set(OPS)
        if unknown:
            raise ValueError(f"unknown sparse augmentation(s) {sorted(unknown)}; choose from {sorted(OPS)}")
        if not 0 <= self.p_drop < 1:
            raise ValueError(f"p_drop must be in [0, 1), got {self.p_drop}")
        if not 0 < self.crop_min_fraction <= 1:
            raise ValueError(f"crop_min_fraction must be in (0, 1], got {self.crop_min_fraction}")


class SparseAugment:
    """Random view of a batch: each event draws ``n_draws`` ops from ``ops`` (with replacement), then
    the batch is re-voxelised. Call: ``coords, feats = aug(coords, feats, batch_size=None, generator=g)``."""

    def __init__(self, cfg: SparseAugmentConfig | None = None, **overrides):
        from dataclasses import replace as dc_replace

        self.cfg = dc_replace(cfg or SparseAugmentConfig(), **overrides)

    def _kwargs(self, name):
        c = self.cfg
        return {"drop": {"p": c.p_drop}, "charge_noise": {"sigma": c.charge_sigma},
                "wiggle": {"sigma": c.wiggle_sigma},
                "energy_scale": {"sigma": c.energy_sigma}, "translate": {"max_shift": c.max_shift},
                "crop": {"min_fraction": c.crop_min_fraction}}.get(name, {})

    def __call__(self, coords, feats, batch_size: int | None = None, generator: torch.Generator | None = None):
        coords, feats = torch.as_tensor(coords), torch.as_tensor(feats)
        if coords.ndim != 2 or coords.shape[1] != 4:
            raise ValueError(f"coords must be (M, 4) [batch, x, y, z], got {tuple(coords.shape)}")
        squeeze = feats.ndim == 1
        feats = feats[:, None] if squeeze else feats
        b = coords[:, 0].long()
        n = int(batch_size) if batch_size is not None else (int(b.max()) + 1 if b.numel() else 0)
        xyz = coords[:, 1:].to(torch.float32)
        feats = feats.to(torch.float32)
        draws = torch.randint(len(self.cfg.ops), (n, self.cfg.n_draws), generator=generator).to(b.device)
        for slot in range(self.cfg.n_draws):
            for k, name in enumerate(self.cfg.ops):
                op = OPS[name]
                selected = draws[:, slot] == k
                if op is None or not bool(selected.any()):
                    continue
                b, xyz, feats = op(b, xyz, feats, n, selected, generator, **self._kwargs(name))
        coords, feats = revoxelise(b, xyz, feats, n)
        return coords, (feats[:, 0] if squeeze else feats)
