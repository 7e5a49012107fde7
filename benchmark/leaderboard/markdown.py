"""``leaderboard/README.md``: Markdown tables (``tabulate``), every cell escaped."""
from __future__ import annotations

import html
import re
from urllib.parse import quote

from tabulate import tabulate

from benchmark.leaderboard.atlas import EXPLANATION as ATLAS_EXPLANATION, atlas_rows, is_atlas
from benchmark.leaderboard.grid import EXPLANATION, OTHER_SOURCES, GridView, build_grids, split_by_source
from benchmark.leaderboard.ranking import ranking_rules, Entry, Group

# ------------------------------------------------------------------------------------------- text

#: shown for an undefined value (e.g. agreement without paired events)
UNDEFINED = "–"


def _fmt(stat: tuple[float, float | None] | None, signed: bool = False) -> str:
    if stat is None:
        return UNDEFINED
    mean, std = stat
    text = f"{mean:+.4f}" if signed else f"{mean:.4f}"
    return text if std is None else f"{text} ± {std:.4f}"


#: the column of the source domain's background rejection (binary families only)
REJECTION = "1/εB at εS=0.5 (source)"


def _row(rank: str, e: Entry) -> dict[str, str]:
    """The displayed cells of one entry (plain text; escaping happens per output format)."""
    m = e.result["method"]
    worst = UNDEFINED if e.worst_domain is None else f"{e.worst_domain} ({e.per_domain[e.worst_domain][0]:.4f})"
    row = {"Rank": rank, "Method": m["name"], "Score": _fmt(e.stats["score"]), "Source domain": _fmt(e.stats["nominal"]),
           "Shifted mean": _fmt(e.stats["shifted"]), "Worst domain": worst, "Drop": _fmt(e.stats["drop"], True),
           "Agreement": _fmt(e.stats["agreement"]), "Seeds": str(len(e.result["seeds"])),
           "Framework": m["framework"], "Code": m["code_url"]}
    if e.result["protocol"] == "robustness":  # there the score is the shifted mean
        del row["Shifted mean"]
    if e.stats.get("rejection") is not None:  # right after the source-domain score it belongs to
        mean, std = e.stats["rejection"]
        cells = list(row.items())
        at = [k for k, _ in cells].index("Source domain") + 1
        cells.insert(at, (REJECTION, f"{mean:.1f}" + ("" if std is None else f" ± {std:.1f}")))
        row = dict(cells)
    return row


def _sort_value(col: str, e: Entry, rank: str) -> str:
    """``data-v`` of an HTML cell: the number behind it where there is one (for sorting)."""
    stat_cols = {"Score": "score", "Source domain": "nominal", "Shifted mean": "shifted", "Drop": "drop",
                 "Agreement": "agreement", REJECTION: "rejection"}
    if col in stat_cols:
        s = e.stats[stat_cols[col]]
        return "" if s is None else repr(s[0])
    if col == "Worst domain":
        return "" if e.worst_domain is None else repr(e.per_domain[e.worst_domain][0])
    if col == "Rank":
        return rank if rank.isdigit() else "999999"
    return _row(rank, e)[col]


def _safe_url(url: str) -> str | None:
    """The URL if it is a plain http(s) one (the schema's rule, re-checked before making a link)."""
    return url if re.match(r"^https?://[^\s<>\"'`]+$", url) else None


def markdown_url(url: str) -> str:
    """A URL safe inside a Markdown link in a table cell: characters with Markdown or table meaning
    (``|``, parentheses, brackets, ``*``, backslash, ...) percent-encoded (RFC 3986 section 2.1), which
    leaves the address unchanged."""
    return quote(url, safe="/:?#@!$&+,;=%~-._")


def _md(text: str) -> str:
    """Plain text for a Markdown table cell: HTML-escaped, no table or link syntax, one line."""
    text = html.escape(str(text), quote=False)
    for ch in "\\|[]`*_":
        text = text.replace(ch, "\\" + ch)
    return " ".join(text.split())


def _md_table(group: Group, entries: list[Entry], ranked: bool) -> str:
    rows = []
    for i, e in enumerate(entries, 1):
        r = _row(str(i) if ranked else group.unranked_label(e), e)
        url = _safe_url(r["Code"])
        r = {k: _md(v) for k, v in r.items()}
        r["Code"] = f"[code]({markdown_url(url)})" if url else UNDEFINED
        rows.append(r)
    return tabulate(rows, headers="keys", tablefmt="github", disable_numparse=True)


def _md_atlas(group: Group) -> list[str]:
    """The per-entry ATLAS tables of a ``jets/atlas_toptag`` group (none for other groups)."""
    if not is_atlas(group.entries[0].result):
        return []
    lines = ["#### ATLAS binned rejection and systematic uncertainties", "", _md(ATLAS_EXPLANATION), ""]
    for e in group.ranked + group.unranked:
        rows = atlas_rows(e.result)
        lines += [f"{_md(e.name)} ({_md(e.file)}):", ""]
        if rows is None:
            lines += ["no binned ATLAS values in this result.", ""]
        elif not rows:
            lines += ["no test jet in the ATLAS pT bins.", ""]
        else:
            lines += [tabulate([{k: _md(v) for k, v in r.items()} for r in rows], headers="keys",
                               tablefmt="github", disable_numparse=True), ""]
    return lines


def _md_group(g: Group) -> list[str]:
    lines = [f"### {_md(g.title)}", "", _md(g.data_line), ""]
    if g.ranked:
        lines += [_md_table(g, g.ranked, True), ""]
    if g.unranked:
        lines += ["Not ranked (non-standard entries):" if g.current else
                  "Not ranked (another data or evaluator version: not re-verifiable here):", "",
                  _md_table(g, g.unranked, False), ""]
    return lines + _md_atlas(g)


def _md_grid(grid: GridView) -> list[str]:
    headers, rows = grid.rows()
    return [f"### {_md(grid.title)}", "",
            f"{_md(grid.table['metric'])} (mean ± std over seeds) of the entries "
            + ", ".join(_md(f) for f in grid.files) + "; plot in `index.html`.", "",
            tabulate([[_md(c) for c in r] for r in rows], headers=[_md(h) for h in headers], tablefmt="github",
                     disable_numparse=True), ""]


def render_markdown(groups: list[Group]) -> str:
    lines = ["# SimShift leaderboard", "",
             "Generated by `python -m benchmark leaderboard` from the result files in `submissions/`; do not "
             "edit by hand. To add an entry, see [docs/CONTRIBUTING.md](../docs/CONTRIBUTING.md). "
             "Plots of the score per domain and versus each shift parameter are in `index.html`.", "",
             "## Ranking rules", "", ranking_rules()]
    if not groups:
        lines += ["No entries yet.", ""]
    ordinary, other_source = split_by_source([g for g in groups if g.current])
    if ordinary:
        lines += ["## Current benchmark", ""]
        for g in ordinary:
            lines += _md_group(g)
    if other_source:
        lines += [f"## {OTHER_SOURCES}", "", _md(EXPLANATION), ""]
        for grid in build_grids(groups):
            lines += _md_grid(grid)
        for g in other_source:
            lines += _md_group(g)
    old = [g for g in groups if not g.current]
    if old:
        lines += ["## Other data or evaluator versions", ""]
        for g in old:
            lines += _md_group(g)
    return "\n".join(lines).rstrip() + "\n"
