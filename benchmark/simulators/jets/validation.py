"""Validation of the jets family: distributions per domain, generation rate, and a quick tagger check.

``python -m benchmark.simulators.jets.validation --out datasets/jets/plots`` materialises (or reuses)
the ``default`` generated dataset, then writes

* ``{mass,tau32,multiplicity,jet_pt}_{detector,generator}.png``: top and QCD in nominal and every
  detector-level domain / generator variant (normalised histograms of the test split, nominal filled);
* ``tagger_check.md`` / ``summary.json``: a gradient-boosted tagger on (jet mass, tau32, tau21,
  multiplicity) trained on ``nominal/train`` only and scored on every domain's ``test`` split (AUC and
  1/eps_B at eps_S = 0.3, from :mod:`benchmark.evaluation.metrics`, AUC bootstrap spread), and a
  "shift AUC": a cross-validated classifier separating nominal/test from each domain's test jets on the
  same observables (0.5 = no visible shift) - a check that the shifts are real;
* with ``--rate``: the measured single-core generation rate (jets per second, Pythia init included).

N-subjettiness (Thaler, Van Tilburg, JHEP 03 (2011) 015): tau_N = sum_k pT_k min_j dR(k, axis_j) /
(sum_k pT_k R0), R0 = 0.8, beta = 1, axes = exclusive kT subjets (what the N-subjettiness FastJet
contrib calls ExclusiveJetAxes).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from benchmark.data.writer import save_figure

FEATURES = ("jet_mass", "tau32", "tau21", "multiplicity")


def nsubjettiness(p4: np.ndarray, offsets: np.ndarray, n_max: int = 3, r0: float = 0.8) -> np.ndarray:
    """(n_jets, n_max) array of tau_1..tau_n_max (jets with fewer than n_max constituents: 0)."""
    import awkward as ak
    import fastjet

    from benchmark.simulators.jets.pythia import silence_stdout

    counts = np.diff(offsets)
    n = len(counts)
    out = np.zeros((n, n_max))
    ok = np.flatnonzero(counts >= n_max)
    if len(ok) == 0:
        return out
    rows = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in ok])
    c = p4[rows].astype(np.float64)
    cnt = counts[ok]
    arr = ak.unflatten(ak.zip({"px": c[:, 1], "py": c[:, 2], "pz": c[:, 3], "E": c[:, 0]}), cnt)
    with silence_stdout():
        cs = fastjet.ClusterSequence(arr, fastjet.JetDefinition(fastjet.kt_algorithm, 1000.0))
    pt = np.hypot(c[:, 1], c[:, 2])
    eta = np.arcsinh(np.divide(c[:, 3], pt, out=np.zeros_like(pt), where=pt > 0))
    phi = np.arctan2(c[:, 2], c[:, 1])
    jet = np.repeat(np.arange(len(ok)), cnt)
    d0 = np.bincount(jet, weights=pt, minlength=len(ok)) * r0
    for nn in range(1, n_max + 1):
        axes = cs.exclusive_jets(n_jets=nn)
        ax = np.stack([ak.to_numpy(ak.flatten(getattr(axes, f))).reshape(len(ok), nn) for f in ("px", "py", "pz")], -1)
        apt = np.hypot(ax[..., 0], ax[..., 1])
        aeta = np.arcsinh(np.divide(ax[..., 2], apt, out=np.zeros_like(apt), where=apt > 0))
        aphi = np.arctan2(ax[..., 1], ax[..., 0])
        dphi = np.mod(phi[:, None] - aphi[jet] + np.pi, 2 * np.pi) - np.pi
        dr = np.hypot(eta[:, None] - aeta[jet], dphi).min(axis=1)
        out[ok, nn - 1] = np.bincount(jet, weights=pt * dr, minlength=len(ok)) / d0
    return out


def observables(events) -> dict[str, np.ndarray]:
    """Jet mass, tau32, tau21, multiplicity, jet pT of an :class:`EventSet` of jets."""
    tau = nsubjettiness(events.p4, events.offsets)
    div = lambda a, b: np.divide(a, b, out=np.zeros_like(a), where=b > 0)  # noqa: E731
    return {"jet_mass": events.meta["jet_mass"].astype(np.float64), "tau32": div(tau[:, 2], tau[:, 1]),
            "tau21": div(tau[:, 1], tau[:, 0]), "multiplicity": events.sizes().astype(np.float64),
            "jet_pt": events.meta["jet_pt"].astype(np.float64)}


def measure_rate(n_jets: int = 200, seed: int = 12345) -> dict:
    """Single-core jets/s of the nominal generator, Pythia initialisation included."""
    from benchmark.simulators.jets.generator import JetsGenerator

    stats: dict = {}
    gen = JetsGenerator(stats=stats)
    t0 = time.perf_counter()
    gen.generate_chunk("train", 0, np.arange(n_jets), seed, domains=["nominal"])
    wall = time.perf_counter() - t0
    per = {f"{'top' if k[1] == 1 else 'qcd'}": {"jets": v["jets"], "events": v["events"],
                                                    "selection_efficiency": v["jets"] / v["events"],
                                                    "jets_per_s": v["jets"] / v["seconds"]} for k, v in stats.items()}
    return {"n_jets": n_jets, "wall_s": wall, "jets_per_s_per_core": n_jets / wall, "per_process": per}


def tagger_check(train_obs, train_y, test: dict, seed: int = 0) -> dict[str, dict]:
    """Fit a small gradient-boosted tagger on nominal features; metrics on every domain's test split."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    from benchmark.evaluation.metrics import classification_metrics

    x = np.stack([train_obs[f] for f in FEATURES], 1)
    clf = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=15,
                                         random_state=seed).fit(x, train_y)
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import cross_val_predict

    rng = np.random.default_rng(seed)
    nominal_x = np.stack([test["nominal"][0][f] for f in FEATURES], 1)
    out = {}
    for d, (obs, y) in test.items():
        xd = np.stack([obs[f] for f in FEATURES], 1)
        p = clf.predict_proba(xd)
        m = classification_metrics(y, p, 2)
        # bootstrap spread of the AUC (the test sets are small at the default size)
        boots = []
        for _ in range(200):
            i = rng.integers(0, len(y), len(y))
            if len(np.unique(y[i])) == 2:
                boots.append(roc_auc_score(y[i], p[i, 1]))
        out[d] = {"auc": m["auc"], "auc_bootstrap_std": float(np.std(boots)),
                  "rejection_at_30": m["rejection_at_30"], "accuracy": m["accuracy"], "n_events": m["n_events"]}
        if d != "nominal":
            # shift detectability: AUC of a classifier telling nominal from this domain on the same features
            # (3-fold cross-validated; 0.5 = the shift is invisible in these observables)
            xx = np.concatenate([nominal_x, xd])
            yy = np.concatenate([np.zeros(len(nominal_x)), np.ones(len(xd))])
            sw = np.where(yy == 1, len(nominal_x) / len(xd), 1.0)  # balance the two samples
            pp = cross_val_predict(HistGradientBoostingClassifier(max_iter=100, random_state=seed), xx, yy, cv=3,
                                   method="predict_proba")[:, 1]
            out[d]["shift_auc"] = float(roc_auc_score(yy, pp, sample_weight=sw))
    return out


