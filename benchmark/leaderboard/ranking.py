"""Ranking: which entries share a table, the score of an entry, and the order (rules in
:data:`RANKING_RULES`, implemented by ``_score_per_seed``, ``_rank_key`` and ``_group_key``)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from hashlib import sha256

import numpy as np

from benchmark.results.io import evaluator_version

#: written into README.md and index.html; implemented by ``_score_per_seed``, ``_rank_key`` and
#: ``_group_key`` below.  Keep the text and the code in step.
RANKING_RULES = """\
0. Every entry is a verified claim: it carries its predictions, and its metrics are recomputed from
   them and the test labels by the official evaluator when it is submitted and again in CI.  A
   result without predictions is refused.
1. Entries are compared only within one table: same dataset family, source, data (generator or
   record version, size preset, and the exact test data: the sha256 of every scored domain's test
   split, hence also the same set of scored domains), protocol, source domain, target domain
   (`domain_shift`) and evaluator version.  Entries computed on another data version or with another
   evaluator version cannot be re-verified by this benchmark: they are listed, not ranked, in separate
   tables under "Other data or evaluator versions", never mixed with the current ones.
2. The score of a table is the family's primary metric (`accuracy` for `ndlar` and `sfgd`, `auc` for
   `jets`), higher is better:
   - `robustness`: mean over the shifted domains (every scored domain except the source domain);
   - `domain_shift`: on the target domain;
   - `linear_probe`: mean over all scored domains.
   It is computed for each seed, then reported as mean ± sample standard deviation (ddof = 1) over
   the seeds (at least 3).
3. Rank by the mean score (higher first); ties are broken by the smaller drop (score on the source
   domain minus the mean over the shifted domains), then by method name.
4. Only standard entries are ranked (no test labels used; no target-domain labels, and no target
   data outside `domain_shift`).  Other entries are listed below the table, marked "not ranked".
