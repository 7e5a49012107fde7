"""The crosstalk grid of the cube-detector study (arXiv:2502.07724, cube-detector section).

The study trains one model at each kept crosstalk fraction f = 0, 0.25, 0.5 (nominal), 0.75, 1 and tests
each on f = 0 to 1 in steps of 0.05, drawing accuracy against f with one curve per training fraction.
Here a training fraction is a source domain of the ``sfgd`` family (``xtalk_000`` ... ``xtalk_100``) and
the test points are its test-only scan (``xscan_000`` ... ``xscan_100``).  Every training fraction gives
one ``robustness`` result file with that source domain: an ordinary, verifiable leaderboard submission.
The table, the fractional residual and the plot are :mod:`benchmark.studies.grids` (shared with the
leaderboard's grid view).
"""
from __future__ import annotations

import json
from pathlib import Path

from benchmark.data.registry import get_family
from benchmark.data.writer import write_text_atomic
from benchmark.studies.grids import (GRIDS, PARAMETER, SCAN_PREFIX, TRAINING_DOMAINS, grid_figure, grid_rows,  # noqa: F401
                                     grid_table, plot_grid, print_grid, scan_points, training_fraction)


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
