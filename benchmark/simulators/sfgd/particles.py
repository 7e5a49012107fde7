"""Vectorised transport of single particles and their secondaries through the cube array.

All live particles of a chunk are stepped together (one Python iteration per *step*, numpy over
particles), so the cost does not grow with a Python loop per deposit.  Per step:

* continuous energy loss from CSDA range tables (Bethe with density effect for mu/pi/p, the
  ICRU-37 collision formula for e+-): ``T_end = T(R(T_start) - ds)``, exact for any step length,
  so ranges and the Bragg peak do not depend on the step size; Birks-quenched energy from an
  integrated table ``Q(T) = int dT / (1 + kB dE/dx)``;
* energy-loss fluctuations on the visible deposit (Moyal approximation of the Landau law,
  width xi = K/2 Z/A rho ds / beta^2), the kinematics stay CSDA;
* multiple scattering (Highland, PDG eq. 34.16) and curvature in the field along X;
* electrons: bremsstrahlung photons above ``BREMS_KMIN_MEV``; photons travel in straight lines and
  pair-convert or Compton-scatter (Klein-Nishina), producing new electrons: a small EM cascade;
* pions and protons: inelastic nuclear interactions (interaction length, qualitative outcomes);
  stopped mu+- decay (Michel spectrum; mu- capture on carbon), stopped pi+ -> mu+, pi- absorbed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from benchmark.simulators.physics import bethe_mass_stopping_power, density_effect, isotropic
from benchmark.simulators.sfgd import constants as C

ELECTRON, MUON, PION, PROTON = 0, 1, 2, 3
MASSES = np.array([C.M_E, C.M_MU, C.M_PI, C.M_P])
GRID = np.array(C.GRID, dtype=np.float64)


# ----------------------------------------------------------------------------- stopping powers
def mass_stopping_power(kind: int, T: np.ndarray) -> np.ndarray:
    """Mean collision stopping power in MeV cm2/g of polystyrene for kinetic energy ``T`` (MeV)."""
    T = np.asarray(T, dtype=np.float64)
    M = MASSES[kind]
    gamma = 1.0 + T / M
    bg2 = np.maximum(gamma ** 2 - 1.0, C.BETAGAMMA_MIN ** 2)
    gamma = np.sqrt(1.0 + bg2)
    beta2 = bg2 / gamma ** 2
    delta = density_effect(np.sqrt(bg2), C.POLYSTYRENE)
    I = C.MEAN_EXCITATION_MEV
    if kind == ELECTRON:  # ICRU 37 / Berger-Seltzer collision stopping power of electrons
        tau = gamma - 1.0
        F = 1.0 - beta2 + (tau ** 2 / 8.0 - (2 * tau + 1) * np.log(2.0)) / (tau + 1) ** 2
        L = np.log(tau ** 2 * (tau + 2) / (2 * (I / C.M_E) ** 2)) + F - delta
        return 0.5 * C.K_BETHE * C.Z_OVER_A / beta2 * L
    # heavy particles: the shared Bethe formula at the clamped beta gamma
    return bethe_mass_stopping_power(M * (gamma - 1.0), M, C.POLYSTYRENE, bracket_floor=0.05)


@dataclass
class Tables:
    """CSDA range, quenched-energy and inverse-range tables of the four charged species.

    Uniform grids in log10 so that lookups are vectorised over mixed species.
    """

    density: float = C.DENSITY_G_CM3
    birks_kb: float = C.BIRKS_KB_CM_PER_MEV
    n: int = 3000

    def __post_init__(self):
        self.logT = np.linspace(np.log10(C.T_TABLE_MIN_MEV), np.log10(C.T_TABLE_MAX_MEV), self.n)
        T = 10 ** self.logT
        self.dlogT = self.logT[1] - self.logT[0]
        S = np.stack([mass_stopping_power(k, T) for k in range(4)]) * self.density  # MeV/cm
        self.dedx = S
        R = np.empty_like(S)
        Q = np.empty_like(S)
        quench = 1.0 / (1.0 + self.birks_kb * S)
        for k in range(4):
            R[k, 0] = T[0] / S[k, 0]
            Q[k, 0] = T[0] * quench[k, 0]
            dT = np.diff(T)
            R[k, 1:] = R[k, 0] + np.cumsum(0.5 * (1 / S[k, 1:] + 1 / S[k, :-1]) * dT)
            Q[k, 1:] = Q[k, 0] + np.cumsum(0.5 * (quench[k, 1:] + quench[k, :-1]) * dT)
        self.range_cm = R
        self.quenched = Q
        self.logR_tab = np.log10(R)
        lo, hi = self.logR_tab[:, 0].min(), self.logR_tab[:, -1].max()
        self.logR = np.linspace(lo, hi, 2 * self.n)
        self.dlogR = self.logR[1] - self.logR[0]
        self.logT_of_R = np.stack([np.interp(self.logR, self.logR_tab[k], self.logT) for k in range(4)])

    @staticmethod
    def _lookup(table, x0, dx, kind, x):
        f = (x - x0) / dx
        i = np.clip(np.floor(f).astype(np.int64), 0, table.shape[1] - 2)
        w = np.clip(f - i, 0.0, 1.0)
        return table[kind, i] * (1 - w) + table[kind, i + 1] * w

    def range(self, kind, T):
        """CSDA range in cm."""
        T = np.maximum(T, C.T_TABLE_MIN_MEV)
        return 10 ** self._lookup(self.logR_tab, self.logT[0], self.dlogT, kind, np.log10(T))

    def energy(self, kind, R):
        """Kinetic energy whose CSDA range is ``R`` (0 where R <= 0)."""
        R = np.asarray(R)
        out = 10 ** self._lookup(self.logT_of_R, self.logR[0], self.dlogR, kind, np.log10(np.maximum(R, 1e-12)))
        Rmin = self.range_cm[kind, 0]
        small = R < Rmin
        out = np.where(small, C.T_TABLE_MIN_MEV * np.maximum(R, 0) / Rmin, out)
        return out

    def quenched_energy(self, kind, T):
        """Q(T) = int_0^T dT' / (1 + kB dE/dx): visible energy of a particle stopping from T."""
        T = np.asarray(T)
        Tc = np.maximum(T, C.T_TABLE_MIN_MEV)
        q = self._lookup(self.quenched, self.logT[0], self.dlogT, kind, np.log10(Tc))
        return np.where(T < C.T_TABLE_MIN_MEV, T * self.quenched[kind, 0] / C.T_TABLE_MIN_MEV, q)

    def stopping_power(self, kind, T):
        """dE/dx in MeV/cm."""
        return self._lookup(self.dedx, self.logT[0], self.dlogT, kind, np.log10(np.maximum(T, C.T_TABLE_MIN_MEV)))


