"""Submitting a result file to the leaderboard: validate everything, then store it under a safe name.

Checks (every failing one is reported, not just the first):

* the file: at most 5 MB, UTF-8 JSON, no NaN/infinity, valid against ``schema.json``, consistent
  (seeds, domains, aggregate recomputed from the per-seed values);
* the names: family, source, scored domains known to this benchmark; domain parameters equal to the
  registry's; the family's primary metric reported;
* at least :data:`MIN_SEEDS` seeds;
* the data: the test-split digest of every scored domain equals the one of the dataset
  materialised locally (``benchmark.data.provenance.split_digest``), so the entry was computed on
  exactly this benchmark's data.  Without local data the submission is refused with the command
  that makes it; there is no way around this check, because an unchecked hash would put results
  on different test sets into one table;
* the predictions, when given (a folder, or a ``.zip`` of it, holding ``seed<k>/<domain>.npz``):
  the official evaluator recomputes every metric from them and the test labels, and each must match
  the reported value within :data:`METRIC_TOLERANCE`.

A submission is data only: it is parsed as JSON and ``.npz`` arrays are read with
``allow_pickle=False``; nothing in it is executed, and no path in it is ever used to read or
write a file (the stored name is derived from validated fields and the content hash).
"""
from __future__ import annotations

import io
import json
import os
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path

import numpy as np

from benchmark.results.io import MAX_RESULT_BYTES, ResultFileError, check_result, json_default, parse_result_bytes

MIN_SEEDS = 3
METRIC_TOLERANCE = 1e-6
#: a prediction file inside a .zip larger than this (uncompressed) is refused (zip bombs)
MAX_PREDICTION_MEMBER_BYTES = 2 * 1024 ** 3
_MEMBER = re.compile(r"^(?:[^/]+/)*seed(-?[0-9]+)/(\w+)\.npz$")
_MAX_REASONS_PER_SEED = 12


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
        if not self.metrics_verified:
            lines.append("  --  metrics not recomputed (no predictions given: pass --predictions <dir>)")
        if self.dry_run:
            lines.append("dry run: nothing stored")
        elif self.already_present:
            lines.append(f"already on the leaderboard as {self.stored_path}")
        else:
            lines.append(f"stored as {self.stored_path}")
        lines += [f"regenerated {p}" for p in self.pages]
        return "\n".join(lines)


def slugify(name: str, max_len: int = 48) -> str:
    """A file-name-safe ASCII slug of a method name (``"SimCLR (ours)/v2"`` -> ``"simclr-ours-v2"``)."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:max_len].strip("-")
    return slug or "method"


def stored_name(result: dict, content: bytes) -> str:
    """``<family>__<protocol>__<method slug>__<12 hex of the content sha256>.json``: never a path
    taken from the file (family and protocol are validated ``^\\w+$`` names)."""
    return (f"{result['dataset']['family']}__{result['protocol']}__{slugify(result['method']['name'])}"
            f"__{sha256(content).hexdigest()[:12]}.json")


def _json_normal(obj):
    """``obj`` as it reads back from JSON (tuples -> lists, numpy scalars -> Python numbers)."""
    return json.loads(json.dumps(obj, default=json_default))


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
        if d in known and result["domain_parameters"].get(d) != _json_normal(source.domain(d).parameters):
            reasons.append(f"domain_parameters.{d} differ from this benchmark's parameters of that domain "
                           f"({_json_normal(source.domain(d).parameters)})")
    metric = spec.primary_metric
    for entry in result["per_seed"]:
        lacking = [d for d, m in entry["per_domain"].items() if m.get(metric) is None]
        if lacking:
            reasons.append(f"per_seed seed {entry['seed']}: the primary metric {metric!r} of {spec.name} is "
                           f"missing for domain(s) {lacking}")
    return reasons, spec


def _data_errors(result: dict, cache_dir) -> list[str]:
    """Compare the recorded test-split digests with the locally materialised dataset's."""
    from benchmark.data.loader import DatasetNotMaterialised, resolve_folder
    from benchmark.data.provenance import split_digest

    ds = result["dataset"]
    try:
        folder = resolve_folder(ds["family"], ds["source"], ds["size"], cache_dir)
    except DatasetNotMaterialised as exc:
        return [f"cannot check the data hashes: {exc}; then submit again"]
    reasons = []
    for d in result["domains"]:
        try:
            local = split_digest(folder, d, "test")
        except FileNotFoundError as exc:
            reasons.append(f"cannot check the test data of domain {d!r}: {exc}")
            continue
        if ds["test_sha256"][d] != local:
            reasons.append(f"dataset.test_sha256.{d} = {ds['test_sha256'][d][:16]}... but this benchmark's test "
                           f"data of {ds['family']}/{ds['source']}/{ds['size']} domain {d!r} have "
                           f"{local[:16]}...: the result was computed on other data (another generator "
                           f"version, seed or size); rerun the method on the data in {folder}")
    return reasons


