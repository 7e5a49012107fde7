"""Every physics constant and detector parameter of the ND-LAr simulator, with its source.

Source keys:

* [PDG-LAr]  PDG "Atomic and nuclear properties of liquid argon" (pdg.lbl.gov/AtomicNuclearProperties),
             as copied into LArSoft ``LArPropertiesServiceStandard`` and DeepLearnPhysics/spine ``globals.py``.
* [PDG-RPP]  Review of Particle Physics, sec. 34 "Passage of particles through matter" (Bethe formula,
             Sternheimer density effect, Landau width, Highland formula, EM cascades).
* [larnd-sim] DUNE/larnd-sim ``larndsim/consts/{detector,physics}.py``, ``fee.py``, ``drifting.py``; the
             study's fork AlexWilkinsonnn/larnd-sim branch ``962804f_contrastive_learning``
             ``consts/{physics,electronics}.yaml`` (the study's nominal values).
* [ndlar-geo] larnd-sim ``detector_properties/ndlar-module.yaml`` + ``pixel_layouts/multi_tile_layout-3.0.40.yaml``.
* [ICARUS-Birks] ICARUS, NIM A 523 (2004) 275 (Birks A_B, k_B as used by larnd-sim).
* [ArgoNeuT] ArgoNeuT, JINST 8 (2013) P08005, arXiv:1306.1712 (modified Box alpha, beta).
* [Walkowiak] W. Walkowiak, NIM A 449 (2000) 288; BNL parametrisation doi:10.1016/j.nima.2016.01.073
             (drift mobility vs E field and temperature, as coded in larnd-sim ``detector.py``).
* [study]    arXiv:2502.07724 + radiradev/dune-nd-detector-sim + radiradev/contrastive-neutrino
             (energy ranges, vertex box, throw ranges, >3 hits selection); throw ranges arXiv:2309.04639.
* [spine]    DeepLearnPhysics/spine shower utilities: LAr fit of edep-sim EM showers (Grindhammer-Peters
             form, hep-ex/0001020).

"computed" marks a number derived here from the ones above.
"""
from __future__ import annotations

import math

from benchmark.simulators.physics import Material

# --------------------------------------------------------------------------------------------
# Liquid argon                                                                   [PDG-LAr]
# --------------------------------------------------------------------------------------------
LAR_DENSITY = 1.396          # g/cm^3, PDG LAr at 87 K [PDG-LAr]; used for dE/dx and ranges
LAR_DENSITY_RECOMB = 1.38    # g/cm^3, the value larnd-sim uses inside the recombination formulas [larnd-sim physics.py]
LAR_Z_OVER_A = 0.45059       # Z/A [PDG-LAr]
LAR_I_MEV = 188.0e-6         # mean excitation energy 188.0 eV [PDG-LAr] (newer: 197 eV, arXiv:2212.06286; not used)
# Sternheimer density-effect parameters for LAr [PDG-LAr]
STERNHEIMER_A = 0.1956
STERNHEIMER_K = 3.0
STERNHEIMER_X0 = 0.2
STERNHEIMER_X1 = 3.0
STERNHEIMER_CBAR = 5.2146
STERNHEIMER_DELTA0 = 0.0
RADIATION_LENGTH_CM = 14.00  # X0 = 19.55 g/cm^2 / 1.396 g/cm^3 [PDG-LAr]
#: liquid argon as the shared Bethe formula needs it (:mod:`benchmark.simulators.physics`)
LAR = Material("liquid argon", LAR_Z_OVER_A, LAR_I_MEV, LAR_DENSITY, STERNHEIMER_X0, STERNHEIMER_X1,
               STERNHEIMER_CBAR, STERNHEIMER_A, STERNHEIMER_K, STERNHEIMER_DELTA0)
MOLIERE_RADIUS_CM = 9.043    # R_M [PDG-LAr]
CRITICAL_ENERGY_MEV = 32.84  # E_c for electrons (Rossi definition) [PDG-LAr]
PAIR_MFP_CM = 9.0 / 7.0 * RADIATION_LENGTH_CM  # photon conversion length 18.0 cm, high-energy limit [PDG-RPP 34.4.2]
MIP_DEDX_MEV_CM = 2.105      # 1.508 MeV cm^2/g x 1.396 g/cm^3, minimum ionisation [PDG-LAr]
INTERACTION_LENGTH_CONST_CM_B = 47.5  # lambda[cm] = 47.5 / sigma[b], n = 2.104e22 atoms/cm^3 (computed from [PDG-LAr])

