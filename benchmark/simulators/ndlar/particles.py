"""Particle transport in liquid argon: energy deposits (position, dE, step length, time) of one event.

A stand-in for edep-sim (Geant4) that keeps what matters for the images a pixel LArTPC records:

* charged tracks (mu, pi, p, and the hadronic secondaries) lose energy continuously with the mean
  Bethe dE/dx (PDG formula with the Sternheimer density effect); the kinetic energy along the track is
  read from the CSDA range table, so the range and the Bragg peak come out right; per-step
  fluctuations follow a Moyal (Landau-like) law with the Landau width xi; multiple Coulomb
  scattering kinks every step with the Highland width [PDG-RPP 34.3];
* pions interact (absorption, inelastic scattering, charge exchange) with an exponential path length,
  decay in flight, and decay (pi+) or are captured (pi-) at rest; muons decay at rest to a Michel
  electron (mu+ always, mu- with the decay fraction in argon);
* electrons and photons make EM showers: a photon converts after an exponential path (mean 9/7 X0,
  the "conversion gap") into an e+e- pair; each electron leg starts with a scattering "trunk" at
  minimum ionisation, and the rest of the energy is laid down by short shower-electron segments whose
  centres follow the longitudinal Gamma profile (LAr fit, [spine]) and the lateral Molière profile.

Every step is vectorised with numpy; Python loops run over particles (a handful per event, tens in
a hadronic cascade), never over steps or deposits.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from benchmark.simulators.ndlar import constants as C
from benchmark.simulators.physics import K_BETHE, bethe_mass_stopping_power, isotropic  # noqa: F401 (isotropic: re-exported)


MASSES = {13: C.MUON_MASS, 211: C.PION_MASS, 2212: C.PROTON_MASS, 11: C.ELECTRON_MASS}


def bethe_dedx(T: np.ndarray, mass: float) -> np.ndarray:
    """Mean energy loss -dE/dx in MeV/cm of a singly charged particle of kinetic energy ``T`` (MeV)
    in liquid argon: the shared Bethe formula with the density effect [PDG-RPP eq. 34.5, 34.7]."""
    return bethe_mass_stopping_power(T, mass, C.LAR) * C.LAR_DENSITY


@dataclass(frozen=True)
class RangeTable:
    """CSDA range R(T) = int_0^T dT'/(dE/dx) on a log grid, and its inverse T(R)."""

    mass: float
    log_t: np.ndarray
    log_r: np.ndarray

    def range_cm(self, T):
        return np.exp(np.interp(np.log(np.maximum(T, 1e-6)), self.log_t, self.log_r))

    def energy_at_range(self, R):
        R = np.asarray(R, dtype=np.float64)
        out = np.exp(np.interp(np.log(np.maximum(R, 1e-12)), self.log_r, self.log_t))
        return np.where(R > 0, out, 0.0)


@functools.lru_cache(maxsize=None)
def range_table(mass: float) -> RangeTable:
    """Integrate 1/(dE/dx) from the Bethe formula above ``LOW_T_MEV``; below it the range follows
    R ~ T^1.75 (the Bethe formula fails there; those ranges are < 0.01 cm for protons)."""
    t = np.geomspace(C.LOW_T_MEV, 2.0e4, 4000)
    inv = 1.0 / bethe_dedx(t, mass)
    r = np.concatenate([[0.0], np.cumsum(0.5 * (inv[1:] + inv[:-1]) * np.diff(t))])
    # R(T_low) from the local power law dE/dx ~ T^-0.75 (R ~ T^1.75): R = T / (1.75 dE/dx)
    r += C.LOW_T_MEV / (1.75 * bethe_dedx(np.array([C.LOW_T_MEV]), mass)[0])
    t_low = np.geomspace(1e-4, C.LOW_T_MEV, 40, endpoint=False)
    r_low = r[0] * (t_low / C.LOW_T_MEV) ** 1.75
    return RangeTable(mass, np.log(np.concatenate([t_low, t])), np.log(np.concatenate([r_low, r])))


