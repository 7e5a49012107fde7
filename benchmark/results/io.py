"""Result files: build, validate, write (atomically) and read.

A result file is plain JSON described by the published schema ``schema.json`` next to this module
(JSON Schema draft 2020-12), so it can be produced and checked from any language.  It is data
only: reading one never executes or unpickles anything.  NaN and infinity are refused, because
they are not JSON and would make seeds incomparable.
"""
from __future__ import annotations

import json
import math
import os
import platform
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.data.writer import atomic_path

FORMAT = "simshift-result/1"
SCHEMA_PATH = Path(__file__).with_name("schema.json")
#: result files larger than this are refused (a result holds metrics, not predictions)
MAX_RESULT_BYTES = 5 * 1024 * 1024


class ResultFileError(ValueError):
    """A result file (or a result about to be written) that breaks the contract.

    ``reasons`` lists every problem found, so all of them can be fixed in one go.
    """

    def __init__(self, path: str | os.PathLike | None, reasons: list[str]):
        self.path = None if path is None else Path(path)
        self.reasons = list(reasons)
        where = f"{self.path}: " if self.path else ""
        super().__init__(where + "invalid result file:\n" + "\n".join(f"  - {r}" for r in self.reasons))


@lru_cache(maxsize=None)
def _schema_for(protocols: tuple[str, ...]) -> dict:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    schema["properties"]["protocol"]["enum"] = list(protocols)
    return schema


def load_schema() -> dict:
    """The published JSON Schema of result files, its protocol list taken from the protocol registry."""
    from benchmark.protocols import protocol_names

    return _schema_for(tuple(protocol_names()))


