"""A grid study's table and figure: one curve of a metric against a scanned parameter per training value.

Used by ``python -m benchmark study crosstalk-grid`` (:mod:`benchmark.studies.crosstalk_grid`) and by the
leaderboard's grid view (:mod:`benchmark.leaderboard.grid`), so both show the same numbers and plot.
For the cube study (arXiv:2502.07724, cube-detector section) the training values are the kept crosstalk
fractions f = 0, 0.25, 0.5 (nominal), 0.75, 1 (source domains ``xtalk_000`` ... ``xtalk_100`` of ``sfgd``)
and the test points its test-only scan f = 0 to 1 in steps of 0.05 (``xscan_000`` ... ``xscan_100``).

The *fractional residual* of a test point is ``acc(f_test) / acc(f_train) - 1``, with ``acc(f_train)`` the
accuracy on the scan point at the training fraction (the model's own crosstalk): 0 means no loss, -0.1 a
tenth of the in-domain accuracy lost.  Both are shown as the mean ± std over seeds.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from tabulate import tabulate

from benchmark.data.registry import get_family

#: the study's training fractions and the domains that render them
TRAINING_DOMAINS = ("xtalk_000", "xtalk_025", "nominal", "xtalk_075", "xtalk_100")
SCAN_PREFIX = "xscan_"


PARAMETER = "crosstalk_f"

#: families with a grid study: the varied parameter, the prefix of its test-only scan and the training
#: domains.  The leaderboard draws the grid of a method with entries at several of these training domains.
GRIDS = {"sfgd": {"parameter": PARAMETER, "prefix": SCAN_PREFIX, "training_domains": TRAINING_DOMAINS}}


def scan_points(family: str = "sfgd", source: str | None = None, parameter: str = PARAMETER,
                prefix: str | None = SCAN_PREFIX) -> list[tuple[str, float]]:
    """(domain, parameter value) of the test scan (domains named ``prefix*``; all with a fixed value of
    ``parameter`` when ``prefix`` is None), in increasing value."""
    src = get_family(family).source(source)
    pts = [(d.name, float(d.parameters[parameter])) for d in src.domains
           if (prefix is None or d.name.startswith(prefix))
           and isinstance(d.parameters.get(parameter), (int, float))]
    return sorted(pts, key=lambda p: p[1])


def training_fraction(domain: str, family: str = "sfgd", source: str | None = None,
                      parameter: str = PARAMETER) -> float:
    return float(get_family(family).source(source).domain(domain).parameters[parameter])


def grid_table(results: dict[str, dict], metric: str = "accuracy", family: str = "sfgd",
               parameter: str = PARAMETER, prefix: str | None = SCAN_PREFIX, source: str | None = None) -> dict:
    """From ``{training domain: result dict}``: per training value, the scan curve (mean, std over seeds)
    of the metric and of the fractional residual."""
    points = scan_points(family, source, parameter=parameter, prefix=prefix)
    out = {"metric": metric, "parameter": parameter, "scan_f": [f for _, f in points],
           "scan_domains": [d for d, _ in points], "curves": {}}
    for domain, result in results.items():
        f_train = training_fraction(domain, family, source, parameter=parameter)
        at_train = min(points, key=lambda p: abs(p[1] - f_train))[0]
        per_seed = np.array([[s["per_domain"][d][metric] for d, _ in points] for s in result["per_seed"]], float)
        own = np.array([s["per_domain"][at_train][metric] for s in result["per_seed"]], float)
        resid = per_seed / own[:, None] - 1.0
        ddof = 1 if len(per_seed) > 1 else 0
        out["curves"][domain] = {
            "training_f": f_train, "seeds": result["seeds"],
            "mean": per_seed.mean(0).tolist(), "std": per_seed.std(0, ddof=ddof).tolist(),
            "residual_mean": resid.mean(0).tolist(), "residual_std": resid.std(0, ddof=ddof).tolist(),
        }
    return out


def grid_figure(table: dict, title: str):
    """The grid's figure (a :class:`matplotlib.figure.Figure`, no pyplot state): the metric and the
    fractional residual against the test value, one curve per training value.  Saved as PNG by the
    study and inlined as SVG by the leaderboard."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 7))
    ax1, ax2 = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    f = np.array(table["scan_f"])
    for domain, c in sorted(table["curves"].items(), key=lambda kv: kv[1]["training_f"]):
        label = f"trained at {c['training_f']:g}" + (" (nominal)" if domain == "nominal" else "")
        line = ax1.errorbar(f, c["mean"], yerr=c["std"], marker="o", ms=3, capsize=2, label=label)
        ax1.axvline(c["training_f"], color=line[0].get_color(), lw=0.6, ls=":")
        ax2.errorbar(f, c["residual_mean"], yerr=c["residual_std"], marker="o", ms=3, capsize=2,
                     color=line[0].get_color())
    ax1.set_ylabel(table["metric"])
    ax1.set_title(title)
    ax1.legend(fontsize=8)
    ax2.axhline(0, color="grey", lw=0.6)
    ax2.set_ylabel("fractional residual\nacc(f) / acc(f_train) - 1")
    ax2.set_xlabel("kept crosstalk fraction f of the test sample (0.5 = nominal)" if table["parameter"] == PARAMETER
                   else f"{table['parameter']} of the test sample")
    fig.tight_layout()
    return fig


def plot_grid(table: dict, path: Path, title: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    grid_figure(table, title).savefig(path, dpi=120)
    return path


def grid_rows(table: dict, step: float = 0.25) -> tuple[list[str], list[list[str]]]:
    """(headers, rows) of the grid as text: one row per training value, one column per test value that is
    a multiple of ``step`` (0, 0.25, ... 1 for the crosstalk scan), cells "mean ± std" over seeds."""
    f = table["scan_f"]
    cols = [i for i, x in enumerate(f) if abs(x / step - round(x / step)) < 1e-9]
    rows = [[f"{c['training_f']:g}" + (" (nominal)" if d == "nominal" else "")]
            + [f"{c['mean'][i]:.3f} ± {c['std'][i]:.3f}" for i in cols]
            for d, c in sorted(table["curves"].items(), key=lambda kv: kv[1]["training_f"])]
    return [f"trained at {'f' if table['parameter'] == PARAMETER else table['parameter']}"] + \
        [f"test {'f' if table['parameter'] == PARAMETER else table['parameter']}={f[i]:g}" for i in cols], rows


def print_grid(table: dict) -> None:
    headers, rows = grid_rows(table)
    print(tabulate(rows, headers=headers, disable_numparse=True))
