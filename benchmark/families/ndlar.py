"""The ``ndlar`` family: single particles in the DUNE ND-LAr pixelated liquid-argon TPC.

Source ``generated``: :class:`benchmark.simulators.ndlar.generator.NDLArGenerator`, a fast parametric
stand-in for the study's edep-sim + larnd-sim chain (arXiv:2502.07724).
"""
from __future__ import annotations

import dataclasses

from benchmark.data.registry import ColumnSpec, FamilySpec, SourceSpec, sparse3d_columns
from benchmark.simulators.ndlar import constants as C
from benchmark.simulators.ndlar.generator import N_ELECTRONICS_DOMAINS, NDLArGenerator

_PARAMETER_COLUMNS = [ColumnSpec(name, "float32", f"{desc} the event was rendered with", unit)
                      for name, (_, unit, desc) in C.PARAMETERS.items()]


def _columns() -> tuple[ColumnSpec, ...]:
    cols = []
    for c in sparse3d_columns(_PARAMETER_COLUMNS):
        if c.name == "charge":
            c = dataclasses.replace(c, unit="ke-", description=(
                "charge per voxel: sum over the voxel's LArPix hits of the ADC value converted with the NOMINAL "
                "calibration Q = (ADC/256 (V_REF-V_CM) + V_CM - V_PED)/GAIN; can be < 0 where a domain's pedestal "
                "is below nominal"))
        elif c.name == "coords":
            c = dataclasses.replace(c, description=(
                "voxel indices flattened x0,y0,z0,x1,...; voxel = one pixel pitch (0.38 cm) on all three axes; "
                "x = drift coordinate reconstructed from the hit time at the nominal drift velocity; "
                "index 0 at the active-volume corner (-356.7, -148.6, 413.7) cm of the detector frame"))
        elif c.name == "pdg":
            c = dataclasses.replace(c, description="PDG code of the true particle (11, 22, +-13, +-211, 2212)")
        cols.append(c)
    return tuple(cols)


_gen = NDLArGenerator()
_sz = _gen.sizes

