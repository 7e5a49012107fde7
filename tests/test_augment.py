"""Augmentations: each test checks the stated property and fails if the augmentation breaks it."""
import math

import pytest
import torch

torch.set_num_threads(1)

from benchmark.augment import jets as ja  # noqa: E402
from benchmark.augment import sparse3d as sa  # noqa: E402


def _flat_events(gen, sizes, extent=30):
    b = torch.cat([torch.full((n,), i) for i, n in enumerate(sizes)])
    xyz = torch.randint(0, extent, (b.shape[0], 3), generator=gen).float()
    return b, xyz, torch.ones(b.shape[0], 1)


# ---------------------------------------------------------------- sparse 3D

def _pairwise(p):
    return (p[:, None, :] - p[None, :, :]).norm(dim=-1)


def test_rotation_preserves_pairwise_distances_and_is_random():
    gen = torch.Generator().manual_seed(0)
    b, xyz, f = _flat_events(gen, [20, 35, 10])
    sel = torch.tensor([True, True, False])
    b2, xyz2, f2 = sa.rotate(b, xyz, f, 3, sel, gen)
    for i in range(3):
        m = b == i
        torch.testing.assert_close(_pairwise(xyz2[m]), _pairwise(xyz[m]), rtol=1e-5, atol=1e-4)
    assert (xyz2[b < 2] - xyz[b < 2]).abs().max() > 1.0        # selected events did move
    assert torch.equal(xyz2[b == 2], xyz[b == 2])               # unselected did not
    rot = sa.random_rotation_matrices(4000, gen, dtype=torch.float64)
    torch.testing.assert_close(rot @ rot.transpose(1, 2), torch.eye(3, dtype=torch.float64).expand(4000, 3, 3))
    assert torch.allclose(torch.linalg.det(rot), torch.ones(4000, dtype=torch.float64))
    assert rot.mean(0).abs().max() < 0.05     # Haar measure: E[R] = 0 (std per entry 1/sqrt(3 * 4000))


def test_drop_rate_is_p_and_never_empties_an_event():
    gen = torch.Generator().manual_seed(1)
    b, xyz, f = _flat_events(gen, [4000] * 5)
    b2, _, _ = sa.drop(b, xyz, f, 5, torch.ones(5, dtype=torch.bool), gen, p=0.1)
    frac = 1 - b2.shape[0] / b.shape[0]
    assert abs(frac - 0.1) < 4 * math.sqrt(0.1 * 0.9 / b.shape[0])
    single = torch.arange(50)                                    # 50 one-voxel events, p = 0.9
    b3, _, _ = sa.drop(single, torch.zeros(50, 3), torch.ones(50, 1), 50, torch.ones(50, dtype=torch.bool),
                       gen, p=0.9)
    assert torch.equal(b3.unique(), single)


def test_charge_noise_mean_and_std():
    gen = torch.Generator().manual_seed(2)
    b, xyz, f = _flat_events(gen, [20000])
    _, _, f2 = sa.charge_noise(b, xyz, 3 * f, 1, torch.ones(1, dtype=torch.bool), gen, sigma=0.25)
    scale = f2[:, 0] / 3
    n = scale.numel()
    assert abs(scale.mean().item() - 1.0) < 4 * 0.25 / math.sqrt(n)
    assert abs(scale.std().item() - 0.25) < 4 * 0.25 / math.sqrt(2 * n)


def test_energy_scale_is_one_factor_per_event():
    gen = torch.Generator().manual_seed(12)
    b, xyz, f = _flat_events(gen, [3] * 4000)
    _, _, f2 = sa.energy_scale(b, xyz, f, 4000, torch.ones(4000, dtype=torch.bool), gen, sigma=0.1)
    per_event = f2[:, 0].reshape(4000, 3)
    assert torch.equal(per_event[:, 0:1].expand(-1, 3), per_event)
    assert abs(per_event[:, 0].mean().item() - 1) < 0.01 and abs(per_event[:, 0].std().item() - 0.1) < 0.005


