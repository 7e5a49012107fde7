"""Leaderboard generation: ranking rules, separation of versions, escaping, plots, determinism."""
from __future__ import annotations

import html
import shutil
from pathlib import Path

import pytest

from benchmark.data.registry import get_family
from benchmark.evaluation.metrics import robustness_summary
from benchmark.leaderboard import generate_leaderboard, parameter_curves
from benchmark.results import ResultFileError, build_result, write_result
from benchmark.evaluation import write_npz
from benchmark.results.store import entry_key, prediction_arrays, stored_stem

FAMILY_NAME = "toy"  # tests/toyfamily.py, registered by conftest.py
DOMAINS = ("nominal", "shifted", "scan_2")
SEEDS = [0, 1, 2]


def synthetic(board: Path, name: str, nominal: float, shifted: float, standard: bool = True,
              version: str | None = None, evaluator: str | None = None, protocol: str = "robustness",
              rejection: float | None = None, source_domain: str = "nominal", scan: float | None = None,
              size: str = "default", **method) -> Path:
    """A stored result with given accuracies (seed k adds 0.01 k; ``scan_2`` gets ``scan``, by default the
    ``shifted`` value), written like ``submit`` stores it."""
    source = get_family(FAMILY_NAME).source()
    per_seed = []
    for k in SEEDS:
        acc = {"nominal": nominal + 0.01 * k, "shifted": shifted + 0.01 * k,
               "scan_2": (shifted if scan is None else scan) + 0.01 * k}
        if protocol == "domain_shift":  # scored on the source and the target domain
            del acc["scan_2"]
        per_domain = {d: {"accuracy": a, "n_events": 30} for d, a in acc.items()}
        if rejection is not None:  # as the evaluator reports it for binary families (seed k adds k)
            for d in per_domain:
                per_domain[d]["rejection_at_50"] = rejection + k + (0 if d == "nominal" else 100)
        paired = {d: a for d, a in (("shifted", 0.9), ("scan_2", 0.8)) if d in per_domain}
        if source_domain != "nominal":  # agreement is measured against the source domain's predictions
            paired = {d: a for d, a in (("nominal", 0.9), ("scan_2", 0.8)) if d in per_domain}
        summary = robustness_summary(per_domain, "accuracy", source_domain, paired)
        per_seed.append({"per_domain": per_domain, "summary": summary})
    result = build_result(
        method={"name": name, "description": "desc", "code_url": "https://example.org/" + name.replace(" ", "-"),
                "framework": "torch", "n_parameters": 10, "standard": standard, **method},
        dataset={"family": FAMILY_NAME, "source": "generated", "version": version or source.make_generator.version,
                 "size": size, "test_sha256": {d: f"{i}" * 64 for i, d in enumerate(acc)}},
        protocol=protocol, source_domain=source_domain, target_domain="shifted" if protocol == "domain_shift" else None,
        domains=list(acc), domain_parameters={d: source.domain(d).parameters for d in acc}, seeds=SEEDS,
        per_seed=per_seed, hardware={"cpu": "test", "gpu": None, "torch": None}, wall_time_s=1.0)
    if evaluator is not None:
        result["evaluator_version"] = evaluator
    return store(board, result)


def store(board: Path, result: dict) -> Path:
    """Put ``result`` in the store as ``submit`` would, with placeholder predictions (``n_events`` per
    domain): page generation checks their shape and name, only ``--check`` recomputes metrics."""
    import numpy as np

    rng = np.random.default_rng(list(result["method"]["name"].encode()))
    n = {d: m["n_events"] for d, m in result["per_seed"][0]["per_domain"].items()}
    preds = {s: {d: (np.arange(n[d]) + 1000 * i, rng.random((n[d], 3)).astype(np.float32))
                 for i, d in enumerate(result["domains"])} for s in result["seeds"]}
    arrays = prediction_arrays(preds)
    target = board / "submissions" / f"{stored_stem(result, entry_key(result, arrays))}.json"
    write_npz(target.with_suffix(".npz"), arrays)
    write_result(target, result)
    return target


@pytest.fixture
def board(tmp_path):
    (tmp_path / "submissions").mkdir()
    return tmp_path


def table_rows(text: str, heading: str) -> list[dict[str, str]]:
    """The rows ({header: cell}), in order, of the first Markdown table after ``heading``."""
    lines = text[text.index(heading):].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| Rank"))
    cells = lambda line: [c.strip() for c in line.strip().strip("|").split(" | ")]  # noqa: E731
    header, rows = cells(lines[start]), []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(header, cells(line))))
    return rows


