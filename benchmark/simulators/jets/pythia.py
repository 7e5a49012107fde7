"""Pythia 8 process setup per modelling variant and the batched event loop.

Why a separate module: the settings of every variant live in one table (``VARIANTS``) that the
generator, the dataset card and the validation script all read, so a setting is documented once.

Sources (cited next to each value):

* [S1] Top Quark Tagging Reference Dataset, arXiv:1902.09914 / Zenodo 2603256: 14 TeV pp, hadronic
  ttbar vs QCD dijets, Pythia 8 default tune, no MPI, no pile-up, anti-kT R=0.8, 550 < pT < 650 GeV.
* [S10] Pythia 8 manual (xmldoc of 8.302, the same defaults in 8.317): Monash 2013 default tune
  (Tune:pp = 14); TimeShower:renormMultFac (default 1, range 0.1-10) multiplies the pT^2 scale of
  alpha_s in final-state showers; UncertaintyBands:List default defines alphaShi/alphaSlo as
  fsr:muRfac = 0.5 / 2.0; StringZ:aLund = 0.68, StringZ:bLund = 0.98 (allowed 0-2 and 0.2-2);
  PartonShowers:model = 2 selects the Vincia antenna shower; "24:onMode = off" + "24:onIfAny = 1 2 3 4 5"
  forces hadronic W decays.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: beam energy of the reference dataset [S1]
ECM_GEV = 14000.0
#: pT-hat generation window (GeV).  The reference dataset's pT-hat cut is unverified [S1]; a window a
#: little wider than the 550-650 GeV jet window keeps jets that lose or gain pT by out-of-cone radiation
#: and the detector response, while wasting few events (efficiencies measured in VALIDATION.md).
PTHAT_WINDOW_GEV = (500.0, 700.0)
#: ParticleDecays:limitTau0 / tau0Max (mm): particles with c*tau0 > 10 mm are stable, the usual LHC
#: generator-level convention (Delphes' own Pythia examples use it), so K0S and Lambda reach the
#: calorimeter, where the Delphes card shares their energy 30/70 between ECAL and HCAL [S12].
TAU0_MAX_MM = 10.0

#: settings common to every variant and both processes
COMMON_SETTINGS = (
    f"Beams:eCM = {ECM_GEV:.0f}",           # [S1]
    "PartonLevel:MPI = off",                # the reference dataset has no MPI [S1]
    "ParticleDecays:limitTau0 = on",
    f"ParticleDecays:tau0Max = {TAU0_MAX_MM}",
    f"PhaseSpace:pTHatMin = {PTHAT_WINDOW_GEV[0]}",
    f"PhaseSpace:pTHatMax = {PTHAT_WINDOW_GEV[1]}",
    # silence: init banners, changed-settings tables, per-event listings, error spam
    "Print:quiet = on",
    "Init:showChangedSettings = off",
    "Init:showChangedParticleData = off",
    "Init:showProcesses = off",
    "Next:numberShowEvent = 0",
    "Next:numberShowInfo = 0",
    "Next:numberShowProcess = 0",
    "Next:numberCount = 0",
    "Random:setSeed = on",
)

#: the two processes; label 1 = top (signal), 0 = QCD
PROCESS_SETTINGS = {
    1: ("Top:gg2ttbar = on", "Top:qqbar2ttbar = on",   # [S10] hadronic ttbar
        "24:onMode = off", "24:onIfAny = 1 2 3 4 5"),
    0: ("HardQCD:all = on",),                          # [S10] QCD 2 -> 2 dijets
}


@dataclass(frozen=True)
class Variant:
    """One generator configuration; ``parameters`` are the per-jet float columns it sets."""

    name: str
    description: str
    settings: tuple[str, ...] = ()
    parameters: dict[str, float] = field(default_factory=dict)
    #: share of the nominal split size generated for this variant (smaller = cheaper)
    fraction: float = 1.0
    test_only: bool = False
    #: relative CPU cost per jet (Vincia is ~10x slower), used only for planning chunk work
    cost: float = 1.0


#: nominal generator parameters, stored per jet in every domain (Monash defaults [S10])
NOMINAL_GENERATOR = {"fsr_renorm_fac": 1.0, "lund_a": 0.68, "lund_b": 0.98, "shower_model": 1.0}

VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("nominal", "Pythia 8 default (Monash 2013) tune, simple shower, MPI off [S1, S10]",
            (), dict(NOMINAL_GENERATOR)),
    # alphaShi / alphaSlo of Pythia's default UncertaintyBands:List: fsr:muRfac = 0.5 / 2 [S10]
    Variant("fsr_up", "final-state shower alpha_s up: TimeShower:renormMultFac = 0.5 (Pythia's alphaShi)",
            ("TimeShower:renormMultFac = 0.5",), {**NOMINAL_GENERATOR, "fsr_renorm_fac": 0.5}, fraction=0.25),
    Variant("fsr_down", "final-state shower alpha_s down: TimeShower:renormMultFac = 2.0 (Pythia's alphaSlo)",
            ("TimeShower:renormMultFac = 2.0",), {**NOMINAL_GENERATOR, "fsr_renorm_fac": 2.0}, fraction=0.25),
    # Lund fragmentation function f(z) ~ (1/z)(1-z)^a exp(-b mT^2/z) [S10 ZSelection]; a and b are
    # strongly correlated in tunes, so they move together (+-0.2 each, within the allowed ranges).  The
    # size is our choice for a visible shift, not a published tune uncertainty (none is stored).
    Variant("lund_up", "Lund string a and b up: StringZ:aLund = 0.88, StringZ:bLund = 1.18",
            ("StringZ:aLund = 0.88", "StringZ:bLund = 1.18"),
            {**NOMINAL_GENERATOR, "lund_a": 0.88, "lund_b": 1.18}, fraction=0.25),
    Variant("lund_down", "Lund string a and b down: StringZ:aLund = 0.48, StringZ:bLund = 0.78",
            ("StringZ:aLund = 0.48", "StringZ:bLund = 0.78"),
            {**NOMINAL_GENERATOR, "lund_a": 0.48, "lund_b": 0.78}, fraction=0.25),
    # alternative parton shower: Vincia antenna shower, ~10x slower -> small, test-only [S10]
    Variant("vincia", "alternative parton shower: Vincia (PartonShowers:model = 2), test split only",
            ("PartonShowers:model = 2",), {**NOMINAL_GENERATOR, "shower_model": 2.0},
            fraction=0.2, test_only=True, cost=10.0),
)}


def pythia_seed(rng: np.random.Generator) -> int:
    """Random:seed must lie in 1..900000000 [S10]."""
    return int(rng.integers(1, 900_000_001))


@contextlib.contextmanager
def silence_stdout():
    """Redirect the C-level stdout (Pythia/FastJet banners and warnings) to /dev/null."""
    import sys
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


#: ``Random:seed`` of every Pythia initialisation.  ``Pythia::init`` draws random numbers (some
#: thousand for the simple shower, ~800k for Vincia) while it sets up its phase-space sampling, so an
#: instance initialised with a chunk's own seed would have to be re-initialised for every chunk (about
#: 0.25 s each, ten per chunk: ~30 % of a 250-jet default chunk).  With one fixed initialisation seed
#: every worker holds the same instance per (variant, process), and :func:`seeded_pythia` restarts its
#: random stream with the chunk's seed (``Rndm::init`` [S10 RandomNumbers]).  Generation keeps no other
#: state between events (``PhaseSpace:increaseMaximum`` is off by default [S10 PhaseSpaceCuts]), so a
#: chunk does not depend on what its worker generated before it: ``tests/test_jets.py`` generates
#: chunks in two orders in one process and compares them with fresh processes.
INIT_SEED = 1

#: per-process cache of initialised instances, keyed by (variant, label)
_INSTANCES: dict[tuple[str, int], Any] = {}


def seeded_pythia(variant: str, label: int, seed: int):
    """The process's initialised Pythia for ``variant`` and ``label``, its random stream restarted at ``seed``."""
    if not 1 <= seed <= 900_000_000:
        raise ValueError(f"Pythia Random:seed must be in 1..900000000, got {seed}")
    key = (variant, int(label))
    gen = _INSTANCES.get(key)
    if gen is None:
        gen = _INSTANCES[key] = make_pythia(variant, label, INIT_SEED)
    gen.rndm.init(int(seed))
    return gen


