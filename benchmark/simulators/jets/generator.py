"""``JetsGenerator``: top vs QCD jets from Pythia 8 + FastJet + a Delphes-like detector, with domains.

Domains (parameters per jet are stored as float32 columns):

* ``nominal`` and the detector-level throws (``jes_up``, ``jes_down``, ``resolution``, ``soft_loss``,
  ``angular``, ``detector_random``): the SAME reconstructed jets, re-measured by
  :func:`~benchmark.simulators.jets.detector.apply_throw`; they share nominal's ``event_id`` (paired).
* generator-modelling variants (``fsr_up``, ``fsr_down``, ``lund_up``, ``lund_down``, ``vincia``): a
  different Pythia configuration cannot reproduce the same particles, so these are independent jets
  (UNPAIRED).  Their ``event_id`` = the nominal id of the same slot + k * 100,000,000 (k = 1.. the
  variant's position), unique across domains and splits, and never equal to a nominal id.  They are
  smaller than nominal (``fraction`` of each chunk) because Pythia is the cost.

A chunk initialises one Pythia per (variant, process): top and QCD are separate instances, each
generating until its half of the chunk has passed the cuts; the labels are then interleaved in a
seeded random order.  Seeds: ``Random:seed`` from ``chunk_rng(seed, split, chunk_index, variant,
label)``, detector smearing from ``chunk_rng(..., variant, "detector")``.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from benchmark.data.registry import EVENT_ID_STRIDE, SPLIT_CODES, DomainSpec
from benchmark.simulators.base import Generator, chunk_rng
from benchmark.simulators.jets import clustering, detector, pythia

VARIANT_ID_OFFSET = 100_000_000

#: detector-level throws (fixed values; sizes are our stress-test choices, not measured uncertainties:
#: ATLAS-like large-R jet energy scale uncertainties are a few per cent, the ECAL cell is 0.0174 in eta)
THROWS: dict[str, tuple[str, dict[str, float]]] = {
    "jes_up": ("jet energy scale +5%: every constituent four-momentum x 1.05", {"jes": 1.05}),
    "jes_down": ("jet energy scale -5%: every constituent four-momentum x 0.95", {"jes": 0.95}),
    "resolution": ("extra constituent energy resolution: log-normal factor, mean 1, sigma 20%",
                   {"constituent_resolution": 0.20}),
    "soft_loss": ("loss of soft constituents: constituents with pT < 1 GeV removed", {"soft_pt_min": 1.0}),
    "angular": ("angular smearing: constituent eta and phi each + N(0, 0.02)", {"angular_sigma": 0.02}),
}
#: ranges of the per-jet throw of ``detector_random`` (uniform)
RANDOM_THROW_RANGES = {"jes": (0.95, 1.05), "constituent_resolution": (0.0, 0.20),
                       "soft_pt_min": (0.0, 1.0), "angular_sigma": (0.0, 0.02)}

PARAMETER_COLUMNS = (*detector.THROW_NOMINAL, *pythia.NOMINAL_GENERATOR)
TRUTH_COLUMNS = ("truth_E", "truth_px", "truth_py", "truth_pz")


def throw_domains() -> tuple[DomainSpec, ...]:
    """The detector-level domains, shared by the generated and the published (toptag) sources."""
    out = [DomainSpec(name, desc, {**detector.THROW_NOMINAL, **par}, kind="fixed")
           for name, (desc, par) in THROWS.items()]
    out.append(DomainSpec("detector_random", "each jet draws its own detector throw, uniform in the ranges given",
                          {k: list(v) for k, v in RANDOM_THROW_RANGES.items()}, kind="random"))
    return tuple(out)


def throw_parameters(domain: str, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-jet throw values of ``domain`` (nominal values for the keys it does not vary)."""
    par = {k: np.full(n, v) for k, v in detector.THROW_NOMINAL.items()}
    if domain == "detector_random":
        for k, (lo, hi) in RANDOM_THROW_RANGES.items():
            par[k] = rng.uniform(lo, hi, n)
    elif domain in THROWS:
        for k, v in THROWS[domain][1].items():
            par[k] = np.full(n, v)
    elif domain != "nominal":
        raise KeyError(f"{domain!r} is not a detector-level domain; valid: nominal, {', '.join(THROWS)}, "
                       "detector_random")
    return par


def jets_columns(event_id, label, e, px, py, pz, offsets, params: dict[str, Any],
                 truth: np.ndarray) -> dict[str, Any]:
    """Schema columns of a set of jets given flat constituent arrays (one place for both sources)."""
    n = len(event_id)
    pt, eta, phi, mass = detector.jet_kinematics(e, px, py, pz, offsets)
    cols: dict[str, Any] = {"event_id": np.asarray(event_id, np.int64), "label": np.asarray(label, np.int64)}
    for name, a in (("E", e), ("px", px), ("py", py), ("pz", pz)):
        a = np.asarray(a, np.float32)
        cols[name] = [a[offsets[i]:offsets[i + 1]] for i in range(n)]
    cols.update(jet_pt=pt.astype(np.float32), jet_eta=eta.astype(np.float32),
                jet_phi=phi.astype(np.float32), jet_mass=mass.astype(np.float32))
    for k in PARAMETER_COLUMNS:
        cols[k] = np.broadcast_to(np.asarray(params[k], np.float32), (n,)).copy()
    for i, k in enumerate(TRUTH_COLUMNS):
        cols[k] = np.asarray(truth[:, i], np.float32)
    return cols