def test_crop_keeps_one_contiguous_slab_of_the_stated_fraction():
    """A straight 200-voxel track: a crop keeps one unbroken run of it, 0.5-1 of its length; unselected
    events and one-voxel events are kept whole."""
    gen = torch.Generator().manual_seed(14)
    n, length = 400, 200
    b = torch.arange(n).repeat_interleave(length)
    xyz = torch.zeros(n * length, 3)
    xyz[:, 0] = torch.arange(length).float().repeat(n)
    sel = torch.ones(n, dtype=torch.bool)
    sel[:100] = False
    b2, xyz2, f2 = sa.crop(b, xyz, torch.ones(n * length, 1), n, sel, gen, min_fraction=0.5)
    kept = torch.bincount(b2, minlength=n)
    assert torch.equal(kept[:100], torch.full((100,), length))
    cropped = kept[100:].float() / length
    # the kept length along x is frac * |u_x| / |u_x| of the extent: a fraction in [0.5, 1] up to voxel rounding
    assert cropped.min() >= 0.5 - 1.5 / length and cropped.max() <= 1.0
    assert cropped.mean() < 0.8                                  # U[0.5, 1]: mean 0.75, not whole events
    for i in range(100, n):                                      # contiguous: no hole inside the run
        x = xyz2[b2 == i, 0]
        assert x.max() - x.min() + 1 == x.numel()
    single = torch.arange(50)                                    # never empties an event
    b3, _, _ = sa.crop(single, torch.zeros(50, 3), torch.ones(50, 1), 50, torch.ones(50, dtype=torch.bool), gen)
    assert torch.equal(b3.unique(), single)
    with pytest.raises(ValueError, match="crop_min_fraction"):
        sa.SparseAugmentConfig(crop_min_fraction=0.0)


def test_translate_shifts_whole_events():
    gen = torch.Generator().manual_seed(13)
    b, xyz, f = _flat_events(gen, [10, 10])
    _, xyz2, _ = sa.translate(b, xyz, f, 2, torch.tensor([True, False]), gen, max_shift=4.0)
    d = xyz2 - xyz
    assert torch.allclose(d[:10], d[:1].expand(10, 3)) and (d[0] >= 0).all() and (d[0] <= 4).all()
    assert d[0].abs().sum() > 0 and torch.equal(d[10:], torch.zeros(10, 3))


def test_wiggle_width():
    gen = torch.Generator().manual_seed(3)
    b, xyz, f = _flat_events(gen, [10000])
    _, xyz2, _ = sa.wiggle(b, xyz, f, 1, torch.ones(1, dtype=torch.bool), gen, sigma=0.3)
    d = xyz2 - xyz
    assert abs(d.mean().item()) < 0.01 and abs(d.std().item() - 0.3) < 0.01


def test_revoxelise_merges_duplicates_conserves_charge_and_shifts_to_non_negative():
    b = torch.tensor([0, 0, 0, 1, 1])
    xyz = torch.tensor([[0.2, 0.1, -0.1], [-0.3, 0.4, 0.0], [2.0, 1.0, 1.0], [-3.0, 5.0, 5.0], [-2.0, 5.0, 5.0]])
    f = torch.tensor([[1.0], [2.0], [4.0], [8.0], [16.0]])
    coords, feats = sa.revoxelise(b, xyz, f, 2)
    assert coords.dtype == torch.int32 and (coords[:, 1:] >= 0).all()
    as_dict = {tuple(c.tolist()): v.item() for c, v in zip(coords, feats)}
    assert as_dict == {(0, 0, 0, 0): 3.0, (0, 2, 1, 1): 4.0, (1, 0, 5, 5): 8.0, (1, 1, 5, 5): 16.0}


def _track(direction, n=60, start=(40.0, 50.0, 45.0)):
    """A straight track of ``n`` one-voxel steps whose charge rises towards its end (a Bragg peak)."""
    t = torch.arange(n, dtype=torch.float64)
    d = torch.tensor(direction, dtype=torch.float64)
    xyz = torch.tensor(start, dtype=torch.float64) + t[:, None] * d / d.norm()
    return xyz, (1 + t / 10)[:, None].float()


def test_align_principal_axes_puts_the_longest_spread_on_x_and_the_charge_peak_at_small_x():
    b = torch.zeros(60, dtype=torch.long)
    for direction in ([0.3, 0.8, -0.52], [-1.0, 0.1, 0.05], [0.0, 0.0, -1.0]):
        xyz, q = _track(direction)
        coords, feats = sa.revoxelise(b, xyz.float(), q, 1)
        out, out_q = sa.align_principal_axes(coords, feats, 1)
        ext = out[:, 1:].max(dim=0).values - out[:, 1:].min(dim=0).values
        assert ext[0] >= 55 and ext[1] <= 3 and ext[2] <= 3, (direction, ext)
        assert out[:, 1:].min() == 0                                   # shifted to start at 0
        assert torch.isclose(out_q.sum(), feats.sum())                 # no charge lost in re-voxelising
        near = out[:, 1] < out[:, 1].float().median()
        assert out_q[near].sum() > out_q[~near].sum()                  # the Bragg peak at small x


