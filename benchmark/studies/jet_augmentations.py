"""JetCLR's augmentation ablation: the linear classifier test per set of jet augmentations.

JetCLR (Dillon, Kasieczka, Olischläger, Plehn, Thompson, Vorontsov, arXiv:2108.04253, table of the
linear classifier test per augmentation set) pre-trains one contrastive representation per set of
augmentations (none; translations; rotations; soft + collinear; all combined) and reports, for a
linear classifier on the frozen representation, the test AUC and the background rejection 1/eps_B at
signal efficiency eps_S = 0.5.  Here each set is one run of a contrastive method folder (SimCLR by
default) on ``jets`` under the ``linear_probe`` protocol, its config's ``augment: {augmentations: [...]}``
replaced by the set; the benchmark's own probe scores the frozen embedding, so the method cannot tune
the classifier.  Every set writes an ordinary, verifiable result file in its own folder
(``<out>/<set>/linear_probe/result.json``), and the runner's fingerprints (which cover the config, so
the set) let an interrupted study resume set by set.

JetCLR's numbers are shown beside ours as a reference, not as a target: they come from the Top Quark
Tagging Reference Dataset (1.2M training jets, a 1000-wide transformer, 500 epochs); the default size
here is a small generated sample, so agreement in the *ordering* of the sets is what to look at.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
from tabulate import tabulate

from benchmark.data.writer import save_figure, write_text_atomic
from benchmark.training.hparams import is_sized

#: the ablation's sets, in JetCLR's order (names are folder names and table rows)
AUGMENTATION_SETS: dict[str, tuple[str, ...]] = {
    "none": (),
    "translation": ("translation",),
    "rotation": ("rotation",),
    "soft_collinear": ("soft_smearing", "collinear_splitting"),
    "all": ("rotation", "translation", "soft_smearing", "collinear_splitting"),
    # not in JetCLR's table: at the default size the translations cost the linear classifier test more than
    # any other augmentation gains (docs/studies/README.md), so the set without them is measured too
    "all_but_translation": ("rotation", "soft_smearing", "collinear_splitting"),
}

#: JetCLR's published linear classifier test per set (arXiv:2108.04253, table of the augmentation
#: ablation): test AUC and 1/eps_B at eps_S = 0.5.  A citation, not a measurement of this package.
JETCLR_REFERENCE: dict[str, dict[str, float]] = {
    "none": {"auc": 0.905, "rejection_at_50": 15.0},
    "translation": {"auc": 0.916, "rejection_at_50": 19.0},
    "rotation": {"auc": 0.930, "rejection_at_50": 21.0},
    "soft_collinear": {"auc": 0.970, "rejection_at_50": 89.0},
    "all": {"auc": 0.980, "rejection_at_50": 181.0},
}
REFERENCE_CITATION = "JetCLR, Dillon et al., arXiv:2108.04253 (linear classifier test per augmentation set)"

#: per-set metrics taken from the result's per-domain metrics (the evaluator's keys)
METRICS = ("auc", "rejection_at_50", "rejection_at_30")
PROTOCOL = "linear_probe"


def check_sets(sets) -> list[str]:
    """The requested set names in the ablation's order, or a ``ValueError`` naming the valid ones."""
    sets = list(AUGMENTATION_SETS) if not sets else list(sets)
    unknown = [s for s in sets if s not in AUGMENTATION_SETS]
    if unknown:
        raise ValueError(f"unknown augmentation set(s) {unknown}; choose from {', '.join(AUGMENTATION_SETS)}")
    return [s for s in AUGMENTATION_SETS if s in sets]


def _with_names(block, names: list[str]) -> dict:
    """An ``augment`` block with ``augmentations: names``; a block given per model size
    (``{default: {...}, full: {...}}``) gets them at every size."""
    if is_sized(block):
        return {size: {**(value or {}), "augmentations": names} for size, value in block.items()}
    return {**(block or {}), "augmentations": names}


def with_augmentations(spec, set_name: str, family: str = "jets"):
    """A copy of method ``spec`` whose ``augment.augmentations`` is the set ``set_name``.

    The set replaces the list at the top level of the config and, where the method's ``per_family``
    block for ``family`` sets ``augment`` too (it would win there), in that block as well; other
    ``augment`` settings (the translation width) are kept.  The name gets ``_aug_<set>`` so the five
    result files are told apart on a leaderboard."""
    from benchmark.augment.jets import selected_augmentations

    names = list(AUGMENTATION_SETS[set_name])
    selected_augmentations(names)  # the same check the jets kind makes
    config = json.loads(json.dumps(spec.config))  # deep copy of YAML data
    config["augment"] = _with_names(config.get("augment"), names)
    per = (config.get("per_family") or {}).get(family)
    if isinstance(per, dict) and "augment" in per:
        per["augment"] = _with_names(per["augment"], names)
    shown = ", ".join(names) or "none"
    return dataclasses.replace(spec, config=config, name=f"{spec.name}_aug_{set_name}",
                               description=f"{spec.description or spec.name} [jet augmentations: {shown}]")


