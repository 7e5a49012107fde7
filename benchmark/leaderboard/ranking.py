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
_RULES_TEMPLATE = """\
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
{protocol_rules}
   It is computed for each seed, then reported as mean ± sample standard deviation (ddof = 1) over
   the seeds (at least 3).
3. Rank by the mean score (higher first); ties are broken by the smaller drop (score on the source
   domain minus the mean over the shifted domains), then by method name.
4. Only standard entries are ranked (no test labels used; no target-domain labels, and no target
   data outside `domain_shift`).  Other entries are listed below the table, marked "not ranked".
5. The ordinary benchmark trains on `nominal`.  Entries trained on another source domain (the
   cube study's crosstalk grid trains at each crosstalk fraction) are ranked by the same rules, but
   only against entries trained on that domain, in a section of their own after the current
   benchmark: their scores measure a different task (the shifts are relative to another domain) and
   are never mixed into the nominal tables.  A method with ranked entries at two or more training
   domains of a grid study is also shown as its grid: the score per training and test value.
"""



def ranking_rules() -> str:
    """The ranking rules with one line per registered protocol (its ``score_rule``)."""
    from benchmark.protocols import get_protocol, protocol_names

    lines = [f"   - {get_protocol(p).score_rule}" for p in protocol_names()]
    return _RULES_TEMPLATE.replace("{protocol_rules}", ";\n".join(lines) + ".")


RANKING_RULES = ranking_rules()

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
    """Per seed: the ranked score (the protocol's :meth:`~benchmark.protocols.Protocol.headline`) and the
    summary values, read from the verified per-seed summaries the evaluator computed: never re-derived."""
    from benchmark.protocols import get_protocol

    protocol = get_protocol(result["protocol"])
    out = {"score": [], "nominal": [], "shifted": [], "drop": [], "agreement": [], "worst": [], "rejection": []}
    for entry in result["per_seed"]:
        s = entry["summary"]
        # binary families: background rejection 1/eps_B at eps_S = 0.5 on the source domain (JetCLR's figure)
        out["rejection"].append(entry["per_domain"].get(result["source_domain"], {}).get("rejection_at_50"))
        out["score"].append(protocol.headline(entry, result))
        out["nominal"].append(s.get("nominal"))
        out["shifted"].append(s.get("mean_shifted") if len(result["domains"]) > 1 else None)
        out["drop"].append(s.get("drop") if len(result["domains"]) > 1 else None)
        out["agreement"].append(s.get("agreement"))
        out["worst"].append(s.get("worst"))
    return out


def _worst_domain(result: dict) -> str | None:
    """The per-seed summaries' worst domain (the most frequent one where seeds disagree)."""
    names = [e["summary"].get("worst_domain") for e in result["per_seed"] if e["summary"].get("worst_domain")]
    if not names or len(result["domains"]) < 2:
        return None
    return max(sorted(set(names)), key=names.count)


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
    return Entry(file, result, metric, stats, per_domain, _worst_domain(result))


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
        family, source, protocol, src_dom, target, size, *_ = self.key
        text = f"{family} · {source} · {protocol}"
        if protocol == "domain_shift":
            text += f" · {src_dom} → {target}"
        elif src_dom != "nominal":
            text += f" · source domain {src_dom}"
        if size != "default":  # a larger preset is its own table: keep its title apart from the default's
            text += f" · size {size}"
        return text

    @property
    def anchor(self) -> str:
        return "t-" + sha256(repr(self.key).encode()).hexdigest()[:10]

    @property
    def data_line(self) -> str:
        _, _, protocol, _, target, size, version, ev, data_hash = self.key
        first = self.entries[0]
        scored = first.result["domains"]
        from benchmark.protocols import get_protocol

        what = get_protocol(protocol).score_rule.split(": ", 1)[-1].replace("the target domain", target)
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


