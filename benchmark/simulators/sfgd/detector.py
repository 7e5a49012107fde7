"""Detector response: energy per cube -> photo-electrons per fibre -> reconstructed cube hits.

Split in two so that domains differ ONLY by crosstalk:

* :func:`prepare` (once per chunk, domain independent): sums deposits per cube, draws the primary
  photo-electrons of each cube's three fibres (Poisson, ``rng_light``), and the crosstalk "base":
  for every face neighbour, the expected p.e. per fibre that a crosstalk strength of 1 would put
  there.  All random numbers that crosstalk needs (inverse-CDF uniforms, threshold uniforms and
  noise of crosstalk-only cubes) come from an independent stream ``rng_xtalk`` and are drawn once,
  so every domain uses the same ones (common random numbers: a larger strength never removes a
  crosstalk hit that a smaller one made).
* :func:`render` (per domain): crosstalk p.e. = Poisson(strength x base) via the inverse CDF,
  MPPC saturation, threshold, gain/electronics noise, view matching, charge per cube.

Crosstalk strength is the per-face fraction as measured on prototypes: light seen in a face
neighbour divided by the light of the fired cube.  The fired cube's own light is its calibrated
light yield and does not depend on the strength (the measured light yield already contains the
leak), so cubes with a true deposit keep the same primary p.e. in every domain.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

from benchmark.simulators.sfgd import constants as C

NY, NZ = C.N_CUBES_Y, C.N_CUBES_Z
GRID = np.array(C.GRID)
FACES = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=np.int64)


@dataclass
class ResponseConfig:
    photons_per_mev: float = C.PHOTONS_PER_MEV
    pde: float = C.MPPC_PDE
    threshold: bool = True
    noise: bool = True
    saturation: bool = True
    min_views: int = C.MIN_VIEWS


def unravel(cube: np.ndarray) -> np.ndarray:
    """Linear cube index -> (n, 3) integer (x, y, z)."""
    z = cube % NZ
    y = (cube // NZ) % NY
    x = cube // (NZ * NY)
    return np.stack([x, y, z], axis=1)


def ravel(ijk: np.ndarray) -> np.ndarray:
    return (ijk[:, 0] * NY + ijk[:, 1]) * NZ + ijk[:, 2]


def attenuation(ijk: np.ndarray) -> np.ndarray:
    """Transmission of the X, Y and Z fibres from the cube centre to their readout ends (n, 3) [S3]."""
    x = (GRID[None, :] - ijk - 0.5) + C.ATT_D_CM
    return C.ATT_A * np.exp(-x / C.ATT_L_LONG_CM) + (1 - C.ATT_A) * np.exp(-x / C.ATT_L_SHORT_CM)


def pe_per_mev(ijk: np.ndarray, cfg: ResponseConfig) -> np.ndarray:
    """Expected photo-electrons per MeV of quenched deposit for each of the three fibres (n, 3)."""
    return cfg.photons_per_mev * cfg.pde * attenuation(ijk)


def poisson_icdf(u: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Poisson quantile k(u, mean): monotone in ``mean`` for fixed ``u`` (common random numbers).

    Exact summation of the pmf for mean <= 30, normal approximation with continuity above.
    """
    u = np.asarray(u, np.float64)
    mean = np.asarray(mean, np.float64)
    out = np.zeros(mean.shape, np.int64)
    flat_u, flat_m, flat_o = u.ravel(), mean.ravel(), out.ravel()
    big = flat_m > 30
    if big.any():
        m = flat_m[big]
        flat_o[big] = np.maximum(np.floor(m + np.sqrt(m) * ndtri(np.clip(flat_u[big], 1e-12, 1 - 1e-12)) + 0.5), 0)
    idx = np.flatnonzero((flat_m > 0) & ~big)
    if len(idx):
        m, uu = flat_m[idx], flat_u[idx]
        p = np.exp(-m)
        c = p.copy()
        k = np.zeros(len(idx), np.int64)
        act = np.flatnonzero(c < uu)
        kmax = 200
        while len(act) and k[act].max() < kmax:
            k[act] += 1
            p[act] *= m[act] / k[act]
            c[act] += p[act]
            act = act[c[act] < uu[act]]
        flat_o[idx] = k
    return flat_o.reshape(mean.shape)


@dataclass
class ChunkLight:
    """Domain-independent response of one chunk; one row per candidate cube (sorted by event, cube)."""

    ev: np.ndarray  # event index within the chunk
    cube: np.ndarray  # linear cube index
    energy: np.ndarray  # true deposit (MeV); 0 for crosstalk-only cubes
    quenched: np.ndarray  # after Birks (MeV)
    pe_primary: np.ndarray  # (n, 3) int: primary p.e. of the X, Y, Z fibres
    xt_base: np.ndarray  # (n, 3) expected crosstalk p.e. per fibre at strength 1
    u_xt: np.ndarray  # (n, 3) uniforms for the crosstalk Poisson quantile
    u_thr: np.ndarray  # (n, 3) uniforms for the threshold
    z_noise: np.ndarray  # (n, 3) standard normals for gain/electronics noise
    n_events: int

    @property
    def has_deposit(self) -> np.ndarray:
        return self.energy > 0


