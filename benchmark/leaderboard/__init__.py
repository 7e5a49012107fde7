"""The leaderboard pages, generated from the verified entries of ``leaderboard/submissions/``.

* :mod:`~benchmark.leaderboard.ranking`: which entries share a table, scores and order
  (:data:`RANKING_RULES`, written into the pages);
* :mod:`~benchmark.leaderboard.markdown`: ``README.md`` (``tabulate`` tables, every cell escaped);
* :mod:`~benchmark.leaderboard.html` and :mod:`~benchmark.leaderboard.plots`: ``index.html`` with
  sortable tables and inline SVG plots of the score per domain and versus each shift parameter;
* :func:`check_leaderboard`: what CI runs: every stored entry re-verified from its predictions against
  the data, the pages regenerated and compared byte for byte with the committed ones.

Generation is deterministic: the same submissions give byte-identical pages (files read in sorted
order, nothing depends on the current time, SVG ids salted with fixed strings).  The store itself
(reading, locking, writing) is :mod:`benchmark.results.store`.
"""
from __future__ import annotations

import os
from pathlib import Path

from benchmark.leaderboard.html import render_html
from benchmark.leaderboard.markdown import render_markdown
from benchmark.leaderboard.plots import parameter_curves
from benchmark.leaderboard.ranking import RANKING_RULES, Entry, Group, build_groups, make_entry
from benchmark.results.store import default_leaderboard_dir, load_store, locked, remove_leftovers

PAGES = ("README.md", "index.html")


def load_entries(board: str | os.PathLike) -> list[Entry]:
    """The stored entries as shown (checked by :func:`benchmark.results.store.load_store`)."""
    return [make_entry(e.path.name, e.result) for e in load_store(board)]


def render_pages(board: str | os.PathLike) -> dict[str, str]:
    """``{page name: text}`` for the current store."""
    groups = build_groups(load_entries(board))
    return {"README.md": render_markdown(groups), "index.html": render_html(groups)}


def regenerate_pages(board: str | os.PathLike) -> list[Path]:
    """Write the pages (the caller holds the store's exclusive lock, as ``submit`` does)."""
    from benchmark.data.writer import write_text_atomic

    board = Path(board)
    pages = render_pages(board)
    for name, text in pages.items():
        write_text_atomic(board / name, text)
    return [board / name for name in pages]


def generate_leaderboard(leaderboard_dir: str | os.PathLike | None = None) -> list[Path]:
    """Regenerate ``README.md`` and ``index.html`` in ``leaderboard_dir`` under the store's lock
    (first removing what a killed submit left behind)."""
    board = Path(leaderboard_dir) if leaderboard_dir is not None else default_leaderboard_dir()
    with locked(board) as folder:
        remove_leftovers(folder)
        return regenerate_pages(board)


class LeaderboardCheckError(RuntimeError):
    """``leaderboard --check`` failed; ``reasons`` name each file."""

    def __init__(self, reasons: list[str]):
        self.reasons = list(reasons)
        super().__init__("leaderboard check failed:\n" + "\n".join(f"  - {r}" for r in self.reasons))


def check_leaderboard(leaderboard_dir: str | os.PathLike | None = None, cache_dir=None,
                      generate_missing: bool = True, log=print) -> list[str]:
    """Re-verify every stored entry and the committed pages; return what was checked, or raise
    :class:`LeaderboardCheckError` naming every failing file.

    Entries of the current evaluator and data version are recomputed from their stored predictions
    against the materialised test data (a generated family's data are generated when missing, which
    is deterministic); entries of another version, listed but never ranked, are checked for
    everything that needs no data.  Then the pages are rendered and compared byte for byte with the
    committed ``README.md`` and ``index.html``.
    """
    from benchmark.results.store import StoreError
    from benchmark.results.verify import data_errors, metric_errors

    board = Path(leaderboard_dir) if leaderboard_dir is not None else default_leaderboard_dir()
    reasons, done = [], []
    with locked(board, shared=True):
        try:
            stored = load_store(board)
        except StoreError as exc:
            raise LeaderboardCheckError(exc.reasons[1:]) from None
        groups = build_groups([make_entry(e.path.name, e.result) for e in stored])
        current = {e.file for g in groups if g.current for e in g.entries}
        for entry in stored:
            name = entry.path.name
            if name not in current:
                done.append(f"{name}: other data or evaluator version, listed unranked; not re-verifiable here")
                continue
            problems = data_errors(entry.result, cache_dir, generate_missing=generate_missing)
            if not problems:
                problems = metric_errors(entry.result, entry.predictions(), cache_dir)
            if problems:
                reasons += [f"{entry.path}: {p}" for p in problems]
            else:
                done.append(f"{name}: metrics recomputed from {entry.predictions_path.name} match")
            if log:
                log(f"{'FAIL' if problems else 'ok  '} {name}")
        pages = render_pages(board)
    for page, text in pages.items():
        path = board / page
        if not path.is_file():
            reasons.append(f"{path}: missing; run `python -m benchmark leaderboard` and commit it")
        elif path.read_bytes() != text.encode("utf-8"):
            reasons.append(f"{path}: differs from the pages generated from {board / 'submissions'} (edited by "
                           f"hand or not regenerated); run `python -m benchmark leaderboard` and commit it")
        else:
            done.append(f"{page}: identical to the regenerated page")
    if reasons:
        raise LeaderboardCheckError(reasons)
    return done


__all__ = ["PAGES", "RANKING_RULES", "Entry", "Group", "LeaderboardCheckError", "build_groups", "check_leaderboard",
           "default_leaderboard_dir", "generate_leaderboard", "load_entries", "make_entry", "parameter_curves",
           "regenerate_pages", "render_html", "render_markdown", "render_pages"]
