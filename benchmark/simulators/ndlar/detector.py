"""ND-LAr detector response: energy deposits -> LArPix hits -> voxels, vectorised over a whole chunk.

Stages (larnd-sim's chain [larnd-sim], in numpy):

1. geometry: which TPC a deposit is in (7 x 5 modules, two 50.4 cm drift volumes per module sharing a
   central cathode, dead gaps between modules), its drift distance to the anode;
2. ionisation + recombination: n_e = R(E, dE/dx) dE / W_ion, Birks by default, modified Box optional;
3. drift at v(E) (Walkowiak mobility), attenuation exp(-t/tau), longitudinal and transverse
   diffusion sigma = sqrt(2 D t) (each deposit split into ``n_sub`` charge packets);
4. pixel readout: packets land on the pixel plane (pitch 3.8 mm by default) and arrive in 0.1 us
   clock ticks; the buffer rise time delays each packet by an exponential of mean tau_b (the
   larnd-sim convolution kernel w_k is that distribution, discretised);
5. LArPix self-trigger per pixel (fee.py logic): reset noise, threshold crossing with discriminator
   and uncorrelated noise, 18-tick integration, ADC = f(gain, V_PED, V_CM, V_REF), reset, busy
   window, at most MAX_ADC_VALUES hits per pixel; vectorised over all pixels of the chunk, one loop
   iteration per trigger cycle;
6. reconstruction as the study did: (pixel centre, drift coordinate from the hit timestamp with the
   NOMINAL drift velocity), charge from the ADC with the NOMINAL calibration, binned into voxels of
   one pixel pitch.
"""
from __future__ import annotations

import numpy as np

from benchmark.simulators.ndlar import constants as C

# bit layout of the pixel key: event (12 bits) | tpc (4) | iy (11) | iz (12); then 22 bits of clock tick
_IZ_BITS, _IY_BITS, _TPC_BITS = 12, 11, 4
_TICK_BITS = 22
# voxel key: event | ix + offset (13 bits; the drift coordinate may fall outside the volume) | iy | iz
_IX_BITS, _IX_OFFSET = 13, 1024
MAX_EVENTS_PER_CALL = 1 << 12


def drift_velocity(efield) -> np.ndarray:
    """Electron drift velocity in cm/us at field ``efield`` kV/cm [Walkowiak, larnd-sim detector.py]."""
    E = np.asarray(efield, dtype=np.float64)
    a0, a1, a2, a3, a4, a5 = C.MOBILITY_A
    mu = ((a0 + a1 * E + a2 * E ** 1.5 + a3 * E ** 2.5) / (1 + (a1 / a0) * E + a4 * E ** 2 + a5 * E ** 3)
          * (C.LAR_TEMPERATURE_K / C.MOBILITY_T0_K) ** -1.5)  # cm^2/V/s
    return mu * E * 1e-3  # (cm^2/V/s) x (1e3 V/cm) = 1e3 cm/s = 1e-3 cm/us per unit


V_NOMINAL = float(drift_velocity(C.EFIELD_NOMINAL))


def recombination(dedx, efield, model: str = "birks") -> np.ndarray:
    """Fraction of ionisation electrons escaping recombination [larnd-sim quenching.py]."""
    dedx = np.asarray(dedx, dtype=np.float64)
    efield = np.asarray(efield, dtype=np.float64)
    if model == "birks":
        return C.BIRKS_AB / (1 + C.BIRKS_KB * dedx / (C.LAR_DENSITY_RECOMB * efield))
    if model == "box":
        xi = C.BOX_BETA * dedx / (C.LAR_DENSITY_RECOMB * efield)
        xi = np.maximum(xi, 1e-6)
        return np.log(C.BOX_ALPHA + xi) / xi
    raise ValueError(f"recombination model {model!r} unknown; choose one of {C.RECOMBINATION_MODELS}")


