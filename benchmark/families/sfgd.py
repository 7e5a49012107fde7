"""The ``sfgd`` family: single particles in a magnetised SuperFGD-like scintillator-cube detector.

Source ``generated`` (the embedded default): :class:`benchmark.simulators.sfgd.SFGDGenerator`.
The published cube-detector dataset (Zenodo 10998285) is described in the card but has no fetcher:
its file names and checksums could not be obtained here.
"""
from __future__ import annotations

from benchmark.data.registry import ColumnSpec, FamilySpec, SourceSpec, sparse3d_columns
from benchmark.simulators.sfgd import constants as C
from benchmark.simulators.sfgd.generator import FIXED_DOMAINS, RANDOM_DOMAIN, SFGDGenerator

PARAMETER_COLUMNS = [
    ColumnSpec("crosstalk", "float32", "optical crosstalk strength the event was rendered with: expected fraction "
               "of a fired cube's light seen in each face neighbour (nominal 0.03)"),
    ColumnSpec("crosstalk_f", "float32", "the same as the study's 'kept fraction' f = crosstalk / (2 x 0.03), "
               "0 = no crosstalk, 0.5 = nominal, 1 = twice the measured value"),
    ColumnSpec("crosstalk_hit", "int8", "per cube (same order as charge): 1 if the cube has no true energy deposit "
               "and all its light is crosstalk, else 0 (truth; lets users reproduce the study's 'keep a fraction "
               "of the crosstalk hits' knob)", "", "ragged", truth=True),
]

COLUMNS = tuple(
    ColumnSpec(c.name, c.dtype, {
        "coords": "cube indices (i, j, k) flattened i0,j0,k0,i1,...; cube (i, j, k) spans [i, i+1) x [j, j+1) x "
                  "[k, k+1) cm; 0 <= i < 192 (X), 0 <= j < 56 (Y), 0 <= k < 182 (Z); sorted by linear index",
        "charge": "photo-electrons of the cube = sum of its three fibres (X, Y, Z readout) that passed the threshold",
        "pdg": "PDG code of the true particle: 11 (e-), +-13 (mu-/mu+), +-211 (pi+/pi-), 2212 (p)",
        "start": "true start point (x, y, z) in the detector frame, origin at the detector corner",
        "direction": "true initial unit direction (x, y, z); the magnetic field points along +x",
    }.get(c.name, c.description), c.unit if c.name != "charge" else "p.e.", c.shape, c.length, c.truth)
    for c in sparse3d_columns(PARAMETER_COLUMNS)
)

_gen = SFGDGenerator()
_sizes = "; ".join(f"`{k}`: " + ", ".join(f"{s} {n:,}" for s, n in v.items()) for k, v in _gen.sizes.items())
_ranges = ", ".join(f"{c} {lo:g}-{hi:g} MeV" for c, (lo, hi) in C.KINETIC_ENERGY_RANGE_MEV.items())

