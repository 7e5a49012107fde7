"""``leaderboard/index.html``: self-contained page (tables sortable by a small inline script, inline SVG
plots); every string from a submission is HTML-escaped."""
from __future__ import annotations

import html

from benchmark.leaderboard.atlas import EXPLANATION as ATLAS_EXPLANATION, atlas_rows, is_atlas
from benchmark.leaderboard.markdown import UNDEFINED, _row, _safe_url, _sort_value
from benchmark.leaderboard.grid import EXPLANATION, OTHER_SOURCES, GridView, build_grids, split_by_source
from benchmark.leaderboard.plots import (MAX_PARAMETER_PLOTS, MAX_PLOTTED_METHODS, PLOT_RC, _svg, domain_bar_plot,
                                         parameter_curves, parameter_plot)
from benchmark.studies.grids import grid_figure
from benchmark.leaderboard.ranking import ranking_rules, Group

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
    rows = [(str(i), e) for i, e in enumerate(group.ranked, 1)] + [(group.unranked_label(e), e) for e in group.unranked]
    for rank, e in rows:
        cells = _row(rank, e)
        tds = []
        for c in cols:
            if c == "Code":
                url = _safe_url(cells[c])
                inner = f'<a href="{_e(url)}" rel="nofollow noopener">code</a>' if url else UNDEFINED
            elif c == "Method":
                inner = f'<span title="{_e(e.result["method"]["description"])}">{_e(cells[c])}</span>'
            else:
                inner = _e(cells[c])
            tds.append(f'<td data-v="{_e(_sort_value(c, e, rank))}">{inner}</td>')
        cls = "" if rank.isdigit() else ' class="unranked"'
        out.append(f"<tr{cls}>" + "".join(tds) + "</tr>")
    out += ["</tbody>", "</table></div>"]
    return "\n".join(out)


def _atlas_html(g: Group) -> list[str]:
    """The per-entry ATLAS tables of a ``jets/atlas_toptag`` group (none for other groups)."""
    if not is_atlas(g.entries[0].result):
        return []
    out = ["<h4>ATLAS binned rejection and systematic uncertainties</h4>",
           f'<p class="data">{_e(ATLAS_EXPLANATION)}</p>']
    for e in g.ranked + g.unranked:
        rows = atlas_rows(e.result)
        out.append(f"<p>{_e(e.name)} ({_e(e.file)}):</p>")
        if not rows:
            out.append(f"<p>{'no binned ATLAS values in this result' if rows is None else 'no test jet in the ATLAS pT bins'}.</p>")
            continue
        cols = list(rows[0])
        out += ['<div class="scroll"><table class="atlas">',
                "<thead><tr>" + "".join(f"<th>{_e(c)}</th>" for c in cols) + "</tr></thead>", "<tbody>"]
        out += ["<tr>" + "".join(f"<td>{_e(r[c])}</td>" for c in cols) + "</tr>" for r in rows]
        out += ["</tbody>", "</table></div>"]
    return out


def _group_html(g: Group, with_plots: bool = True) -> str:
    parts = [f'<h3 id="{g.anchor}">{_e(g.title)}</h3>', f'<p class="data">{_e(g.data_line)}</p>', _html_table(g),
             *_atlas_html(g)]
    if not with_plots:
        return "\n".join(parts)
    shown = (g.ranked + g.unranked)[:MAX_PLOTTED_METHODS]
    plots = [domain_bar_plot(g, shown)]
    curves = parameter_curves(g.entries[0].result)
    for name in list(curves)[:MAX_PARAMETER_PLOTS]:
        plots.append(parameter_plot(g, shown, name, curves[name]))
    parts.append('<div class="plots">' + "\n".join(f"<figure>{p}</figure>" for p in plots) + "</div>")
    return "\n".join(parts)


def _grid_html(grid: GridView) -> str:
    """A grid's table and the study's plot (accuracy and fractional residual against the test value)."""
    import matplotlib

    headers, rows = grid.rows()
    with matplotlib.rc_context(PLOT_RC):
        fig = grid_figure(grid.table, f"{grid.key[-1]}: {grid.table['metric']} vs {grid.table['parameter']}")
    svg = _svg(fig, f"{grid.anchor}-grid")
    parts = [f'<h3 id="{grid.anchor}">{_e(grid.title)}</h3>',
             f'<p class="data">{_e(grid.table["metric"])} (mean ± std over seeds) of the entries '
             f'{_e(", ".join(grid.files))}.</p>',
             '<div class="scroll"><table class="grid">',
             "<thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in headers) + "</tr></thead>", "<tbody>"]
    parts += ["<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in rows]
    parts += ["</tbody>", "</table></div>", f'<div class="plots"><figure>{svg}</figure></div>']
    return "\n".join(parts)


def render_html(groups: list[Group]) -> str:
    body = ["<h1>SimShift leaderboard</h1>",
            "<p>Generated by <code>python -m benchmark leaderboard</code> from the result files in "
            "<code>submissions/</code>; do not edit by hand. Click a column header to sort. "
            "To add an entry, see <code>docs/CONTRIBUTING.md</code>.</p>"]
    ordinary, other_source = split_by_source([g for g in groups if g.current])
    grids = build_grids(groups)
    in_grid = {e.file for v in grids for e in v.entries.values()}
    old = [g for g in groups if not g.current]
    if groups:
        toc = [(g.anchor, g.title, "") for g in ordinary] + [(v.anchor, v.title, "") for v in grids]
        toc += [(g.anchor, g.title, "") for g in other_source] + [(g.anchor, g.title, " (other version)") for g in old]
        body.append("<ul>" + "".join(f'<li><a href="#{a}">{_e(t)}</a>{note}</li>' for a, t, note in toc) + "</ul>")
    else:
        body.append("<p>No entries yet.</p>")
    if ordinary:
        body += ['<section class="current">', "<h2>Current benchmark</h2>", *(_group_html(g) for g in ordinary),
                 "</section>"]
    if other_source:
        body += ['<section class="current">', f"<h2>{_e(OTHER_SOURCES)}</h2>", f'<p class="data">{_e(EXPLANATION)}</p>',
                 *(_grid_html(v) for v in grids),
                 # a table whose entries are all in a grid: its plots would repeat the grid's curves
                 *(_group_html(g, with_plots=not {e.file for e in g.entries} <= in_grid) for g in other_source),
                 "</section>"]
    if old:
        body += ['<section class="other">', "<h2>Other data or evaluator versions</h2>", *(_group_html(g) for g in old),
                 "</section>"]
    body += ["<h2>Ranking rules</h2>", f'<pre class="rules">{_e(ranking_rules())}</pre>']
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            "<title>SimShift leaderboard</title>\n<style>\n" + _CSS + "</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n<script>\n" + _SORT_JS + "</script>\n</body>\n</html>\n")