# --------------------------------------------------------------------------------------------
# Particles                                                                      [PDG-RPP]
# --------------------------------------------------------------------------------------------
ELECTRON_MASS = 0.51099895   # MeV
MUON_MASS = 105.6583755      # MeV
PION_MASS = 139.57039        # MeV (charged)
PION0_MASS = 134.9768        # MeV
PROTON_MASS = 938.27208816   # MeV
PION_CTAU_CM = 780.45        # c*tau of pi+- = 7.8045 m [PDG]
MUON_LIFETIME_US = 2.1969811  # mu+ lifetime [PDG]
MUON_MINUS_LIFETIME_AR_US = 0.537  # mu- in argon (nuclear capture competes); Suzuki, Measday, Roalsvig,
#                                   PRC 35 (1987) 2212 -- not in the stored references (unverified here)
MICHEL_EMAX_MEV = 52.83      # endpoint of the Michel spectrum, (m_mu^2 + m_e^2) / 2 m_mu [PDG]
PI_MU_NU_MUON_T_MEV = 4.12   # muon kinetic energy from pi+ -> mu+ nu at rest (two-body kinematics, computed)
PI_DECAY_PSTAR_MEV = 29.79   # muon momentum in the pion rest frame (two-body kinematics, computed)

# Hadronic interaction cross sections on argon.  ASSUMPTIONS (the measured values
# [LArIAT, ProtoDUNE-SP] could not be checked here): sigma_inel(pi-Ar) ~ 0.6-0.9 b -> 0.75 b;
# sigma_inel(p-Ar) ~ 0.5 b.
SIGMA_PI_AR_BARN = 0.75
SIGMA_P_AR_BARN = 0.50
PION_INTERACTION_LENGTH_CM = INTERACTION_LENGTH_CONST_CM_B / SIGMA_PI_AR_BARN   # 63 cm (computed)
PROTON_INTERACTION_LENGTH_CM = INTERACTION_LENGTH_CONST_CM_B / SIGMA_P_AR_BARN  # 95 cm (computed)
# Final-state channel fractions of a pi-Ar inelastic interaction (modelling choice, not a measurement):
# absorption (-> protons), inelastic scattering (-> pi + proton), charge exchange (-> pi0 -> 2 gamma).
PION_CHANNEL_FRACTIONS = (0.4, 0.45, 0.15)
# fraction of the energy released in a nuclear break-up that goes to visible protons (rest: neutrons,
# binding, nuclear de-excitation); modelling choice
VISIBLE_NUCLEAR_FRACTION = 0.5
NUCLEON_BINDING_MEV = 8.0    # per removed nucleon, typical nuclear binding energy (textbook value)

# EM shower parametrisation [spine] (LAr fit of edep-sim showers, Grindhammer-Peters form):
#   t_max = 0.689 ln(1 + 0.305 y^1.68),  a = 1.4 + 0.083 ln(1 + 0.21 y^7.83),  b = (a-1)/t_max,  y = E/E_c
SHOWER_TMAX_COEF = (0.689, 0.305, 1.68)
SHOWER_ALPHA_COEF = (1.4, 0.083, 0.21, 7.83)
# Lateral profile f(r) = 2 r R^2 / (r^2 + R^2)^2 (the Grindhammer-Peters functional form) with one
# radius R = R_M/3, so that 90% of the energy lies within 1 R_M [PDG-RPP 34.5] (computed:
# CDF(r) = r^2/(r^2+R^2) = 0.9 at r = 3R).
SHOWER_LATERAL_R_CM = MOLIERE_RADIUS_CM / 3.0
# Shower sub-structure (modelling choices, validated against the two profiles above):
SHOWER_SEGMENT_MEAN_CM = 1.5      # mean length of a shower electron segment (electrons below E_c range out in cm)
SHOWER_SEGMENT_MAX_CM = CRITICAL_ENERGY_MEV / MIP_DEDX_MEV_CM  # 15.6 cm: range of an electron at E_c (computed)
SHOWER_SEGMENT_ANGLE_RAD = 0.5    # rms polar angle of segments to the shower axis
SHOWER_TRUNK_MEAN_CM = RADIATION_LENGTH_CM * math.log(2.0)  # 9.7 cm: mean distance over which an electron
#                                   loses half its energy by radiation, E(x) = E0 exp(-x/X0) [PDG-RPP]