DESCRIPTION = f"""
Single particles in a magnetised detector made of 1 cm plastic-scintillator cubes read out by three
orthogonal wavelength-shifting fibres per cube, modelled on the T2K ND280 upgrade SuperFGD
(192 x 56 x 182 cubes, arXiv:2603.14921). It is the stand-in for the cube-detector part of the study
arXiv:2502.07724 (contrastive learning for robustness to detector mis-modelling), whose domains vary
the optical crosstalk between cubes.

**This is an honest stand-in, not a Geant4 simulation.** It is a fast, vectorised parametric
simulator written for SimShift (`benchmark/simulators/sfgd/`); every constant cites its source in
`constants.py`. Physics validation plots and numbers: `datasets/sfgd/VALIDATION.md`.

### Classes and particle gun
Four classes as in the study: `electron` (e-), `muon` (mu- or mu+, 50/50), `charged_pion` (pi+ or pi-,
50/50), `proton`. Classes are drawn with equal probability; kinetic energy uniform: {_ranges}
(the study's ND-LAr ranges; the ranges of the published cube dataset could not be read here). Start
point uniform in the detector at least {C.FIDUCIAL_MARGIN_CM:g} cm from every face, direction isotropic.
Sizes (true events per split): {_sizes}.

### What is modelled
* **Energy loss**: Bethe formula with the Sternheimer density effect for mu/pi/p (minimum 1.94 MeV cm2/g
  in polystyrene, I = 68.7 eV, rho = {C.DENSITY_G_CM3} g/cm3), ICRU-37 collision stopping power for
  e+-; CSDA range tables (at this density: proton 100 MeV 7.6 cm, muon 300 MeV/c 0.84 m), exact per step, so the
  Bragg peak is sharp; Landau-like (Moyal) fluctuations of the visible deposit.
* **Multiple scattering** (Highland) and **curvature** in a {C.MAGNETIC_FIELD_T} T field along +x
  (ND280 upgrade value; the published cube dataset used 0.5 T; a generator option).
* **Electrons**: bremsstrahlung photons (complete-screening spectrum, X0 = 42.4 cm), photon pair
  production and Compton scattering (Klein-Nishina), i.e. a small EM cascade with gaps; showers are
  not contained (the detector is about 1.3 X0 tall).
* **Hadrons**: inelastic nuclear interactions of pions and protons (interaction length 81.7 g/cm2) with
  qualitative outcomes (pion absorption, inelastic scatter, charge exchange to two photons); pi+ at rest
  -> mu+ -> Michel e+; pi- at rest absorbed (a proton); stopped muons emit a Michel electron (mu-
  captured on carbon 7.8% of the time). Decay products are in the same event (no timing).
* **Light**: Birks quenching (kB = 0.126 mm/MeV), {C.PHOTONS_PER_MEV:.1f} photons/MeV per fibre, fibre attenuation
  (two exponentials, 4634 mm / 332 mm) to a readout at the high-index end of each fibre, MPPC PDE {C.MPPC_PDE},
  Poisson photo-electron statistics per fibre (38-72 p.e. per fibre for a MIP crossing 1 cm, depending
  on the distance to the readout),
  MPPC pixel saturation, single-p.e. gain spread and electronics noise, the ND280-upgrade threshold
  (a fibre signal of 1/2/3 p.e. kept with probability 0.10/0.35/0.60, always from 4 p.e.), and a cube
  is reconstructed when at least {C.MIN_VIEWS} of its three fibres fired.
* **Optical crosstalk**: each fired cube leaks a fraction `crosstalk` of its light into each of its
  six face neighbours, which read it through their own fibres (Poisson p.e., same threshold);
  cubes without a true deposit whose light is only crosstalk are flagged (`crosstalk_hit`).
  The fired cube's own light is its calibrated light yield and is identical in every domain.

### Domains (all render the same true particles, paired by `event_id`)
The study kept a random fraction f of simulated crosstalk hits (trained at f = 0, 0.25, 0.5, 0.75, 1,
nominal 0.5; tested at f = 0 to 1 in steps of 0.05). Here f scales the crosstalk strength:
`crosstalk` = f x 2 x {C.CROSSTALK_MEASURED} (the measured per-face value, about 3%).
Domains {", ".join(f"`{n}` (f = {f})" for n, f in FIXED_DOMAINS.items())}; `{RANDOM_DOMAIN}` (each
event draws f uniform in [0, 1]); test-only scan `xscan_000` ... `xscan_100` in steps of 0.05.
Only the crosstalk differs between domains: the same deposits, the same primary photo-electrons
and the same random numbers for the crosstalk itself (a larger strength only adds crosstalk light).

### Units and columns
Coordinates are cube indices (voxel size {C.CUBE_SIZE_CM} cm, origin at the detector corner),
`charge` in photo-electrons (sum of the cube's three fibres), energies in MeV, lengths in cm.
Truth columns (`label`, `pdg`, `kinetic_energy`, `direction`, `start`, `crosstalk_hit`) are never
handed to a method that is not entitled to labels.

### What is NOT modelled
Geant4-level hadronic physics (outcomes of nuclear interactions are qualitative), delta rays as
separate tracks, positron annihilation photons, photonuclear reactions, neutrons (invisible here),
timing and the time separation of Michel electrons, the 2D fibre projections and the 3D "ghost"
cubes their matching creates, dark counts and their coincidences, the far-end fibre reflection,
channel-to-channel light-yield and crosstalk non-uniformity, second-order crosstalk, dead channels,
and the detector's surroundings (a particle leaving the cube volume is lost).

### Published data (not fetched)
The study used the cube-detector datasets of Alonso-Monsalve et al. (arXiv:2211.04890, Commun. Phys.
6, 119 (2023)), Zenodo record 10998285 (doi:10.5281/zenodo.10998285): single e, mu, pi, p in a
SuperFGD-like geometry (1 cm cubes, box +-1000 mm, 0.5 T) with crosstalk hits already simulated and
tagged, stored as reconstructed hits (x, y, z, charge in mm) with a track/crosstalk tag and the true
initial position, direction and momentum. Its file names and checksums could not be read from this
environment, so SimShift ships no fetcher for it; converting it into this schema (hits -> cube
indices, `Tag_Trk` -> `crosstalk_hit`) would be a `published` source of this family.

### Sources
ND280 upgrade simulation code (github t2k-nd280-upgrade/t2k-nd280-upgrade: light yield chain,
attenuation, threshold, crosstalk models), EsbRoot (Birks), SuperFGD_unpacking (geometry), PDG Review
of Particle Physics (Bethe, Highland, radiation and interaction lengths, polystyrene properties),
arXiv:2412.10174 and arXiv:2601.18338 (crosstalk measurements), radiradev/contrastive-neutrino (the
study's crosstalk domains).

### Default domain-shift target
`domain_shift` uses `xtalk_000` (no crosstalk) when no `--target` is given: the nominal-trained
classifier loses most there, 0.717 -> 0.421 accuracy (-0.295, 3 seeds at the default size, events
rotated into their principal axes; the physics-feature probe -0.240), measured with `python -m benchmark run baselines/classifier --dataset sfgd --out runs/grid/classifier/sfgd`.
"""

FAMILY = FamilySpec(
    name="sfgd",
    title="Scintillator-cube detector (SuperFGD-like) single particles",
    description=DESCRIPTION,
    event_kind="sparse3d",
    class_names=C.CLASS_NAMES,
    columns=COLUMNS,
    sources={
        "generated": SourceSpec(
            name="generated",
            kind="generated",
            description=("Built-in fast parametric simulator (`benchmark.simulators.sfgd`, version "
                         f"{SFGDGenerator.version}), deterministic for a given seed: particle gun, transport "
                         "(dE/dx, range, multiple scattering, field, EM cascade, hadronic interactions), "
                         "scintillation with Birks quenching, fibre readout and optical crosstalk."),
            domains=_gen.domains(),
            make_generator=SFGDGenerator,
            citation="SimShift sfgd simulator; crosstalk domains after arXiv:2502.07724",
        ),
    },
    primary_metric="accuracy",
    #: domain_shift target when none is named: the largest loss of the nominal-trained classifier (card)
    default_target="xtalk_000",
    voxel_size_cm=C.CUBE_SIZE_CM,
)
