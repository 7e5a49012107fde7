"""Every physics constant and simulator parameter of the cube-detector simulator, with its source.

Source keys:
[S1] arXiv:2603.14921 (SuperFGD detector paper), [S3] github t2k-nd280-upgrade/t2k-nd280-upgrade,
[S4] github ESSnuSB/EsbRoot, [S5] github MrMefodij/SuperFGD_unpacking, [S6] github
radiradev/contrastive-neutrino, [S7] arXiv:2211.04890 / github saulam/trajectory_fitting,
[S8] Zenodo 10.5281/zenodo.10998285, [S9] arXiv:2412.10174, [S12] Birks' law (polystyrene kB),
[PDG] Particle Data Group, Review of Particle Physics (Passage of particles through matter;
Atomic and nuclear properties of materials: polystyrene).
"Modelling choice" marks a value chosen here (not a measurement); "unverified" marks a value
that could not be checked against a readable source from this environment.
"""
from __future__ import annotations

import math

from benchmark.simulators.physics import Material

# ----------------------------------------------------------------------------- geometry
#: cubes along X, Y, Z [S5 src/SFGD_defines.h: 192 x 56 x 182]
N_CUBES_X, N_CUBES_Y, N_CUBES_Z = 192, 56, 182
GRID = (N_CUBES_X, N_CUBES_Y, N_CUBES_Z)
N_CUBES_TOTAL = N_CUBES_X * N_CUBES_Y * N_CUBES_Z
#: cube edge [S1, S3]; the voxel of the output is one cube
CUBE_SIZE_CM = 1.0
#: vertices are drawn this far from every outer face (modelling choice, so that a particle
#: starts inside the active volume with at least a few cubes around it)
FIDUCIAL_MARGIN_CM = 5.0

# ----------------------------------------------------------------------------- material
#: scintillator density, C8H8 [S3 ND280CubeScintConstructor.cc]; PDG polystyrene is 1.06
DENSITY_G_CM3 = 1.032
#: <Z/A> of polystyrene (C8H8) [PDG atomic and nuclear properties]
Z_OVER_A = 0.53768
#: mean excitation energy of polystyrene [PDG]; reproduces the 1.94 MeV cm2/g minimum of sfgd.md
MEAN_EXCITATION_MEV = 68.7e-6
#: Sternheimer density-effect parameters of polystyrene (-C, x0, x1, a, k, delta0) [PDG
#: atomic and nuclear properties, Sternheimer, Berger & Seltzer 1984] (values from that table;
#: unverified here, the MIP minimum they give is checked in tests)
STERNHEIMER_C = 3.2999
STERNHEIMER_X0 = 0.1647
STERNHEIMER_X1 = 2.5031
STERNHEIMER_A = 0.16454
STERNHEIMER_K = 3.2224
#: polystyrene as the shared Bethe formula needs it (:mod:`benchmark.simulators.physics`; an insulator: delta0 = 0)
POLYSTYRENE = Material("polystyrene scintillator", Z_OVER_A, MEAN_EXCITATION_MEV, DENSITY_G_CM3, STERNHEIMER_X0,
                       STERNHEIMER_X1, STERNHEIMER_C, STERNHEIMER_A, STERNHEIMER_K)
#: radiation length of polystyrene in g/cm2 [computed from the C8H8 composition, sfgd.md section 5; PDG 43.79]
RADIATION_LENGTH_G_CM2 = 43.79
RADIATION_LENGTH_CM = RADIATION_LENGTH_G_CM2 / DENSITY_G_CM3  # 42.4 cm
#: nuclear interaction length of polystyrene in g/cm2 [PDG atomic and nuclear properties: 81.7;
#: unverified here]. Used for protons and, as an approximation, for charged pions (whose
#: cross-section on carbon peaks at the Delta resonance; not modelled).
NUCLEAR_INTERACTION_LENGTH_G_CM2 = 81.7
NUCLEAR_INTERACTION_LENGTH_CM = NUCLEAR_INTERACTION_LENGTH_G_CM2 / DENSITY_G_CM3

