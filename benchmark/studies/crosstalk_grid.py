"""The crosstalk grid of the cube-detector study (arXiv:2502.07724, cube-detector section).

The study trains one model at each kept crosstalk fraction f = 0, 0.25, 0.5 (nominal), 0.75, 1 and tests
each on f = 0 to 1 in steps of 0.05, drawing accuracy against f with one curve per training fraction.
Here a training fraction is a source domain of the ``sfgd`` family (``xtalk_000`` ... ``xtalk_100``) and
the test points are its test-only scan (``xscan_000`` ... ``xscan_100``).  Every training fraction gives
one ``robustness`` result file with that source domain: an ordinary, verifiable leaderboard submission.

The *fractional residual* of a test point is ``acc(f_test) / acc(f_train) - 1``, with ``acc(f_train)`` the
accuracy on the scan point at the training fraction (the model's own crosstalk): 0 means no loss, -0.1 a
tenth of the in-domain accuracy lost.  Both are shown as the mean ± std over seeds.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tabulate import tabulate

from benchmark.data.registry import get_family
from benchmark.data.writer import write_text_atomic

#: the study's training fractions and the domains that render them
TRAINING_DOMAINS = ("xtalk_000", "xtalk_025", "nominal", "xtalk_075", "xtalk_100")
SCAN_PREFIX = "xscan_"


PARAMETER = "crosstalk_f"


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
               parameter: str = PARAMETER, prefix: str | None = SCAN_PREFIX) -> dict:
    """From ``{training domain: result dict}``: per training value, the scan curve (mean, std over seeds)
    of the metric and of the fractional residual."""
    points = scan_points(family, parameter=parameter, prefix=prefix)
    out = {"metric": metric, "parameter": parameter, "scan_f": [f for _, f in points],
           "scan_domains": [d for d, _ in points], "curves": {}}
    for domain, result in results.items():
        f_train = training_fraction(domain, family, parameter=parameter)
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


def plot_grid(table: dict, path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7, 7), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
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
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def run_grid(method: str | Path, seeds=(0, 1, 2), size: str = "default", out: str | Path | None = None,
             cache_dir=None, device: str = "cpu", training_domains=TRAINING_DOMAINS, epochs: int | None = None,
             model_size: str | None = None, progress: bool = True, family: str = "sfgd",
             parameter: str = PARAMETER, prefix: str | None = SCAN_PREFIX) -> dict:
    """Train ``method`` at each training fraction (robustness protocol), score every domain, plot the grid.

    Returns the grid table; writes ``<out>/<training domain>/robustness/result.json`` (one leaderboard
    submission each), ``<out>/crosstalk_grid.json`` and ``<out>/crosstalk_grid.png``.
    """
    from benchmark.methods.base import load_method_spec
    from benchmark.runner import run_method

    spec = load_method_spec(method)
    out = Path(out) if out else Path("runs") / spec.name / f"{family}_generated_{size}" / "crosstalk_grid"
    results = {}
    for domain in training_domains:
        path, = run_method(method, family=family, protocols=["robustness"], seeds=seeds, size=size,
                           device=device, out=out / domain, source_domain=domain, cache_dir=cache_dir,
                           epochs=epochs, model_size=model_size, progress=progress)
        results[domain] = json.loads(Path(path).read_text())
    table = grid_table(results, get_family(family).primary_metric, family, parameter, prefix)
    table["method"] = spec.name
    table["result_files"] = {d: str(out / d / "robustness" / "result.json") for d in results}
    write_text_atomic(out / "crosstalk_grid.json", json.dumps(table, indent=1) + "\n")
    plot_grid(table, out / "crosstalk_grid.png", f"{spec.name}: {table['metric']} vs {parameter} "
                                                  f"({family}, {len(seeds)} seeds)")
    print_grid(table)
    return table


def print_grid(table: dict) -> None:
    f = table["scan_f"]
    cols = [i for i, x in enumerate(f) if abs(x * 4 - round(x * 4)) < 1e-9]  # f = 0, 0.25, ... for the terminal
    rows = [[f"{c['training_f']:g}"] + [f"{c['mean'][i]:.3f} ± {c['std'][i]:.3f}" for i in cols]
            for _, c in sorted(table["curves"].items(), key=lambda kv: kv[1]["training_f"])]
    print(tabulate(rows, headers=["trained at f"] + [f"test f={f[i]:g}" for i in cols]))
