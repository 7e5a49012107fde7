"""NDLArGenerator: single particles in DUNE ND-LAr, rendered into every detector domain.

True particles are drawn per event (``event_rng``, so a particle does not depend on chunking) and
transported once (:mod:`.particles`); each domain then renders the same deposits with its own detector
parameters (:mod:`.detector`).  Random numbers for diffusion and the buffer delay are shared by all
domains of a chunk (common random numbers), so paired events differ only through the parameters and
the electronics noise.
"""
from __future__ import annotations

import numpy as np

from benchmark.data.registry import SPLITS, DomainSpec, check_name
from benchmark.simulators.base import Generator, chunk_rng, event_rng
from benchmark.simulators.ndlar import constants as C
from benchmark.simulators.ndlar import detector, particles

#: seed of the fixed electronics domains: fixed forever, so ``electronics_k`` is one fixed detector
ELECTRONICS_DOMAIN_SEED = 2502_07724
N_ELECTRONICS_DOMAINS = 6

_PHYSICS_THROWS = {
    "efield_low": ("efield", C.EFIELD_RANGE[0]),
    "efield_high": ("efield", C.EFIELD_RANGE[1]),
    "lifetime_low": ("electron_lifetime", C.LIFETIME_RANGE[0]),
    "lifetime_high": ("electron_lifetime", C.LIFETIME_RANGE[1]),
    "diffusion_low": ("transverse_diffusion", C.TRANSVERSE_DIFFUSION_RANGE[0]),
    "diffusion_high": ("transverse_diffusion", C.TRANSVERSE_DIFFUSION_RANGE[1]),
}
#: one-parameter scans (test split only) for accuracy-versus-parameter curves
_SCANS = {
    "lifetime": ("electron_lifetime", (500.0, 1000.0, 1500.0, 3000.0, 5000.0), "{:.0f}"),
    "efield": ("efield", (0.45, 0.475, 0.525, 0.55), "{:.0f}", 1000.0),  # name in V/cm
    "threshold": ("discriminator_threshold", tuple(C.DISCRIMINATOR_THRESHOLD_NOMINAL * f
                                                    for f in (0.94, 0.96, 0.98, 1.02, 1.04, 1.06)), "{:.0f}"),
}


def _electronics_draws() -> list[dict[str, float]]:
    rng = np.random.default_rng(ELECTRONICS_DOMAIN_SEED)
    out = []
    for _ in range(N_ELECTRONICS_DOMAINS):
        vals = dict(C.NOMINAL_PARAMETERS)
        for name in C.ELECTRONICS_NAMES:
            vals[name] = float(np.float32(vals[name] * (1.0 + C.ELECTRONICS_SIGMA[name] * rng.standard_normal())))
        out.append(vals)
    return out


def _domain_table() -> list[tuple[DomainSpec, dict | str]]:
    """(DomainSpec, fixed parameter dict or the name of the random mode)."""
    nom = {k: float(v) for k, v in C.NOMINAL_PARAMETERS.items()}
    rows = [(DomainSpec("nominal", "the study's nominal detector (larnd-sim seed values)", nom, "nominal"), nom)]
    for name, (par, val) in _PHYSICS_THROWS.items():
        vals = dict(nom, **{par: float(val)})
        rows.append((DomainSpec(name, f"{par} = {val:g} {C.PARAMETERS[par][1]} (edge of the throw range), "
                                      f"other parameters nominal", vals, "systematic"), vals))
    for k, vals in enumerate(_electronics_draws(), start=1):
        rows.append((DomainSpec(f"electronics_{k}", "all nine electronics values drawn once from Gaussians around "
                                f"nominal (seed {ELECTRONICS_DOMAIN_SEED}, draw {k}); detector physics nominal",
                                vals, "systematic"), vals))
    rand_phys = {p: {"distribution": "uniform", "low": float(lo), "high": float(hi)} for p, (lo, hi) in
                 (("efield", C.EFIELD_RANGE), ("transverse_diffusion", C.TRANSVERSE_DIFFUSION_RANGE),
                  ("electron_lifetime", C.LIFETIME_RANGE))}
    rows.append((DomainSpec("physics_random", "every event draws E field, transverse diffusion and lifetime "
                            "uniformly in the throw ranges; electronics nominal (values stored per event)",
                            {**{k: v for k, v in nom.items() if k not in rand_phys}, **rand_phys}, "random"),
                 "physics"))
    rand_el = {p: {"distribution": "normal", "mean": float(nom[p]), "sigma": float(nom[p] * s)}
               for p, s in C.ELECTRONICS_SIGMA.items()}
    rows.append((DomainSpec("electronics_random", "every event draws the nine electronics values from their "
                            "Gaussians; detector physics nominal (values stored per event)",
                            {**{k: v for k, v in nom.items() if k not in rand_el}, **rand_el}, "random"),
                 "electronics"))
    for scan, spec in _SCANS.items():
        par, values, fmt = spec[:3]
        scale = spec[3] if len(spec) > 3 else 1.0
        for val in values:
            vals = dict(nom, **{par: float(val)})
            rows.append((DomainSpec(f"scan_{scan}_{fmt.format(val * scale)}",
                                    f"test-only scan point: {par} = {val:g} {C.PARAMETERS[par][1]}, others nominal",
                                    vals, "scan", test_only=True), vals))
    return rows