class _PredictionReader:
    """Reads ``seed<k>/<domain>.npz`` from a folder (or its ``predictions/`` subfolder) or a ``.zip``.

    Only names this class builds from validated seeds and domains are looked up; nothing is
    extracted to disk and arrays are loaded with ``allow_pickle=False``.
    """

    def __init__(self, location: str | os.PathLike):
        self.location = Path(location)
        self.zip_members: dict[tuple[str, str], zipfile.ZipInfo] | None = None
        if self.location.is_dir():
            sub = self.location / "predictions"
            self.root = sub if sub.is_dir() and not any(self.location.glob("seed*")) else self.location
        elif self.location.is_file() and zipfile.is_zipfile(self.location):
            with zipfile.ZipFile(self.location) as zf:
                self.zip_members = {}
                for info in zf.infolist():
                    m = _MEMBER.match(info.filename)
                    if m:
                        self.zip_members[(m.group(1), m.group(2))] = info
        else:
            raise FileNotFoundError(f"predictions {self.location}: not a folder or a .zip archive of "
                                    f"seed<k>/<domain>.npz files")

    def read(self, seed: int, domain: str) -> tuple[np.ndarray, np.ndarray]:
        if self.zip_members is None:
            path = self.root / f"seed{seed}" / f"{domain}.npz"
            if not path.is_file():
                raise FileNotFoundError(f"missing prediction file {path}")
            source = path
            data = None
        else:
            info = self.zip_members.get((str(seed), domain))
            if info is None:
                raise FileNotFoundError(f"{self.location} has no seed{seed}/{domain}.npz")
            if info.file_size > MAX_PREDICTION_MEMBER_BYTES:
                raise ValueError(f"{info.filename} is {info.file_size} bytes uncompressed, more than allowed")
            with zipfile.ZipFile(self.location) as zf:
                data = io.BytesIO(zf.read(info))
            source = f"{self.location}:{info.filename}"
        try:
            with np.load(data if data is not None else source, allow_pickle=False) as z:
                missing = [k for k in ("event_id", "scores") if k not in z.files]
                if missing:
                    raise ValueError(f"{source}: missing array(s) {missing} (has {z.files})")
                return z["event_id"], z["scores"]
        except (OSError, zipfile.BadZipFile) as exc:
            raise ValueError(f"{source}: not a readable .npz file ({exc})") from None
        except ValueError as exc:
            if "pickle" in str(exc).lower():
                raise ValueError(f"{source}: holds Python objects (pickled arrays are refused; "
                                 f"save plain numeric arrays)") from None
            raise


def _differences(reported, official, where: str) -> list[str]:
    """Where ``reported`` and the evaluator's ``official`` values differ (numbers: > tolerance)."""
    if isinstance(official, float) and not np.isfinite(official):
        official = None  # result files carry undefined metrics as null
    if isinstance(official, dict):
        if not isinstance(reported, dict):
            return [f"{where}: reported {reported!r}, the evaluator gives a mapping"]
        out = [f"{where}.{k}: reported but not produced by the official evaluator"
               for k in reported if k not in official]
        for k, v in official.items():
            if k not in reported:
                out.append(f"{where}.{k}: missing (the evaluator gives {v!r})")
            else:
                out += _differences(reported[k], v, f"{where}.{k}")
        return out
    if isinstance(official, list):
        if not isinstance(reported, list) or len(reported) != len(official):
            return [f"{where}: reported {reported!r}, the evaluator gives {official!r}"]
        return [m for i, (r, o) in enumerate(zip(reported, official)) for m in _differences(r, o, f"{where}[{i}]")]
    if isinstance(official, (int, float)) and not isinstance(official, bool) \
            and isinstance(reported, (int, float)) and not isinstance(reported, bool):
        if abs(reported - official) <= METRIC_TOLERANCE:
            return []
        return [f"{where}: reported {reported!r}, recomputed from the predictions {official!r}"]
    return [] if reported == official else [f"{where}: reported {reported!r}, the evaluator gives {official!r}"]