def _stat(values: list) -> dict:
    arr = np.asarray([np.nan if v is None else v for v in values], float)
    return {"mean": float(np.mean(arr)), "std": float(np.std(arr, ddof=1)) if len(arr) > 1 else None,
            "per_seed": [None if np.isnan(v) else float(v) for v in arr]}


def ablation_table(results: dict[str, dict], domain: str = "nominal") -> dict:
    """From ``{set name: linear_probe result dict}``: per set, AUC and 1/eps_B at eps_S = 0.5 and 0.3 on
    ``domain`` (mean, std with ddof = 1, per seed) and JetCLR's reference values."""
    rows = {}
    for name, result in results.items():
        if result["protocol"] != PROTOCOL:
            raise ValueError(f"set {name!r}: a {result['protocol']} result; the ablation reads {PROTOCOL} results")
        if domain not in result["domains"]:
            raise ValueError(f"set {name!r}: the result was not scored on {domain!r}")
        per_domain = [s["per_domain"][domain] for s in result["per_seed"]]
        missing = [m for m in METRICS if any(m not in p for p in per_domain)]
        if missing:
            raise ValueError(f"set {name!r}: no {', '.join(missing)} in the result (binary families only)")
        rows[name] = {"augmentations": list(AUGMENTATION_SETS[name]), "seeds": list(result["seeds"]),
                      "method": result["method"]["name"],
                      **{m: _stat([p[m] for p in per_domain]) for m in METRICS},
                      "reference": JETCLR_REFERENCE.get(name)}
    return {"domain": domain, "protocol": PROTOCOL, "reference_citation": REFERENCE_CITATION, "sets": rows}


def _pm(stat: dict, digits: int) -> str:
    text = f"{stat['mean']:.{digits}f}"
    return text if stat["std"] is None else f"{text} ± {stat['std']:.{digits}f}"


TABLE_HEADERS = ("augmentation set", "augmentations", "seeds", "AUC", "1/eps_B at eps_S=0.5",
                 "1/eps_B at eps_S=0.3", "JetCLR AUC", "JetCLR 1/eps_B at eps_S=0.5")


def table_rows(table: dict) -> list[list[str]]:
    rows = []
    for name, r in table["sets"].items():
        ref = r["reference"] or {}
        rows.append([name, ", ".join(r["augmentations"]) or "–", str(len(r["seeds"])), _pm(r["auc"], 4),
                     _pm(r["rejection_at_50"], 1), _pm(r["rejection_at_30"], 1),
                     f"{ref['auc']:.3f}" if ref else "–", f"{ref['rejection_at_50']:g}" if ref else "–"])
    return rows


def markdown_table(table: dict, command: str | None = None) -> str:
    """The ablation as a Markdown page: the table, what it measures, and JetCLR's reference."""
    lines = ["# JetCLR augmentation ablation (linear classifier test)", ""]
    if command:
        lines += [f"Made by `{command}`.", ""]
    lines += [f"Per augmentation set: the `{table['protocol']}` protocol's linear classifier on the frozen "
              f"representation, scored on `{table['domain']}/test`; mean ± std (ddof = 1) over seeds. "
              f"JetCLR columns: {table['reference_citation']}, on the Top Quark Tagging Reference Dataset "
              "with a far larger model and sample: a reference for the ordering of the sets, not a target.", "",
              tabulate(table_rows(table), headers=TABLE_HEADERS, tablefmt="github", disable_numparse=True), ""]
    return "\n".join(lines)