def test_ranking_follows_the_written_rules(board):
    synthetic(board, "Alpha", nominal=0.80, shifted=0.70)   # score 0.71, drop 0.10
    synthetic(board, "Beta", nominal=0.85, shifted=0.80)    # best score
    synthetic(board, "Gamma", nominal=0.75, shifted=0.70)   # ties Alpha on score, smaller drop
    synthetic(board, "Delta", nominal=0.97, shifted=0.95, standard=False)  # best, but not standard
    pages = generate_leaderboard(board)
    assert pages == [board / "README.md", board / "index.html"]
    readme = (board / "README.md").read_text()
    assert "## Ranking rules" in readme and "ties are broken by the smaller drop" in readme
    ranked = table_rows(readme, "### toy")
    assert [(r["Rank"], r["Method"]) for r in ranked] == [("1", "Beta"), ("2", "Gamma"), ("3", "Alpha")]
    # score = mean over shifted domains per seed (0.80, 0.81, 0.82): mean ± std(ddof=1)
    assert ranked[0]["Score"] == "0.8100 ± 0.0100"
    assert ranked[0]["Source domain"] == "0.8600 ± 0.0100"
    assert ranked[0]["Drop"].startswith("+0.0500 ± ")
    assert ranked[0]["Worst domain"] == "scan\\_2 (0.8100)"  # lowest mean, ties by name
    assert ranked[0]["Agreement"] == "0.8500 ± 0.0000"  # from the summaries
    unranked = table_rows(readme, "Not ranked")
    assert [(r["Rank"], r["Method"]) for r in unranked] == [("not ranked", "Delta")]
    page = (board / "index.html").read_text()
    assert page.index(">Beta<") < page.index(">Gamma<") < page.index(">Alpha<") < page.index(">Delta<")
    assert 'class="unranked"' in page


def test_background_rejection_of_the_source_domain_is_shown_where_reported(board):
    synthetic(board, "Tagger", nominal=0.80, shifted=0.70, rejection=20.0)
    generate_leaderboard(board)
    row, = table_rows((board / "README.md").read_text(), "### toy")
    header = list(row)
    assert row["1/εB at εS=0.5 (source)"] == "21.0 ± 1.0"   # nominal only (20, 21, 22), not the shifted domains
    assert header.index("1/εB at εS=0.5 (source)") == header.index("Source domain") + 1
    assert "1/εB at εS=0.5 (source)" in (board / "index.html").read_text()
    synthetic(board, "Plain", nominal=0.80, shifted=0.70)   # a result without rejections: no column
    other = tmp_board_without(board, "Tagger")
    generate_leaderboard(other)
    assert "1/εB" not in (other / "README.md").read_text()


def tmp_board_without(board: Path, name: str) -> Path:
    """A copy of ``board`` without the submissions of method ``name``."""
    other = board.parent / f"{board.name}-without-{name}"
    shutil.copytree(board, other)
    for f in (other / "submissions").glob(f"*{name.lower()}*"):
        f.unlink()
    return other


def test_each_protocol_is_scored_by_its_rule_in_its_own_table(board):
    synthetic(board, "Robust", nominal=0.80, shifted=0.60)
    synthetic(board, "Adapted", nominal=0.80, shifted=0.70, protocol="domain_shift")
    synthetic(board, "Probed", nominal=0.80, shifted=0.50, protocol="linear_probe")
    generate_leaderboard(board)
    readme = (board / "README.md").read_text()
    assert [r["Method"] for r in table_rows(readme, "### toy · generated · robustness")] == ["Robust"]
    adapted = table_rows(readme, "### toy · generated · domain\\_shift · nominal → shifted")
    assert [(r["Method"], r["Score"]) for r in adapted] == [("Adapted", "0.7100 ± 0.0100")]  # target domain
    probed = table_rows(readme, "### toy · generated · linear\\_probe")
    assert probed[0]["Score"] == "0.6100 ± 0.0100"  # mean over all 3 domains: (0.8 + 0.5 + 0.5) / 3 + 0.01
    assert probed[0]["Shifted mean"] == "0.5100 ± 0.0100"