# --------------------------------------------------------------------------------------------
# Tracking
# --------------------------------------------------------------------------------------------
STEP_CM = 0.1                # step length; edep-sim ran with 1 mm steps [study: dune-nd-detector-sim config]
# delta rays above this kinetic energy are separate electron tracks (range ~1 cm, 2-3 voxels); below it
# they stay in the track's local deposit (modelling choice; ~0.05 per cm for a MIP [PDG-RPP 34.2.7])
DELTA_RAY_CUT_MEV = 2.0
LOW_T_MEV = 1.0              # below this, ranges follow R ~ T^1.75 (Bethe formula invalid; tiny ranges)

# --------------------------------------------------------------------------------------------
# Ionisation and recombination                                                  [larnd-sim]
# --------------------------------------------------------------------------------------------
W_ION_MEV = 23.6e-6          # 23.6 eV per electron-ion pair, Phys. Rev. A 10, 1452 (1974) [larnd-sim physics.py]
BIRKS_AB = 0.800             # [ICARUS-Birks] as in [larnd-sim physics.py]
BIRKS_KB = 0.0486            # (kV/cm)(g/cm^2)/MeV [ICARUS-Birks]
BOX_ALPHA = 0.93             # modified Box [ArgoNeuT] as in [larnd-sim physics.py]
BOX_BETA = 0.207             # (kV/cm)(g/cm^2)/MeV = 0.3 (MeV/cm)^-1 x 1.383 x 0.5 [larnd-sim physics.py]
RECOMBINATION_MODELS = ("birks", "box")

# --------------------------------------------------------------------------------------------
# Drift                                                                    [larnd-sim, Walkowiak]
# --------------------------------------------------------------------------------------------
MOBILITY_A = (551.6, 7158.3, 4440.43, 4.29, 43.63, 0.2053)  # cm^2/V/s, E in kV/cm [Walkowiak]
MOBILITY_T0_K = 89.0
LAR_TEMPERATURE_K = 87.17    # [larnd-sim detector.py]
LONGITUDINAL_DIFFUSION = 4.0e-6  # D_L, cm^2/us [larnd-sim drifting.py / physics.yaml] (not thrown)

# --------------------------------------------------------------------------------------------
# Nominal values and throw ranges of the varied detector-physics parameters     [study]
# --------------------------------------------------------------------------------------------
EFIELD_NOMINAL = 0.50        # kV/cm
EFIELD_RANGE = (0.45, 0.55)
TRANSVERSE_DIFFUSION_NOMINAL = 8.8e-6   # cm^2/us [larnd-sim]
TRANSVERSE_DIFFUSION_RANGE = (4.0e-6, 14.0e-6)
LIFETIME_NOMINAL = 2200.0    # us [larnd-sim ndlar-module.yaml]
LIFETIME_RANGE = (500.0, 5000.0)

# --------------------------------------------------------------------------------------------
# Geometry (detector frame = edep-sim/geometry frame, cm)                    [ndlar-geo]
# x is the drift axis; 7 modules along x (pitch 102.1 cm), each two TPCs of 50.4 cm drift sharing a
# central cathode, anodes on the outer faces; 5 modules along z (pitch 101.42 cm, 97.28 cm active);
# y is one 304 cm tall anode.  Gaps between modules are dead.
# --------------------------------------------------------------------------------------------
ACTIVE_MIN = (-356.7, -148.6, 413.7)   # cm, lower corner of the active volume = voxel origin
ACTIVE_MAX = (356.7, 155.4, 916.7)
N_MODULES_X = 7
N_MODULES_Z = 5
MODULE_PITCH_X = 102.1
MODULE_PITCH_Z = 101.42
DRIFT_LENGTH = 50.4          # cm per TPC
MODULE_ACTIVE_Z = 97.28      # cm
# particle-gun vertex box of the study [study: dune-nd-detector-sim config]
VERTEX_MIN = (-50.0, -50.0, 600.0)
VERTEX_MAX = (50.0, 50.0, 700.0)