DESCRIPTION = f"""
Single particles (electron, photon, muon, charged pion, proton) in the DUNE near-detector liquid-argon
TPC (ND-LAr) with 3.8 mm pixel readout, as in the contrastive-learning study arXiv:2502.07724, which
simulated them with edep-sim (Geant4) and larnd-sim and tested classifiers under detector-parameter throws.
The data here come from **a fast parametric stand-in for that chain written for SimShift** (numpy,
`benchmark/simulators/ndlar`): it reproduces the scales that shape the images (ranges, dE/dx and Bragg
peaks, multiple scattering, shower length and width, the photon conversion gap, recombination, drift,
lifetime, diffusion, LArPix self-triggering and ADC) but it is not Geant4 and not larnd-sim.
Validation plots and their commands: `datasets/ndlar/VALIDATION.md`.

**Classes** (label = index): 0 electron (e-), 1 gamma, 2 muon (mu+ or mu-), 3 charged_pion (pi+ or pi-),
4 proton. Each event draws its class uniformly from its own random numbers (independent of its index and
of `event_id`), so the classes are balanced in expectation, not exactly.
**Kinetic energy** uniform in 50-1000 MeV (e, gamma, mu, pi) and 50-400 MeV (p), as the study's particle gun.
**Start point** uniform in x, y in [-50, 50] cm, z in [600, 700] cm (the study's vertex box, inside the
central module); **direction** isotropic.

**Coordinates and units.** Detector frame of the ND-LAr geometry (cm): x is the drift axis (7 modules of
two 50.4 cm TPCs sharing a central cathode, module pitch 102.1 cm), y vertical, z along the beam (5
modules, pitch 101.42 cm). `coords` are int32 voxel indices at the pixel pitch (0.38 cm) on all three axes,
index = floor((position - origin) / 0.38 cm) with origin (-356.7, -148.6, 413.7) cm, the lower corner of
the active volume. y and z are the pixel centre; x is the drift coordinate reconstructed from the LArPix
timestamp with the **nominal** drift velocity (0.1597 cm/us at 0.5 kV/cm), so an E-field throw stretches
the image along x (factor 0.947-1.048) as in the study. `charge` is in ke- (thousands of electrons),
computed from the ADC code with the **nominal** calibration, summed over the hits in a voxel. Events with
3 voxels or fewer are dropped per domain; `event_id` keeps the pairing, so a domain can hold slightly fewer
events than another.

**Detector parameters** stored with every event as float32 columns (units in the column table):
`efield`, `transverse_diffusion`, `electron_lifetime`, `gain`, `buffer_risetime`, `v_cm`, `v_ref`,
`v_pedestal`, `reset_noise`, `uncorrelated_noise`, `discriminator_noise`, `discriminator_threshold`.
Nominal: 0.5 kV/cm, 8.8e-6 cm^2/us, 2200 us, 4 mV/ke-, 0.1 us, 288 mV, 1300 mV, 580 mV, 900 e-, 500 e-,
650 e-, 7000 e- (larnd-sim defaults = the study's values).

**Domains** (all render the same true particles, paired by `event_id`): `nominal`; detector-physics throws
at the edges of the study's ranges (`efield_low`/`efield_high` 0.45/0.55 kV/cm, `lifetime_low`/`lifetime_high`
500/5000 us, `diffusion_low`/`diffusion_high` 4e-6/14e-6 cm^2/us); {N_ELECTRONICS_DOMAINS} fixed electronics
throws `electronics_1..{N_ELECTRONICS_DOMAINS}` (each draws all nine values once from Gaussians with 1 sigma gain 2%, buffer
rise time 10%, V_CM 2%, V_REF 2%, pedestal 20%, reset noise 10%, uncorrelated noise 10%, discriminator noise
10%, threshold 2%, fixed seed); `physics_random` and `electronics_random`, where every event draws its own
values (uniform in the physics ranges; the electronics Gaussians); test-only one-parameter scans
`scan_lifetime_*` (us), `scan_efield_*` (V/cm), `scan_threshold_*` (e-) for robustness curves. Exact values
are in the domain table (machine readable in the YAML header).

**Sizes.** `default`: {_sz['default']['train']:,} / {_sz['default']['validation']:,} / {_sz['default']['test']:,}
true particles (train / validation / test) per domain (test-only scans: test split only); all domains
take about 90 CPU-seconds with writing (measured about 100 true events/s per core rendered into all 15 train domains,
50 events/s into all 30 test domains) and about 0.8 GB on disk (about 7 kB per event and domain,
420 voxels on average). `full`: {_sz['full']['train']:,} / {_sz['full']['validation']:,} / {_sz['full']['test']:,}
(about one CPU-hour, about 36 GB; shard it with `--shard i/N`).

### What is modelled
* **Tracks** (mu, pi, p and hadronic secondaries): 1 mm steps; mean energy loss from the Bethe formula with
  the Sternheimer density effect for LAr (PDG; I = 188 eV), kinetic energy along the track from the CSDA
  range table (ranges within 1% of the PDG/PSTAR tables at 50-1000 MeV, Bragg peak included); Landau-like (Moyal)
  fluctuations with the Landau width; knock-on electrons (delta rays) above 2 MeV as separate short
  tracks (Rutherford spectrum up to T_max, PDG emission angle), the track keeping the restricted loss; multiple Coulomb scattering with the Highland formula (X0 = 14 cm),
  composed exactly along the track.
* **Pions**: inelastic interactions with an exponential path (lambda = 63 cm, sigma_inel = 0.75 b, an
  assumption in the 0.6-0.9 b band of LArIAT/ProtoDUNE): absorption into 1-3 protons, inelastic
  scattering (softer pion + proton) or charge exchange (pi0 -> two photon showers); decay in flight
  (c tau = 7.8 m); pi+ at rest -> mu+ (4.1 MeV) -> Michel e+; pi- at rest: capture, a few protons.
  Muons: Michel electron after decay at rest (mu+ always, mu- in 24% of cases, the decay fraction in argon).
  Protons: inelastic interactions (lambda = 95 cm, 0.5 b assumed).
* **EM showers**: photons convert after an exponential path of mean 9/7 X0 = 18 cm (conversion gap) into
  an e+e- pair; each electron starts with a scattering minimum-ionising trunk (mean 9.7 cm); the rest of the
  energy is laid down by short electron segments whose centres follow the longitudinal Gamma profile of
  the LAr edep-sim fit (Grindhammer-Peters form) and the lateral profile 2rR^2/(r^2+R^2)^2 with R = R_M/3
  (90% within one Molière radius, R_M = 9.04 cm).
* **Detector** (larnd-sim physics): W_ion = 23.6 eV; recombination Birks (A = 0.800, k = 0.0486, default)
  or modified Box (alpha = 0.93, beta = 0.207) as a generator option; drift velocity from the
  Walkowiak/BNL mobility at 87.17 K; attenuation exp(-t/tau); diffusion sigma = sqrt(2 D t) with D_L = 4e-6
  cm^2/us and the thrown D_T; module gaps dead.
* **Readout**: pixels at the 3.8 mm pitch (a generator parameter), 0.1 us clock; the LArPix self-trigger
  of larnd-sim's fee.py (reset noise, threshold with discriminator and uncorrelated noise, 1.8 us
  integration, 8-bit ADC from gain, V_PED, V_CM, V_REF, reset, busy window, at most 10 hits per pixel);
  buffer rise time as an exponential arrival delay (the discretised kernel of fee.py).

### What is not modelled (honest limits)
Geant4's full physics lists: delta rays below 2 MeV as separate tracks (they stay in the track's deposit) and the scattering of those above, bremsstrahlung and Compton photons as
individual particles (the shower is a parametrised ensemble of segments), photonuclear and
electronuclear reactions, neutrons, nuclear de-excitation photons; energy-dependent pair cross section
(the high-energy conversion length is used at all energies) and Compton scattering of low-energy photons;
measured pi-Ar and p-Ar cross sections and final states (channel fractions are modelling choices); the
induced-current field response of larnd-sim (charge is collected on the pixel it lands on); per-tick
discriminator noise (drawn once per trigger cycle); pixel-tile gaps inside an anode; noise-only hits
(threshold / noise ~ 7); light readout; the 320 us readout window; space charge and field distortions;
per-channel variations of the electronics (a domain's values apply to every pixel).

### Sources
PDG Atomic and Nuclear Properties of liquid argon and the Review of Particle Physics sec. 34 (dE/dx,
density effect, Highland, EM cascades); PSTAR and the PDG muon tables for the range checks; DUNE
larnd-sim (physics, detector, fee.py; the study's fork branch 962804f_contrastive_learning for the seed
electronics values); ICARUS NIM A 523 (2004) 275 (Birks); ArgoNeuT arXiv:1306.1712 (modified Box);
Walkowiak NIM A 449 (2000) 288 (mobility); DeepLearnPhysics/spine (LAr shower fit); the study's
simulation configuration radiradev/dune-nd-detector-sim and arXiv:2309.04639 (throw ranges).
Every constant is listed with its source in `benchmark/simulators/ndlar/constants.py`.

### Default domain-shift target
`domain_shift` uses `electronics_2` (an electronics throw, as the study's "data"; pedestal far below
nominal) when no `--target` is given: the nominal-trained classifier loses 0.870 -> 0.271 accuracy
there (-0.599, 3 seeds at the default size, its largest loss of the 29 shifted domains; the physics-feature
probe -0.507), measured with `python -m benchmark run baselines/classifier --dataset ndlar --out runs/grid/classifier/ndlar`.
"""

FAMILY = FamilySpec(
    name="ndlar",
    title="DUNE ND-LAr single particles",
    description=DESCRIPTION,
    event_kind="sparse3d",
    class_names=C.CLASS_NAMES,
    columns=_columns(),
    sources={"generated": SourceSpec(
        name="generated", kind="generated",
        description=(f"Built-in simulator `NDLArGenerator` version {_gen.version} (numpy, deterministic per seed): "
                     "particle transport in liquid argon + ND-LAr charge drift + LArPix electronics, a fast stand-in "
                     "for edep-sim + larnd-sim."),
        domains=_gen.domains(), make_generator=NDLArGenerator,
        citation="arXiv:2502.07724")},
    primary_metric="accuracy",
    #: domain_shift target when none is named: the largest loss of the nominal-trained classifier (card)
    default_target="electronics_2",
    voxel_size_cm=C.PIXEL_PITCH_CM,
)