"""

# ----------------------------------------------------------------------------------------- scoring

def _mean_std(values: list[float]) -> tuple[float, float | None]:
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.mean()), (float(arr.std(ddof=1)) if len(arr) > 1 else None)


def _primary_metric(result: dict) -> str:
    """The family's primary metric; the one the result's own summary names if the family is unknown here."""
    from benchmark.data.registry import UnknownNameError, get_family

    try:
        return get_family(result["dataset"]["family"]).primary_metric
    except (UnknownNameError, ImportError):
        return result["per_seed"][0]["summary"].get("metric", "accuracy")


def _score_per_seed(result: dict, metric: str) -> dict[str, list[float | None]]:
    """Per seed: the ranked score, the source-domain value, the shifted mean and the drop."""
    source, domains = result["source_domain"], result["domains"]
    shifted = [d for d in domains if d != source]
    out = {"score": [], "nominal": [], "shifted": [], "drop": [], "agreement": []}
    for entry in result["per_seed"]:
        v = {d: entry["per_domain"][d][metric] for d in domains}
        nominal = v.get(source)
        shifted_mean = float(np.mean([v[d] for d in shifted])) if shifted else None
        if result["protocol"] == "domain_shift":
            score = v[result["target_domain"]]
        elif result["protocol"] == "linear_probe":
            score = float(np.mean(list(v.values())))
        else:
            score = shifted_mean if shifted_mean is not None else nominal
        out["score"].append(score)
        out["nominal"].append(nominal)
        out["shifted"].append(shifted_mean)
        out["drop"].append(None if nominal is None or shifted_mean is None else nominal - shifted_mean)
        out["agreement"].append(entry["summary"].get("agreement"))
    return out


@dataclass
class Entry:
    """One submission as shown on the leaderboard."""

    file: str
    result: dict
    metric: str
    stats: dict[str, tuple[float, float | None] | None]  # mean, std over seeds
    per_domain: dict[str, tuple[float, float | None]]
    worst_domain: str | None

    @property
    def name(self) -> str:
        return self.result["method"]["name"]

    @property
    def standard(self) -> bool:
        return bool(self.result["method"]["standard"])


def make_entry(file: str, result: dict) -> Entry:
    metric = _primary_metric(result)
    seeds = _score_per_seed(result, metric)
    stats = {k: (_mean_std(v) if all(x is not None for x in v) else None) for k, v in seeds.items()}
    per_domain = {d: _mean_std([e["per_domain"][d][metric] for e in result["per_seed"]]) for d in result["domains"]}
    candidates = [d for d in result["domains"] if d != result["source_domain"]] or list(result["domains"])
    worst = min(sorted(candidates), key=lambda d: per_domain[d][0]) if candidates else None
    return Entry(file, result, metric, stats, per_domain, worst)


def _rank_key(e: Entry):
    drop = e.stats["drop"][0] if e.stats["drop"] else math.inf
    return (-e.stats["score"][0], drop, e.name.casefold(), e.name, e.file)


def _data_hash(result: dict) -> str:
    """Short hash naming the exact scored test data (domain set and their test-split digests)."""
    pairs = sorted(result["dataset"]["test_sha256"].items())
    return sha256("".join(f"{d}:{h}\n" for d, h in pairs).encode()).hexdigest()[:12]


def _group_key(result: dict) -> tuple:
    ds = result["dataset"]
    return (ds["family"], ds["source"], result["protocol"], result["source_domain"], result["target_domain"] or "",
            ds["size"], ds["version"], result["evaluator_version"], _data_hash(result))


def _current_data_version(family: str, source: str) -> str | None:
    """The data version this benchmark produces now (generator/fetcher ``version``), if it can tell."""
    from benchmark.data.registry import UnknownNameError, get_family

    try:
        src = get_family(family).source(source)
    except (UnknownNameError, ImportError):
        return None
    maker = src.make_generator or src.make_fetcher
    version = getattr(maker, "version", None)
    return None if version is None else str(version)


@dataclass
class Group:
    key: tuple
    entries: list[Entry]
    current: bool

    @property
    def ranked(self) -> list[Entry]:
        """Standard entries of the current benchmark, best first (others are never ranked)."""
        return sorted((e for e in self.entries if e.standard), key=_rank_key) if self.current else []

    @property
    def unranked(self) -> list[Entry]:
        """Listed below (or, for another version, instead of) the ranking, in ranking order."""
        return sorted((e for e in self.entries if not (self.current and e.standard)), key=_rank_key)

    def unranked_label(self, e: Entry) -> str:
        return "not ranked" if self.current else "other version"

    @property
    def title(self) -> str:
        family, source, protocol, src_dom, target, *_ = self.key
        text = f"{family} · {source} · {protocol}"
        if protocol == "domain_shift":
            text += f" · {src_dom} → {target}"
        elif src_dom != "nominal":
            text += f" · source domain {src_dom}"
        return text

    @property
    def anchor(self) -> str:
        return "t-" + sha256(repr(self.key).encode()).hexdigest()[:10]

    @property
    def data_line(self) -> str:
        _, _, protocol, _, target, size, version, ev, data_hash = self.key
        first = self.entries[0]
        scored = first.result["domains"]
        what = {"robustness": "mean over the shifted domains", "domain_shift": f"on {target}",
                "linear_probe": "mean over all scored domains"}[protocol]
        return (f"Data version {version}, size {size}, {len(scored)} scored domains, test data {data_hash}; "
                f"evaluator {ev}. Score: {first.metric}, {what}.")


def build_groups(entries: list[Entry]) -> list[Group]:
    groups: dict[tuple, list[Entry]] = {}
    for e in entries:
        groups.setdefault(_group_key(e.result), []).append(e)
    current_eval = evaluator_version()
    out = []
    for key, members in groups.items():
        family, source, *_, version, ev, _h = key
        data_now = _current_data_version(family, source)
        current = ev == current_eval and (data_now is None or data_now == version)
        out.append(Group(key, members, current))
    return sorted(out, key=lambda g: (not g.current, g.key))