def test_each_data_size_is_its_own_table_titled_by_its_size(board):
    """A larger preset's test set is other data: its entries are ranked apart, under a title that says so."""
    synthetic(board, "Small", nominal=0.80, shifted=0.60)
    synthetic(board, "Big", nominal=0.90, shifted=0.80, size="large")
    generate_leaderboard(board)
    readme = (board / "README.md").read_text()
    assert [r["Method"] for r in table_rows(readme, "### toy · generated · robustness\n")] == ["Small"]
    assert [r["Method"] for r in table_rows(readme, "### toy · generated · robustness · size large")] == ["Big"]
    assert "toy · generated · robustness · size large</a>" in (board / "index.html").read_text()


def test_other_data_or_evaluator_versions_are_never_mixed(board):
    synthetic(board, "Current", nominal=0.8, shifted=0.7)
    synthetic(board, "OldData", nominal=0.9, shifted=0.9, version="0")
    synthetic(board, "OldEval", nominal=0.9, shifted=0.9, evaluator="0.0.1")
    generate_leaderboard(board)
    readme = (board / "README.md").read_text()
    current, other = readme.split("## Other data or evaluator versions")
    assert "Current" in current and "OldData" not in current and "OldEval" not in current
    assert [r["Method"] for r in table_rows(other, "Data version 0,")] == ["OldData"]
    assert [r["Method"] for r in table_rows(other, "evaluator 0.0.1")] == ["OldEval"]
    assert [r["Method"] for r in table_rows(current, "### toy")] == ["Current"]


def test_every_string_is_escaped_in_html_and_markdown(board):
    evil = "<script>alert(1)"  # names cannot hold "/", descriptions can
    synthetic(board, evil, nominal=0.8, shifted=0.7, description='"></span><script>alert(2)</script><img src=x>',
              framework="<b>bold</b> | [x](javascript:alert(3))", code_url="https://example.org/x?a=1&b=2")
    generate_leaderboard(board)
    page = (board / "index.html").read_text()
    assert "<script>alert" not in page and html.escape(evil) in page
    assert page.count("<script") == 1  # only the page's own sorting script
    assert "<img" not in page and "<b>bold" not in page
    assert 'href="javascript' not in page
    readme = (board / "README.md").read_text()
    assert "<script>" not in readme and "<img" not in readme and "<b>" not in readme
    assert "| \\[x\\](javascript" in readme  # brackets escaped: shown as text, never a link


def test_pages_are_byte_identical_when_regenerated(board, tmp_path):
    synthetic(board, "Alpha", nominal=0.8, shifted=0.7)
    synthetic(board, "Beta", nominal=0.85, shifted=0.6, standard=False)
    generate_leaderboard(board)
    first = {p: (board / p).read_bytes() for p in ("README.md", "index.html")}
    generate_leaderboard(board)
    assert {p: (board / p).read_bytes() for p in first} == first
    copy = tmp_path / "copy"
    shutil.copytree(board / "submissions", copy / "submissions")
    generate_leaderboard(copy)
    assert {p: (copy / p).read_bytes() for p in first} == first


def test_html_has_per_domain_and_shift_parameter_plots(board):
    synthetic(board, "Alpha", nominal=0.8, shifted=0.7)
    generate_leaderboard(board)
    page = (board / "index.html").read_text()
    assert page.count("<svg") == 2 and "<?xml" not in page
    assert "accuracy per domain" in page and "accuracy vs gain" in page  # matplotlib's text comments


def test_parameter_curves_use_domains_that_differ_in_one_parameter():
    result = {"source_domain": "nominal", "domains": ["nominal", "a_lo", "a_hi", "b_lo", "both", "rand"],
              "domain_parameters": {"nominal": {"a": 1.0, "b": 2.0}, "a_lo": {"a": 0.5, "b": 2.0},
                                    "a_hi": {"a": 1.5}, "b_lo": {"b": 1.0}, "both": {"a": 0.1, "b": 0.1},
                                    "rand": {"a": [0.5, 1.5]}}}
    assert parameter_curves(result) == {"a": ["nominal", "a_lo", "a_hi"], "b": ["nominal", "b_lo"]}


def test_invalid_stored_file_is_refused_by_name(board):
    synthetic(board, "Alpha", nominal=0.8, shifted=0.7)
    (board / "submissions" / "hand-edited.json").write_text('{"format": "simshift-result/1"}')
    with pytest.raises(ResultFileError, match="hand-edited.json"):
        generate_leaderboard(board)


def test_stored_file_under_another_name_is_refused(board):
    path = synthetic(board, "Alpha", nominal=0.8, shifted=0.7)
    path.rename(board / "submissions" / "alpha.json")
    path.with_suffix(".npz").rename(board / "submissions" / "alpha.npz")
    with pytest.raises(ResultFileError, match=f"alpha.json: must be named {path.name}"):
        generate_leaderboard(board)