# ----------------------------------------------------------------------------- particles [PDG]
M_E = 0.51099895  # MeV
M_MU = 105.6583755
M_PI = 139.57039
M_PI0 = 134.9768
M_P = 938.27208816
#: Bethe-Bloch constant K = 4 pi N_A r_e^2 m_e c^2 [PDG]
K_BETHE = 0.307075  # MeV cm2 / mol
#: classical electron radius [PDG]
R_E_CM = 2.8179403262e-13
AVOGADRO = 6.02214076e23
#: electron density of the scintillator (computed)
ELECTRON_DENSITY_CM3 = DENSITY_G_CM3 * AVOGADRO * Z_OVER_A
#: Michel endpoint, (m_mu^2 + m_e^2) / (2 m_mu) (computed from PDG masses)
MICHEL_EMAX_MEV = (M_MU ** 2 + M_E ** 2) / (2 * M_MU)
#: fraction of stopped mu- captured on carbon instead of decaying: 1 - tau(mu-, C)/tau(mu free)
#: with tau(C) = 2026.3 ns [Suzuki, Measday, Roalsvig, PRC 35 (1987) 2212] and tau = 2196.98 ns [PDG]
MU_MINUS_CAPTURE_FRACTION = 1.0 - 2026.3 / 2196.98
#: kinetic energy of the mu+ from pi+ -> mu+ nu at rest (computed from PDG masses, 4.12 MeV)
PI_DECAY_MUON_T_MEV = math.sqrt(((M_PI ** 2 - M_MU ** 2) / (2 * M_PI)) ** 2 + M_MU ** 2) - M_MU

# ----------------------------------------------------------------------------- transport
#: maximal step length (modelling choice; CSDA energy loss is exact per step through range tables)
STEP_CM = 0.5
#: deposits per step, spread along the chord (0.125 cm sampling of the path within 1 cm cubes)
SUBSTEPS = 4
#: Highland multiple-scattering constants [PDG eq. 34.16: 13.6 MeV, 0.038]
HIGHLAND_MEV = 13.6
HIGHLAND_LOG = 0.038
#: magnetic field, along +X [S3 highlandUP/highlandRecPack parameters: 0.2 T]; the seed
#: dataset [S8] used 0.5 T (arXiv:2211.04890, Fig. 4 caption) -> generator parameter
MAGNETIC_FIELD_T = 0.2
#: p[GeV/c] = 0.299792458 B[T] R[m] (charge 1) -> curvature per cm = this * B / p[MeV/c]
CURVATURE_PER_CM = 0.299792458 * 1e3 / 1e2  # (MeV/c) / (T cm)
#: lowest kinetic energy of the range tables (below: deposited in the last step)
T_TABLE_MIN_MEV = 0.01
T_TABLE_MAX_MEV = 2.0e4
#: the Bethe formula is frozen below this beta*gamma (0.5 MeV for a proton), where it fails;
#: the range below is < 0.01 cm, i.e. irrelevant at 1 cm cubes (modelling choice)
BETAGAMMA_MIN = 0.033
#: bremsstrahlung photons are emitted explicitly above this energy (modelling choice); the
#: spectrum is the complete-screening form (1/k)(4/3 - 4/3 y + y^2)/X0 [PDG eq. 34.29]
BREMS_KMIN_MEV = 1.0
#: photons below this energy are dropped (their range of effect is sub-cube; modelling choice)
PHOTON_CUT_MEV = 0.1
#: high-energy pair-production attenuation 7/(9 X0) [PDG eq. 34.31]
PAIR_MU_ASYMPTOTIC_CM = 7.0 / (9.0 * RADIATION_LENGTH_CM)
#: pair cross-section rises ~ log from threshold: sigma(E)/sigma_inf = min(1, PAIR_LOG_SLOPE ln(E/2m_e));
#: the slope approximates NIST XCOM carbon (~0.3 at 10 MeV, ~0.65 at 100 MeV, ~0.9 at 1 GeV;
#: values recalled, unverified here; modelling choice)
PAIR_LOG_SLOPE = 0.135

