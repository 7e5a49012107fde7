"""Plots of the primary metric per domain and versus each shift parameter (matplotlib, inline SVG,
byte-identical for identical input)."""
from __future__ import annotations

import io
import math

import numpy as np

from benchmark.leaderboard.ranking import Entry, Group

PLOT_RC = {"svg.fonttype": "path", "text.parse_math": False, "axes.grid": True, "grid.alpha": 0.3,
           "font.size": 9}
MAX_PARAMETER_PLOTS = 6
MAX_PLOTTED_METHODS = 10


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


def _legend(ax, handles, entries: list[Entry], below: float) -> None:
    """A legend with every entry: labels are passed explicitly, because matplotlib drops artists whose
    automatic label starts with ``_`` (its convention for hidden artists)."""
    ax.legend(handles, [_label(e.name) for e in entries], fontsize=7, loc="upper center",
              bbox_to_anchor=(0.5, below), ncols=2, frameon=False)


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
        handles = []
        for i, e in enumerate(entries):
            means = [e.per_domain[d][0] for d in domains]
            stds = [e.per_domain[d][1] or 0.0 for d in domains]
            handles.append(ax.bar(x + (i - (len(entries) - 1) / 2) * width, means, width, yerr=stds, capsize=2))
        ax.set_xticks(x, domains, rotation=45 if len(domains) > 4 else 0, ha="right" if len(domains) > 4 else "center")
        ax.set_ylabel(entries[0].metric)
        if entries[0].metric in ("accuracy", "auc"):  # bounded metrics: zoom on the range in use
            lo = min(e.per_domain[d][0] for e in entries for d in domains)
            ax.set_ylim(max(0.0, lo - 0.1), 1.0)
        ax.set_title(f"{entries[0].metric} per domain")
        _legend(ax, handles, entries, -0.18 if len(domains) <= 4 else -0.35)
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
        handles = [ax.errorbar(xs, [e.per_domain[d][0] for d in order], yerr=[e.per_domain[d][1] or 0.0 for d in order],
                               marker="o", markersize=3, capsize=2) for e in entries]
        src = entries[0].result["source_domain"]
        if src in params and _number(params[src].get(name)):
            ax.axvline(params[src][name], color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel(name)
        ax.set_ylabel(entries[0].metric)
        ax.set_title(f"{entries[0].metric} vs {name}")
        _legend(ax, handles, entries, -0.18)
        return _svg(fig, f"{group.anchor}-{name}")