def make_pythia(variant: str, label: int, seed: int):
    """An initialised Pythia for ``variant`` generating process ``label`` (1 top, 0 QCD)."""
    import pythia8mc

    if variant not in VARIANTS:
        raise KeyError(f"unknown jets generator variant {variant!r}; valid: {', '.join(VARIANTS)}")
    if not 1 <= seed <= 900_000_000:
        raise ValueError(f"Pythia Random:seed must be in 1..900000000, got {seed}")
    with silence_stdout():
        pythia = pythia8mc.Pythia("", False)
        for s in (*COMMON_SETTINGS, *PROCESS_SETTINGS[label], *VARIANTS[variant].settings, f"Random:seed = {seed}"):
            if not pythia.readString(s):
                raise RuntimeError(f"Pythia rejected the setting {s!r}")
        ok = pythia.init()
    if not ok:
        raise RuntimeError(f"Pythia initialisation failed for variant {variant!r}, label {label}")
    return pythia


@dataclass
class ParticleBatch:
    """Final-state visible particles of a batch of events, flat with an event index (numpy only)."""

    n_events: int
    event: np.ndarray    # (P,) int64, event index within the batch
    px: np.ndarray
    py: np.ndarray
    pz: np.ndarray
    e: np.ndarray
    pid: np.ndarray      # PDG id
    charge: np.ndarray   # in units of e
    #: per event: (E, px, py, pz) of the top quark and its decay partons (b, q, q') as (n, 4, 4),
    #: and a flag per top; only for top events (None for QCD).  Two tops per event.
    tops: np.ndarray | None = None


