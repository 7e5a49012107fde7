"""The leaderboard's grid view: a method's entries trained on several source domains of a grid study.

The cube study (arXiv:2502.07724) trains at each crosstalk fraction f = 0, 0.25, 0.5, 0.75, 1 and tests
across f = 0 to 1; ``python -m benchmark study crosstalk-grid`` writes one ordinary result file per
training domain (:mod:`benchmark.studies.crosstalk_grid`).  On the leaderboard each of those files is
an entry of the table of its own source domain (entries trained on different data are never ranked
together: rule 1).  Where one method has ranked entries at two or more of a grid's training domains,
this module puts them together again: the accuracy per training f (rows) and test f (columns) and the
study's plot, computed by the study's own :func:`~benchmark.studies.grids.grid_table` from the
verified per-seed metrics.
"""
from __future__ import annotations

from dataclasses import dataclass
from hashlib import sha256

from benchmark.leaderboard.ranking import Entry, Group
from benchmark.studies.grids import GRIDS, grid_rows, grid_table, scan_points

#: the heading of the section of grids and of tables trained on another source domain
OTHER_SOURCES = "Trained on other source domains (grids)"
#: under that heading in both pages
EXPLANATION = ("A method with entries trained on several source domains of a grid study (the cube study's "
               "crosstalk grid, arXiv:2502.07724, made by python -m benchmark study crosstalk-grid): rows are the "
               "training value, columns the test value, cells the primary metric as mean ± std over seeds, "
               "from the verified entries of each source domain's table. Each training domain is ranked only "
               "against entries trained on the same domain (tables below); the nominal row is the entry of "
               "the ordinary nominal table.")


@dataclass
class GridView:
    """One method's grid: its ranked entry per training domain and the study's table of them."""

    key: tuple            # (family, source, protocol, size, data version, evaluator, test data, method)
    entries: dict[str, Entry]
    table: dict

    @property
    def title(self) -> str:
        family, source, protocol, *_, method = self.key
        return f"{family} · {source} · {protocol} · {method}: {self.table['parameter']} grid"

    @property
    def anchor(self) -> str:
        return "g-" + sha256(repr(self.key).encode()).hexdigest()[:10]

    def rows(self) -> tuple[list[str], list[list[str]]]:
        """The grid as text (the study's own rows: test values at multiples of 0.25)."""
        return grid_rows(self.table)

    @property
    def files(self) -> list[str]:
        return [self.entries[d].file for d in sorted(self.entries, key=lambda d: self.table["curves"][d]["training_f"])]


def build_grids(groups: list[Group]) -> list[GridView]:
    """The grid of every method with ranked entries at two or more training domains of a grid study.

    Only current tables count (an entry of another data or evaluator version is not verifiable here);
    entries of one grid share everything in the table key but the source domain, and score every
    scan domain.  Where a method has two ranked entries for one training domain, the better ranked one
    is used."""
    collected: dict[tuple, dict[str, Entry]] = {}
    for g in groups:
        family, source, protocol, src_dom, target, size, version, ev, data_hash = g.key
        grid = GRIDS.get(family)
        if not g.current or grid is None or target or src_dom not in grid["training_domains"]:
            continue
        for e in g.ranked:
            key = (family, source, protocol, size, version, ev, data_hash, e.name)
            collected.setdefault(key, {}).setdefault(src_dom, e)
    out = []
    for key, entries in sorted(collected.items()):
        if len(entries) < 2:
            continue
        family, source = key[0], key[1]
        grid = GRIDS[family]
        scan = [d for d, _ in scan_points(family, source, grid["parameter"], grid["prefix"])]
        entries = {d: e for d, e in entries.items() if set(scan) <= set(e.result["domains"])}
        if len(entries) < 2 or not scan:  # the grid needs the whole scan from each training domain
            continue
        metric = next(iter(entries.values())).metric
        table = grid_table({d: e.result for d, e in entries.items()}, metric, family, grid["parameter"],
                           grid["prefix"], source)
        out.append(GridView(key, entries, table))
    return out


def split_by_source(groups: list[Group]) -> tuple[list[Group], list[Group]]:
    """Current tables split into those of the ordinary benchmark (source domain ``nominal``, which
    ``domain_shift`` tables share) and those trained on another source domain, shown with the grids."""
    ordinary = [g for g in groups if g.key[3] == "nominal"]
    return ordinary, [g for g in groups if g.key[3] != "nominal"]