def locate(pos: np.ndarray):
    """(active mask, tpc index 0..13, drift distance cm) of points in the detector frame."""
    x, y, z = pos[:, 0], pos[:, 1], pos[:, 2]
    xm = x - C.ACTIVE_MIN[0]
    mod = np.floor(xm / C.MODULE_PITCH_X)
    local = xm - mod * C.MODULE_PITCH_X
    side = local >= C.DRIFT_LENGTH  # side 0: anode at the module's low-x face, side 1: high-x face
    drift = np.where(side, 2 * C.DRIFT_LENGTH - local, local)
    zm = z - C.ACTIVE_MIN[2]
    modz = np.floor(zm / C.MODULE_PITCH_Z)
    lz = zm - modz * C.MODULE_PITCH_Z
    active = ((mod >= 0) & (mod < C.N_MODULES_X) & (local < 2 * C.DRIFT_LENGTH)
              & (y >= C.ACTIVE_MIN[1]) & (y < C.ACTIVE_MAX[1])
              & (modz >= 0) & (modz < C.N_MODULES_Z) & (lz < C.MODULE_ACTIVE_Z))
    tpc = (2 * mod + side).astype(np.int64)
    return active, tpc, drift


def anode_x(tpc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x of each TPC's anode and the sign of (x - x_anode) inside it."""
    mod = tpc // 2
    side = tpc % 2
    return C.ACTIVE_MIN[0] + mod * C.MODULE_PITCH_X + side * 2 * C.DRIFT_LENGTH, 1.0 - 2.0 * side


def adc_from_charge(q_e, gain, v_ped, v_cm, v_ref) -> np.ndarray:
    """8-bit ADC code of an integrated charge ``q_e`` electrons [larnd-sim fee.digitize]."""
    v = np.maximum(q_e * 1e-3 * gain + v_ped - v_cm, 0.0)
    return np.minimum(np.rint(v * C.ADC_COUNTS / (v_ref - v_cm)), C.ADC_COUNTS - 1)


def charge_from_adc(adc) -> np.ndarray:
    """ADC -> charge in ke- with the NOMINAL calibration [larpix_readout_parser get_charge.py]."""
    return ((adc / C.ADC_COUNTS * (C.V_REF_NOMINAL - C.V_CM_NOMINAL) + C.V_CM_NOMINAL - C.V_PEDESTAL_NOMINAL)
            / C.GAIN_NOMINAL)


def larpix(key, tick, q, params: dict[str, np.ndarray], rng: np.random.Generator):
    """LArPix self-trigger on charge binned per (pixel ``key``, clock ``tick``) (fee.py logic).

    ``key``/``tick`` are sorted lexicographically and unique; ``params[name][i]`` is the value for
    pixel key i's event (looked up by the caller through ``event_of(key)``).
    Returns (pixel key, timestamp tick, ADC) of every hit.
    """
    comb = (key << _TICK_BITS) | tick
    C0 = np.concatenate([[0.0], np.cumsum(q)])
    Cq = C0[1:]
    starts = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
    ends = np.concatenate([starts[1:], [key.size]])
    pk = key[starts]
    ev = pk >> (_TPC_BITS + _IY_BITS + _IZ_BITS)
    thr = params["discriminator_threshold"][ev]
    s_unc = params["uncorrelated_noise"][ev]
    s_disc = params["discriminator_noise"][ev]
    s_reset = params["reset_noise"][ev]
    r = starts.copy()
    tmin = np.zeros(pk.size, dtype=np.int64)
    q0 = rng.standard_normal(pk.size) * s_reset
    nhit = np.zeros(pk.size, dtype=np.int64)
    act = np.arange(pk.size)
    out_p, out_t, out_q = [], [], []
    for _ in range(4 * C.MAX_ADC_VALUES + 4):
        if act.size == 0:
            break
        ra, ea = r[act], ends[act]
        cb = C0[ra]
        n = act.size
        target = cb - q0[act] + thr[act] + rng.standard_normal(n) * s_disc[act] - rng.standard_normal(n) * s_unc[act]
        i1 = np.maximum(np.searchsorted(Cq, target, side="left"), ra)
        ok = i1 < ea
        act, ra, cb, i1 = act[ok], ra[ok], cb[ok], i1[ok]
        if act.size == 0:
            break
        n = act.size
        tt = np.maximum(tick[i1], tmin[act])
        t_end = tt + C.INTEGRATION_TICKS
        base = pk[act] << _TICK_BITS
        j = np.searchsorted(comb, base | t_end, side="right")
        qint = C0[j] - cb + q0[act] + rng.standard_normal(n) * s_unc[act]
        passed = qint >= thr[act] + rng.standard_normal(n) * s_disc[act]
        if passed.any():
            a = act[passed]
            out_p.append(pk[a])
            out_t.append(t_end[passed] + 1 + C.TIMESTAMP_OFFSET)
            e = ev[a]
            out_q.append(adc_from_charge(qint[passed], params["gain"][e], params["v_pedestal"][e],
                                         params["v_cm"][e], params["v_ref"][e]))
            nhit[a] += 1
        # reset during tick t_end+1 (its charge is lost), accumulation restarts at t_end+2;
        # after a digitised hit the channel is busy for ADC_BUSY_DELAY ticks
        r[act] = np.searchsorted(comb, base | (t_end + 1 + C.RESET_CYCLES), side="left")
        tmin[act] = np.where(passed, t_end + C.RESET_CYCLES + C.ADC_BUSY_DELAY, t_end + 1 + C.RESET_CYCLES)
        q0[act] = rng.standard_normal(n) * s_reset[act]
        keep = (r[act] < ends[act]) & (nhit[act] < C.MAX_ADC_VALUES)
        act = act[keep]
    if not out_p:
        z = np.zeros(0, dtype=np.int64)
        return z, z, np.zeros(0)
    return np.concatenate(out_p), np.concatenate(out_t), np.concatenate(out_q)


class ChunkRenderer:
    """Renders the deposits of up to 4096 events into any number of domains.

    What does not depend on the detector parameters (geometry, dE/dx, the shared random numbers) is
    computed once; the drifted charge packets are cached per distinct set of physics parameters, so
    the electronics domains of a chunk only re-run the pixel binning and the front end.
    """

    def __init__(self, dep: dict[str, np.ndarray], n_events: int, normals: np.ndarray, delays: np.ndarray,
                 pitch: float = C.PIXEL_PITCH_CM, recombination_model: str = "birks"):
        if n_events > MAX_EVENTS_PER_CALL:
            raise ValueError(f"at most {MAX_EVENTS_PER_CALL} events per chunk, got {n_events}")
        if recombination_model not in C.RECOMBINATION_MODELS:
            raise ValueError(f"recombination model {recombination_model!r} unknown; "
                             f"choose one of {C.RECOMBINATION_MODELS}")
        self.n_events, self.pitch, self.model = n_events, float(pitch), recombination_model
        self.ny = int(np.ceil((C.ACTIVE_MAX[1] - C.ACTIVE_MIN[1]) / pitch))
        self.nz = int(np.ceil((C.ACTIVE_MAX[2] - C.ACTIVE_MIN[2]) / pitch))
        if self.ny >= 1 << _IY_BITS or self.nz >= 1 << _IZ_BITS:
            raise ValueError(f"pixel pitch {pitch} cm is too fine for the pixel key layout (min ~0.15 cm)")
        active, tpc, drift = locate(dep["pos"])
        idx = np.flatnonzero(active & (dep["de"] > 0))
        self.ev, self.tpc, self.drift_cm = dep["event"][idx], tpc[idx], drift[idx]
        self.pos, self.de, self.t0 = dep["pos"][idx], dep["de"][idx], dep["t"][idx]
        self.dedx = self.de / np.maximum(dep["dx"][idx], 1e-4)
        self.normals, self.delays = normals[idx], delays[idx]
        self._cache: dict[tuple, tuple] = {}

    def drift(self, params: dict[str, np.ndarray]):
        """Attenuated, diffused charge packets before pixelisation: (y, z, t, q), each (n_dep, n_sub),
        with y, z in cm at the anode, t the arrival time in us (before the buffer delay), q in e-."""
        ev = self.ev
        efield = params["efield"]
        v_ev = drift_velocity(efield)
        n_e = recombination(self.dedx, efield[ev], self.model) * self.de / C.W_ION_MEV
        t_drift = self.drift_cm / v_ev[ev]
        q = n_e * np.exp(-t_drift / params["electron_lifetime"][ev])
        sig_t = np.sqrt(2.0 * params["transverse_diffusion"][ev] * t_drift)
        sig_lt = np.sqrt(2.0 * C.LONGITUDINAL_DIFFUSION * t_drift) / v_ev[ev]
        nrm = self.normals
        n_sub = nrm.shape[1]
        y = self.pos[:, 1, None] + sig_t[:, None] * nrm[:, :, 0]
        z = self.pos[:, 2, None] + sig_t[:, None] * nrm[:, :, 1]
        t = (self.t0 + t_drift)[:, None] + sig_lt[:, None] * nrm[:, :, 2]
        return y, z, t, np.repeat((q / n_sub)[:, None], n_sub, axis=1)

    def packets(self, params: dict[str, np.ndarray]):
        """Drifted charge packets on pixels: (pixel key, arrival time before the buffer delay, charge e-,
        event index, unit buffer delay); cached per set of physics parameters."""
        phys = tuple(np.asarray(params[p]).tobytes() for p in C.PHYSICS_NAMES)
        if phys in self._cache:
            return self._cache[phys]
        ev = self.ev
        y, z, t, q = self.drift(params)
        n_sub = y.shape[1]
        iy = np.floor((y - C.ACTIVE_MIN[1]) / self.pitch).astype(np.int64)
        iz = np.floor((z - C.ACTIVE_MIN[2]) / self.pitch).astype(np.int64)
        # a packet diffused out of the active area (module gap, edge) is lost
        zc = (iz + 0.5) * self.pitch
        lz = zc - np.floor(zc / C.MODULE_PITCH_Z) * C.MODULE_PITCH_Z
        ok = (iy >= 0) & (iy < self.ny) & (iz >= 0) & (iz < self.nz) & (lz < C.MODULE_ACTIVE_Z) & (t >= 0)
        sel = np.flatnonzero(ok.ravel())
        deposit = sel // n_sub
        key = ((((ev[deposit] << _TPC_BITS) | self.tpc[deposit]) << _IY_BITS | iy.ravel()[sel]) << _IZ_BITS) \
            | iz.ravel()[sel]
        out = (key, t.ravel()[sel], q.ravel()[sel], ev[deposit], self.delays.ravel()[sel])
        self._cache[phys] = out
        return out

    def render(self, params: dict[str, np.ndarray], rng: np.random.Generator):
        """(event index, voxel ix, iy, iz, charge ke-) of every voxel, sorted by event."""
        key, t, q, ev, delay = self.packets(params)
        t = t + delay * params["buffer_risetime"][ev]
        tick = np.minimum(np.floor(t / C.CLOCK_CYCLE_US).astype(np.int64), (1 << _TICK_BITS) - 64)
        uniq, inv = np.unique((key << _TICK_BITS) | tick, return_inverse=True)
        qsum = np.bincount(inv, weights=q, minlength=uniq.size)
        hp, ht, hadc = larpix(uniq >> _TICK_BITS, uniq & ((1 << _TICK_BITS) - 1), qsum, params, rng)
        # reconstruction: pixel centre in (y, z), drift coordinate from the timestamp at nominal velocity
        h_iz = hp & ((1 << _IZ_BITS) - 1)
        h_iy = (hp >> _IZ_BITS) & ((1 << _IY_BITS) - 1)
        h_tpc = (hp >> (_IZ_BITS + _IY_BITS)) & ((1 << _TPC_BITS) - 1)
        h_ev = hp >> (_IZ_BITS + _IY_BITS + _TPC_BITS)
        xa, sign = anode_x(h_tpc)
        x_reco = xa + sign * V_NOMINAL * ht * C.CLOCK_CYCLE_US
        h_ix = np.floor((x_reco - C.ACTIVE_MIN[0]) / self.pitch).astype(np.int64)
        charge = charge_from_adc(hadc)
        # voxelise: sum the charge of hits that share a voxel
        ixo = np.clip(h_ix + _IX_OFFSET, 0, (1 << _IX_BITS) - 1)
        vkey = (((h_ev << _IX_BITS | ixo) << _IY_BITS | h_iy) << _IZ_BITS) | h_iz
        vu, vinv = np.unique(vkey, return_inverse=True)
        vq = np.bincount(vinv.ravel(), weights=charge, minlength=len(vu))
        return (vu >> (_IX_BITS + _IY_BITS + _IZ_BITS),
                ((vu >> (_IY_BITS + _IZ_BITS)) & ((1 << _IX_BITS) - 1)) - _IX_OFFSET,
                (vu >> _IZ_BITS) & ((1 << _IY_BITS) - 1), vu & ((1 << _IZ_BITS) - 1), vq)