def test_empty_leaderboard(board):
    generate_leaderboard(board)
    assert "No entries yet." in (board / "README.md").read_text()
    assert "No entries yet." in (board / "index.html").read_text()


def test_grid_of_a_method_trained_on_several_source_domains(board, monkeypatch):
    """Entries trained on another source domain: ranked only among themselves, after the nominal tables,
    and a method with several training domains shown as its grid (training value x test value)."""
    import benchmark.leaderboard.grid as grid

    monkeypatch.setitem(grid.GRIDS, "toy", {"parameter": "gain", "prefix": None,
                                            "training_domains": ("nominal", "shifted")})
    synthetic(board, "Alpha", nominal=0.80, shifted=0.70, scan=0.60)
    synthetic(board, "Alpha", nominal=0.75, shifted=0.85, scan=0.50, source_domain="shifted")
    synthetic(board, "Beta", nominal=0.82, shifted=0.72)                        # nominal only: no grid
    synthetic(board, "Gamma", nominal=0.95, shifted=0.95, source_domain="shifted")  # best, on another source
    generate_leaderboard(board)
    readme = (board / "README.md").read_text()
    ordinary, others = readme.split("## " + grid.OTHER_SOURCES)
    assert [r["Method"] for r in table_rows(ordinary, "### toy · generated · robustness")] == ["Beta", "Alpha"]
    assert "Gamma" not in ordinary
    # the other source domain's own table: ranked by the same rules, among entries trained there only
    shifted = table_rows(others, "### toy · generated · robustness · source domain shifted")
    assert [(r["Rank"], r["Method"]) for r in shifted] == [("1", "Gamma"), ("2", "Alpha")]
    # Alpha's grid (Beta has one training domain, Gamma one): rows training gain, columns test gain
    assert "Beta: gain grid" not in others and "Gamma: gain grid" not in others
    lines = others[others.index("### toy · generated · robustness · Alpha: gain grid"):].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| trained at"))
    cells = [[c.strip() for c in line.strip().strip("|").split(" | ")] for line in lines[start:start + 4]]
    assert cells[0] == ["trained at gain", "test gain=0.5", "test gain=1", "test gain=2"]
    # seeds add 0, 0.01, 0.02: mean + 0.01, std 0.01; test domains in gain order shifted, nominal, scan_2
    assert cells[2] == ["0.5", "0.860 ± 0.010", "0.760 ± 0.010", "0.510 ± 0.010"]
    assert cells[3] == ["1 (nominal)", "0.710 ± 0.010", "0.810 ± 0.010", "0.610 ± 0.010"]
    assert others.index("Alpha: gain grid") < others.index("source domain shifted")
    page = (board / "index.html").read_text()
    nominal_part, other_part = page.split(html.escape(grid.OTHER_SOURCES) + "</h2>")
    assert ">Gamma<" not in nominal_part and "Alpha: gain grid" in other_part
    assert "fractional residual" in other_part and '<table class="grid">' in other_part  # the study's plot, inline
    assert "<td>0.860 ± 0.010</td>" in other_part
    # plots: per group of the nominal tables two (per domain, vs gain); the grid one; the "shifted" table,
    # with Gamma outside any grid, its own two
    assert nominal_part.count("<svg") == 2 and other_part.count("<svg") == 3
    alone = tmp_board_without(board, "Gamma")  # every entry of the "shifted" table is in the grid: no repeat
    generate_leaderboard(alone)
    assert (alone / "index.html").read_text().split(html.escape(grid.OTHER_SOURCES) + "</h2>")[1].count("<svg") == 1


def test_no_grid_without_a_grid_study_or_a_second_training_domain(board, monkeypatch):
    import benchmark.leaderboard.grid as grid

    synthetic(board, "Alpha", nominal=0.80, shifted=0.70)
    synthetic(board, "Alpha", nominal=0.75, shifted=0.85, source_domain="shifted")
    generate_leaderboard(board)  # the toy family has no grid study: tables only
    readme = (board / "README.md").read_text()
    assert "gain grid" not in readme and "source domain shifted" in readme.split("## " + grid.OTHER_SOURCES)[1]
    monkeypatch.setitem(grid.GRIDS, "toy", {"parameter": "gain", "prefix": None, "training_domains": ("nominal",)})
    generate_leaderboard(board)  # "shifted" is not one of its training domains
    assert "gain grid" not in (board / "README.md").read_text()
