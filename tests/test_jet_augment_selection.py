"""Jet augmentations selected by name (benchmark.augment.jets.jet_views): the default is JetCLR's pair of
views draw for draw, each named augmentation does what it says and only that, a subset applies exactly
its members, and unknown names are refused."""
from __future__ import annotations

import itertools
import math

import pytest
import torch

from benchmark.augment import jets as ja

NAMES = ("rotation", "translation", "soft_smearing", "collinear_splitting")
SUBSETS = [frozenset(c) for k in range(len(NAMES) + 1) for c in itertools.combinations(NAMES, k)]


def make_jets(seed: int = 0, n_const=(3, 12, 25, 40), L: int = 40, dtype=torch.float64, soft: bool = False):
    """Padded jets (pT [GeV], eta, phi): hardest first, a few soft constituents with ``soft``."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(len(n_const), L, 3, dtype=dtype)
    mask = torch.zeros(len(n_const), L, dtype=torch.bool)
    for i, n in enumerate(n_const):
        pt = torch.rand(n, generator=g, dtype=dtype) * 80 + 0.5
        if soft:
            pt[n // 2:] = 10 ** (torch.rand(n - n // 2, generator=g, dtype=dtype) * 2 - 3)  # 1e-3 .. 1e-1 GeV
        x[i, :n, 0] = pt.sort(descending=True).values
        x[i, :n, 1:] = torch.randn(n, 2, generator=g, dtype=dtype) * 0.3 + torch.tensor([0.4, -0.2], dtype=dtype)
        mask[i, :n] = True
    return x, mask


def gen(seed: int = 11) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def reference_jetclr_views(x, mask, generator, width=1.0, pad_to=None):
    """``jetclr_views`` as it was before ``jet_views`` existed (commit 83092fe), line for line."""
    x1, m1 = ja.rotate_jets(x, mask, generator)
    x1, m1 = ja.translate_jets(x1, m1, generator, width=width)
    x2, m2 = ja.rotate_jets(x, mask, generator)
    x2, m2 = ja.collinear_split(x2, m2, generator, pad_to=pad_to)
    x2, m2 = ja.soft_smear(x2, m2, generator)
    x2, m2 = ja.translate_jets(x2, m2, generator, width=width)
    return (x1, m1), (x2, m2)


def reference_subset(x, mask, generator, chosen, width=1.0, pad_to=None):
    """The documented rule: view 1 = rotation, translation; view 2 = rotation, collinear splitting, soft
    smearing, translation; each only if chosen."""
    x1, m1 = x, mask
    if "rotation" in chosen:
        x1, m1 = ja.rotate_jets(x1, m1, generator)
    if "translation" in chosen:
        x1, m1 = ja.translate_jets(x1, m1, generator, width=width)
    x2, m2 = x, mask
    if "rotation" in chosen:
        x2, m2 = ja.rotate_jets(x2, m2, generator)
    if pad_to is not None:
        x2, m2 = ja._pad(x2, m2, pad_to)
    if "collinear_splitting" in chosen:
        x2, m2 = ja.collinear_split(x2, m2, generator)
    if "soft_smearing" in chosen:
        x2, m2 = ja.soft_smear(x2, m2, generator)
    if "translation" in chosen:
        x2, m2 = ja.translate_jets(x2, m2, generator, width=width)
    return (x1, m1), (x2, m2)


def assert_views_equal(a, b):
    for (xa, ma), (xb, mb) in zip(a, b):
        assert xa.shape == xb.shape and torch.equal(xa, xb) and torch.equal(ma, mb)


def centred(x, mask):
    c = ja.pt_centroid(x, mask)
    return x[..., 1] - c[:, None, 0], x[..., 2] - c[:, None, 1]


def wrapped(d):
    return torch.remainder(d + math.pi, 2 * math.pi) - math.pi


# ------------------------------------------------------------------------------------ the default
@pytest.mark.parametrize("width, pad_to", [(1.0, None), (1.0, 64), (0.5, 50)])
def test_default_is_jetclr_bit_identical(width, pad_to):
    x, mask = make_jets(dtype=torch.float32)
    g_ref, g_new, g_old_api = gen(), gen(), gen()
    ref = reference_jetclr_views(x, mask, g_ref, width, pad_to)
    new = ja.jet_views(x, mask, g_new, width=width, pad_to=pad_to)
    old_api = ja.jetclr_views(x, mask, g_old_api, width=width, pad_to=pad_to)
    assert_views_equal(new, ref)
    assert_views_equal(old_api, ref)
    # the same draws, in the same number: the generators are in the same state afterwards
    assert torch.equal(g_ref.get_state(), g_new.get_state())
    assert torch.equal(g_ref.get_state(), g_old_api.get_state())
    assert ja.JET_AUGMENTATIONS == ("rotation", "collinear_splitting", "soft_smearing", "translation")


def test_empty_subset_is_the_identity_and_draws_nothing():
    x, mask = make_jets()
    g = gen()
    state = g.get_state()
    (x1, m1), (x2, m2) = ja.jet_views(x, mask, g, augmentations=())
    assert torch.equal(x1, x) and torch.equal(m1, mask) and torch.equal(x2, x) and torch.equal(m2, mask)
    assert torch.equal(g.get_state(), state)
    assert x1.data_ptr() != x.data_ptr()  # new tensors, the input is not aliased
    # pad_to only adds masked zero slots to view 2
    (_, _), (x2, m2) = ja.jet_views(x, mask, g, augmentations=[], pad_to=50)
    assert x2.shape == (4, 50, 3) and torch.equal(x2[:, :40], x) and torch.equal(m2[:, :40], mask)
    assert not m2[:, 40:].any() and not x2[:, 40:].any()


def test_unknown_names_are_refused_with_the_valid_ones():
    x, mask = make_jets()
    with pytest.raises(ValueError, match="unknown jet augmentation.*'smearing'.*rotation, collinear_splitting, "
                                         "soft_smearing, translation"):
        ja.jet_views(x, mask, gen(), augmentations=("rotation", "smearing"))
    with pytest.raises(ValueError, match="'rotate'"):
        ja.jet_views(x, mask, gen(), augmentations="rotate")


def test_order_repeats_and_a_single_name_do_not_matter():
    x, mask = make_jets()
    a = ja.jet_views(x, mask, gen(), augmentations=("translation", "rotation", "rotation"))
    b = ja.jet_views(x, mask, gen(), augmentations={"rotation", "translation"})
    assert_views_equal(a, b)
    assert_views_equal(ja.jet_views(x, mask, gen(), augmentations="rotation"),
                       ja.jet_views(x, mask, gen(), augmentations=["rotation"]))


# ------------------------------------------------------------------------- each one, and only it
def test_rotation_alone_keeps_pt_and_the_radius_about_the_centroid():
    x, mask = make_jets()
    views = ja.jet_views(x, mask, gen(), augmentations=["rotation"], pad_to=None)
    for xv, mv in views:
        assert torch.equal(mv, mask) and torch.equal(xv[..., 0], x[..., 0])         # pT, multiplicity
        torch.testing.assert_close(ja.pt_centroid(xv, mv), ja.pt_centroid(x, mask))  # rotated about it
        (e0, p0), (e1, p1) = centred(x, mask), centred(xv, mv)
        torch.testing.assert_close(torch.hypot(e1, p1)[mask], torch.hypot(e0, p0)[mask])
        assert not torch.allclose(xv[..., 1][mask], x[..., 1][mask])                # it did rotate
        assert torch.equal(xv[~mask], x[~mask])                                     # padding untouched
        # one rigid angle per jet: the angle of every constituent changed by the same amount
        for j in range(len(x)):
            n = int(mask[j].sum())
            if n < 2:
                continue
            d = wrapped(torch.atan2(p1[j, :n], e1[j, :n]) - torch.atan2(p0[j, :n], e0[j, :n]))
            assert float(wrapped(d - d[0]).abs().max()) < 1e-9
    # the two views draw independent angles
    assert not torch.allclose(views[0][0], views[1][0])


def test_translation_alone_is_one_common_shift_per_jet():
    x, mask = make_jets()
    (x1, m1), (x2, m2) = ja.jet_views(x, mask, gen(), augmentations=["translation"])
    shifts = []
    for xv, mv in ((x1, m1), (x2, m2)):
        assert torch.equal(mv, mask) and torch.equal(xv[..., 0], x[..., 0])
        assert torch.equal(xv[~mask], x[~mask])
        d_eta = xv[..., 1] - x[..., 1]
        d_phi = wrapped(xv[..., 2] - x[..., 2])
        for j in range(len(x)):
            n = int(mask[j].sum())
            torch.testing.assert_close(d_eta[j, :n], d_eta[j, :1].expand(n))
            torch.testing.assert_close(d_phi[j, :n], d_phi[j, :1].expand(n))
            span = x[j, :n, 1:].amax(0) - x[j, :n, 1:].amin(0)                    # |shift| <= width * span
            assert abs(float(d_eta[j, 0])) <= float(span[0]) + 1e-12
        assert torch.all((xv[..., 2][mask] >= -math.pi) & (xv[..., 2][mask] < math.pi))
        shifts.append(d_eta[:, 0])
        # shapes relative to the jet are unchanged (pure translation)
        (e0, p0), (e1, p1) = centred(x, mask), centred(xv, mv)
        torch.testing.assert_close(e1[mask], e0[mask])
    assert len(set(shifts[0].tolist())) == len(x)                                   # one offset per jet
    assert not torch.allclose(shifts[0], shifts[1])                                 # per view


def test_soft_smearing_alone_moves_only_eta_phi_by_lambda_over_pt():
    x, mask = make_jets(n_const=(40,) * 60, soft=True)
    (x1, m1), (x2, m2) = ja.jet_views(x, mask, gen(), augmentations=["soft_smearing"])
    assert torch.equal(x1, x) and torch.equal(m1, mask)                             # view 2 only (JetCLR)
    assert torch.equal(m2, mask) and torch.equal(x2[..., 0], x[..., 0])            # pT, multiplicity kept
    assert torch.equal(x2[~mask], x[~mask])
    pt = x[..., 0][mask]
    sigma = ja.LAMBDA_SOFT_GEV / pt.clamp_min(ja.LAMBDA_SOFT_GEV)                    # 0.1 / max(pT, 0.1)
    d = (x2[..., 1:] - x[..., 1:])[mask]                                            # (n, 2)
    pulls = d / sigma[:, None]
    assert abs(float(pulls.mean())) < 0.05 and abs(float(pulls.std()) - 1) < 0.05   # N(0, sigma^2)
    hard, soft = pt > 1.0, pt < ja.LAMBDA_SOFT_GEV
    assert float(pulls[hard].abs().max()) < 6 and abs(float(d[soft].std()) - 1) < 0.1  # sigma = 1 below 0.1 GeV
    assert float(d[hard].abs().mean()) < float(d[soft].abs().mean()) / 20           # soft ones move most


def test_collinear_splitting_alone_keeps_pt_and_positions_and_adds_constituents():
    x, mask = make_jets()
    (x1, m1), (x2, m2) = ja.jet_views(x, mask, gen(), augmentations=["collinear_splitting"], pad_to=60)
    assert torch.equal(x1, x) and torch.equal(m1, mask)                             # view 2 only (JetCLR)
    n0, n2 = mask.sum(1), m2.sum(1)
    assert torch.equal(n2, n0 + torch.minimum(n0, 60 - n0))                         # every free slot used
    torch.testing.assert_close((x2[..., 0] * m2).sum(1), (x[..., 0] * mask).sum(1))  # total pT per jet
    assert torch.all(x2[..., 0][m2] > 0)
    for j in range(len(x)):
        before = {tuple(p) for p in x[j][mask[j], 1:].tolist()}
        after = [tuple(p) for p in x2[j][m2[j], 1:].tolist()]
        assert set(after) == before                                                 # no (eta, phi) moved
        # and per position, the pT is shared, never changed in sum
        for pos in before:
            pt_before = sum(float(x[j, i, 0]) for i in range(x.shape[1]) if mask[j, i] and tuple(x[j, i, 1:].tolist()) == pos)
            pt_after = sum(float(x2[j, i, 0]) for i in range(x2.shape[1]) if m2[j, i] and tuple(x2[j, i, 1:].tolist()) == pos)
            assert pt_after == pytest.approx(pt_before, rel=1e-12)
    assert torch.equal(x2[:, :40][mask][:, 1:], x[mask][:, 1:])                    # originals stay put


# ------------------------------------------------------------------------------------- subsets
@pytest.mark.parametrize("chosen", SUBSETS, ids=lambda s: "+".join(sorted(s)) or "none")
def test_a_subset_applies_exactly_its_members(chosen):
    x, mask = make_jets(soft=True)
    pad_to = 64
    got = ja.jet_views(x, mask, gen(), augmentations=sorted(chosen), pad_to=pad_to)
    assert_views_equal(got, reference_subset(x, mask, gen(), chosen, pad_to=pad_to))
    (x1, m1), (x2, m2) = got
    # the signature of each member, and no other: view 1 moves iff rotation or translation is chosen
    assert torch.equal(x1, x) == (not chosen & {"rotation", "translation"})
    assert torch.equal(m1, mask)
    # multiplicity grows iff collinear splitting; pT changes only then
    assert bool((m2.sum(1) > mask.sum(1)).any()) == ("collinear_splitting" in chosen)
    assert torch.equal(x2[:, :40, 0], x[..., 0]) == ("collinear_splitting" not in chosen)
    # the pT-weighted centroid moves iff translation (rotation is about it, splitting and smearing of
    # collinear / soft constituents hardly move it; smearing by a little)
    shift = (ja.pt_centroid(x2, m2) - ja.pt_centroid(x, mask)).abs().max()
    if "translation" in chosen:
        assert float(shift) > 1e-3
    elif "soft_smearing" not in chosen:
        assert float(shift) < 1e-9
    # radii about the centroid change only with smearing or translation's phi wrap: without both, kept
    # (per constituent for rotation; for splitting, the children sit at their parent's position)
    if not chosen & {"soft_smearing", "translation", "collinear_splitting"}:
        (e0, p0), (e2, p2) = centred(x, mask), centred(x2[:, :40], m2[:, :40])
        torch.testing.assert_close(torch.hypot(e2, p2)[mask], torch.hypot(e0, p0)[mask])