def highland_theta0(p: np.ndarray, beta: np.ndarray, x: np.ndarray) -> np.ndarray:
    """rms projected scattering angle (rad) after a path ``x`` cm, momentum ``p`` MeV, unit charge
    [Highland; PDG-RPP eq. 34.16]."""
    t = np.maximum(x, 1e-6) / C.RADIATION_LENGTH_CM
    return np.maximum(13.6 / (beta * p) * np.sqrt(t) * (1.0 + 0.038 * np.log(t / beta ** 2)), 0.0)


def frame(d: np.ndarray) -> np.ndarray:
    """3x3 matrix with columns (u, v, d): an orthonormal frame whose third axis is ``d``."""
    dx, dy, dz = d / math.sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2])
    if abs(dx) < 0.9:  # u = e_x x d
        u = (0.0, -dz, dy)
    else:  # u = e_y x d
        u = (dz, 0.0, -dx)
    nu = math.sqrt(u[0] * u[0] + u[1] * u[1] + u[2] * u[2])
    ux, uy, uz = u[0] / nu, u[1] / nu, u[2] / nu
    vx, vy, vz = dy * uz - dz * uy, dz * ux - dx * uz, dx * uy - dy * ux
    return np.array([[ux, vx, dx], [uy, vy, dy], [uz, vz, dz]])


def rotate_from(axis: np.ndarray, cos_theta, phi) -> np.ndarray:
    """Unit vectors at polar angle acos(cos_theta), azimuth phi around ``axis``."""
    cos_theta = np.asarray(cos_theta, dtype=np.float64)
    sin = np.sqrt(np.clip(1 - cos_theta ** 2, 0, None))
    local = np.stack([sin * np.cos(phi), sin * np.sin(phi), cos_theta], axis=-1)
    return local @ frame(axis).T