class NDLArGenerator(Generator):
    """Single e-, gamma, mu, pi+-, p in ND-LAr (edep-sim + larnd-sim stand-in)."""

    family = "ndlar"
    version = "2.0"  # 1.1: delta rays above 2 MeV; 2.0: class drawn per event, opaque event ids, shuffled rows
    # default: all domains in about 3 minutes on 2 cores (see VALIDATION.md for the measurement)
    sizes = {"default": {"train": 10_000, "validation": 2000, "test": 2000},  # issue 15: learning curves
             "full": {"train": 200_000, "validation": 50_000, "test": 50_000},
             # learning curves (benchmarks/learning_curves.py; generate with --domains nominal)
             "large": {"train": 30_000, "validation": 3000, "test": 3000}}
    chunk_size = 250

    def __init__(self, pixel_pitch_cm: float = C.PIXEL_PITCH_CM, recombination: str = "birks", n_sub: int = 1):
        if recombination not in C.RECOMBINATION_MODELS:
            raise ValueError(f"recombination must be one of {C.RECOMBINATION_MODELS}, got {recombination!r}")
        if not 0.15 <= pixel_pitch_cm <= 2.0:
            raise ValueError(f"pixel_pitch_cm must be in [0.15, 2.0] cm (ND-LAr: 0.38), got {pixel_pitch_cm}")
        if not 1 <= n_sub <= 8:
            raise ValueError(f"n_sub (charge packets per deposit) must be in 1..8, got {n_sub}")
        self.pixel_pitch_cm = float(pixel_pitch_cm)
        self.recombination = recombination
        self.n_sub = int(n_sub)
        self._table = _domain_table()
        self._by_name = {spec.name: (spec, vals) for spec, vals in self._table}

    def domains(self) -> tuple[DomainSpec, ...]:
        return tuple(spec for spec, _ in self._table)

    def parameters(self) -> dict:
        return {"pixel_pitch_cm": self.pixel_pitch_cm, "recombination": self.recombination,
                "charge_packets_per_deposit": self.n_sub, "step_cm": C.STEP_CM,
                "electronics_domain_seed": ELECTRONICS_DOMAIN_SEED}

    # ----------------------------------------------------------------------------------------
    @staticmethod
    def truth(seed: int, event_ids: np.ndarray) -> dict[str, np.ndarray]:
        """The true particle of each event: class drawn uniformly per event (so the class depends on
        nothing but the event's own random numbers, not on its index), energy uniform in the class's
        range, isotropic direction, vertex uniform in the study's box."""
        n = len(event_ids)
        label = np.zeros(n, np.int64)
        out = {"label": label, "pdg": np.zeros(n, np.int64), "kinetic_energy": np.zeros(n, np.float32),
               "direction": np.zeros((n, 3), np.float32), "start": np.zeros((n, 3), np.float32)}
        for i, eid in enumerate(event_ids):
            rng = event_rng(seed, int(eid), "ndlar", "truth")
            label[i] = rng.integers(len(C.CLASS_NAMES))
            cls = C.CLASS_NAMES[label[i]]
            pdg = C.CLASS_PDG[cls]
            if cls in ("muon", "charged_pion"):
                pdg *= 1 if rng.uniform() < 0.5 else -1
            lo, hi = C.ENERGY_RANGE_MEV[cls]
            out["pdg"][i] = pdg
            out["kinetic_energy"][i] = rng.uniform(lo, hi)
            out["direction"][i] = particles.isotropic(rng)
            out["start"][i] = rng.uniform(C.VERTEX_MIN, C.VERTEX_MAX)
        return out

    def _params(self, name: str, seed: int, event_ids: np.ndarray) -> dict[str, np.ndarray]:
        spec, vals = self._by_name[name]
        n = len(event_ids)
        if isinstance(vals, dict):
            return {k: np.full(n, np.float32(v), np.float64) for k, v in vals.items()}
        out = {k: np.full(n, np.float32(v), np.float64) for k, v in C.NOMINAL_PARAMETERS.items()}
        for i, eid in enumerate(event_ids):
            rng = event_rng(seed, int(eid), "ndlar", "params", name)
            if vals == "physics":
                for p in C.PHYSICS_NAMES:
                    d = spec.parameters[p]
                    out[p][i] = np.float32(rng.uniform(d["low"], d["high"]))
            else:
                for p in C.ELECTRONICS_NAMES:
                    d = spec.parameters[p]
                    out[p][i] = np.float32(d["mean"] + d["sigma"] * rng.standard_normal())
        return out

    def deposits(self, seed: int, event_ids: np.ndarray, truth: dict) -> dict[str, np.ndarray]:
        """Transport every true particle; concatenated deposits with their event index."""
        parts = []
        for i, eid in enumerate(event_ids):
            rng = event_rng(seed, int(eid), "ndlar", "transport")
            d = particles.transport(int(truth["pdg"][i]), float(truth["kinetic_energy"][i]),
                                    truth["start"][i].astype(np.float64), truth["direction"][i].astype(np.float64), rng)
            d["event"] = np.full(d["de"].shape, i, np.int64)
            parts.append(d)
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def generate_chunk(self, split, chunk_index, event_ids, seed, domains=None):
        event_ids = np.asarray(event_ids, dtype=np.int64)
        if domains is None:
            domains = [s.name for s, _ in self._table if split in s.splits]
        check_name("split", split, SPLITS)
        for name in domains:
            check_name("domain", name, self._by_name)
            if split not in self._by_name[name][0].splits:
                raise ValueError(f"domain {name!r} is test-only; it has no {split!r} split")
        if len(event_ids) > detector.MAX_EVENTS_PER_CALL:
            raise ValueError(f"a chunk holds at most {detector.MAX_EVENTS_PER_CALL} events, got {len(event_ids)}; "
                             f"lower chunk_size")
        truth = self.truth(seed, event_ids)
        dep = self.deposits(seed, event_ids, truth)
        crng = chunk_rng(seed, "ndlar", split, chunk_index, "drift")
        normals = crng.standard_normal((dep["de"].size, self.n_sub, 3))
        delays = crng.standard_exponential((dep["de"].size, self.n_sub))
        renderer = detector.ChunkRenderer(dep, len(event_ids), normals, delays, self.pixel_pitch_cm,
                                          self.recombination)
        out = {}
        for name in domains:
            params = self._params(name, seed, event_ids)
            rng = chunk_rng(seed, "ndlar", split, chunk_index, "electronics", name)
            out[name] = self._columns(event_ids, truth, params, *renderer.render(params, rng))
        return out

    @staticmethod
    def _columns(event_ids, truth, params, ev, ix, iy, iz, q) -> dict:
        n = len(event_ids)
        bounds = np.searchsorted(ev, np.arange(n + 1))
        counts = np.diff(bounds)
        keep = np.flatnonzero(counts >= C.MIN_VOXELS)
        xyz = np.stack([ix, iy, iz], axis=1).astype(np.int32)
        qf = q.astype(np.float32)
        cols = {"event_id": event_ids[keep], "label": truth["label"][keep],
                "coords": [xyz[bounds[i]:bounds[i + 1]].ravel() for i in keep],
                "charge": [qf[bounds[i]:bounds[i + 1]] for i in keep],
                "pdg": truth["pdg"][keep], "kinetic_energy": truth["kinetic_energy"][keep],
                "direction": truth["direction"][keep], "start": truth["start"][keep]}
        for p in C.PARAMETER_NAMES:
            cols[p] = params[p][keep].astype(np.float32)
        return cols
