"""Submitting a result file to the leaderboard: verify everything, then store it with its predictions.

Checks (every failing one is reported, not just the first):

* the file: at most 5 MB, UTF-8 JSON, no NaN/infinity, valid against ``schema.json``, consistent
  (seeds, domains, printable names, values derivable from others: ``benchmark.results.io``);
* the evaluator version is this benchmark's (``benchmark.evaluation.EVALUATOR_VERSION``);
* the names: family, source, scored domains known to this benchmark; domain parameters equal to the
  registry's; the family's primary metric reported;
* at least :data:`MIN_SEEDS` seeds;
* the data: the test-split digest and event count of every scored domain equal those of the dataset
  materialised locally, so the entry was computed on exactly this benchmark's data;
* the predictions, which a leaderboard entry must carry (a folder, or a ``.zip`` of it, holding
  ``seed<k>/<domain>.npz``; by default the ``predictions/`` folder next to the result file): the
  official evaluator recomputes every metric from them, in the form they are stored in, and each must
  match the reported value within :data:`METRIC_TOLERANCE`.  A result without predictions is refused.

Then, holding the store's lock (:mod:`benchmark.results.store`), the result file (byte for byte) and
its predictions are stored and the pages regenerated.  The same predictions submitted again are the
same entry.  A submission is data only: JSON is parsed, ``.npz`` arrays are read with
``allow_pickle=False`` and bounded sizes; nothing in it is executed, and no path in it is used.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.results.io import MAX_RESULT_BYTES, ResultFileError, check_result, json_normal, parse_result_bytes
from benchmark.results.store import MIN_SEEDS, locked, prediction_arrays, same_method, store_entry
from benchmark.results.verify import METRIC_TOLERANCE, data_errors, metric_errors


class SubmissionError(ValueError):
    """A refused submission; ``reasons`` lists every problem found."""

    def __init__(self, path, reasons: list[str], note: str = ""):
        self.path = Path(path)
        self.reasons = list(reasons)
        super().__init__(f"{self.path} was not accepted ({len(self.reasons)} problem(s)):\n"
                         + "\n".join(f"  - {r}" for r in self.reasons) + (f"\n{note}" if note else ""))


@dataclass
class SubmissionReport:
    """What ``submit`` checked and did."""

    result_path: Path
    checks: list[str] = field(default_factory=list)
    metrics_verified: bool = False
    dry_run: bool = False
    stored_path: Path | None = None
    already_present: bool = False
    pages: list[Path] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"{self.result_path}: all checks passed"] + [f"  ok  {c}" for c in self.checks]
        if self.dry_run:
            lines.append("dry run: nothing stored")
        elif self.already_present:
            lines.append(f"already on the leaderboard as {self.stored_path}")
        else:
            lines.append(f"stored as {self.stored_path}")
        lines += [f"regenerated {p}" for p in self.pages]
        return "\n".join(lines)


def _registry_errors(result: dict):
    """Names known to this benchmark; returns (reasons, family spec or None)."""
    from benchmark.data.registry import UnknownNameError, get_family

    reasons = []
    ds = result["dataset"]
    try:
        spec = get_family(ds["family"])
        source = spec.source(ds["source"])
    except UnknownNameError as exc:
        return [f"dataset: {exc}"], None
    known = source.domain_names
    for d in result["domains"]:
        if d not in known:
            reasons.append(f"domains: {d!r} is not a domain of {spec.name}/{source.name} (known: {', '.join(known)})")
    for key in ("source_domain", "target_domain"):
        d = result[key]
        if d is not None and d not in known:
            reasons.append(f"{key}: {d!r} is not a domain of {spec.name}/{source.name} (known: {', '.join(known)})")
    for d in result["domains"]:
        if d in known and result["domain_parameters"].get(d) != json_normal(source.domain(d).parameters):
            reasons.append(f"domain_parameters.{d} differ from this benchmark's parameters of that domain "
                           f"({json_normal(source.domain(d).parameters)})")
    metric = spec.primary_metric
    for entry in result["per_seed"]:
        lacking = [d for d, m in entry["per_domain"].items() if m.get(metric) is None]
        if lacking:
            reasons.append(f"per_seed seed {entry['seed']}: the primary metric {metric!r} of {spec.name} is "
                           f"missing for domain(s) {lacking}")
    return reasons, spec


def _read_predictions(result: dict, location) -> tuple[dict | None, list[str]]:
    """Every seed's and domain's predictions from ``location``, in stored form (or the reasons why not)."""
    from benchmark.evaluation.predictions import PredictionArchive, PredictionError

    try:
        archive = PredictionArchive(location)
    except (PredictionError, OSError) as exc:
        return None, [str(exc)]
    preds, reasons = {}, []
    for seed in result["seeds"]:
        preds[seed] = {}
        for d in result["domains"]:
            try:
                preds[seed][d] = archive.read(seed, d)
            except (PredictionError, OSError) as exc:
                reasons.append(f"seed {seed}: {exc}")
    if reasons:
        return None, reasons
    try:
        return prediction_arrays(preds, str(location)), []
    except PredictionError as exc:
        return None, [str(exc)]


def validate_submission(result_path: str | os.PathLike, predictions: str | os.PathLike | None = None,
                        cache_dir: str | os.PathLike | None = None) -> tuple[dict, bytes, list[str], dict]:
    """Run every check; return (result, file bytes, checks passed, stored prediction arrays) or raise
    :class:`SubmissionError` with every reason."""
    from benchmark.evaluation.evaluator import EVALUATOR_VERSION
    from benchmark.results.store import as_predictions

    path = Path(result_path)
    if not path.is_file():
        raise SubmissionError(path, [f"no such file: {path}"])
    size = path.stat().st_size
    if size > MAX_RESULT_BYTES:
        raise SubmissionError(path, [f"file is {size} bytes, more than the {MAX_RESULT_BYTES} allowed "
                                     "(a result file holds metrics; predictions go in .npz files)"])
    content = path.read_bytes()
    try:
        result = parse_result_bytes(content, path)
    except ResultFileError as exc:
        raise SubmissionError(path, exc.reasons) from None

    reasons: list[str] = []
    seeds = result.get("seeds") if isinstance(result, dict) else None
    if isinstance(seeds, list) and len(seeds) < MIN_SEEDS:
        reasons.append(f"seeds: {len(seeds)} seed(s) {seeds}; a leaderboard entry needs at least {MIN_SEEDS} "
                       f"(run with --seeds 0 1 2)")
    try:
        check_result(result, path)
    except ResultFileError as exc:
        raise SubmissionError(path, reasons + exc.reasons,
                              "(names, data hashes and predictions are checked once these are fixed)") from None
    checks = ["schema, finite values, consistency, derived values and aggregate"]
    if not reasons:
        checks.append(f"{len(seeds)} seeds")
    if result["evaluator_version"] != EVALUATOR_VERSION:
        reasons.append(f"evaluator_version {result['evaluator_version']!r} is not this benchmark's "
                       f"{EVALUATOR_VERSION!r}: score the predictions again with this version "
                       f"(`python -m benchmark run` resumes and rescores)")

    registry_reasons, spec = _registry_errors(result)
    reasons += registry_reasons
    data_ok = False
    if spec is not None and not registry_reasons:
        checks.append("family, source, domains and domain parameters known")
        data_reasons = data_errors(result, cache_dir)
        reasons += data_reasons
        if not data_reasons:
            data_ok = True
            checks.append("test-split sha256 and event counts equal to this benchmark's data")

    if predictions is None and (path.parent / "predictions").is_dir():
        predictions = path.parent / "predictions"
    arrays = None
    if predictions is None:
        reasons.append("no predictions: a leaderboard entry must carry them (the predictions/ folder `run` writes "
                       "next to the result file, or --predictions <folder or .zip>), so that its metrics can be "
                       "recomputed")
    else:
        arrays, pred_reasons = _read_predictions(result, predictions)
        reasons += pred_reasons
        if arrays is not None and data_ok:
            pred_reasons = metric_errors(result, as_predictions(result, arrays), cache_dir)
            reasons += pred_reasons
            if not pred_reasons:
                checks.append(f"metrics recomputed from the predictions in {predictions} match "
                              f"(tolerance {METRIC_TOLERANCE})")
    if reasons:
        raise SubmissionError(path, reasons)
    return result, content, checks, arrays


def submit(result_path: str | os.PathLike, predictions: str | os.PathLike | None = None,
           dry_run: bool = False, leaderboard_dir: str | os.PathLike | None = None,
           cache_dir: str | os.PathLike | None = None) -> SubmissionReport:
    """Verify a result file and (unless ``dry_run``) store it with its predictions and regenerate the
    pages, holding the store's lock.

    ``predictions``: folder (or ``.zip``) with ``seed<k>/<domain>.npz``; by default the
    ``predictions/`` folder next to the result file.  ``leaderboard_dir``: by default the working
    tree's ``leaderboard/`` (:func:`benchmark.results.store.default_leaderboard_dir`).
    Raises :class:`SubmissionError` listing every reason when the file is refused.
    """
    from benchmark.leaderboard import regenerate_pages
    from benchmark.results.store import default_leaderboard_dir

    result, content, checks, arrays = validate_submission(result_path, predictions, cache_dir)
    report = SubmissionReport(Path(result_path), checks, True, dry_run)
    if dry_run:
        return report
    if leaderboard_dir is not None:  # a folder named explicitly may be new
        board = Path(leaderboard_dir)
        (board / "submissions").mkdir(parents=True, exist_ok=True)
    else:
        board = default_leaderboard_dir()
    with locked(board):
        target, existing = store_entry(board, result, content, arrays)
        report.stored_path = target
        if existing is not None:
            if not same_method(existing.result, result):
                raise SubmissionError(Path(result_path), [
                    f"the same predictions are already on the leaderboard as {target.name} (method "
                    f"{existing.result.get('method', {}).get('name')!r}); one run is one entry: to change its "
                    f"method details, delete {target.name} and its .npz and submit again"])
            report.already_present = True
        report.pages = regenerate_pages(board)
    return report