def simulate(variant: str, label: int, n_jets: int, seed_rng: np.random.Generator,
             det_rng: np.random.Generator, stats: dict | None = None):
    """Generate events of one process until ``n_jets`` leading jets pass the selection.

    Returns ``(e, px, py, pz, offsets, truth (n, 4))`` of the reconstructed constituents.
    """
    out_e, out_px, out_py, out_pz, counts, truths = [], [], [], [], [], []
    if n_jets <= 0:
        z = np.zeros(0)
        return z, z, z, z, np.zeros(1, np.int64), np.zeros((0, 4))
    gen = pythia.seeded_pythia(variant, label, pythia.pythia_seed(seed_rng))
    n_done = n_tried = 0
    efficiency = 0.5  # first guess; updated from the running pass rate
    t0 = time.perf_counter()
    while n_done < n_jets:
        need = n_jets - n_done
        batch_n = int(np.clip(1.2 * need / max(efficiency, 0.05) + 2, 4, 400))
        batch = pythia.generate_batch(gen, batch_n, label)
        ev, e, px, py, pz = detector.detector_response(batch, det_rng)
        jet_p4, const = clustering.leading_jets(ev, e, px, py, pz, batch.n_events)
        ok, truth = clustering.select_jets(jet_p4, batch.tops)
        for i in np.flatnonzero(ok)[:need]:
            ce, cx, cy, cz = clustering.constituent_arrays(e, px, py, pz, const[i])
            out_e.append(ce); out_px.append(cx); out_py.append(cy); out_pz.append(cz)
            counts.append(len(ce)); truths.append(truth[i])
            n_done += 1
        n_tried += batch.n_events
        efficiency = max(n_done, 1) / n_tried
        if n_tried > 1000 * n_jets + 10_000:
            raise RuntimeError(f"jet selection efficiency too low ({n_done}/{n_tried}) for {variant}, label {label}")
    if stats is not None:
        key = (variant, label)
        s = stats.setdefault(key, {"events": 0, "jets": 0, "seconds": 0.0})
        s["events"] += n_tried; s["jets"] += n_done; s["seconds"] += time.perf_counter() - t0
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return (np.concatenate(out_e), np.concatenate(out_px), np.concatenate(out_py), np.concatenate(out_pz),
            offsets, np.asarray(truths))


def _merge(parts, order):
    """Put the jets of the per-label runs ``parts`` into the slots given by ``order`` (label per slot)."""
    n = len(order)
    pos = {lab: iter(range(len(p[4]) - 1)) for lab, p in parts.items()}
    idx = [(lab, next(pos[lab])) for lab in order]
    e, px, py, pz, counts, truth = [], [], [], [], [], np.zeros((n, 4))
    for slot, (lab, j) in enumerate(idx):
        pe, ppx, ppy, ppz, off, tr = parts[lab]
        a, b = off[j], off[j + 1]
        e.append(pe[a:b]); px.append(ppx[a:b]); py.append(ppy[a:b]); pz.append(ppz[a:b])
        counts.append(b - a); truth[slot] = tr[j]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    cat = (lambda x: np.concatenate(x) if x else np.zeros(0))
    return cat(e), cat(px), cat(py), cat(pz), offsets, truth


