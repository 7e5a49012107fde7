"""Particle-physics formulas shared by the built-in detector simulators (ND-LAr and the cube detector).

Each detector module describes its medium as a :class:`Material` (with the source of every number in its
``constants.py``) and calls these functions; the formulas exist once.

* mean collision energy loss of a heavy charged particle: Bethe formula with Sternheimer's density
  correction [PDG Review of Particle Physics, "Passage of particles through matter", eqs. 34.5 and 34.7;
  Sternheimer, Berger & Seltzer, At. Data Nucl. Data Tables 30 (1984) 261];
* isotropic directions, and rotations to a polar angle about an axis.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: K = 4 pi N_A r_e^2 m_e c^2 in MeV cm^2 / mol [PDG-RPP table 34.1]
K_BETHE = 0.307075
ELECTRON_MASS_MEV = 0.51099895


@dataclass(frozen=True)
class Material:
    """What the Bethe formula needs of a medium (values and sources in the detector's constants)."""

    name: str
    z_over_a: float                 # <Z/A>
    mean_excitation_mev: float      # I
    density_g_cm3: float
    # Sternheimer density-effect parameters (x = log10(beta gamma)): delta = 2 ln10 x - Cbar + a (x1 - x)^k
    # for x0 <= x < x1, 2 ln10 x - Cbar above x1, delta0 10^(2 (x - x0)) below x0 (0 for insulators)
    sternheimer_x0: float
    sternheimer_x1: float
    sternheimer_cbar: float
    sternheimer_a: float
    sternheimer_k: float
    sternheimer_delta0: float = 0.0


def density_effect(beta_gamma: np.ndarray, m: Material) -> np.ndarray:
    """Sternheimer's density correction delta(beta gamma) [PDG-RPP eq. 34.7]."""
    x = np.log10(np.maximum(np.asarray(beta_gamma, dtype=np.float64), 1e-15))
    ln10 = math.log(10.0)
    high = 2 * ln10 * x - m.sternheimer_cbar
    mid = high + m.sternheimer_a * np.clip(m.sternheimer_x1 - x, 0, None) ** m.sternheimer_k
    low = m.sternheimer_delta0 * 10.0 ** (2 * (x - m.sternheimer_x0))
    return np.where(x >= m.sternheimer_x1, high, np.where(x >= m.sternheimer_x0, mid, low))


def bethe_mass_stopping_power(T: np.ndarray, mass: float, m: Material, bracket_floor: float = 1e-3) -> np.ndarray:
    """Mean collision stopping power -dE/(rho dx) in MeV cm^2/g of a singly charged particle of mass
    ``mass`` (MeV) and kinetic energy ``T`` (MeV) [PDG-RPP eq. 34.5].

    The bracket is floored at ``bracket_floor``: near the Bragg peak the formula fails (shell and Barkas
    corrections are not included), and callers switch to a power law there."""
    T = np.asarray(T, dtype=np.float64)
    gamma = 1.0 + T / mass
    bg2 = gamma ** 2 - 1.0
    beta2 = bg2 / gamma ** 2
    me = ELECTRON_MASS_MEV
    tmax = 2 * me * bg2 / (1 + 2 * gamma * me / mass + (me / mass) ** 2)
    delta = density_effect(np.sqrt(np.maximum(bg2, 1e-30)), m)
    arg = 2 * me * bg2 * tmax / m.mean_excitation_mev ** 2
    bracket = 0.5 * np.log(np.maximum(arg, 1.0 + 1e-12)) - beta2 - 0.5 * delta
    return K_BETHE * m.z_over_a / beta2 * np.maximum(bracket, bracket_floor)


def isotropic(rng: np.random.Generator, n: int | None = None) -> np.ndarray:
    """Unit vectors uniform on the sphere, ``(n, 3)`` (or one ``(3,)`` for ``n=None``)."""
    cos = rng.uniform(-1, 1, n)
    phi = rng.uniform(0, 2 * np.pi, n)
    sin = np.sqrt(1 - cos ** 2)
    return np.stack([sin * np.cos(phi), sin * np.sin(phi), cos], axis=-1)