def _plot(obs_by_domain: dict, key: str, bins, xlabel: str, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    domains = list(obs_by_domain)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=False)
    for ax, (lab, name) in zip(axes, ((1, "top"), (0, "QCD"))):
        for d in domains:
            obs, y = obs_by_domain[d]
            v = obs[key][y == lab]
            if d == "nominal":
                ax.hist(v, bins=bins, density=True, color="0.8", label=f"nominal ({len(v)})")
            else:
                ax.hist(v, bins=bins, density=True, histtype="step", label=f"{d} ({len(v)})")
        ax.set_title(f"{name} jets")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("normalised")
    axes[1].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    save_figure(fig, path, dpi=90)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="datasets/jets/plots", help="folder for the plots and summary")
    ap.add_argument("--cache-dir", default=None, help="SimShift cache root (default: SIMSHIFT_CACHE or ~/.cache)")
    ap.add_argument("--size", default="default")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rate", action="store_true", help="also measure the single-core generation rate")
    args = ap.parse_args(argv)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # OpenMP in HistGradientBoosting crawls on a shared, oversubscribed CPU

    from benchmark.data.loader import load_events
    from benchmark.data.materialise import generate
    from benchmark.data.writer import write_text_atomic
    from benchmark.simulators.jets.generator import JetsGenerator

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary: dict = {"size": args.size, "seed": args.seed}
    if args.rate:
        summary["rate"] = measure_rate()
        print(json.dumps(summary["rate"], indent=1))
    t0 = time.perf_counter()
    generate("jets", size=args.size, seed=args.seed, workers=args.workers, cache_dir=args.cache_dir)
    summary["generate_wall_s"] = time.perf_counter() - t0
    domains = [d.name for d in JetsGenerator().domains()]
    train = load_events("jets", "nominal", "train", size=args.size, cache_dir=args.cache_dir)
    train_obs = observables(train)
    test = {}
    for d in domains:
        ev = load_events("jets", d, "test", size=args.size, cache_dir=args.cache_dir)
        test[d] = (observables(ev), ev.labels)
    # one figure per observable and group (detector throws / generator variants), nominal in each
    spec = {d.name: d for d in JetsGenerator().domains()}
    groups = {"detector": [d for d in domains if spec[d].kind != "variant"],
              "generator": ["nominal"] + [d for d in domains if spec[d].kind == "variant"]}
    for key, bins, label in (("jet_mass", np.linspace(0, 300, 61), "jet mass [GeV]"),
                             ("tau32", np.linspace(0, 1, 41), "tau32"),
                             ("multiplicity", np.linspace(0, 140, 57), "constituents"),
                             ("jet_pt", np.linspace(500, 700, 41), "jet pT [GeV]")):
        for group, names in groups.items():
            name = "mass" if key == "jet_mass" else key
            _plot({d: test[d] for d in names}, key, bins, label, out / f"{name}_{group}.png")
    summary["tagger_check"] = tagger_check(train_obs, train.labels, test, seed=args.seed)
    summary["means"] = {d: {lab: {k: float(np.mean(o[k][y == i])) for k in ("jet_mass", "tau32", "multiplicity")}
                            for i, lab in ((1, "top"), (0, "qcd"))} for d, (o, y) in test.items()}
    lines = ["| domain | test jets | tagger AUC | 1/eps_B at eps_S=0.3 | shift AUC | top <m> | QCD <m> | top <n> | QCD <n> |",
             "|---|---|---|---|---|---|---|---|---|"]
    for d, m in summary["tagger_check"].items():
        mm = summary["means"][d]
        shift = f"{m['shift_auc']:.3f}" if "shift_auc" in m else "-"
        lines.append(f"| `{d}` | {m['n_events']} | {m['auc']:.3f} ± {m['auc_bootstrap_std']:.3f} | "
                     f"{m['rejection_at_30']:.1f} | {shift} | "
                     f"{mm['top']['jet_mass']:.1f} | {mm['qcd']['jet_mass']:.1f} | "
                     f"{mm['top']['multiplicity']:.1f} | {mm['qcd']['multiplicity']:.1f} |")
    table = "\n".join(lines) + "\n"
    write_text_atomic(out / "tagger_check.md", table)
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=1, sort_keys=True) + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