_NEUTRINOS = np.array([12, 14, 16])


def _charge_lookup(pythia, ids: np.ndarray) -> np.ndarray:
    uniq, inv = np.unique(ids, return_inverse=True)
    pd = pythia.particleData
    ch = np.array([pd.charge(int(i)) for i in uniq], dtype=np.float64)
    return ch[inv]


def _top_partons(ids, d1, d2, mom) -> np.ndarray:
    """(2, 4, 4): for each top (last copy before decay) its 4-momentum and those of b, q, q'.

    Follows Pythia's event record: a top whose daughters are W and b; the W's last copy decays to
    two quarks.  Row order: top, b, q, q'.  Missing entries (should not happen) stay NaN.
    """
    out = np.full((2, 4, 4), np.nan)
    k = 0
    for i in np.flatnonzero(np.abs(ids) == 6):
        dau = [j for j in range(d1[i], d2[i] + 1) if j > 0] if d1[i] > 0 else []
        dids = [abs(ids[j]) for j in dau]
        if 24 not in dids or 5 not in dids or k >= 2:
            continue  # not the last copy (its daughter is another top copy)
        w = dau[dids.index(24)]
        b = dau[dids.index(5)]
        # follow the W's recoil copies to the one that decays
        while d1[w] > 0 and d1[w] == d2[w] and abs(ids[d1[w]]) == 24:
            w = d1[w]
        wd = [j for j in range(d1[w], d2[w] + 1)] if d1[w] > 0 else []
        out[k, 0], out[k, 1] = mom[i], mom[b]
        for m, j in enumerate(wd[:2]):
            out[k, 2 + m] = mom[j]
        k += 1
    return out


def generate_batch(pythia, n_events: int, label: int) -> ParticleBatch:
    """Run ``n_events`` events (failed events are skipped) and return their visible final state.

    Uses ``Pythia.nextBatch`` (columnar awkward record of the full event) so the loop stays in C++.
    """
    import awkward as ak

    with silence_stdout():
        batch = pythia.nextBatch(n_events, "skip")
    prt = batch.prt
    n = len(prt)
    counts = ak.to_numpy(ak.num(prt))
    ids = ak.to_numpy(ak.flatten(prt.id)).astype(np.int64)
    status = ak.to_numpy(ak.flatten(prt.status))
    p = prt.p
    px = ak.to_numpy(ak.flatten(p.px))
    py = ak.to_numpy(ak.flatten(p.py))
    pz = ak.to_numpy(ak.flatten(p.pz))
    e = ak.to_numpy(ak.flatten(p.e))
    evt = np.repeat(np.arange(n, dtype=np.int64), counts)
    tops = None
    if label == 1:
        d1 = ak.to_numpy(ak.flatten(prt.daughter1))
        d2 = ak.to_numpy(ak.flatten(prt.daughter2))
        offs = np.concatenate([[0], np.cumsum(counts)])
        mom = np.stack([e, px, py, pz], axis=1)
        tops = np.stack([_top_partons(ids[a:b], d1[a:b], d2[a:b], mom[a:b])
                         for a, b in zip(offs[:-1], offs[1:])]) if n else np.zeros((0, 2, 4, 4))
    final = (status > 0) & ~np.isin(np.abs(ids), _NEUTRINOS)
    ids, evt = ids[final], evt[final]
    return ParticleBatch(n, evt, px[final], py[final], pz[final], e[final], ids,
                         _charge_lookup(pythia, ids), tops)
