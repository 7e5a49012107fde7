"""A metric against a per-event detector parameter, from a result on a ``*_random`` domain.

In a ``*_random`` domain every event is rendered with its own parameters drawn from the throw ranges
(stored per event, as the original study's simulation did), so a single test split gives a continuous
curve per parameter instead of a few fixed points.  The events of the test split are binned in each
varied parameter (equal-width bins over the drawn range; or quantile bins, equal counts); per bin the
metric is computed from the result's stored predictions, with

* accuracy: the binomial standard error ``sqrt(p (1 - p) / n)``;
* AUC (binary families): the standard deviation of bootstrap resamples of the bin (fixed seed).

The parameters stay inside the benchmark: the method never saw them (it only predicted the events).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from benchmark.data.loader import load_events
from benchmark.data.registry import get_family
from benchmark.data.writer import save_figure
from benchmark.evaluation import align, load_predictions
from benchmark.evaluation.metrics import accuracy, as_probabilities, auc


def varied_parameters(family: str, domain: str, source: str | None = None) -> list[str]:
    """The parameters a random domain draws per event (those given as a distribution in its spec)."""
    spec = get_family(family).source(source).domain(domain)
    return [p for p, v in spec.parameters.items() if isinstance(v, dict) and "distribution" in v]


def binned_metric(values: np.ndarray, labels: np.ndarray, scores: np.ndarray, metric: str, bins: int = 8,
                  binning: str = "width", n_boot: int = 200, seed: int = 0) -> dict:
    """Metric per bin of ``values``: ``{"edges", "centres", "n", "value", "error"}``."""
    values = np.asarray(values, float)
    if binning == "quantile":
        edges = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)))
    else:
        edges = np.linspace(values.min(), values.max(), bins + 1)
    idx = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
    probs = as_probabilities(scores)
    rng = np.random.default_rng(seed)
    n, value, error = [], [], []
    for b in range(len(edges) - 1):
        sel = np.flatnonzero(idx == b)
        n.append(int(sel.size))
        if sel.size == 0:
            value.append(None)
            error.append(None)
            continue
        y, p = labels[sel], probs[sel]
        if metric == "accuracy":
            a = accuracy(y, p)
            value.append(a)
            error.append(float(np.sqrt(a * (1 - a) / sel.size)))
        else:
            value.append(auc(y, p) if len(np.unique(y)) > 1 else None)
            boots = []
            for _ in range(n_boot):
                r = rng.integers(0, sel.size, sel.size)
                if len(np.unique(y[r])) > 1:
                    boots.append(auc(y[r], p[r]))
            error.append(float(np.std(boots, ddof=1)) if len(boots) > 1 else None)
    return {"edges": edges.tolist(), "centres": ((edges[1:] + edges[:-1]) / 2).tolist(), "n": n,
            "value": value, "error": error}


def parameter_curves(result: dict, predictions_root: Path, domain: str, bins: int = 8, binning: str = "width",
                     cache_dir=None) -> dict:
    """Per varied parameter of ``domain``, the per-seed binned metric of a result (and mean ± std)."""
    ds = result["dataset"]
    family, source, size = ds["family"], ds["source"], ds["size"]
    metric = get_family(family).primary_metric
    params = varied_parameters(family, domain, source)
    if not params:
        raise ValueError(f"domain {domain!r} of {family} varies no parameter per event; choose a *_random domain")
    if domain not in result["domains"]:
        raise ValueError(f"the result was not scored on {domain!r} (its domains: {', '.join(result['domains'])})")
    truth = load_events(family, domain, "test", source=source, size=size, cache_dir=cache_dir, with_labels=True,
                        meta_columns=params)
    out = {"family": family, "domain": domain, "metric": metric, "binning": binning, "parameters": {}}
    for p in params:
        per_seed = []
        for seed in result["seeds"]:
            ids, scores = load_predictions(predictions_root / f"seed{seed}")[domain]
            scores = align(ids, scores, truth.event_id, domain, width=get_family(family).num_classes)
            per_seed.append(binned_metric(truth.meta[p], truth.labels, scores, metric, bins, binning, seed=seed))
        vals = np.array([[np.nan if v is None else v for v in s["value"]] for s in per_seed], float)
        out["parameters"][p] = {
            "centres": per_seed[0]["centres"], "edges": per_seed[0]["edges"], "n": per_seed[0]["n"],
            "per_seed": per_seed, "mean": np.nanmean(vals, 0).tolist(),
            "std_over_seeds": (np.nanstd(vals, 0, ddof=1) if len(vals) > 1 else np.zeros(vals.shape[1])).tolist(),
        }
    return out


def plot_curves(curves: dict, path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    params = list(curves["parameters"])
    cols = min(3, len(params))
    rows = -(-len(params) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, p in zip(axes.ravel(), params):
        c = curves["parameters"][p]
        stat = np.sqrt(np.nanmean(np.array([[np.nan if e is None else e ** 2 for e in s["error"]]
                                            for s in c["per_seed"]], float), 0))
        ax.errorbar(c["centres"], c["mean"], yerr=stat, marker="o", ms=3, capsize=2, label="mean over seeds ± stat.")
        ax.fill_between(c["centres"], np.array(c["mean"]) - c["std_over_seeds"],
                        np.array(c["mean"]) + c["std_over_seeds"], alpha=0.25, label="± std over seeds")
        ax.set_xlabel(p)
        ax.set_ylabel(curves["metric"])
    for ax in axes.ravel()[len(params):]:
        ax.axis("off")
    axes.ravel()[0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)
    return path


def run_curves(result_path: str | Path, domain: str | None = None, bins: int = 8, binning: str = "width",
               out: str | Path | None = None, cache_dir=None) -> dict:
    """``python -m benchmark study parameter-curves <result.json>``: json + plot beside the result."""
    from benchmark.data.writer import write_text_atomic
    from benchmark.results import load_result

    result_path = Path(result_path)
    result = load_result(result_path)
    if domain is None:
        randoms = [d for d in result["domains"] if varied_parameters(result["dataset"]["family"], d,
                                                                     result["dataset"]["source"])]
        if not randoms:
            raise ValueError(f"{result_path} was scored on no domain with per-event parameters (*_random)")
        domain = randoms[0]
    curves = parameter_curves(result, result_path.parent / "predictions", domain, bins, binning, cache_dir)
    out = Path(out) if out else result_path.parent / f"curves_{domain}"
    write_text_atomic(out.with_suffix(".json"), json.dumps(curves, indent=1) + "\n")
    plot_curves(curves, out.with_suffix(".png"), f"{result['method']['name']} on {domain} ({len(result['seeds'])} seeds)")
    return curves
