"""Generate the leaderboard pages from the validated result files in ``leaderboard/submissions/``.

Outputs (both generated, never edited by hand):

* ``leaderboard/README.md``: one Markdown table (``tabulate``) per comparable group of entries;
* ``leaderboard/index.html``: the same tables (sortable by clicking a header) plus plots, made with
  matplotlib and embedded as inline SVG, of the primary metric per domain and versus each shift
  parameter.  Self-contained: no external scripts, styles or fonts.

Regeneration is deterministic: the same submissions give byte-identical pages (files are read in
sorted order, nothing depends on the current time, SVG ids are salted with fixed strings and carry
no date).  Every string taken from a submission is HTML-escaped.
"""
from __future__ import annotations

import html
import io
import math
import os
import re
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path

import numpy as np
from tabulate import tabulate

from benchmark.results.io import ResultFileError, evaluator_version, load_result

#: written into README.md and index.html; implemented by ``_score_per_seed``, ``_rank_key`` and
#: ``_group_key`` below.  Keep the text and the code in step.
RANKING_RULES = """\
1. Entries are compared only within one table: same dataset family, source, data (generator or
   record version, size preset, and the exact test data: the sha256 of every scored domain's test
   split, hence also the same set of scored domains), protocol, source domain, target domain
   (`domain_shift`) and evaluator version.  Entries computed on another data version or with another
   evaluator version are listed in separate tables under "Other data or evaluator versions"; they
   are never mixed with the current ones.
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

PLOT_RC = {"svg.fonttype": "path", "text.parse_math": False, "axes.grid": True, "grid.alpha": 0.3,
           "font.size": 9}
MAX_PARAMETER_PLOTS = 6
MAX_PLOTTED_METHODS = 10


def default_leaderboard_dir() -> Path:
    """``leaderboard/`` of the source checkout this package runs from, else of the working folder."""
    repo = Path(__file__).resolve().parent.parent
    if (repo / "leaderboard" / "submissions").is_dir():
        return repo / "leaderboard"
    return Path.cwd() / "leaderboard"


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
        return sorted((e for e in self.entries if e.standard), key=_rank_key)

    @property
    def unranked(self) -> list[Entry]:
        return sorted((e for e in self.entries if not e.standard), key=_rank_key)

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


def load_submissions(leaderboard_dir: str | os.PathLike) -> list[Entry]:
    """Every ``submissions/*.json`` (sorted by name), checked again; one error lists every bad file.

    Besides the result-file checks, a stored file must have the name ``submit`` gives it and at
    least the minimum number of seeds, so a file added by hand in a pull request is caught here.
    """
    from benchmark.results.submit import MIN_SEEDS, stored_name

    folder = Path(leaderboard_dir) / "submissions"
    entries, bad = [], []
    for path in sorted(folder.glob("*.json")):
        try:
            result = load_result(path)
        except ResultFileError as exc:
            bad.append(str(exc))
            continue
        expected = stored_name(result, path.read_bytes())
        if path.name != expected:
            bad.append(f"{path}: must be named {expected} (add files with `python -m benchmark submit`)")
        elif len(result["seeds"]) < MIN_SEEDS:
            bad.append(f"{path}: {len(result['seeds'])} seeds, a leaderboard entry needs at least {MIN_SEEDS}")
        else:
            entries.append(make_entry(path.name, result))
    if bad:
        raise ResultFileError(folder, ["invalid stored submission(s); files there must come through "
                                       "`python -m benchmark submit` (remove or resubmit them):", *bad])
    return entries


# ------------------------------------------------------------------------------------------- text

def _fmt(stat: tuple[float, float | None] | None, signed: bool = False) -> str:
    if stat is None:
        return "—"
    mean, std = stat
    text = f"{mean:+.4f}" if signed else f"{mean:.4f}"
    return text if std is None else f"{text} ± {std:.4f}"


def _row(rank: str, e: Entry) -> dict[str, str]:
    """The displayed cells of one entry (plain text; escaping happens per output format)."""
    m = e.result["method"]
    worst = "—" if e.worst_domain is None else f"{e.worst_domain} ({e.per_domain[e.worst_domain][0]:.4f})"
    row = {"Rank": rank, "Method": m["name"], "Score": _fmt(e.stats["score"]), "Source domain": _fmt(e.stats["nominal"]),
           "Shifted mean": _fmt(e.stats["shifted"]), "Worst domain": worst, "Drop": _fmt(e.stats["drop"], True),
           "Agreement": _fmt(e.stats["agreement"]), "Seeds": str(len(e.result["seeds"])),
           "Framework": m["framework"], "Code": m["code_url"]}
    if e.result["protocol"] == "robustness":  # there the score is the shifted mean
        del row["Shifted mean"]
    return row


def _sort_value(col: str, e: Entry, rank: str) -> str:
    """``data-v`` of an HTML cell: the number behind it where there is one (for sorting)."""
    stat_cols = {"Score": "score", "Source domain": "nominal", "Shifted mean": "shifted", "Drop": "drop",
                 "Agreement": "agreement"}
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


def _md(text: str) -> str:
    """Plain text for a Markdown table cell: HTML-escaped, no table or link syntax, one line."""
    text = html.escape(str(text), quote=False)
    for ch in "\\|[]`*_":
        text = text.replace(ch, "\\" + ch)
    return " ".join(text.split())


def _md_table(group: Group, entries: list[Entry], ranked: bool) -> str:
    rows = []
    for i, e in enumerate(entries, 1):
        r = _row(str(i) if ranked else "not ranked", e)
        url = _safe_url(r["Code"])
        r = {k: _md(v) for k, v in r.items()}
        r["Code"] = f"[code]({url.replace(')', '%29').replace(' ', '%20')})" if url else "—"
        rows.append(r)
    return tabulate(rows, headers="keys", tablefmt="github", disable_numparse=True)


def render_markdown(groups: list[Group]) -> str:
    lines = ["# SimShift leaderboard", "",
             "Generated by `python -m benchmark leaderboard` from the result files in `submissions/`; do not "
             "edit by hand. To add an entry, see [docs/CONTRIBUTING.md](../docs/CONTRIBUTING.md). "
             "Plots of the score per domain and versus each shift parameter are in `index.html`.", "",
             "## Ranking rules", "", RANKING_RULES]
    if not groups:
        lines += ["No entries yet.", ""]
    for current in (True, False):
        chosen = [g for g in groups if g.current == current]
        if not chosen:
            continue
        lines += ["## Current benchmark" if current else "## Other data or evaluator versions", ""]
        for g in chosen:
            lines += [f"### {_md(g.title)}", "", _md(g.data_line), ""]
            if g.ranked:
                lines += [_md_table(g, g.ranked, True), ""]
            if g.unranked:
                lines += ["Not ranked (non-standard entries):", "", _md_table(g, g.unranked, False), ""]
    return "\n".join(lines).rstrip() + "\n"


# ------------------------------------------------------------------------------------------ plots

def _svg(fig, salt: str) -> str:
    """A matplotlib figure as inline SVG markup, byte-identical for identical input."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({**PLOT_RC, "svg.hashsalt": salt}):
        fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _label(name: str) -> str:
    return name if len(name) <= 40 else name[:39] + "…"


def domain_bar_plot(group: Group, entries: list[Entry]) -> str:
    """Primary metric per scored domain (mean, error bar = std over seeds), one bar per method."""
    import matplotlib
    from matplotlib.figure import Figure

    domains = list(entries[0].result["domains"])
    with matplotlib.rc_context(PLOT_RC):
        fig = Figure(figsize=(min(12.0, 3.0 + 0.45 * len(domains) * max(1, len(entries)) ** 0.5), 3.4))
        ax = fig.add_subplot()
        width = 0.8 / len(entries)
        x = np.arange(len(domains))
        for i, e in enumerate(entries):
            means = [e.per_domain[d][0] for d in domains]
            stds = [e.per_domain[d][1] or 0.0 for d in domains]
            ax.bar(x + (i - (len(entries) - 1) / 2) * width, means, width, yerr=stds, capsize=2,
                   label=_label(e.name))
        ax.set_xticks(x, domains, rotation=45 if len(domains) > 4 else 0, ha="right" if len(domains) > 4 else "center")
        ax.set_ylabel(entries[0].metric)
        if entries[0].metric in ("accuracy", "auc"):  # bounded metrics: zoom on the range in use
            lo = min(e.per_domain[d][0] for e in entries for d in domains)
            ax.set_ylim(max(0.0, lo - 0.1), 1.0)
        ax.set_title(f"{entries[0].metric} per domain")
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18 if len(domains) <= 4 else -0.35),
                  ncols=2, frameon=False)
        return _svg(fig, f"{group.anchor}-bars")


def parameter_curves(result: dict) -> dict[str, list[str]]:
    """For each shift parameter: the scored domains that differ from the source domain only in it
    (plus the source domain), so the metric can be plotted against that parameter's value.

    A domain lists the parameters it sets; one it does not list keeps the source domain's value."""
    params = result["domain_parameters"]
    src = params.get(result["source_domain"], {})
    curves: dict[str, list[str]] = {}
    for d in result["domains"]:
        p = params.get(d, {})
        differing = [k for k in sorted(p) if p[k] != src.get(k)]
        if len(differing) == 1:
            curves.setdefault(differing[0], []).append(d)
    out = {}
    for name in sorted(curves):
        doms = [d for d in [result["source_domain"], *curves[name]] if _number(params.get(d, {}).get(name))]
        if len({params[d][name] for d in doms}) >= 2:
            out[name] = doms
    return out


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def parameter_plot(group: Group, entries: list[Entry], name: str, domains: list[str]) -> str:
    """Primary metric versus one shift parameter, one line per method (error bars: std over seeds)."""
    import matplotlib
    from matplotlib.figure import Figure

    params = entries[0].result["domain_parameters"]
    order = sorted(domains, key=lambda d: (params[d][name], d))
    xs = [params[d][name] for d in order]
    with matplotlib.rc_context(PLOT_RC):
        fig = Figure(figsize=(4.6, 3.2))
        ax = fig.add_subplot()
        for e in entries:
            ax.errorbar(xs, [e.per_domain[d][0] for d in order], yerr=[e.per_domain[d][1] or 0.0 for d in order],
                        marker="o", markersize=3, capsize=2, label=_label(e.name))
        src = entries[0].result["source_domain"]
        if src in params and _number(params[src].get(name)):
            ax.axvline(params[src][name], color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel(name)
        ax.set_ylabel(entries[0].metric)
        ax.set_title(f"{entries[0].metric} vs {name}")
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncols=2, frameon=False)
        return _svg(fig, f"{group.anchor}-{name}")


# ------------------------------------------------------------------------------------------- html

_SORT_JS = """\
document.querySelectorAll("table.sortable th").forEach(function (th) {
  th.addEventListener("click", function () {
    var body = th.closest("table").tBodies[0], i = th.cellIndex, asc = th.dataset.dir !== "asc";
    th.dataset.dir = asc ? "asc" : "desc";
    Array.from(body.rows).sort(function (a, b) {
      var x = a.cells[i].dataset.v, y = b.cells[i].dataset.v, nx = parseFloat(x), ny = parseFloat(y);
      var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
      return asc ? c : -c;
    }).forEach(function (row) { body.appendChild(row); });
  });
});
"""

_CSS = """\
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.45em; text-align: left; white-space: nowrap; }
td:nth-child(2) { white-space: normal; min-width: 11em; }
.scroll { overflow-x: auto; }
th { background: #f0f0f0; cursor: pointer; user-select: none; }
th:hover { background: #e0e0e0; }
tr.unranked td { color: #777; font-style: italic; }
.data { color: #555; font-size: 0.9em; }
.plots { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
.plots svg { max-width: 100%; height: auto; }
section.other h3 { color: #777; }
pre.rules { white-space: pre-wrap; background: #fafafa; border: 1px solid #eee; padding: 0.8em; }
"""


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _html_table(group: Group) -> str:
    cols = list(_row("1", group.entries[0]))
    out = ['<div class="scroll"><table class="sortable">', "<thead><tr>" + "".join(f"<th>{_e(c)}</th>" for c in cols) + "</tr></thead>",
           "<tbody>"]
    rows = [(str(i), e) for i, e in enumerate(group.ranked, 1)] + [("not ranked", e) for e in group.unranked]
    for rank, e in rows:
        cells = _row(rank, e)
        tds = []
        for c in cols:
            if c == "Code":
                url = _safe_url(cells[c])
                inner = f'<a href="{_e(url)}" rel="nofollow noopener">code</a>' if url else "—"
            elif c == "Method":
                inner = f'<span title="{_e(e.result["method"]["description"])}">{_e(cells[c])}</span>'
            else:
                inner = _e(cells[c])
            tds.append(f'<td data-v="{_e(_sort_value(c, e, rank))}">{inner}</td>')
        cls = "" if e.standard else ' class="unranked"'
        out.append(f"<tr{cls}>" + "".join(tds) + "</tr>")
    out += ["</tbody>", "</table></div>"]
    return "\n".join(out)


def _group_html(g: Group) -> str:
    parts = [f'<h3 id="{g.anchor}">{_e(g.title)}</h3>', f'<p class="data">{_e(g.data_line)}</p>', _html_table(g)]
    shown = (g.ranked + g.unranked)[:MAX_PLOTTED_METHODS]
    plots = [domain_bar_plot(g, shown)]
    curves = parameter_curves(g.entries[0].result)
    for name in list(curves)[:MAX_PARAMETER_PLOTS]:
        plots.append(parameter_plot(g, shown, name, curves[name]))
    parts.append('<div class="plots">' + "\n".join(f"<figure>{p}</figure>" for p in plots) + "</div>")
    return "\n".join(parts)


def render_html(groups: list[Group]) -> str:
    body = ["<h1>SimShift leaderboard</h1>",
            "<p>Generated by <code>python -m benchmark leaderboard</code> from the result files in "
            "<code>submissions/</code>; do not edit by hand. Click a column header to sort. "
            "To add an entry, see <code>docs/CONTRIBUTING.md</code>.</p>"]
    if groups:
        body.append("<ul>" + "".join(f'<li><a href="#{g.anchor}">{_e(g.title)}</a>'
                                     f'{"" if g.current else " (other version)"}</li>' for g in groups) + "</ul>")
    else:
        body.append("<p>No entries yet.</p>")
    for current in (True, False):
        chosen = [g for g in groups if g.current == current]
        if chosen:
            body.append(f'<section class="{"current" if current else "other"}">')
            body.append("<h2>Current benchmark</h2>" if current else "<h2>Other data or evaluator versions</h2>")
            body += [_group_html(g) for g in chosen]
            body.append("</section>")
    body += ["<h2>Ranking rules</h2>", f'<pre class="rules">{_e(RANKING_RULES)}</pre>']
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            "<title>SimShift leaderboard</title>\n<style>\n" + _CSS + "</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n<script>\n" + _SORT_JS + "</script>\n</body>\n</html>\n")


def generate_leaderboard(leaderboard_dir: str | os.PathLike | None = None) -> list[Path]:
    """Regenerate ``README.md`` and ``index.html`` in ``leaderboard_dir``; return their paths."""
    from benchmark.data.writer import write_text_atomic

    board = Path(leaderboard_dir) if leaderboard_dir is not None else default_leaderboard_dir()
    if not (board / "submissions").is_dir():
        raise FileNotFoundError(f"{board / 'submissions'} does not exist: pass the leaderboard folder of "
                                f"the repository (the one holding submissions/)")
    groups = build_groups(load_submissions(board))
    pages = [board / "README.md", board / "index.html"]
    write_text_atomic(pages[0], render_markdown(groups))
    write_text_atomic(pages[1], render_html(groups))
    return pages
