"""The ATLAS Top Tagging Open Data's performance metric and systematic uncertainties (record rule 2).

CERN Open Data record 80030 (DOI 10.7483/OPENDATA.ATLAS.SOAY.LABE) asks that every performance claim
come with the systematic uncertainties "via the method illustrated" in the official example code of
the release (K. Greif, ``calc.py`` and ``plot_everything.py``, June 2024, which accompany the paper
ATLAS Collaboration, "Accuracy versus precision in boosted top tagging with the ATLAS detector",
JINST 19 (2024) P08018, arXiv:2407.20127).  This module implements that method; it is what the
evaluator adds to the summary of every result on the ``jets/atlas_toptag`` source.

Definitions (each as the official ``calc.py`` computes it)

* **pT bins**: 14 bins of the large-R jet pT (``fjet_pt``), 200 GeV wide, edges
  ``linspace(350, 3150, 15)`` GeV.  A jet belongs to bin i when ``edge[i] < pT < edge[i+1]``
  (strict on both sides, as ``calc.py``); jets outside 350-3150 GeV enter no bin.
* **background rejection** ``1/eps_B`` at the working point ``eps_S = 0.5``: the ROC curve of the
  bin's jets (``sklearn.metrics.roc_curve(labels, score)`` with its defaults, as ``calc.py``), the
  first ROC point whose signal efficiency is strictly above ``eps_S``
  (``index = argmax(tpr > eps_S)``), and ``1/fpr`` there.  No interpolation: this is the official
  number, not the evaluator's interpolated ``rejection_at_50`` (:mod:`benchmark.evaluation.metrics`).
* **unweighted**: the test metric carries no weight.  The training weights are a training-time rule
  (record rule 1); ``calc.py`` evaluates the nominal and the detector systematic sets with unit weights
  (the example ``evaluate.py`` loads the test sets with ``use_train_weights=False``), and the systematic
  sets carry no training weight at all.  The test split's ``weight`` column (1.0) is ignored here.
* **relative uncertainty** of a systematic set, per bin: ``|R_set / R_nominal - 1|``, the same tagger
  evaluated on the varied test set and on the nominal test set.
* **combinations** (``plot_everything.py``): cluster energy scale ``energy_scale = max(esup, esdown)``
  (the envelope of the up and down variations); ``cluster_total = sqrt(energy_scale^2 + cer^2 +
  cpos^2)`` (quadrature of scale, resolution and position).  The track sets (``teg``, ``tej``, ``tfl``,
  ``tfj``, ``bias``) are reported one by one: the official code shows no combination of them, so none
  is invented here.

Cases the official code leaves undefined (it would divide by zero or fail in ``roc_curve``)

* **no background jet passes** the threshold (``fpr = 0`` at the working point; ``calc.py`` gives
  ``inf``): the rejection is reported as the finite lower bound ``N_B`` (the number of background jets
  in the bin: ``eps_B < 1/N_B``), with ``lower_bound: true``, the convention of the evaluator's
  inclusive rejection; result files never hold infinities.  A ratio of lower bounds is no measurement,
  so every relative uncertainty of that bin that uses one is ``null``.
* **a bin without signal or without background jets** (including an empty bin): no ROC curve, the
  rejection is ``null`` (undefined), and so are the bin's uncertainties.
* a combination is ``null`` in a bin where any of its parts is.
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_curve

#: the source whose results carry the ATLAS block (``summary["atlas"]``)
ATLAS_SOURCE = "atlas_toptag"
#: jet-pT bin edges [GeV] of the official method (calc.py: ``np.linspace(350000, 3150000, 15)`` MeV)
PT_BIN_EDGES_GEV = np.linspace(350.0, 3150.0, 15)
#: the official working point (calc.py: ``wp = 0.5``)
EPS_S = 0.5
#: the detector systematic sets of the record (test-only domains of the source)
SYSTEMATIC_SETS = ("esup", "esdown", "cer", "cpos", "teg", "tej", "tfl", "tfj", "bias")

__all__ = ["ATLAS_SOURCE", "EPS_S", "PT_BIN_EDGES_GEV", "SYSTEMATIC_SETS", "atlas_summary", "bin_labels",
           "binned_rejection", "rejection_at_efficiency", "systematic_uncertainties"]


def bin_labels(edges=PT_BIN_EDGES_GEV) -> list[str]:
    """``"350_550"``, ``"550_750"``, ...: the keys of the bins in result files (edges in GeV)."""
    return [f"{lo:g}_{hi:g}" for lo, hi in zip(edges[:-1], edges[1:])]


def rejection_at_efficiency(labels, signal_score, eps_s: float = EPS_S) -> tuple[float, bool]:
    """``(1/eps_B, lower_bound)`` at the first ROC point with signal efficiency above ``eps_s``.

    NaN (and ``False``) without signal or without background; the lower bound ``N_B`` (and ``True``)
    when no background jet passes there (see the module docstring).
    """
    labels = np.asarray(labels)
    n_bkg = int(np.sum(labels == 0))
    if n_bkg == 0 or n_bkg == len(labels):
        return float("nan"), False
    fpr, tpr, _ = roc_curve(labels, np.asarray(signal_score, dtype=np.float64))
    i = int(np.argmax(tpr > eps_s))
    if fpr[i] <= 0:
        return float(n_bkg), True
    return float(1.0 / fpr[i]), False


def binned_rejection(labels, signal_score, pt_gev, eps_s: float = EPS_S, edges=PT_BIN_EDGES_GEV) -> dict:
    """Per pT bin: ``rejection`` (NaN where undefined), ``lower_bound``, ``n_signal``, ``n_background``
    (arrays of ``len(edges) - 1``)."""
    labels, score, pt = (np.asarray(a) for a in (labels, signal_score, pt_gev))
    if not (labels.shape == score.shape == pt.shape) or labels.ndim != 1:
        raise ValueError(f"labels, scores and jet pT must be 1-D arrays of one length; got shapes "
                         f"{labels.shape}, {score.shape}, {pt.shape}")
    nb = len(edges) - 1
    out = {"rejection": np.full(nb, np.nan), "lower_bound": np.zeros(nb, bool),
           "n_signal": np.zeros(nb, np.int64), "n_background": np.zeros(nb, np.int64)}
    for b in range(nb):
        sel = (pt > edges[b]) & (pt < edges[b + 1])
        out["n_signal"][b] = int(np.sum(labels[sel] == 1))
        out["n_background"][b] = int(np.sum(labels[sel] == 0))
        out["rejection"][b], out["lower_bound"][b] = rejection_at_efficiency(labels[sel], score[sel], eps_s)
    return out


def systematic_uncertainties(rejection: dict[str, np.ndarray],
                             lower_bound: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Relative uncertainties per pT bin from ``{"nominal": R, <set>: R, ...}`` (arrays of bins).

    Per set ``|R_set / R_nominal - 1|``; ``energy_scale`` = max(esup, esdown) and ``cluster_total`` =
    quadrature of energy scale, ``cer`` and ``cpos``, where their parts are present.  NaN where either
    rejection is undefined or (per ``lower_bound``) only a lower bound.
    """
    if "nominal" not in rejection:
        raise ValueError("need the nominal rejection to compute relative uncertainties")
    lower_bound = lower_bound or {}

    def measured(name):
        r = np.asarray(rejection[name], dtype=np.float64).copy()
        if name in lower_bound:
            r[np.asarray(lower_bound[name], bool)] = np.nan
        return r

    nom = measured("nominal")
    out = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for name in rejection:
            if name != "nominal":
                out[name] = np.abs(measured(name) / nom - 1.0)
    if {"esup", "esdown"} <= set(out):
        out["energy_scale"] = np.maximum(out["esup"], out["esdown"])  # NaN propagates
        if {"cer", "cpos"} <= set(out):
            out["cluster_total"] = np.sqrt(out["energy_scale"] ** 2 + out["cer"] ** 2 + out["cpos"] ** 2)
    return out