def _validator():
    import jsonschema

    schema = load_schema()
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def _where(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _schema_message(error) -> str:
    """A readable one-line message for one schema violation."""
    where = _where(error.absolute_path)
    if list(error.absolute_path) == ["method", "name"] and error.validator == "pattern":
        return (f"method.name {error.instance!r} must not contain path separators ('/' or '\\') "
                "or control characters")
    if error.validator == "anyOf" and error.context:  # say what the closest branch wanted
        best = max(error.context, key=lambda e: len(e.absolute_path))
        return f"{_where(best.absolute_path)}: {best.message}"
    return f"{where}: {error.message}"


def schema_errors(result: Any) -> list[str]:
    """Every schema violation of ``result``, as readable messages (empty when valid)."""
    errors = sorted(_validator().iter_errors(result), key=lambda e: [str(p) for p in e.absolute_path])
    return [_schema_message(e) for e in errors]


def non_finite_paths(obj: Any, path: tuple = ()) -> list[str]:
    """Where ``obj`` holds NaN or +-inf (JSON cannot carry them; a result must not hold them)."""
    if isinstance(obj, float):
        return [] if math.isfinite(obj) else [_where(path)]
    if isinstance(obj, dict):
        return [p for k, v in obj.items() for p in non_finite_paths(v, (*path, k))]
    if isinstance(obj, (list, tuple)):
        return [p for i, v in enumerate(obj) for p in non_finite_paths(v, (*path, i))]
    return []


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _is_numeric_tree(x) -> bool:
    return _is_number(x) or (isinstance(x, list) and len(x) > 0 and all(_is_numeric_tree(v) for v in x))


def json_default(x):
    """numpy scalars/arrays -> JSON-native Python values."""
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    return x


def json_normal(obj):
    """``obj`` as it reads back from JSON (tuples -> lists, numpy -> Python numbers): the one conversion."""
    return json.loads(json.dumps(obj, default=json_default))


def _nan_to_none(obj):
    """NaN (an undefined metric, e.g. AUC on a one-class domain) -> ``None``, JSON's null."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_nan_to_none(v) for v in obj]
    return obj


def aggregate_over_seeds(values: list[Any]) -> Any:
    """Mean and sample std (ddof=1) over seeds of every numeric leaf of ``values``.

    ``values`` holds one entry per seed with the same structure (dicts of numbers, lists of numbers
    such as confusion matrices).  Numbers become ``{"mean", "std"}`` (``std`` is ``None`` with a
    single seed); dicts are aggregated key by key; strings (``worst_domain`` ...) and entries that are
    missing or ``None`` for some seed are left out, because they have no mean.
    """
    if all(isinstance(v, dict) for v in values):
        out = {}
        for key in values[0]:
            if all(key in v for v in values):
                sub = aggregate_over_seeds([v[key] for v in values])
                if sub is not None:
                    out[key] = sub
        return out or None
    if all(_is_numeric_tree(v) for v in values):
        try:
            arr = np.asarray(values, dtype=np.float64)
        except ValueError:  # ragged lists: no elementwise mean
            return None
        mean = arr.mean(axis=0)
        std = arr.std(axis=0, ddof=1) if len(values) > 1 else None
        return {"mean": json_default(mean), "std": None if std is None else json_default(std)}
    return None


def build_result(*, method: dict, dataset: dict, protocol: str, source_domain: str,
                 target_domain: str | None, domains: list[str], domain_parameters: dict,
                 seeds: list[int], per_seed: list[dict], hardware: dict, wall_time_s: float,
                 predictions: dict | None = None) -> dict:
    """Assemble a result dict (and compute its aggregate over seeds).

    ``per_seed[i]`` is what the evaluator returned for ``seeds[i]`` (``{"per_domain", "summary"}``,
    a ``"seed"`` key is optional but must agree); NaN there (an undefined metric) is stored as null,
    where the schema allows it (``auc``, ``rejection_at_*``, summary values).  The versions and the creation time are filled
    in here so that no caller can forget them.  Raises :class:`ResultFileError` if the result would
    not be a valid result file.
    """
    seeds = [int(s) for s in seeds]
    if len(per_seed) != len(seeds):
        raise ResultFileError(None, [f"{len(per_seed)} per-seed entries for {len(seeds)} seeds {seeds}"])
    entries = []
    for seed, entry in zip(seeds, per_seed):
        if "seed" in entry and int(entry["seed"]) != seed:
            raise ResultFileError(None, [f"per_seed entry for seed {entry['seed']} given at the place of seed {seed}"])
        entry = _nan_to_none(json_normal(entry))  # deep copy, numpy -> plain
        entries.append({"seed": seed, "per_domain": entry["per_domain"], "summary": entry.get("summary") or {}})
    result = {
        "format": FORMAT,
        "benchmark_version": benchmark_version(),
        "evaluator_version": evaluator_version(),
        "created": datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "dataset": dict(dataset),
        "protocol": protocol,
        "source_domain": source_domain,
        "target_domain": target_domain,
        "domains": list(domains),
        "method": dict(method),
        "seeds": seeds,
        "per_seed": entries,
        "aggregate": compute_aggregate(entries),
        "domain_parameters": {d: dict(domain_parameters.get(d, {})) for d in domains},
        "hardware": dict(hardware),
        "wall_time_s": float(wall_time_s),
        "predictions": predictions,
    }
    result = json_normal(result)
    check_result(result)
    return result


def compute_aggregate(per_seed: list[dict]) -> dict:
    """The ``aggregate`` block of a result: statistics over seeds of per-domain metrics and summary."""
    return {
        "per_domain": aggregate_over_seeds([e["per_domain"] for e in per_seed]) or {},
        "summary": aggregate_over_seeds([e["summary"] for e in per_seed]) or {},
    }


def consistency_errors(result: dict) -> list[str]:
    """Contract rules the schema cannot express (cross-field consistency)."""
    errors = []
    domains = result["domains"]
    seeds = result["seeds"]
    if [e["seed"] for e in result["per_seed"]] != seeds:
        errors.append(f"per_seed seeds {[e['seed'] for e in result['per_seed']]} differ from seeds {seeds}")
    from benchmark.protocols import get_protocol

    errors += get_protocol(result["protocol"]).result_errors(result)
    for name, block in (("dataset.test_sha256", result["dataset"]["test_sha256"]),
                        ("domain_parameters", result["domain_parameters"])):
        if sorted(block) != sorted(domains):
            errors.append(f"{name} must have exactly the scored domains {domains}, has {sorted(block)}")
    for entry in result["per_seed"]:
        if sorted(entry["per_domain"]) != sorted(domains):
            errors.append(f"per_seed seed {entry['seed']}: per_domain must have exactly the scored domains "
                          f"{domains}, has {sorted(entry['per_domain'])}")
    errors += text_errors(result["method"])
    if not errors:
        errors += derived_errors(result)
    if not errors and not _close(result["aggregate"], compute_aggregate(result["per_seed"]), 1e-9):
        errors.append("aggregate does not match the per-seed values (it must be the mean and std "
                      "(ddof=1) over seeds; rebuild it with benchmark.results.build_result)")
    if result.get("predictions"):
        for key, files in result["predictions"].items():
            for domain, rel in files.items():
                if rel != prediction_relpath(key.removeprefix("seed"), domain):
                    errors.append(f"predictions.{key}.{domain} is {rel!r}, expected "
                                  f"{prediction_relpath(key.removeprefix('seed'), domain)!r}")
    return errors


#: characters refused in shown text: C0/C1 controls, bidi overrides and isolates, zero-width and other
#: format characters, line/paragraph separators, surrogates, private use, unassigned (Unicode general
#: categories Cc, Cf, Cs, Co, Cn, Zl, Zp: https://www.unicode.org/reports/tr44/#General_Category_Values)
_HIDDEN_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
#: what the official evaluator reports per domain (benchmark.evaluation.metrics.classification_metrics)
METRIC_KEYS = frozenset({"accuracy", "auc", "rejection_at_30", "rejection_at_50", "confusion_matrix", "n_events",
                         "sum_of_weights"})


def hidden_characters(text: str, allow: str = "") -> list[str]:
    """The characters of ``text`` that are not visibly printable (as ``U+XXXX NAME``), except ``allow``."""
    import unicodedata

    bad = sorted({ch for ch in text if ch not in allow and unicodedata.category(ch) in _HIDDEN_CATEGORIES})
    return [f"U+{ord(ch):04X} {unicodedata.name(ch, unicodedata.category(ch))}" for ch in bad]


def text_errors(method: dict) -> list[str]:
    """Shown text must be printable: no controls, bidi, zero-width or other invisible characters."""
    errors = []
    for key, allow in (("name", ""), ("framework", ""), ("description", "\n\t")):
        bad = hidden_characters(method.get(key, ""), allow)
        if bad:
            errors.append(f"method.{key}: only printable characters are allowed; found {', '.join(bad)}")
    return errors


def derived_errors(result: dict) -> list[str]:
    """Values that follow from others must agree with them: n_events and accuracy with the confusion
    matrix, n_events across seeds, the summary with per_domain."""
    from benchmark.evaluation.metrics import robustness_summary

    errors = []
    for entry in result["per_seed"]:
        for d, m in entry["per_domain"].items():
            unknown = sorted(set(m) - METRIC_KEYS)
            if unknown:
                errors.append(f"per_seed seed {entry['seed']}: per_domain.{d} has {unknown}, which the official "
                              f"evaluator does not produce (known: {', '.join(sorted(METRIC_KEYS))})")
    if errors:
        return errors
    n_first = {d: m["n_events"] for d, m in result["per_seed"][0]["per_domain"].items()}
    for entry in result["per_seed"]:
        where = f"per_seed seed {entry['seed']}"
        for d, m in entry["per_domain"].items():
            if m["n_events"] != n_first[d]:
                errors.append(f"{where}: per_domain.{d}.n_events = {m['n_events']}, but {n_first[d]} for seed "
                              f"{result['per_seed'][0]['seed']}: every seed is scored on the same test split")
            cm = m.get("confusion_matrix")
            if cm is None:
                continue
            arr = np.asarray(cm, dtype=np.int64) if all(isinstance(r, list) for r in cm) else None
            if arr is None or arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
                errors.append(f"{where}: per_domain.{d}.confusion_matrix must be square (classes x classes)")
                continue
            if int(arr.sum()) != m["n_events"]:
                errors.append(f"{where}: per_domain.{d}.confusion_matrix counts {int(arr.sum())} events, "
                              f"n_events says {m['n_events']}")
            elif "sum_of_weights" not in m and abs(np.trace(arr) / arr.sum() - m["accuracy"]) > 1e-9:
                errors.append(f"{where}: per_domain.{d}.accuracy = {m['accuracy']} but its confusion matrix gives "
                              f"{np.trace(arr) / arr.sum():.10g}")
        summary = entry["summary"]
        metric = summary.get("metric")
        if metric is None:
            errors.append(f"{where}: summary.metric is missing (the robustness summary is required)")
            continue
        values = {d: m.get(metric) for d, m in entry["per_domain"].items()}
        lacking = sorted(d for d, v in values.items() if not _is_number(v))
        if lacking or result["source_domain"] not in values:
            errors.append(f"{where}: summary.metric {metric!r} has no value in per_domain for "
                          f"{lacking or 'the source'}")
            continue
        paired = summary.get("agreement_per_domain") or {}
        stray = sorted(set(paired) - (set(values) - {result["source_domain"]}))
        if stray:
            errors.append(f"{where}: summary.agreement_per_domain names {stray}, not shifted scored domains")
            continue
        expected = robustness_summary(entry["per_domain"], metric, result["source_domain"], paired)
        for key, value in expected.items():
            if not _close(summary.get(key), value, 1e-9):
                errors.append(f"{where}: summary.{key} = {summary.get(key)!r}, but per_domain gives {value!r}")
    return errors


def _close(a, b, tol: float) -> bool:
    """Recursive comparison of JSON values; numbers within ``tol`` (absolute)."""
    if _is_number(a) and _is_number(b):
        return abs(a - b) <= tol
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k], tol) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y, tol) for x, y in zip(a, b))
    return a == b


def check_result(result: Any, path=None) -> None:
    """Raise :class:`ResultFileError` listing every reason ``result`` is not a valid result file."""
    errors = [f"{p}: NaN or infinity is not allowed" for p in non_finite_paths(result)]
    errors += schema_errors(result)
    if not errors:
        errors += consistency_errors(result)
    if errors:
        raise ResultFileError(path, errors)


def prediction_relpath(seed: int | str, domain: str) -> str:
    """Where ``run`` writes the predictions of one seed and domain, relative to the result file
    (write them with :func:`benchmark.evaluation.evaluator.save_predictions`)."""
    return f"predictions/seed{seed}/{domain}.npz"


def dumps_result(result: dict) -> str:
    """The text of a result file (keys in contract order, which reads better than sorted)."""
    return json.dumps(result, indent=1, allow_nan=False, ensure_ascii=False) + "\n"


def write_result(path: str | os.PathLike, result: dict) -> Path:
    """Validate ``result`` and write it to ``path`` atomically (temp file + ``os.replace``)."""
    path = Path(path)
    check_result(result, path)
    text = dumps_result(result).encode("utf-8")
    if len(text) > MAX_RESULT_BYTES:
        raise ResultFileError(path, [f"the result is {len(text)} bytes, more than the {MAX_RESULT_BYTES} "
                                     "allowed; keep predictions in the prediction files"])
    with atomic_path(path, suffix=".json") as tmp:
        tmp.write_bytes(text)
    return path


def parse_result_bytes(data: bytes, path=None) -> dict:
    """Parse result-file bytes strictly: UTF-8 JSON, no NaN/Infinity constants, size limit."""
    if len(data) > MAX_RESULT_BYTES:
        raise ResultFileError(path, [f"file is {len(data)} bytes, more than the {MAX_RESULT_BYTES} allowed "
                                     "(a result file holds metrics; predictions go in .npz files)"])
    try:  # NaN/Infinity parse to floats here; check_result then reports where they are
        obj = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ResultFileError(path, [f"not UTF-8 text: {exc}"]) from None
    except json.JSONDecodeError as exc:
        raise ResultFileError(path, [f"not valid JSON: {exc}"]) from None
    return obj


def load_result(path: str | os.PathLike) -> dict:
    """Read and validate a result file (raises :class:`ResultFileError` with every reason)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"result file {path} does not exist")
    if path.stat().st_size > MAX_RESULT_BYTES:
        raise ResultFileError(path, [f"file is {path.stat().st_size} bytes, more than the "
                                     f"{MAX_RESULT_BYTES} allowed"])
    result = parse_result_bytes(path.read_bytes(), path)
    check_result(result, path)
    return result


def benchmark_version() -> str:
    """The installed benchmark package's version (recorded in every result)."""
    import benchmark

    return str(getattr(benchmark, "__version__", None) or _dist_version() or "unknown")


def _dist_version() -> str | None:
    from importlib import metadata

    for dist in ("simshift", "benchmark"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def evaluator_version() -> str:
    """``benchmark.evaluation.EVALUATOR_VERSION``: changes only when scores would change, so a package
    release does not move entries out of the current tables."""
    from benchmark.evaluation.evaluator import EVALUATOR_VERSION

    return EVALUATOR_VERSION


def describe_hardware(device: str = "cpu") -> dict:
    """``hardware`` block for a result: CPU model, GPU name (when ``device`` is CUDA) and torch version."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {"cpu": f"{cpu} ({os.cpu_count()} logical cores)", "gpu": None, "torch": None}
    try:
        import torch
    except ImportError:
        return info
    info["torch"] = torch.__version__
    if str(device).startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info