_TABLES: dict[tuple, Tables] = {}


def get_tables(density: float = C.DENSITY_G_CM3, birks_kb: float = C.BIRKS_KB_CM_PER_MEV) -> Tables:
    key = (float(density), float(birks_kb))
    if key not in _TABLES:
        _TABLES[key] = Tables(density, birks_kb)
    return _TABLES[key]


# ----------------------------------------------------------------------------- helpers
def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cross product (np.cross has a large per-call overhead for small arrays)."""
    return np.stack([a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1], a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2],
                     a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]], axis=1)


def perpendicular_basis(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors orthogonal to the unit vectors ``d`` (n, 3)."""
    a = np.zeros_like(d)
    use_y = np.abs(d[:, 0]) > 0.9
    a[~use_y, 0] = 1.0
    a[use_y, 1] = 1.0
    u = _cross(d, a)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    v = _cross(d, u)
    return u, v


def rotate(d: np.ndarray, cos_theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Directions at polar angle theta (azimuth phi) around ``d``."""
    u, v = perpendicular_basis(d)
    sin_theta = np.sqrt(np.clip(1 - cos_theta ** 2, 0, None))
    out = (d * cos_theta[:, None] + u * (sin_theta * np.cos(phi))[:, None] + v * (sin_theta * np.sin(phi))[:, None])
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def inside(pos: np.ndarray) -> np.ndarray:
    return np.all((pos >= 0) & (pos < GRID), axis=1)


def cube_index(pos: np.ndarray) -> np.ndarray:
    """Linear cube index (x * NY + y) * NZ + z of positions already known to be inside."""
    i = np.floor(pos).astype(np.int64)
    return (i[:, 0] * C.N_CUBES_Y + i[:, 1]) * C.N_CUBES_Z + i[:, 2]


def momentum(kind, T):
    M = MASSES[kind]
    return np.sqrt(T * (T + 2 * M))


# ----------------------------------------------------------------------------- particles
@dataclass
class Particles:
    """A structure of arrays of charged particles (or photons, with kind = -1)."""

    ev: np.ndarray
    kind: np.ndarray
    q: np.ndarray
    pos: np.ndarray
    dir: np.ndarray
    T: np.ndarray
    primary: np.ndarray
    s_int: np.ndarray  # remaining path to the next nuclear interaction (cm)
    path: np.ndarray  # path length travelled (cm)

    @classmethod
    def empty(cls):
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros((0, 3)), np.zeros((0, 3)),
                   np.zeros(0), np.zeros(0, bool), np.zeros(0), np.zeros(0))

    @classmethod
    def new(cls, rng, ev, kind, q, pos, dir, T, primary=False):
        ev = np.asarray(ev, np.int64)
        kind = np.asarray(kind, np.int64)
        n = len(ev)
        hadron = (kind == PION) | (kind == PROTON)
        s_int = np.full(n, np.inf)
        s_int[hadron] = rng.exponential(C.NUCLEAR_INTERACTION_LENGTH_CM, int(hadron.sum()))
        return cls(ev, kind, np.asarray(q, np.float64), np.asarray(pos, np.float64).reshape(n, 3),
                   np.asarray(dir, np.float64).reshape(n, 3), np.asarray(T, np.float64),
                   np.broadcast_to(np.asarray(primary, bool), (n,)).copy(), s_int, np.zeros(n))

    def __len__(self):
        return len(self.ev)

    def take(self, idx):
        return Particles(*(getattr(self, f)[idx] for f in self.__dataclass_fields__))

    @staticmethod
    def concat(parts: list["Particles"]) -> "Particles":
        parts = [p for p in parts if len(p)]
        if not parts:
            return Particles.empty()
        return Particles(*(np.concatenate([getattr(p, f) for p in parts]) for f in Particles.__dataclass_fields__))


@dataclass
class Deposits:
    """Energy deposits of a chunk: one row per sub-step inside the detector."""

    ev: np.ndarray
    cube: np.ndarray
    energy: np.ndarray  # MeV
    quenched: np.ndarray  # MeV after Birks
    primary: np.ndarray  # deposited by the primary particle itself
    # per primary particle (event): end point, path length, why it ended
    end: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    length: np.ndarray = field(default_factory=lambda: np.zeros(0))
    fate: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


FATE_STOPPED, FATE_EXITED, FATE_INTERACTED = 0, 1, 2


# ----------------------------------------------------------------------------- photons
def klein_nishina_mu(E: np.ndarray) -> np.ndarray:
    """Compton attenuation coefficient (1/cm) from the Klein-Nishina cross-section per electron."""
    k = E / C.M_E
    l = np.log1p(2 * k)
    with np.errstate(divide="ignore", invalid="ignore"):  # E = 0 (absorbed photons): not finite, never used
        sigma = 2 * np.pi * C.R_E_CM ** 2 * ((1 + k) / k ** 2 * (2 * (1 + k) / (1 + 2 * k) - l / k) + l / (2 * k)
                                              - (1 + 3 * k) / (1 + 2 * k) ** 2)
    return C.ELECTRON_DENSITY_CM3 * sigma


def pair_mu(E: np.ndarray) -> np.ndarray:
    """Pair-production attenuation coefficient (1/cm), 7/(9 X0) times a logarithmic threshold rise."""
    frac = np.clip(C.PAIR_LOG_SLOPE * np.log(np.maximum(E, 2 * C.M_E) / (2 * C.M_E)), 0.0, 1.0)
    return C.PAIR_MU_ASYMPTOTIC_CM * frac


def sample_compton(rng, E):
    """Scattered-photon energy fraction eps = E'/E from Klein-Nishina (Butcher-Messel method, as in Geant4)."""
    k = E / C.M_E
    eps0 = 1.0 / (1 + 2 * k)
    a1 = -np.log(eps0)
    a2 = 0.5 * (1 - eps0 ** 2)
    eps = np.empty_like(E)
    todo = np.arange(len(E))
    while len(todo):
        r1, r2, r3 = rng.random((3, len(todo)))
        e0, kk = eps0[todo], k[todo]
        use_log = r1 * (a1[todo] + a2[todo]) < a1[todo]
        e = np.where(use_log, np.exp(-r2 * a1[todo]), np.sqrt(e0 ** 2 + (1 - e0 ** 2) * r2))
        t = (1 - e) / (kk * e)
        sin2 = np.clip(t * (2 - t), 0, 1)
        ok = r3 <= 1 - e * sin2 / (1 + e ** 2)
        eps[todo[ok]] = e[ok]
        todo = todo[~ok]
    return eps


def transport_photons(rng, ev, pos, dir, E) -> Particles:
    """Follow photons until they convert, leave or fall below the cut; return the electrons made."""
    out = []
    while len(E):
        mu_c, mu_p = klein_nishina_mu(E), pair_mu(E)
        mu = mu_c + mu_p
        pos = pos + dir * rng.exponential(1.0 / mu)[:, None]
        keep = inside(pos)
        ev, pos, dir, E, mu_c, mu_p, mu = ev[keep], pos[keep], dir[keep], E[keep], mu_c[keep], mu_p[keep], mu[keep]
        is_pair = rng.random(len(E)) * mu < mu_p
        # pair production: kinetic energies split uniformly, both along the photon
        ip = np.flatnonzero(is_pair)
        avail = E[ip] - 2 * C.M_E
        t1 = rng.random(len(ip)) * avail
        out.append(Particles.new(rng, np.repeat(ev[ip], 2), np.zeros(2 * len(ip), np.int64),
                                 np.tile([-1.0, 1.0], len(ip)), np.repeat(pos[ip], 2, axis=0),
                                 np.repeat(dir[ip], 2, axis=0), np.stack([t1, avail - t1], axis=1).ravel()))
        # Compton scattering
        ic = np.flatnonzero(~is_pair)
        Ec = E[ic]
        eps = sample_compton(rng, Ec)
        Ep = eps * Ec
        cos_g = np.clip(1 - C.M_E * (1 / Ep - 1 / Ec), -1, 1)
        dnew = rotate(dir[ic], cos_g, rng.uniform(0, 2 * np.pi, len(ic)))
        pe = Ec[:, None] * dir[ic] - Ep[:, None] * dnew
        de = pe / np.maximum(np.linalg.norm(pe, axis=1, keepdims=True), 1e-12)
        out.append(Particles.new(rng, ev[ic], np.zeros(len(ic), np.int64), -np.ones(len(ic)), pos[ic], de, Ec - Ep))
        cont = Ep > C.PHOTON_CUT_MEV
        ev, pos, dir, E = ev[ic][cont], pos[ic][cont], dnew[cont], Ep[cont]
    return Particles.concat(out)


def sample_brems_fraction(rng, y0):
    """Photon energy fraction y in [y0, 1] from (1/y)(4/3 - 4/3 y + y^2) (complete screening)."""
    y = np.empty_like(y0)
    todo = np.arange(len(y0))
    while len(todo):
        r = rng.random((2, len(todo)))
        cand = y0[todo] ** r[0]
        ok = r[1] * (4 / 3) <= 4 / 3 - 4 / 3 * cand + cand ** 2
        y[todo[ok]] = cand[ok]
        todo = todo[~ok]
    return y


def sample_michel(rng, n):
    """Michel electron energies: x^2 (3 - 2x), x = E / E_max."""
    x = np.empty(n)
    todo = np.arange(n)
    while len(todo):
        r = rng.random((2, len(todo)))
        ok = r[1] <= r[0] ** 2 * (3 - 2 * r[0])
        x[todo[ok]] = r[0][ok]
        todo = todo[~ok]
    return np.maximum(x * C.MICHEL_EMAX_MEV - C.M_E, 0.0)


# ----------------------------------------------------------------------------- transport
@dataclass
class TransportConfig:
    magnetic_field_t: float = C.MAGNETIC_FIELD_T
    decays: bool = True
    hadronic: bool = True
    fluctuations: bool = True
    step_cm: float = C.STEP_CM
    substeps: int = C.SUBSTEPS
    max_steps: int = 20000


def _step_deposits(rng, p: Particles, R0, ds, stops, tables: Tables, cfg: TransportConfig, frac_edge):
    """Kinetic energy at the sub-step edges (exact CSDA) and the deposited / quenched energy per sub-step,
    with a Moyal (approximate Landau) fluctuation of the visible deposit, mean preserved."""
    n, K = len(p), len(frac_edge) - 1
    # energies at the sub-step edges, exact CSDA
    Redge = R0[:, None] - ds[:, None] * frac_edge[None, :]
    kk = np.repeat(p.kind, K + 1)
    Tedge = tables.energy(kk, Redge.ravel()).reshape(n, K + 1)
    Tedge[:, 0] = p.T
    Tedge[stops, -1] = 0.0
    Qedge = tables.quenched_energy(kk, Tedge.ravel()).reshape(n, K + 1)
    dE = np.maximum(Tedge[:, :-1] - Tedge[:, 1:], 0.0)
    dQ = np.maximum(Qedge[:, :-1] - Qedge[:, 1:], 0.0)
    if cfg.fluctuations:
        # Moyal (approximate Landau) fluctuation of the visible deposit, mean preserved
        M = MASSES[p.kind]
        g = 1 + p.T / M
        beta2 = np.maximum(1 - 1 / g ** 2, 1e-6)
        xi = 0.5 * C.K_BETHE * C.Z_OVER_A * tables.density * ds / beta2
        z = rng.standard_normal(n)
        moyal = -np.log(np.maximum(z * z, 1e-300)) - (np.euler_gamma + np.log(2.0))
        tot = dE.sum(1)
        scale = np.where(tot > 0, np.clip(1 + np.clip(xi * moyal, -tot, 10 * tot) / np.maximum(tot, 1e-12), 0, None), 1.0)
        dE = dE * scale[:, None]
        dQ = dQ * scale[:, None]
    return Tedge, dE, dQ


def _bremsstrahlung(rng, p: Particles, alive, T1, ds, photons: list) -> None:
    """Bremsstrahlung photons of the live electrons along the step: appended to ``photons``, their energy
    taken from ``T1`` (in place; an electron never radiates more than it has)."""
    ie = np.flatnonzero(alive & (p.kind == ELECTRON) & (T1 > C.BREMS_KMIN_MEV * 1.01))
    if len(ie):
        E = T1[ie]
        y0 = C.BREMS_KMIN_MEV / E
        mean = ds[ie] / C.RADIATION_LENGTH_CM * (4 / 3 * np.log(1 / y0) - 4 / 3 * (1 - y0) + 0.5 * (1 - y0 ** 2))
        nb = rng.poisson(mean)
        if nb.any():
            src = np.repeat(ie, nb)
            k = sample_brems_fraction(rng, C.BREMS_KMIN_MEV / T1[src]) * T1[src]
            # energy conservation: an electron never radiates more than it has
            order = np.argsort(src, kind="stable")
            src, k = src[order], k[order]
            cum = np.cumsum(k)
            first = np.searchsorted(src, src, side="left")
            before = cum - k - np.where(first > 0, cum[first - 1], 0.0)
            k = np.clip(np.minimum(k, T1[src] - before), 0, None)
            np.subtract.at(T1, src, k)
            where = rng.random(len(src))
            photons.append((p.ev[src], p.pos[src] + p.dir[src] * (ds[src] * where)[:, None], p.dir[src], k))


def _scatter(rng, p: Particles, alive, d, ds, path, cfg: TransportConfig) -> None:
    """Multiple scattering (Highland, log term on the path so far) and magnetic curvature of the live
    charged particles: updates the directions ``d`` in place."""
    ia = np.flatnonzero(alive & (p.q != 0))
    if len(ia):
        kind = p.kind[ia]
        pm = momentum(kind, p.T[ia])
        beta = pm / np.sqrt(pm ** 2 + MASSES[kind] ** 2)
        x = ds[ia] / C.RADIATION_LENGTH_CM
        L = np.maximum(path[ia], 1.0) / C.RADIATION_LENGTH_CM
        theta0 = C.HIGHLAND_MEV / (beta * pm) * np.sqrt(x) * np.maximum(1 + C.HIGHLAND_LOG * np.log(L / beta ** 2), 0.1)
        u, v = perpendicular_basis(d[ia])
        t = rng.standard_normal((2, len(ia))) * theta0
        dn = d[ia] + u * np.tan(np.clip(t[0], -1.2, 1.2))[:, None] + v * np.tan(np.clip(t[1], -1.2, 1.2))[:, None]
        if cfg.magnetic_field_t:
            kappa = p.q[ia] * C.CURVATURE_PER_CM * cfg.magnetic_field_t / pm
            cross = np.stack([np.zeros(len(ia)), d[ia, 2], -d[ia, 1]], axis=1)  # d x X
            dn = dn + cross * (kappa * ds[ia])[:, None]
        d[ia] = dn / np.linalg.norm(dn, axis=1, keepdims=True)


def _decays_at_rest(rng, p: Particles, stopped_in, pos) -> list[Particles]:
    """Secondaries of particles stopped inside: Michel electrons of decaying muons (mu- only when not
    captured), the muon of pi+ -> mu+ nu, a proton from pi- capture."""
    new_parts: list[Particles] = []
    imu = np.flatnonzero(stopped_in & (p.kind == MUON))
    if len(imu):
        dec = (p.q[imu] > 0) | (rng.random(len(imu)) >= C.MU_MINUS_CAPTURE_FRACTION)
        imu = imu[dec]
        new_parts.append(Particles.new(rng, p.ev[imu], np.full(len(imu), ELECTRON), p.q[imu], pos[imu],
                                       isotropic(rng, len(imu)), sample_michel(rng, len(imu))))
    ipi = np.flatnonzero(stopped_in & (p.kind == PION) & (p.q > 0))
    if len(ipi):
        new_parts.append(Particles.new(rng, p.ev[ipi], np.full(len(ipi), MUON), np.ones(len(ipi)), pos[ipi],
                                       isotropic(rng, len(ipi)), np.full(len(ipi), C.PI_DECAY_MUON_T_MEV)))
    ipm = np.flatnonzero(stopped_in & (p.kind == PION) & (p.q < 0))
    if len(ipm):
        lo, hi = C.PI_MINUS_CAPTURE_PROTON_T_MEV
        new_parts.append(Particles.new(rng, p.ev[ipm], np.full(len(ipm), PROTON), np.ones(len(ipm)), pos[ipm],
                                       isotropic(rng, len(ipm)), rng.uniform(lo, hi, len(ipm))))
    return new_parts


def transport(primaries: Particles, n_events: int, rng: np.random.Generator, tables: Tables,
              cfg: TransportConfig = TransportConfig()) -> Deposits:
    """Transport ``primaries`` (one per event, ``primaries.ev`` in 0..n_events-1) and all secondaries."""
    K = cfg.substeps
    frac_mid = (np.arange(K) + 0.5) / K
    frac_edge = np.arange(K + 1) / K
    acc = {k: [] for k in ("ev", "cube", "energy", "quenched", "primary")}
    end = np.full((n_events, 3), np.nan)
    length = np.zeros(n_events)
    fate = np.full(n_events, -1, np.int64)
    live = primaries
    for _ in range(cfg.max_steps):
        if not len(live):
            break
        p = live
        R0 = tables.range(p.kind, p.T)
        ds = np.minimum(cfg.step_cm, R0)
        interacts = p.s_int < ds
        ds = np.where(interacts, p.s_int, ds)
        stops = (R0 <= ds) & ~interacts
        Tedge, dE, dQ = _step_deposits(rng, p, R0, ds, stops, tables, cfg, frac_edge)
        sub = p.pos[:, None, :] + p.dir[:, None, :] * (ds[:, None] * frac_mid[None, :])[:, :, None]
        sub = sub.reshape(-1, 3)
        ok = inside(sub)
        acc["ev"].append(np.repeat(p.ev, K)[ok])
        acc["cube"].append(cube_index(sub[ok]))
        acc["energy"].append(dE.ravel()[ok])
        acc["quenched"].append(dQ.ravel()[ok])
        acc["primary"].append(np.repeat(p.primary, K)[ok])

        # move
        T1 = Tedge[:, -1]
        pos = p.pos + p.dir * ds[:, None]
        path = p.path + ds
        d = p.dir.copy()
        alive = ~stops & ~interacts & inside(pos) & (T1 > 0)
        new_parts: list[Particles] = []
        photons = []

        _bremsstrahlung(rng, p, alive, T1, ds, photons)
        alive &= T1 > 0
        _scatter(rng, p, alive, d, ds, path, cfg)

        # primary bookkeeping
        ended = ~alive
        prim_end = np.flatnonzero(ended & p.primary)
        if len(prim_end):
            e = p.ev[prim_end]
            end[e] = pos[prim_end]
            length[e] = path[prim_end]
            f = np.where(stops[prim_end] | (T1[prim_end] <= 0), FATE_STOPPED, FATE_EXITED)
            f = np.where(interacts[prim_end], FATE_INTERACTED, f)
            f = np.where(~inside(pos[prim_end]), FATE_EXITED, f)
            fate[e] = f

        # decays and captures at rest
        stopped_in = stops & inside(pos)
        if cfg.decays:
            new_parts += _decays_at_rest(rng, p, stopped_in, pos)

        # nuclear interactions of pions and protons
        ih = np.flatnonzero(interacts & inside(pos) & (T1 > 0))
        if len(ih) and cfg.hadronic:
            new_parts.append(_hadronic(rng, p, ih, pos, d, T1, photons))

        # survivors
        ia = np.flatnonzero(alive)
        surv = Particles(p.ev[ia], p.kind[ia], p.q[ia], pos[ia], d[ia], T1[ia], p.primary[ia],
                         p.s_int[ia] - ds[ia], path[ia])
        if photons:
            new_parts.append(transport_photons(rng, *(np.concatenate(c) for c in zip(*photons))))
        live = Particles.concat([surv, *new_parts])
    else:
        raise RuntimeError("transport did not finish within max_steps; raise TransportConfig.max_steps")
    cat = {k: np.concatenate(v) if v else np.zeros(0) for k, v in acc.items()}
    return Deposits(cat["ev"].astype(np.int64), cat["cube"].astype(np.int64), cat["energy"], cat["quenched"],
                    cat["primary"].astype(bool), end, length, fate)


def _hadronic(rng, p: Particles, ih, pos, d, T1, photons) -> Particles:
    """Qualitative inelastic interaction of pions (absorption / scatter / charge exchange) and protons."""
    out = []
    kind = p.kind[ih]
    T = T1[ih]
    ev = p.ev[ih]
    ps = pos[ih]
    # protons: a leading proton with 20-80% of T, a second proton sharing part of the rest
    ip = kind == PROTON
    if ip.any():
        Tp, evp, pp = T[ip], ev[ip], ps[ip]
        lead = Tp * rng.uniform(0.2, 0.8, len(Tp))
        second = (Tp - lead) * rng.uniform(0, 1, len(Tp))
        dl = rotate(d[ih][ip], rng.uniform(0.5, 1.0, len(Tp)), rng.uniform(0, 2 * np.pi, len(Tp)))
        out.append(Particles.new(rng, np.concatenate([evp, evp]), np.full(2 * len(Tp), PROTON), np.ones(2 * len(Tp)),
                                 np.concatenate([pp, pp]), np.concatenate([dl, isotropic(rng, len(Tp))]),
                                 np.concatenate([lead, second])))
    ipi = np.flatnonzero(kind == PION)
    if len(ipi):
        Tpi, evpi, ppi, qpi, dpi = T[ipi], ev[ipi], ps[ipi], p.q[ih][ipi], d[ih][ipi]
        r = rng.random(len(ipi))
        pa, pi_, _ = C.PION_INTERACTION_PROBS
        absorb, scatter = r < pa, (r >= pa) & (r < pa + pi_)
        cex = r >= pa + pi_
        # absorption: one or two protons share a visible fraction of T + m_pi
        ia = np.flatnonzero(absorb)
        if len(ia):
            vis = (Tpi[ia] + C.M_PI) * rng.uniform(*C.PION_ABSORPTION_VISIBLE, len(ia))
            two = rng.random(len(ia)) < 0.5
            share = np.where(two, rng.uniform(0.2, 0.8, len(ia)), 1.0)
            e1, e2 = vis * share, vis * (1 - share)
            sel2 = np.flatnonzero(two)
            out.append(Particles.new(rng, np.concatenate([evpi[ia], evpi[ia][sel2]]),
                                     np.full(len(ia) + len(sel2), PROTON), np.ones(len(ia) + len(sel2)),
                                     np.concatenate([ppi[ia], ppi[ia][sel2]]), isotropic(rng, len(ia) + len(sel2)),
                                     np.concatenate([e1, e2[sel2]])))
        # inelastic scatter: the pion keeps 30-90% of T, a proton takes part of the rest
        isc = np.flatnonzero(scatter)
        if len(isc):
            keep = Tpi[isc] * rng.uniform(0.3, 0.9, len(isc))
            tp = (Tpi[isc] - keep) * rng.uniform(0.2, 0.8, len(isc))
            dn = rotate(dpi[isc], rng.uniform(0.0, 1.0, len(isc)), rng.uniform(0, 2 * np.pi, len(isc)))
            pion = Particles.new(rng, evpi[isc], np.full(len(isc), PION), qpi[isc], ppi[isc], dn, keep)
            prot = Particles.new(rng, evpi[isc], np.full(len(isc), PROTON), np.ones(len(isc)), ppi[isc],
                                 isotropic(rng, len(isc)), tp)
            out += [pion, prot]
        # charge exchange: pi0 -> 2 gamma, back to back in the pi0 frame (approximately: isotropic split)
        icx = np.flatnonzero(cex)
        if len(icx):
            Etot = Tpi[icx] + C.M_PI0
            z = rng.uniform(0.0, 1.0, len(icx))
            e1, e2 = Etot * z, Etot * (1 - z)
            d1 = rotate(dpi[icx], rng.uniform(0.3, 1.0, len(icx)), rng.uniform(0, 2 * np.pi, len(icx)))
            d2 = rotate(dpi[icx], rng.uniform(0.3, 1.0, len(icx)), rng.uniform(0, 2 * np.pi, len(icx)))
            photons.append((np.concatenate([evpi[icx], evpi[icx]]), np.concatenate([ppi[icx], ppi[icx]]),
                            np.concatenate([d1, d2]), np.concatenate([e1, e2])))
    return Particles.concat(out)