def _by_bin(values, keys, cast=float):
    out = {}
    for k, v in zip(keys, values):
        v = cast(v)
        out[k] = None if isinstance(v, float) and not np.isfinite(v) else v
    return out


def atlas_summary(labels: dict[str, np.ndarray], signal_score: dict[str, np.ndarray],
                  pt_gev: dict[str, np.ndarray], source_domain: str = "nominal", eps_s: float = EPS_S,
                  edges=PT_BIN_EDGES_GEV) -> dict:
    """The ``summary["atlas"]`` block of a result: per scored domain and bin the rejection and counts,
    and the relative uncertainty of every scored systematic set (and the combinations) per bin.

    ``labels``, ``signal_score`` and ``pt_gev`` map each scored domain to aligned 1-D arrays; the
    ``source_domain`` (the nominal test set) is the reference of the uncertainties.
    """
    if source_domain not in labels:
        raise ValueError(f"the ATLAS uncertainties need the source domain {source_domain!r} scored")
    keys = bin_labels(edges)
    binned = {d: binned_rejection(labels[d], signal_score[d], pt_gev[d], eps_s, edges) for d in labels}
    per_domain = {
        d: {k: {"rejection": r, "lower_bound": bool(lb), "n_signal": int(ns), "n_background": int(nb)}
            for k, r, lb, ns, nb in zip(keys, _by_bin(b["rejection"], keys).values(), b["lower_bound"],
                                        b["n_signal"], b["n_background"])}
        for d, b in binned.items()}
    rejection = {"nominal": binned[source_domain]["rejection"],
                 **{d: b["rejection"] for d, b in binned.items() if d != source_domain}}
    bounds = {"nominal": binned[source_domain]["lower_bound"],
              **{d: b["lower_bound"] for d, b in binned.items() if d != source_domain}}
    unc = systematic_uncertainties(rejection, bounds)
    return {"eps_s": float(eps_s), "pt_bin_edges_gev": [float(e) for e in edges],
            "per_domain": per_domain, "uncertainty": {name: _by_bin(u, keys) for name, u in unc.items()}}