# --------------------------------------------------------------------------------------------
# Pixel readout and LArPix front end (seed values = larnd-sim defaults)      [larnd-sim fee.py]
# --------------------------------------------------------------------------------------------
PIXEL_PITCH_CM = 0.38        # layout 3.0.40 (DESIGN.md sec. 8); 0.4434 cm is the 2x2/Module-0 tile
CLOCK_CYCLE_US = 0.1         # 10 MHz LArPix clock = TIME_SAMPLING
ADC_HOLD_DELAY = 15          # clock cycles
INTEGRATION_TICKS = 3 + ADC_HOLD_DELAY  # fee.py: interval = 3 + ADC_HOLD_DELAY cycles after the crossing
ADC_BUSY_DELAY = 9           # clock cycles
RESET_CYCLES = 1             # clock cycles
TIMESTAMP_OFFSET = -2        # fee.py: "+2-tick delay from when the PACMAN receives the trigger"
MAX_ADC_VALUES = 10          # hits per pixel per event in the study's fork (20/30 at later HEADs)
ADC_COUNTS = 256             # 8-bit ADC
GAIN_NOMINAL = 4.0           # mV/ke-
BUFFER_RISETIME_NOMINAL = 0.100  # us
V_CM_NOMINAL = 288.0         # mV
V_REF_NOMINAL = 1300.0       # mV
V_PEDESTAL_NOMINAL = 580.0   # mV
RESET_NOISE_NOMINAL = 900.0  # e-
UNCORRELATED_NOISE_NOMINAL = 500.0  # e-
DISCRIMINATOR_NOISE_NOMINAL = 650.0  # e-
DISCRIMINATOR_THRESHOLD_NOMINAL = 7000.0  # e-
# 1-sigma relative throws of the electronics parameters (the study's throws, DESIGN.md sec. 2)
ELECTRONICS_SIGMA = {
    "gain": 0.02, "buffer_risetime": 0.10, "v_cm": 0.02, "v_ref": 0.02, "v_pedestal": 0.20,
    "reset_noise": 0.10, "uncorrelated_noise": 0.10, "discriminator_noise": 0.10,
    "discriminator_threshold": 0.02,
}

# The 12 per-event parameter columns: name -> (nominal, unit, description)
PARAMETERS = {
    "efield": (EFIELD_NOMINAL, "kV/cm", "drift electric field"),
    "transverse_diffusion": (TRANSVERSE_DIFFUSION_NOMINAL, "cm^2/us", "transverse diffusion coefficient D_T"),
    "electron_lifetime": (LIFETIME_NOMINAL, "us", "drift-electron lifetime"),
    "gain": (GAIN_NOMINAL, "mV/ke-", "front-end gain"),
    "buffer_risetime": (BUFFER_RISETIME_NOMINAL, "us", "buffer rise time"),
    "v_cm": (V_CM_NOMINAL, "mV", "ADC common-mode voltage"),
    "v_ref": (V_REF_NOMINAL, "mV", "ADC reference voltage"),
    "v_pedestal": (V_PEDESTAL_NOMINAL, "mV", "pedestal voltage"),
    "reset_noise": (RESET_NOISE_NOMINAL, "e-", "reset noise charge (rms)"),
    "uncorrelated_noise": (UNCORRELATED_NOISE_NOMINAL, "e-", "uncorrelated noise charge (rms)"),
    "discriminator_noise": (DISCRIMINATOR_NOISE_NOMINAL, "e-", "discriminator noise (rms)"),
    "discriminator_threshold": (DISCRIMINATOR_THRESHOLD_NOMINAL, "e-", "discriminator threshold"),
}
PARAMETER_NAMES = tuple(PARAMETERS)
NOMINAL_PARAMETERS = {k: v[0] for k, v in PARAMETERS.items()}
ELECTRONICS_NAMES = tuple(ELECTRONICS_SIGMA)
PHYSICS_NAMES = ("efield", "transverse_diffusion", "electron_lifetime")

# --------------------------------------------------------------------------------------------
# Event classes and energy ranges                                                [study]
# --------------------------------------------------------------------------------------------
CLASS_NAMES = ("electron", "gamma", "muon", "charged_pion", "proton")
CLASS_PDG = {"electron": 11, "gamma": 22, "muon": 13, "charged_pion": 211, "proton": 2212}
# kinetic energy ranges, MeV (uniform), as the study's particle bomb
ENERGY_RANGE_MEV = {"electron": (50.0, 1000.0), "gamma": (50.0, 1000.0), "muon": (50.0, 1000.0),
                    "charged_pion": (50.0, 1000.0), "proton": (50.0, 400.0)}
MIN_VOXELS = 4               # events with 3 hits (voxels) or fewer are dropped [study]