def prepare(ev: np.ndarray, cube: np.ndarray, energy: np.ndarray, quenched: np.ndarray, n_events: int,
            rng_light: np.random.Generator, rng_xtalk: np.random.Generator,
            cfg: ResponseConfig = ResponseConfig()) -> ChunkLight:
    """Sum deposits per cube, draw primary light, build the crosstalk base (see module docstring)."""
    key = ev.astype(np.int64) * C.N_CUBES_TOTAL + cube
    ukey, inv = np.unique(key, return_inverse=True)
    e_c = np.bincount(inv, weights=energy, minlength=len(ukey))
    q_c = np.bincount(inv, weights=quenched, minlength=len(ukey))
    pev, pcube = ukey // C.N_CUBES_TOTAL, ukey % C.N_CUBES_TOTAL
    ijk = unravel(pcube)
    mean_pe = q_c[:, None] * pe_per_mev(ijk, cfg)
    # primary photo-electrons: Poisson (photon statistics x binomial PDE = Poisson), rng_light only
    pe_prim = rng_light.poisson(mean_pe)
    u_thr_p = rng_light.random(mean_pe.shape)
    z_p = rng_light.standard_normal(mean_pe.shape)

    # crosstalk base: every face neighbour inside the detector gets q_src * pe_per_mev(neighbour)
    nb = (ijk[:, None, :] + FACES[None, :, :]).reshape(-1, 3)
    src = np.repeat(np.arange(len(ukey)), len(FACES))
    ok = np.all((nb >= 0) & (nb < GRID), axis=1)
    nb, src = nb[ok], src[ok]
    nkey = pev[src] * C.N_CUBES_TOTAL + ravel(nb)
    base_nb = q_c[src, None] * pe_per_mev(nb, cfg)

    allkey = np.union1d(ukey, nkey)
    n = len(allkey)
    ip = np.searchsorted(allkey, ukey)
    inb = np.searchsorted(allkey, nkey)
    xt_base = np.zeros((n, 3))
    for f in range(3):
        xt_base[:, f] = np.bincount(inb, weights=base_nb[:, f], minlength=n)
    energy_all = np.zeros(n)
    energy_all[ip] = e_c
    quenched_all = np.zeros(n)
    quenched_all[ip] = q_c
    pe_all = np.zeros((n, 3), np.int64)
    pe_all[ip] = pe_prim
    # crosstalk stream: quantile uniforms for all cubes; threshold/noise for crosstalk-only cubes
    u_xt = rng_xtalk.random((n, 3))
    u_thr = rng_xtalk.random((n, 3))
    z = rng_xtalk.standard_normal((n, 3))
    u_thr[ip] = u_thr_p
    z[ip] = z_p
    return ChunkLight(allkey // C.N_CUBES_TOTAL, allkey % C.N_CUBES_TOTAL, energy_all, quenched_all, pe_all,
                      xt_base, u_xt, u_thr, z, n_events)


@dataclass
class Hits:
    """Reconstructed cube hits of one domain, sorted by (event, cube)."""

    ev: np.ndarray
    cube: np.ndarray
    charge: np.ndarray  # float32 p.e., sum of the fired fibres of the cube
    crosstalk: np.ndarray  # bool: the cube has no true deposit (light is crosstalk only)
    offsets: np.ndarray  # (n_events + 1,) into the arrays above

    def coords(self) -> np.ndarray:
        return unravel(self.cube).astype(np.int32)


def render(light: ChunkLight, strength: np.ndarray, cfg: ResponseConfig = ResponseConfig()) -> Hits:
    """Hits for per-event crosstalk strengths ``strength`` (n_events,)."""
    strength = np.asarray(strength, np.float64)
    if strength.shape != (light.n_events,):
        raise ValueError(f"strength must have one value per event ({light.n_events}), got shape {strength.shape}")
    if np.any(strength < 0):
        raise ValueError("crosstalk strength must be >= 0")
    mean_xt = strength[light.ev, None] * light.xt_base
    n = light.pe_primary + poisson_icdf(light.u_xt, mean_xt)
    if cfg.threshold:
        keep_p = np.asarray(C.THRESHOLD_KEEP_PROB)[np.minimum(n, len(C.THRESHOLD_KEEP_PROB) - 1)]
        fired = light.u_thr < keep_p
    else:
        fired = n > 0
    signal = n.astype(np.float64)
    if cfg.saturation:
        signal = C.MPPC_PIXELS * -np.expm1(-signal / C.MPPC_PIXELS)
    if cfg.noise:
        signal = np.maximum(signal + np.sqrt(signal * C.SPE_SIGMA ** 2 + C.ELECTRONICS_NOISE_PE ** 2) * light.z_noise, 0.0)
    charge = np.where(fired, signal, 0.0).sum(1)
    kept = (fired.sum(1) >= cfg.min_views) & (charge > 0)
    ev = light.ev[kept]
    offsets = np.searchsorted(ev, np.arange(light.n_events + 1))
    return Hits(ev, light.cube[kept], charge[kept].astype(np.float32), ~light.has_deposit[kept], offsets)