def _prediction_errors(result: dict, location, cache_dir) -> list[str]:
    """Recompute every seed's metrics from its prediction files with the official evaluator."""
    from benchmark.data.loader import DatasetNotMaterialised
    from benchmark.evaluation.evaluator import PredictionError
    from benchmark.tasks import get_task

    try:
        reader = _PredictionReader(location)
    except (FileNotFoundError, zipfile.BadZipFile) as exc:
        return [str(exc)]
    ds = result["dataset"]
    try:  # the same task object `run` scored with: it holds the test labels
        task = get_task(result["protocol"], ds["family"], source=ds["source"], size=ds["size"],
                        source_domain=result["source_domain"], target_domain=result["target_domain"],
                        domains=None if result["protocol"] == "domain_shift" else result["domains"],
                        cache_dir=cache_dir)
    except (DatasetNotMaterialised, ValueError) as exc:
        return [f"cannot recompute the metrics: {exc}"]
    reasons = []
    for entry in result["per_seed"]:
        seed = entry["seed"]
        preds, problems = {}, []
        for d in result["domains"]:
            try:
                preds[d] = reader.read(seed, d)
            except (FileNotFoundError, ValueError) as exc:
                problems.append(f"seed {seed}: {exc}")
        if not problems:
            try:
                official = _json_normal(task.evaluate(preds))  # NaN stays NaN here
            except PredictionError as exc:
                problems.append(f"seed {seed}: predictions rejected by the evaluator: {exc}")
            else:
                problems = _differences(entry["per_domain"], official["per_domain"], f"seed {seed}: per_domain")
                if official["summary"] is not None:
                    problems += _differences(entry["summary"], official["summary"], f"seed {seed}: summary")
        if len(problems) > _MAX_REASONS_PER_SEED:
            problems = problems[:_MAX_REASONS_PER_SEED] + [
                f"seed {seed}: ... and {len(problems) - _MAX_REASONS_PER_SEED} more differences"]
        reasons += problems
    return reasons


def validate_submission(result_path: str | os.PathLike, predictions: str | os.PathLike | None = None,
                        cache_dir: str | os.PathLike | None = None) -> tuple[dict, bytes, list[str], bool]:
    """Run every check; return (result, file bytes, checks passed, metrics verified) or raise
    :class:`SubmissionError` with every reason."""
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
    checks = ["schema, finite values, consistency and aggregate"]
    if not reasons:
        checks.append(f"{len(seeds)} seeds")

    registry_reasons, spec = _registry_errors(result)
    reasons += registry_reasons
    if spec is not None and not registry_reasons:
        checks.append("family, source, domains and domain parameters known")
        data_reasons = _data_errors(result, cache_dir)
        reasons += data_reasons
        if not data_reasons:
            checks.append("test-split sha256 equal to this benchmark's data")

    verified = False
    if predictions is None and result.get("predictions") and (path.parent / "predictions").is_dir():
        predictions = path.parent / "predictions"
    if predictions is not None and spec is not None and not registry_reasons:
        pred_reasons = _prediction_errors(result, predictions, cache_dir)
        reasons += pred_reasons
        if not pred_reasons:
            verified = True
            checks.append(f"metrics recomputed from the predictions in {predictions} match "
                          f"(tolerance {METRIC_TOLERANCE})")
    if reasons:
        raise SubmissionError(path, reasons)
    return result, content, checks, verified


def submit(result_path: str | os.PathLike, predictions: str | os.PathLike | None = None,
           dry_run: bool = False, leaderboard_dir: str | os.PathLike | None = None,
           cache_dir: str | os.PathLike | None = None) -> SubmissionReport:
    """Validate a result file and (unless ``dry_run``) store it and regenerate the leaderboard.

    ``predictions``: folder (or ``.zip``) with ``seed<k>/<domain>.npz``; when omitted, the
    ``predictions/`` folder next to the result file is used if the result lists predictions.
    Raises :class:`SubmissionError` listing every reason when the file is refused.
    """
    from benchmark.data.writer import atomic_path
    from benchmark.leaderboard import default_leaderboard_dir, generate_leaderboard

    result, content, checks, verified = validate_submission(result_path, predictions, cache_dir)
    report = SubmissionReport(Path(result_path), checks, verified, dry_run)
    if dry_run:
        return report
    board = Path(leaderboard_dir) if leaderboard_dir is not None else default_leaderboard_dir()
    target = board / "submissions" / stored_name(result, content)
    report.stored_path = target
    if target.exists() and target.read_bytes() == content:
        report.already_present = True
    else:
        with atomic_path(target, suffix=".json") as tmp:
            tmp.write_bytes(content)
    report.pages = generate_leaderboard(board)
    return report