class JetsGenerator(Generator):
    """Top (label 1) vs QCD (label 0) jets, 14 TeV, 550 < pT < 650 GeV, anti-kT R = 0.8."""

    family = "jets"
    #: 2: opaque event ids, rows shuffled (benchmark.data.ids); 3: one Pythia initialisation per worker
    #: and process, each chunk restarting its random stream (pythia.seeded_pythia)
    version = "3"
    #: nominal jets per split; generator variants get ``Variant.fraction`` of these (see domains())
    sizes = {
        "default": {"train": 10_000, "validation": 2000, "test": 3000},  # issue 15: learning curves
        # the published reference dataset's split sizes [S1]
        "full": {"train": 1_211_000, "validation": 403_000, "test": 404_000},
        # learning curves (benchmarks/learning_curves.py; generate with --domains nominal)
        "large": {"train": 12_000, "validation": 2000, "test": 4000},
    }
    #: ~10-20 s of single-core work per chunk (nominal + the smaller variants), see VALIDATION.md
    chunk_size = 250
    #: larger chunks for big presets, so ``full`` does not become ~100k tiny files (~1 min per chunk)
    chunk_size_by_size = {"full": 1000}

    def __init__(self, stats: dict | None = None):
        #: optional timing record filled by :func:`simulate` (used by validation.py for jets/s)
        self.stats = stats

    def domains(self) -> tuple[DomainSpec, ...]:
        nominal = pythia.VARIANTS["nominal"]
        doms = [DomainSpec("nominal", nominal.description + "; Delphes-ATLAS-like e-flow",
                           {**detector.THROW_NOMINAL, **nominal.parameters}, kind="nominal")]
        doms += [DomainSpec(d.name, d.description, {**d.parameters, **pythia.NOMINAL_GENERATOR}, d.kind)
                 for d in throw_domains()]
        for k, (name, v) in enumerate(pythia.VARIANTS.items()):
            if name == "nominal":
                continue
            doms.append(DomainSpec(
                name, f"{v.description}; UNPAIRED (independent jets, event_id = slot id + {k} x 1e8); "
                      f"{v.fraction:g} x the nominal split size",
                {**detector.THROW_NOMINAL, **v.parameters, "fraction_of_nominal": v.fraction,
                 "event_id_offset": k * VARIANT_ID_OFFSET, "pythia_settings": list(v.settings)},
                kind="variant", test_only=v.test_only))
        return tuple(doms)

    def chunks(self, size: str, split: str) -> list[np.ndarray]:
        """As the base class, with ``chunk_size_by_size`` overriding ``chunk_size`` per preset."""
        n = self.sizes[size][split]
        step = self.chunk_size_by_size.get(size, self.chunk_size)
        start = SPLIT_CODES[split] * EVENT_ID_STRIDE
        ids = np.arange(start, start + n, dtype=np.int64)
        return [ids[i:i + step] for i in range(0, n, step)]

    def chunk_cost(self, n_events: int, domains) -> float:
        """Pythia is the cost: one nominal run serves every detector-level domain, each generator variant
        is its own run of ``fraction`` x the chunk at ``cost`` per jet (Vincia ~10x)."""
        variants = [pythia.VARIANTS[d] for d in domains if d in pythia.VARIANTS and d != "nominal"]
        detector_level = any(d not in pythia.VARIANTS or d == "nominal" for d in domains)
        return n_events * (float(detector_level) + sum(v.fraction * v.cost for v in variants))

    def parameters(self) -> dict[str, Any]:
        return {"pythia_common_settings": list(pythia.COMMON_SETTINGS),
                "pthat_window_gev": list(pythia.PTHAT_WINDOW_GEV),
                "jet": {"algorithm": "anti-kt", "R": clustering.JET_R,
                        "pt_range_gev": [clustering.JET_PT_MIN, clustering.JET_PT_MAX],
                        "abs_eta_max": clustering.JET_ABS_ETA_MAX, "max_constituents": clustering.MAX_CONSTITUENTS}}

    def generate_chunk(self, split, chunk_index, event_ids, seed, domains=None):
        event_ids = np.asarray(event_ids, dtype=np.int64)
        specs = {d.name: d for d in self.domains()}
        if domains is None:
            domains = [n for n, d in specs.items() if split in d.splits]
        for d in domains:
            if d not in specs:
                raise KeyError(f"unknown jets domain {d!r}; valid: {', '.join(specs)}")
            if split not in specs[d].splits:
                raise ValueError(f"jets domain {d!r} has no split {split!r} (splits: {specs[d].splits})")
        out: dict[str, dict[str, Any]] = {}
        variant_index = {name: k for k, name in enumerate(pythia.VARIANTS)}

        def run_variant(variant: str, ids: np.ndarray):
            n = len(ids)
            order = chunk_rng(seed, split, chunk_index, variant, "labels").permutation(
                np.array([1] * ((n + 1) // 2) + [0] * (n // 2), dtype=np.int64))
            det_rng = chunk_rng(seed, split, chunk_index, variant, "detector")
            parts = {lab: simulate(variant, lab, int((order == lab).sum()),
                                   chunk_rng(seed, split, chunk_index, variant, lab), det_rng, self.stats)
                     for lab in (1, 0)}
            return order, _merge(parts, order)

        detector_level = [d for d in domains if d == "nominal" or d in THROWS or d == "detector_random"]
        if detector_level:
            label, (e, px, py, pz, offsets, truth) = run_variant("nominal", event_ids)
            for d in detector_level:
                rng = chunk_rng(seed, split, chunk_index, d, "throw")
                par = throw_parameters(d, len(event_ids), rng)
                if d == "nominal":
                    te, tx, ty, tz, toff = e, px, py, pz, offsets
                else:
                    te, tx, ty, tz, toff = detector.apply_throw(e, px, py, pz, offsets, par, rng)
                out[d] = jets_columns(event_ids, label, te, tx, ty, tz, toff,
                                      {**par, **pythia.NOMINAL_GENERATOR}, truth)
        for d in domains:
            if d in out:
                continue
            v = pythia.VARIANTS[d]
            n_v = int(np.ceil(len(event_ids) * v.fraction))
            ids = event_ids[:n_v] + variant_index[d] * VARIANT_ID_OFFSET
            label, (e, px, py, pz, offsets, truth) = run_variant(d, ids)
            out[d] = jets_columns(ids, label, e, px, py, pz, offsets,
                                  {**detector.THROW_NOMINAL, **v.parameters}, truth)
        return out