def plot_ablation(table: dict, path: Path, title: str) -> Path:
    """AUC and 1/eps_B (log scale) per set, ours (mean ± std) beside JetCLR's published values."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(table["sets"])
    x = np.arange(len(names))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, metric, label in ((ax1, "auc", "AUC"), (ax2, "rejection_at_50", "background rejection 1/eps_B")):
        ours = [table["sets"][n][metric] for n in names]
        ax.errorbar(x - 0.1, [o["mean"] for o in ours], yerr=[o["std"] or 0.0 for o in ours], fmt="o", capsize=3,
                    label="this benchmark" + (", eps_S = 0.5" if metric != "auc" else "") + " (mean ± std)")
        ref = [(i, table["sets"][n]["reference"][metric]) for i, n in enumerate(names) if table["sets"][n]["reference"]]
        if ref:
            ax.plot([i + 0.1 for i, _ in ref], [v for _, v in ref], "s", mfc="none",
                    label="JetCLR, arXiv:2108.04253" + (", eps_S = 0.5" if metric != "auc" else ""))
        ax.set_xticks(x, names, rotation=20)
        ax.set_xlim(-0.5, len(names) - 0.5)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    r30 = [table["sets"][n]["rejection_at_30"] for n in names]
    ax2.errorbar(x, [o["mean"] for o in r30], yerr=[o["std"] or 0.0 for o in r30], fmt="^", capsize=3,
                 label="this benchmark, eps_S = 0.3 (mean ± std)")
    ax2.set_yscale("log")
    ax1.legend(fontsize=7)
    ax2.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)
    return path


def _check_contrastive(spec) -> None:
    """Refuse the package's non-contrastive PyTorch baselines: they would ignore the set (the classifier
    and DANN train on no views), giving five copies of one number.  Other classes and external programs
    are trusted to read ``augment.augmentations``."""
    from benchmark.methods.torch import Contrastive, TorchMethod

    cls = spec.load_class()
    if issubclass(cls, TorchMethod) and not issubclass(cls, Contrastive):
        raise ValueError(f"method {spec.name!r} ({cls.__name__}) does not pre-train on augmented views, so the "
                         f"augmentation set would change nothing; use a contrastive method folder "
                         f"(baselines/simclr, baselines/supcon)")


def run_ablation(method: str | Path = "baselines/simclr", seeds=(0, 1, 2), sets=None, size: str = "default",
                 out: str | Path | None = None, cache_dir=None, device: str = "cpu", epochs: int | None = None,
                 model_size: str | None = None, progress: bool = True, family: str = "jets",
                 source: str | None = None, domain: str = "nominal", command: str | None = None) -> dict:
    """Train ``method`` once per augmentation set (``linear_probe``), tabulate and plot the ablation.

    Writes ``<out>/<set>/linear_probe/result.json`` per set (resumable), ``<out>/jet_augmentations.json``,
    ``.md`` and ``.png``; returns the table.
    """
    from benchmark.data.registry import get_family
    from benchmark.methods.base import load_method_spec
    from benchmark.runner import run_method

    sets = check_sets(sets)
    spec = load_method_spec(method)
    if PROTOCOL not in spec.protocols:
        raise ValueError(f"method {spec.name!r} does not support the {PROTOCOL} protocol (its protocols: "
                         f"{', '.join(spec.protocols)}); the ablation needs a frozen embedding")
    _check_contrastive(spec)
    if get_family(family).event_kind != "jets":
        raise ValueError(f"family {family!r} does not hold jets; the jet augmentation ablation runs on jets")
    src = get_family(family).source(source).name
    out = Path(out) if out else Path("runs") / spec.name / f"{family}_{src}_{size}" / "jet_augmentations"
    results = {}
    for name in sets:
        print(f"[simshift] augmentation set {name}: {', '.join(AUGMENTATION_SETS[name]) or 'none'}", flush=True)
        path, = run_method(with_augmentations(spec, name, family), family=family, protocols=[PROTOCOL],
                           seeds=seeds, size=size, device=device, out=out / name, source=source,
                           cache_dir=cache_dir, epochs=epochs, model_size=model_size, progress=progress)
        results[name] = json.loads(Path(path).read_text())
    table = ablation_table(results, domain)
    table.update(method=spec.name, family=family, source=src, size=size,
                 result_files={n: str(out / n / PROTOCOL / "result.json") for n in results})
    write_text_atomic(out / "jet_augmentations.json", json.dumps(table, indent=1) + "\n")
    write_text_atomic(out / "jet_augmentations.md", markdown_table(table, command))
    plot_ablation(table, out / "jet_augmentations.png",
                  f"{spec.name}: linear classifier test per augmentation set ({family}, {len(list(seeds))} seeds)")
    print_table(table)
    return table


def print_table(table: dict) -> None:
    print(f"\nlinear classifier test on {table['domain']}/test per augmentation set "
          f"(JetCLR columns: {table['reference_citation']})")
    print(tabulate(table_rows(table), headers=TABLE_HEADERS, disable_numparse=True))