def scattering_walk(start: np.ndarray, d0: np.ndarray, step: np.ndarray, theta0: np.ndarray,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Positions (n+1, 3) and directions (n, 3) of a track of ``n`` steps with a Gaussian kink of
    width ``theta0[k]`` in each projected plane after step k.

    The orientation after k kinks is the ordered product of the kink rotations in the body frame;
    it is computed for all steps at once with a log-depth prefix product of unit quaternions
    (Hillis-Steele scan), so
    large accumulated angles (stopping protons) are exact, not small-angle sums.
    """
    n = len(step)
    dirs_body = np.zeros((n, 3))
    dirs_body[:, 2] = 1.0
    if n > 1:
        kx = rng.standard_normal(n - 1) * theta0[:-1]
        ky = rng.standard_normal(n - 1) * theta0[:-1]
        ang = np.hypot(kx, ky)
        half = np.sin(0.5 * ang) / np.where(ang > 0, ang, 1.0)
        # unit quaternion of the kink: axis (-ky, kx, 0)/ang turns e_z towards (kx, ky)
        w, x, y, z = np.cos(0.5 * ang), -ky * half, kx * half, np.zeros(n - 1)
        shift = 1
        while shift < n - 1:  # inclusive prefix product q_0 q_1 ... q_i (Hamilton product, ordered)
            w1, x1, y1, z1 = w[:-shift], x[:-shift], y[:-shift], z[:-shift]
            w2, x2, y2, z2 = w[shift:], x[shift:], y[shift:], z[shift:]
            w, x, y, z = (np.concatenate([w[:shift], w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2]),
                          np.concatenate([x[:shift], w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2]),
                          np.concatenate([y[:shift], w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2]),
                          np.concatenate([z[:shift], w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2]))
            shift *= 2
        norm2 = w * w + x * x + y * y + z * z
        # third column of the rotation matrix = the rotated e_z
        dirs_body[1:, 0] = 2 * (x * z + w * y) / norm2
        dirs_body[1:, 1] = 2 * (y * z - w * x) / norm2
        dirs_body[1:, 2] = 1 - 2 * (x * x + y * y) / norm2
    dirs = dirs_body @ frame(d0).T
    pos = np.empty((n + 1, 3))
    pos[0] = start
    np.cumsum(dirs * step[:, None], axis=0, out=pos[1:])
    pos[1:] += start
    return pos, dirs


class Deposits:
    """Collects energy deposits of one event: midpoint (cm), dE (MeV), step length (cm), time (us)."""

    def __init__(self):
        self._pos, self._de, self._dx, self._t = [], [], [], []

    def add(self, pos, de, dx, t0: float):
        self._pos.append(np.asarray(pos, dtype=np.float64).reshape(-1, 3))
        self._de.append(np.asarray(de, dtype=np.float64))
        self._dx.append(np.broadcast_to(np.asarray(dx, dtype=np.float64), self._de[-1].shape))
        self._t.append(np.full(self._de[-1].shape, float(t0)))

    def arrays(self) -> dict[str, np.ndarray]:
        if not self._pos:
            return {"pos": np.zeros((0, 3)), "de": np.zeros(0), "dx": np.zeros(0), "t": np.zeros(0)}
        return {"pos": np.concatenate(self._pos), "de": np.concatenate(self._de),
                "dx": np.concatenate(self._dx), "t": np.concatenate(self._t)}


# --------------------------------------------------------------------------------------------
# charged tracks
# --------------------------------------------------------------------------------------------
def _moyal(rng, n):
    """Moyal variates (Landau approximation): X = -ln(Z^2), Z ~ N(0,1); mean = gamma_E + ln 2."""
    z = rng.standard_normal(n)
    return -np.log(np.maximum(z * z, 1e-300))


_MOYAL_MEAN = 0.5772156649 + math.log(2.0)


def track(mass: float, T0: float, start, d0, t0: float, rng: np.random.Generator, dep: Deposits,
          max_length: float = np.inf, fluctuate: bool = True, delta_cut: float | None = None):
    """Transport a charged particle until it stops (CSDA range) or has travelled ``max_length`` cm.

    With ``delta_cut`` (MeV), knock-on electrons above it are emitted as separate short tracks and the
    track itself deposits the restricted loss (mean - mean delta-ray loss), so energy is conserved on
    average.  Returns (end position, end direction, kinetic energy left, path length).
    """
    table = range_table(mass)
    R0 = float(table.range_cm(T0))
    L = min(R0, max_length)
    n = max(1, int(math.ceil(L / C.STEP_CM - 1e-9)))
    step = np.full(n, C.STEP_CM)
    step[-1] = L - C.STEP_CM * (n - 1)
    s = np.concatenate([[0.0], np.cumsum(step)])
    T = table.energy_at_range(np.maximum(R0 - s, 0.0))
    if max_length >= R0:
        T[-1] = 0.0
    de = T[:-1] - T[1:]
    Tm = 0.5 * (T[:-1] + T[1:])
    E = Tm + mass
    p = np.sqrt(np.maximum(E * E - mass * mass, 1e-12))
    beta = p / E
    pos, dirs = scattering_walk(np.asarray(start, float), np.asarray(d0, float), step,
                                highland_theta0(p, beta, step), rng)
    mids = pos[:-1] + 0.5 * dirs * step[:, None]
    if delta_cut is not None:
        de = de - delta_rays(mass, Tm, beta, step, mids, dirs, delta_cut, t0, rng, dep)[0]
    if fluctuate:
        xi = 0.5 * K_BETHE * C.LAR_Z_OVER_A * C.LAR_DENSITY * step / beta ** 2
        de_dep = np.clip(de + xi * (_moyal(rng, n) - _MOYAL_MEAN), 0.0, 5 * de + 1.0)
    else:
        de_dep = de
    dep.add(mids, de_dep, step, t0)
    return pos[-1], dirs[-1], float(T[-1]), L


def delta_rays(mass, T, beta, step, mids, dirs, cut, t0, rng, dep) -> np.ndarray:
    """Emit knock-on electrons above ``cut`` MeV along a track; return (mean delta-ray energy per step,
    number emitted).

    Rate d2N/dT dx = (K/2)(Z/A) rho / (beta^2 T^2) up to T_max = 2 m_e b^2 g^2 / (1 + 2 g m_e/M + (m_e/M)^2)
    [PDG-RPP 34.2.7]; emission angle cos(theta) = (T_e/p_e)(E + m_e)/p [PDG-RPP 34.2.7]. Each delta is a
    straight minimum-ionising electron track of length T_e / (dE/dx)_MIP (its multiple scattering and
    bremsstrahlung are neglected; above a few MeV deltas are rare, N ~ 1/T).
    """
    me = C.ELECTRON_MASS
    gamma = 1.0 + T / mass
    bg2 = gamma ** 2 - 1.0
    tmax = 2 * me * bg2 / (1 + 2 * gamma * me / mass + (me / mass) ** 2)
    ok = tmax > cut
    if not np.any(ok):
        return np.zeros_like(T), 0
    k = 0.5 * K_BETHE * C.LAR_Z_OVER_A * C.LAR_DENSITY / beta ** 2
    tm = np.where(ok, tmax, cut)
    mean_loss = np.where(ok, k * np.log(tm / cut) * step, 0.0)
    counts = rng.poisson(np.where(ok, k * (1.0 / cut - 1.0 / tm) * step, 0.0))
    idx = np.repeat(np.arange(T.size), counts)
    if idx.size:
        u = rng.uniform(size=idx.size)
        te = 1.0 / (1.0 / cut - u * (1.0 / cut - 1.0 / tm[idx]))
        pe = np.sqrt(te * (te + 2 * me))
        p_inc = np.sqrt(bg2[idx]) * mass
        cos_t = np.clip(te / pe * (T[idx] + mass + me) / p_inc, -1.0, 1.0)
        phi = rng.uniform(0, 2 * np.pi, idx.size)
        # perpendicular frame of each parent step direction (vectorised frame())
        d = dirs[idx]
        a = np.where(np.abs(d[:, :1]) < 0.9, np.array([[1.0, 0.0, 0.0]]), np.array([[0.0, 1.0, 0.0]]))
        e1 = np.cross(a, d)
        e1 /= np.linalg.norm(e1, axis=1, keepdims=True)
        e2 = np.cross(d, e1)
        sin_t = np.sqrt(1 - cos_t ** 2)
        ddir = d * cos_t[:, None] + (e1 * np.cos(phi)[:, None] + e2 * np.sin(phi)[:, None]) * sin_t[:, None]
        length = te / C.MIP_DEDX_MEV_CM
        nk = np.maximum(1, np.rint(length / C.STEP_CM).astype(np.int64))
        owner = np.repeat(np.arange(idx.size), nk)
        first = np.concatenate([[0], np.cumsum(nk)[:-1]])
        sub = length[owner] / nk[owner]
        along = (np.arange(owner.size) - first[owner] + 0.5) * sub
        dep.add(mids[idx][owner] + ddir[owner] * along[:, None], te[owner] / nk[owner], sub, t0)
    return mean_loss, int(idx.size)


def _proper_length_to(mass, T0, L_max, target):
    """Path length at which the proper length int ds/(beta gamma) reaches ``target`` (cm), else inf."""
    table = range_table(mass)
    R0 = float(table.range_cm(T0))
    s = np.linspace(0.0, min(R0, L_max), 400)
    T = table.energy_at_range(R0 - s)
    bg = np.sqrt(np.maximum((T / mass + 1) ** 2 - 1, 1e-8))
    inv = 1.0 / bg
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (inv[1:] + inv[:-1]) * np.diff(s))])
    if cum[-1] < target:
        return np.inf
    return float(np.interp(target, cum, s))


# --------------------------------------------------------------------------------------------
# EM showers
# --------------------------------------------------------------------------------------------
def shower_profile(E: float) -> tuple[float, float]:
    """(a, b) of the longitudinal Gamma profile dE/dt ~ (bt)^(a-1) e^(-bt), t in X0 [spine LAr fit]."""
    y = max(E, 1e-3) / C.CRITICAL_ENERGY_MEV
    c0, c1, c2 = C.SHOWER_TMAX_COEF
    a0, a1, a2, a3 = C.SHOWER_ALPHA_COEF
    tmax = max(c0 * math.log1p(c1 * y ** c2), 0.05)
    a = a0 + a1 * math.log1p(a2 * y ** a3)
    return a, (a - 1.0) / tmax


def em_shower(E: float, start, d0, t0: float, rng: np.random.Generator, dep: Deposits,
              photon: bool = False) -> None:
    """Deposit an electron (``photon=False``) or photon shower of energy ``E`` MeV."""
    start = np.asarray(start, float)
    d0 = np.asarray(d0, float)
    if photon:
        start = start + d0 * rng.exponential(C.PAIR_MFP_CM)  # the conversion gap
        u = rng.uniform(0.05, 0.95)
        legs = [E * u, E * (1 - u)]
        opening = C.ELECTRON_MASS / max(E, 1.0)  # characteristic pair opening angle m_e/E [PDG-RPP]
        leg_dirs = [rotate_from(d0, math.cos(abs(rng.normal(0, opening))), rng.uniform(0, 2 * np.pi))
                    for _ in legs]
    else:
        legs, leg_dirs = [E], [d0]
    used = 0.0
    for e_leg, d_leg in zip(legs, leg_dirs):
        # trunk: the leading electron at minimum ionisation, scattering like an electron of e_leg
        L = min(rng.exponential(C.SHOWER_TRUNK_MEAN_CM), 0.9 * e_leg / C.MIP_DEDX_MEV_CM)
        n = max(1, int(math.ceil(L / C.STEP_CM)))
        step = np.full(n, L / n)
        p = np.maximum(e_leg - C.MIP_DEDX_MEV_CM * np.cumsum(step), 1.0)
        pos, dirs = scattering_walk(start, d_leg, step, highland_theta0(p, np.ones(n), step), rng)
        de = C.MIP_DEDX_MEV_CM * step
        dep.add(pos[:-1] + 0.5 * dirs * step[:, None], de, step, t0)
        used += de.sum()
    rest = E - used
    if rest <= 0.5:
        return
    # shower-electron segments: centres follow the Gamma profile along the axis and the Molière
    # profile across it; together they lay down ``rest`` at minimum ionisation
    a, b = shower_profile(E)
    total_len = rest / C.MIP_DEDX_MEV_CM
    n_try = int(total_len / C.SHOWER_SEGMENT_MEAN_CM * 1.5) + 8
    seg = np.clip(rng.exponential(C.SHOWER_SEGMENT_MEAN_CM, n_try), C.STEP_CM, C.SHOWER_SEGMENT_MAX_CM)
    cum = np.cumsum(seg)
    k = int(np.searchsorted(cum, total_len)) + 1
    seg = seg[:k]
    if cum[min(k, n_try) - 1] < total_len:
        seg = seg * (total_len / seg.sum())
    m = len(seg)
    depth = rng.gamma(a, 1.0 / b, m) * C.RADIATION_LENGTH_CM
    uq = rng.uniform(0, 0.985, m)
    r = C.SHOWER_LATERAL_R_CM * np.sqrt(uq / (1 - uq))  # inverse CDF of 2rR^2/(r^2+R^2)^2
    phi = rng.uniform(0, 2 * np.pi, m)
    F = frame(d0)
    centre = start + (np.stack([r * np.cos(phi), r * np.sin(phi), depth], axis=1) @ F.T)
    cos_t = np.cos(np.minimum(np.abs(rng.normal(0, C.SHOWER_SEGMENT_ANGLE_RAD, m)), np.pi))
    sdir = np.stack([np.sqrt(1 - cos_t ** 2) * np.cos(psi := rng.uniform(0, 2 * np.pi, m)),
                     np.sqrt(1 - cos_t ** 2) * np.sin(psi), cos_t], axis=1) @ F.T
    nk = np.maximum(1, np.rint(seg / C.STEP_CM).astype(np.int64))
    owner = np.repeat(np.arange(m), nk)
    first = np.concatenate([[0], np.cumsum(nk)[:-1]])
    kk = np.arange(owner.size) - first[owner]
    sub = seg[owner] / nk[owner]
    offset = (kk + 0.5) * sub - 0.5 * seg[owner]
    pts = centre[owner] + sdir[owner] * offset[:, None]
    de = sub * (rest / seg.sum())
    dep.add(pts, de, sub, t0)


# --------------------------------------------------------------------------------------------
# hadronic and decay secondaries
# --------------------------------------------------------------------------------------------
def _nuclear_protons(E_avail: float, rng) -> list[float]:
    """Kinetic energies of 1-3 protons sharing the visible part of ``E_avail`` (modelling choice)."""
    n = 1 + rng.binomial(2, 0.5)
    shares = rng.dirichlet(np.ones(n)) * C.VISIBLE_NUCLEAR_FRACTION * E_avail
    return [float(t - C.NUCLEON_BINDING_MEV) for t in shares if t - C.NUCLEON_BINDING_MEV > 2.0]


def _two_body_boost(mass, T, d, m_child_pstar, e_star, rng):
    """Lab energy and direction of a decay product emitted isotropically in the parent's frame."""
    E = T + mass
    gamma = E / mass
    beta = math.sqrt(max(1 - 1 / gamma ** 2, 0.0))
    cos_s = rng.uniform(-1, 1)
    p_par = gamma * (m_child_pstar * cos_s + beta * e_star)
    p_perp = m_child_pstar * math.sqrt(1 - cos_s ** 2)
    e_lab = gamma * (e_star + beta * m_child_pstar * cos_s)
    cos_lab = p_par / max(math.hypot(p_par, p_perp), 1e-9)
    return e_lab, rotate_from(d, cos_lab, rng.uniform(0, 2 * np.pi))


def _michel_energy(rng) -> float:
    """Michel spectrum f(x) ~ x^2 (3 - 2x), x = E/E_max, by rejection."""
    while True:
        x, u = rng.uniform(0, 1, 2)
        if u < x * x * (3 - 2 * x):
            return float(x * C.MICHEL_EMAX_MEV)


def transport(pdg: int, T0: float, start, direction, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """All energy deposits of one primary particle and its secondaries (dict of arrays)."""
    dep = Deposits()
    stack = [(int(pdg), float(T0), np.asarray(start, float), np.asarray(direction, float), 0.0)]
    n_done = 0
    while stack and n_done < 64:
        pid, T, pos, d, t0 = stack.pop()
        n_done += 1
        apid = abs(pid)
        if apid == 11:
            em_shower(T, pos, d, t0, rng, dep, photon=False)
        elif apid == 22:
            em_shower(T, pos, d, t0, rng, dep, photon=True)
        elif apid == 13:
            end, dend, _, _ = track(C.MUON_MASS, T, pos, d, t0, rng, dep, delta_cut=C.DELTA_RAY_CUT_MEV)
            # decay at rest: mu+ always; mu- only when it decays before nuclear capture
            if pid == -13 or rng.uniform() < C.MUON_MINUS_LIFETIME_AR_US / C.MUON_LIFETIME_US:
                tau = C.MUON_LIFETIME_US if pid == -13 else C.MUON_MINUS_LIFETIME_AR_US
                stack.append((11, _michel_energy(rng), end, isotropic(rng), t0 + rng.exponential(tau)))
        elif apid == 211:
            m = C.PION_MASS
            s_int = rng.exponential(C.PION_INTERACTION_LENGTH_CM)
            s_dec = _proper_length_to(m, T, s_int, rng.exponential(C.PION_CTAU_CM))
            end, dend, T_end, L = track(m, T, pos, d, t0, rng, dep, max_length=min(s_int, s_dec),
                                        delta_cut=C.DELTA_RAY_CUT_MEV)
            if s_dec < s_int and T_end > 0:  # decay in flight pi -> mu nu
                e_mu, d_mu = _two_body_boost(m, T_end, dend, C.PI_DECAY_PSTAR_MEV,
                                             math.hypot(C.PI_DECAY_PSTAR_MEV, C.MUON_MASS), rng)
                stack.append((13 if pid > 0 else -13, e_mu - C.MUON_MASS, end, d_mu, t0))
            elif T_end > 0:  # hadronic interaction in flight
                channel = rng.choice(3, p=C.PION_CHANNEL_FRACTIONS)
                if channel == 0:  # absorption: the pion's total energy goes to the nucleus
                    for tp in _nuclear_protons(T_end + m, rng):
                        stack.append((2212, tp, end, isotropic(rng), t0))
                elif channel == 1:  # inelastic scattering: a softer, deflected pion and a knocked-out proton
                    frac = rng.uniform(0.3, 0.9)
                    stack.append((pid, frac * T_end, end, rotate_from(dend, rng.uniform(-0.2, 1.0),
                                                                       rng.uniform(0, 2 * np.pi)), t0))
                    for tp in _nuclear_protons((1 - frac) * T_end, rng)[:1]:
                        stack.append((2212, tp, end, isotropic(rng), t0))
                else:  # charge exchange: pi0 -> gamma gamma
                    e_pi0 = T_end + m
                    t_pi0 = max(e_pi0 - C.PION0_MASS, 0.0)
                    e1, d1 = _two_body_boost(C.PION0_MASS, t_pi0, dend, C.PION0_MASS / 2, C.PION0_MASS / 2, rng)
                    e2 = e_pi0 - e1
                    p_tot = dend * math.sqrt(max(e_pi0 ** 2 - C.PION0_MASS ** 2, 0.0))
                    d2 = p_tot - e1 * d1
                    d2 = d2 / max(np.linalg.norm(d2), 1e-9)
                    stack.append((22, e1, end, d1, t0))
                    stack.append((22, e2, end, d2, t0))
            elif pid > 0:  # pi+ at rest -> mu+ (4.1 MeV) -> Michel e+
                stack.append((-13, C.PI_MU_NU_MUON_T_MEV, end, isotropic(rng), t0))
            else:  # pi- at rest: nuclear capture, a few low-energy protons (neutrons unseen)
                for tp in _nuclear_protons(0.5 * m, rng):
                    stack.append((2212, tp, end, isotropic(rng), t0))
        elif apid == 2212:
            s_int = rng.exponential(C.PROTON_INTERACTION_LENGTH_CM)
            end, dend, T_end, L = track(C.PROTON_MASS, T, pos, d, t0, rng, dep, max_length=s_int,
                                        delta_cut=C.DELTA_RAY_CUT_MEV)
            if T_end > 5.0:  # inelastic: a softer, deflected proton and a knocked-out proton
                frac = rng.uniform(0.3, 0.9)
                stack.append((2212, frac * T_end, end,
                              rotate_from(dend, rng.uniform(0.0, 1.0), rng.uniform(0, 2 * np.pi)), t0))
                for tp in _nuclear_protons((1 - frac) * T_end, rng)[:1]:
                    stack.append((2212, tp, end, isotropic(rng), t0))
        else:
            raise ValueError(f"transport: unsupported PDG code {pid}; supported: +-11, 22, +-13, +-211, 2212")
    return dep.arrays()
