"""The per-entry ATLAS table of ``jets/atlas_toptag`` groups: binned rejection and systematic uncertainties.

Read from the verified per-seed summaries (``summary["atlas"]``, computed by the official evaluator with
:mod:`benchmark.evaluation.atlas`), never re-derived; mean ± sample std (ddof = 1) over the seeds.
Cells are plain text here; each output format escapes them.
"""
from __future__ import annotations

import numpy as np

from benchmark.evaluation.atlas import ATLAS_SOURCE

#: shown for an undefined value (same mark as the main tables)
UNDEFINED = "–"
#: uncertainty columns in this order, where the results have them (esup/esdown enter via energy_scale)
UNCERTAINTY_COLUMNS = (("energy_scale", "energy scale"), ("cer", "cer"), ("cpos", "cpos"),
                       ("cluster_total", "cluster total"), ("teg", "teg"), ("tej", "tej"), ("tfl", "tfl"),
                       ("tfj", "tfj"), ("bias", "bias"))

EXPLANATION = ("ATLAS Top Tagging Open Data method (CERN Open Data record 80030, arXiv:2407.20127, official "
               "example code): background rejection 1/eps_B at signal efficiency 0.5 on the nominal test set "
               "in bins of jet pT, unweighted, and its relative systematic uncertainty |R_set/R_nominal - 1| "
               "in percent; energy scale = max(esup, esdown), cluster total = quadrature of energy scale, cer "
               "and cpos. Mean ± std over seeds; '≥' marks a lower bound (no background jet passed), "
               f"'{UNDEFINED}' an undefined value.")


def is_atlas(result: dict) -> bool:
    return result["dataset"]["source"] == ATLAS_SOURCE


def _stat(values: list, scale: float = 1.0, digits: int = 1) -> str:
    if not values or any(v is None for v in values):
        return UNDEFINED
    arr = np.asarray(values, dtype=np.float64) * scale
    text = f"{arr.mean():.{digits}f}"
    return text if len(arr) < 2 else f"{text} ± {arr.std(ddof=1):.{digits}f}"


def atlas_rows(result: dict) -> list[dict[str, str]] | None:
    """Rows (one per populated pT bin of the source domain) of an entry's ATLAS table, or ``None`` when
    its result holds no ATLAS block."""
    blocks = [e["summary"].get("atlas") for e in result["per_seed"]]
    if not blocks or any(b is None for b in blocks):
        return None
    source = result["source_domain"]
    nominal = [b["per_domain"].get(source, {}) for b in blocks]
    columns = [(key, label) for key, label in UNCERTAINTY_COLUMNS if all(key in b["uncertainty"] for b in blocks)]
    rows = []
    for bin_key, first in nominal[0].items():
        if first["n_signal"] + first["n_background"] == 0:
            continue
        cells = [n.get(bin_key, {}) for n in nominal]
        lo, _, hi = bin_key.partition("_")
        rej = _stat([c.get("rejection") for c in cells])
        if rej != UNDEFINED and any(c.get("lower_bound") for c in cells):
            rej = "≥ " + rej
        row = {"jet pT [GeV]": f"{lo}–{hi}", "jets (top / QCD)": f"{first['n_signal']} / {first['n_background']}",
               "1/eps_B": rej}
        for key, label in columns:
            row[f"{label} [%]"] = _stat([b["uncertainty"][key].get(bin_key) for b in blocks], scale=100.0)
        rows.append(row)
    return rows