def test_align_principal_axes_gives_one_pose_for_every_exact_rotation_or_reflection_of_an_event():
    """Axis permutations and flips are exact on the voxel grid: the aligned events must be identical."""
    gen = torch.Generator().manual_seed(3)
    n = 2
    coords = torch.cat([torch.cat([torch.full((40, 1), e), torch.randint(0, 30, (40, 3), generator=gen)], 1)
                        for e in range(n)]).int()
    coords = torch.unique(coords, dim=0)
    feats = torch.rand(coords.shape[0], 1, generator=gen) * 100
    moved = coords.clone()
    moved[:, 1:] = coords[:, [3, 1, 2]]
    moved[:, 2] = 29 - moved[:, 2]
    key = lambda c, f: sorted(zip(map(tuple, c.tolist()), f[:, 0].tolist()))
    a = key(*sa.align_principal_axes(coords, feats, n))
    m = key(*sa.align_principal_axes(moved, feats, n))
    assert [k for k, _ in a] == [k for k, _ in m]
    assert [v for _, v in a] == pytest.approx([v for _, v in m])
    assert key(coords, feats) != key(moved, feats)


def test_sparse_augment_composition_draws_with_replacement():
    gen = torch.Generator().manual_seed(4)
    xyz = torch.stack(torch.meshgrid(torch.arange(15), torch.arange(20), torch.arange(10), indexing="ij"), -1)
    coords = torch.cat([torch.cat([torch.full((3000, 1), i), xyz.reshape(-1, 3)], 1) for i in range(4)]).int()
    feats = torch.ones(coords.shape[0], 1)
    # only "drop" in the pool, 3 draws: each voxel survives with 0.9^3
    out, _ = sa.SparseAugment(ops=("drop",), n_draws=3)(coords, feats, generator=gen)
    kept = out.shape[0] / coords.shape[0]
    assert abs(kept - 0.9 ** 3) < 4 * math.sqrt(0.729 * 0.271 / coords.shape[0])
    same, same_f = sa.SparseAugment(ops=("identity",))(coords, feats, generator=gen)
    assert torch.equal(same, coords) and torch.equal(same_f, feats)
    aug = sa.SparseAugment()                   # the study's pool
    v1 = aug(coords, 5 * feats, generator=torch.Generator().manual_seed(9))
    v2 = aug(coords, 5 * feats, generator=torch.Generator().manual_seed(9))
    assert torch.equal(v1[0], v2[0]) and torch.equal(v1[1], v2[1])          # reproducible from the generator
    assert v1[0].shape[1] == 4 and (v1[0][:, 1:] >= 0).all()
    with pytest.raises(ValueError, match="unknown sparse augmentation"):
        sa.SparseAugment(ops=("mirror",))


# ---------------------------------------------------------------- jets

def _jets(gen, n_const, L, pt=None):
    B = len(n_const)
    x = torch.zeros(B, L, 3, dtype=torch.float64)
    mask = torch.zeros(B, L, dtype=torch.bool)
    for i, n in enumerate(n_const):
        x[i, :n, 0] = torch.rand(n, generator=gen, dtype=torch.float64) * 50 + 0.5 if pt is None else pt
        x[i, :n, 1:] = torch.randn(n, 2, generator=gen, dtype=torch.float64) * 0.2
        mask[i, :n] = True
    return x, mask


def _pt_centroid(x, mask):
    w = x[..., 0] * mask
    return (x[..., 1:] * w[..., None]).sum(1) / w.sum(1, keepdim=True)