# hadronic interactions (modelling choices, qualitative; not tuned to data)
#: outcome probabilities of a charged-pion inelastic interaction: absorption (protons out),
#: inelastic scatter (pion + proton out), charge exchange (pi0 -> 2 gamma)
PION_INTERACTION_PROBS = (0.3, 0.5, 0.2)
#: fraction of the available energy that appears as kinetic energy of visible protons in an
#: absorption (the rest: binding, neutrons) (modelling choice)
PION_ABSORPTION_VISIBLE = (0.2, 0.6)
#: kinetic energy of the proton knocked out by a pi- absorbed at rest, uniform (modelling choice)
PI_MINUS_CAPTURE_PROTON_T_MEV = (5.0, 60.0)

# ----------------------------------------------------------------------------- light
#: Birks constant of polystyrene, 0.126 mm/MeV [S12; also S4 Geant4 code]; 0.208 mm/MeV is the
#: SciBooNE value in the ND280-upgrade and EsbRoot digitisers [S3, S4] (generator parameter)
BIRKS_KB_CM_PER_MEV = 0.0126
#: photons per MeV (after Birks) per fibre at the cube: 156.42 * 0.96 [S3 digitiser chain]
PHOTONS_PER_MEV = 156.42 * 0.96
#: MPPC photon detection efficiency: 0.25 is the S3 prototype setting (0.35 the other one);
#: with the attenuation below it gives 37-70 p.e. per fibre for a 1 cm MIP crossing, about the
#: 40 p.e. per fibre assumed in S3 macro/suvorov/neutron/neutron_merge.C
MPPC_PDE = 0.25
#: fibre attenuation N = N0 [a e^(-(x+d)/L_long) + (1-a) e^(-(x+d)/L_short)] [S3]
ATT_A = 0.77
ATT_L_LONG_CM = 463.4
ATT_L_SHORT_CM = 33.2
ATT_D_CM = 4.1
#: each fibre is read at the high-index end of its axis (one-ended readout [S1]; which end is a
#: modelling choice); the weak far-end reflection of [S5] (R = 0.10-0.25, fit bounds) is not modelled
#: pixels of an S13360-1325 MPPC, 1.3 mm / 25 um pitch -> 2668 [Hamamatsu datasheet; unverified here]
MPPC_PIXELS = 2668
#: single-p.e. gain spread and electronics noise, in p.e. (modelling choices; unverified)
SPE_SIGMA = 0.10
ELECTRONICS_NOISE_PE = 0.20
#: probability to keep a fibre signal of 0, 1, 2, 3, >=4 p.e. [S3 SFGD_Reconstruction.cc aux_threshold]
THRESHOLD_KEEP_PROB = (0.0, 0.10, 0.35, 0.60, 1.0)
#: a cube is reconstructed when at least this many of its three fibres fired (two views fix x, y, z;
#: modelling choice; S3 matches the three 2D views)
MIN_VIEWS = 2

# ----------------------------------------------------------------------------- crosstalk
#: measured optical crosstalk per face: light in a face neighbour / light in the fired cube.
#: About 3% [DESIGN.md section 2]; S3 model A draws 0.01 * Poisson(2.8) per deposit (mean 2.8%),
#: S3 model B uses 3.4%, measurements give 2-6% (arXiv:2601.18338, via a summary) and 4-5% on a
#: 3D-printed prototype [S9]
CROSSTALK_MEASURED = 0.03
#: the study's kept fraction f maps to strength = f * 2 * measured (DESIGN.md section 2)
CROSSTALK_MAX = 2.0 * CROSSTALK_MEASURED

# ----------------------------------------------------------------------------- particle gun
#: class order = label index. Four classes as in the study [S6 configs; DESIGN.md section 8]
CLASS_NAMES = ("electron", "muon", "charged_pion", "proton")
#: kinetic-energy ranges in MeV, uniform; the study's ND-LAr ranges (0.05-1 GeV, protons
#: 0.05-0.4 GeV; arXiv:2502.07724) because the cube dataset's ranges [S8] could not be read
KINETIC_ENERGY_RANGE_MEV = {
    "electron": (50.0, 1000.0),
    "muon": (50.0, 1000.0),
    "charged_pion": (50.0, 1000.0),
    "proton": (50.0, 400.0),
}