def test_collinear_split_conserves_pt_and_direction():
    gen = torch.Generator().manual_seed(5)
    x, mask = _jets(gen, [5, 12, 20, 1], 20)
    y, m = ja.collinear_split(x, mask, gen)
    torch.testing.assert_close((y[..., 0] * m).sum(1), (x[..., 0] * mask).sum(1))
    torch.testing.assert_close(_pt_centroid(y, m), _pt_centroid(x, mask))
    assert m.sum(1).tolist() == [10, 20, 20, 2]             # min(n, free) splits fill the padding
    assert (y[m][:, 0] > 0).all()
    for i in range(4):                                      # every direction's total pT is unchanged
        before, after = {}, {}
        for row, store in ((x[i][mask[i]], before), (y[i][m[i]], after)):
            for pt, eta, phi in row.tolist():
                store[(round(eta, 12), round(phi, 12))] = store.get((round(eta, 12), round(phi, 12)), 0) + pt
        assert before.keys() == after.keys()
        assert all(abs(before[k] - after[k]) < 1e-9 for k in before)
    y2, m2 = ja.collinear_split(x, mask, gen, max_splits=2)
    assert m2.sum(1).tolist() == [7, 14, 20, 2]
    y3, m3 = ja.collinear_split(x, mask, gen, pad_to=30)
    assert y3.shape == (4, 30, 3) and m3.sum(1).tolist() == [10, 24, 30, 2]
    torch.testing.assert_close((y3[..., 0] * m3).sum(1), (x[..., 0] * mask).sum(1))


def test_soft_smear_width_scales_as_inverse_pt():
    gen = torch.Generator().manual_seed(6)
    widths = {}
    for pt in (1.0, 4.0, 20.0, 0.05):
        x, mask = _jets(gen, [400] * 20, 400, pt=pt)
        y, _ = ja.soft_smear(x, mask, gen)
        widths[pt] = (y[..., 1:] - x[..., 1:])[mask].std().item()
    for pt in (1.0, 4.0, 20.0):
        assert widths[pt] == pytest.approx(ja.LAMBDA_SOFT_GEV / pt, rel=0.03)
    assert widths[0.05] == pytest.approx(1.0, rel=0.03)     # capped: sigma = 0.1 / max(pT, 0.1)


def test_translation_shifts_centroid_by_drawn_amount():
    gen = torch.Generator().manual_seed(7)
    x, mask = _jets(gen, [8, 15, 3], 15)
    y, m, shift = ja.translate_jets(x, mask, gen, width=1.0, return_shift=True)
    torch.testing.assert_close(_pt_centroid(y, m) - _pt_centroid(x, mask), shift)
    span = torch.stack([(x[i][mask[i]][:, 1:].amax(0) - x[i][mask[i]][:, 1:].amin(0)) for i in range(3)])
    assert (shift.abs() <= span).all() and (shift.abs() > 0).all()
    assert torch.equal(y[~mask], x[~mask]) and torch.equal(m, mask)          # padding untouched


def test_rotation_about_jet_axis():
    gen = torch.Generator().manual_seed(8)
    x, mask = _jets(gen, [6, 9], 9)
    x[..., 1:] = torch.where(mask[..., None], x[..., 1:] - _pt_centroid(x, mask)[:, None, :], x[..., 1:])
    y, m = ja.rotate_jets(x, mask, angle=torch.tensor([math.pi / 2, math.pi], dtype=torch.float64))
    torch.testing.assert_close(y[0, :6, 1:], torch.stack([-x[0, :6, 2], x[0, :6, 1]], -1))
    torch.testing.assert_close(y[1, :, 1:], -x[1, :, 1:])
    z, _ = ja.rotate_jets(x, mask, gen)
    torch.testing.assert_close(z[..., 1:].norm(dim=-1), x[..., 1:].norm(dim=-1))   # distance to axis kept
    shifted = x.clone()
    shifted[..., 1:] += torch.tensor([0.7, -0.4], dtype=torch.float64) * mask[..., None]   # uncentred jets
    w, _ = ja.rotate_jets(shifted, mask, gen)
    torch.testing.assert_close(_pt_centroid(w, mask), _pt_centroid(shifted, mask))   # rotates about the centroid
    torch.testing.assert_close(z[..., 0], x[..., 0])
    assert (z[..., 1:] - x[..., 1:]).abs().max() > 1e-3


def test_jetclr_views_shapes():
    gen = torch.Generator().manual_seed(9)
    x, mask = _jets(gen, [5, 30], 30)
    (x1, m1), (x2, m2) = ja.jetclr_views(x, mask, gen)
    assert x1.shape == x2.shape == x.shape and torch.equal(m1, mask)
    assert m2.sum() > mask.sum()                   # view 2 was collinearly split
    torch.testing.assert_close((x2[..., 0] * m2).sum(1), (x[..., 0] * mask).sum(1))
