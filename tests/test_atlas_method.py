"""The ATLAS Top Tagging Open Data method (benchmark.evaluation.atlas) on small hand-computed sets, its
place in the evaluator's summary, the result-file schema and the leaderboard pages.

Hand computation, bin 350-550 GeV of the nominal set (4 top, 4 QCD jets):

    score  0.9 0.8 0.7 0.6 0.5 0.3 0.2 0.1
    class   S   S   B   S   B   S   B   B

Cutting at score >= t, the signal efficiency first exceeds 0.5 at t = 0.6 (3 of 4 top jets); exactly
0.5 (t = 0.8) is not enough (calc.py: ``argmax(tpr > wp)``).  At t = 0.6 one QCD jet (0.7) of 4
passes: eps_B = 1/4, rejection 4.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from benchmark.evaluation import Evaluator, PredictionError
from benchmark.evaluation import atlas as A

# --------------------------------------------------------------------------------- hand-made sets
S, B = 1, 0
#: bin 350-550: the example above (rejection 4)
BIN1 = ([0.9, 0.8, 0.7, 0.6, 0.5, 0.3, 0.2, 0.1], [S, S, B, S, B, S, B, B])
#: bin 550-750: 4 top above 3 QCD jets: at t = 0.7 (3/4 top) no QCD passes -> lower bound N_B = 3
BIN2 = ([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3], [S, S, S, S, B, B, B])
#: bin 750-950: top jets only -> undefined
BIN3 = ([0.7, 0.4], [S, S])
#: outside every bin: on an edge (strict inequalities), below 350, above 3150
OUTSIDE = ([0.99, 0.01, 0.5], [B, S, B], [550.0, 300.0, 3200.0])


def nominal_set():
    scores, labels, pt = [], [], []
    for (s, y), p in ((BIN1, 450.0), (BIN2, 650.0), (BIN3, 800.0)):
        scores += s
        labels += y
        pt += [p] * len(s)
    scores += OUTSIDE[0]
    labels += OUTSIDE[1]
    pt += OUTSIDE[2]
    return np.array(labels), np.array(scores), np.array(pt)


def varied(bin1_scores):
    """A systematic set: the nominal jets with other scores in bin 350-550."""
    labels, scores, pt = nominal_set()
    scores = scores.copy()
    scores[:8] = bin1_scores
    return labels, scores, pt


# esup: QCD 0.5 -> 0.65 passes t = 0.6 too: eps_B = 2/4, R = 2, |2/4 - 1| = 0.5
ESUP = [0.9, 0.8, 0.7, 0.6, 0.65, 0.3, 0.2, 0.1]
# esdown: unchanged, 0
ESDOWN = BIN1[0]
# cer: QCD 0.5, 0.2 -> 0.65, 0.62: 3 of 4 pass, R = 4/3, |1/3 - 1| = 2/3
CER = [0.9, 0.8, 0.7, 0.6, 0.65, 0.3, 0.62, 0.1]
# cpos: ties at the working point: top 0.9, 0.5, 0.5, 0.1 / QCD 0.5, 0.5, 0.2, 0.2.  At t = 0.5: 3/4 top,
# 2/4 QCD pass: R = 2, |2/4 - 1| = 0.5
CPOS = [0.9, 0.5, 0.5, 0.5, 0.5, 0.1, 0.2, 0.2]


# ----------------------------------------------------------------------------- the definitions
def test_bins_are_the_official_ones():
    assert A.PT_BIN_EDGES_GEV[0] == 350 and A.PT_BIN_EDGES_GEV[-1] == 3150
    assert len(A.PT_BIN_EDGES_GEV) == 15 and np.allclose(np.diff(A.PT_BIN_EDGES_GEV), 200)
    assert A.bin_labels()[:2] == ["350_550", "550_750"] and A.bin_labels()[-1] == "2950_3150"
    assert A.EPS_S == 0.5


def test_rejection_is_the_first_roc_point_strictly_above_eps_s():
    assert A.rejection_at_efficiency(BIN1[1], BIN1[0]) == (4.0, False)
    # not interpolated: the evaluator's inclusive rejection_at_50 reads the point tpr = 0.5 exactly
    from benchmark.evaluation.metrics import background_rejection

    # top 0.9 0.8 0.6 0.3, QCD 0.75 0.7 0.5 0.2 0.1: official t = 0.6 (3/4 top), 2 of 5 QCD pass: R = 2.5;
    # the evaluator's eps_S = 0.5 point is t = 0.8 with no QCD passing (its lower bound N_B = 5)
    labels = [S, S, B, B, S, B, S, B, B]
    scores = [0.9, 0.8, 0.75, 0.7, 0.6, 0.5, 0.3, 0.2, 0.1]
    assert A.rejection_at_efficiency(labels, scores) == (2.5, False)
    assert background_rejection(np.array(labels), np.array(scores), 0.5) == 5.0
    # ties at the threshold count together (score >= t)
    assert A.rejection_at_efficiency(BIN1[1], CPOS) == (2.0, False)


def test_no_background_passing_gives_the_lower_bound_n_b():
    r, bound = A.rejection_at_efficiency(BIN2[1], BIN2[0])
    assert (r, bound) == (3.0, True)


def test_one_class_or_empty_is_undefined():
    for labels, scores in ((BIN3[1], BIN3[0]), ([B, B], [0.1, 0.2]), ([], [])):
        r, bound = A.rejection_at_efficiency(labels, scores)
        assert np.isnan(r) and bound is False


def test_binned_rejection_by_hand():
    out = A.binned_rejection(*nominal_set())
    assert out["rejection"][0] == 4.0 and out["rejection"][1] == 3.0
    assert np.isnan(out["rejection"][2:]).all()
    assert out["lower_bound"].tolist() == [False, True] + [False] * 12
    # the jets at 550 (an edge), 300 and 3200 GeV are in no bin
    assert out["n_signal"].tolist() == [4, 4, 2] + [0] * 11
    assert out["n_background"].tolist() == [4, 3, 0] + [0] * 11
    with pytest.raises(ValueError, match="one length"):
        A.binned_rejection([0, 1], [0.5], [400.0, 400.0])


def test_uncertainties_and_combinations_by_hand():
    nominal = A.binned_rejection(*nominal_set())
    sets = {"esup": ESUP, "esdown": ESDOWN, "cer": CER, "cpos": CPOS}
    binned = {k: A.binned_rejection(*varied(v)) for k, v in sets.items()}
    assert [binned[k]["rejection"][0] for k in sets] == [2.0, 4.0, 4.0 / 3.0, 2.0]
    unc = A.systematic_uncertainties({"nominal": nominal["rejection"], **{k: b["rejection"] for k, b in binned.items()}},
                                     {"nominal": nominal["lower_bound"], **{k: b["lower_bound"] for k, b in binned.items()}})
    assert unc["esup"][0] == pytest.approx(0.5) and unc["esdown"][0] == 0
    assert unc["cer"][0] == pytest.approx(2 / 3) and unc["cpos"][0] == pytest.approx(0.5)
    assert unc["energy_scale"][0] == pytest.approx(0.5)                            # max(esup, esdown)
    assert unc["cluster_total"][0] == pytest.approx(np.sqrt(0.5 ** 2 + (2 / 3) ** 2 + 0.5 ** 2))
    # bin 2: the nominal value is a lower bound -> no ratio; bins 3+: undefined rejection -> undefined
    for name in ("esup", "energy_scale", "cluster_total"):
        assert np.isnan(unc[name][1:]).all()


def test_combinations_need_all_their_parts():
    r = np.array([4.0])
    assert set(A.systematic_uncertainties({"nominal": r, "esup": r})) == {"esup"}
    assert set(A.systematic_uncertainties({"nominal": r, "esup": r, "esdown": r, "cer": r})) == \
        {"esup", "esdown", "cer", "energy_scale"}
    # a NaN part makes the envelope NaN (not the other part's value)
    unc = A.systematic_uncertainties({"nominal": r, "esup": np.array([np.nan]), "esdown": np.array([2.0])})
    assert np.isnan(unc["energy_scale"][0])
    with pytest.raises(ValueError, match="nominal"):
        A.systematic_uncertainties({"esup": r})


def test_sets_match_the_source():
    from benchmark.sources.atlas_toptag import SYSTEMATIC_SETS

    assert A.SYSTEMATIC_SETS == SYSTEMATIC_SETS


# ------------------------------------------------------------------------------- the evaluator
def truth_and_predictions():
    truth, preds, pt = {}, {}, {}
    for i, (name, data) in enumerate((("nominal", nominal_set()), ("esup", varied(ESUP)), ("esdown", varied(ESDOWN)),
                                      ("cer", varied(CER)), ("cpos", varied(CPOS)))):
        labels, scores, jet_pt = data
        ids = np.arange(len(labels)) + 1000 * i
        truth[name] = (ids, labels.astype(np.int64), np.ones(len(labels), np.float32))
        # shuffled rows: the evaluator aligns scores to the truth by event_id, and jet_pt follows the truth
        order = np.random.default_rng(i).permutation(len(ids))
        preds[name] = (ids[order], scores[order].astype(np.float32))
        pt[name] = jet_pt
    return truth, preds, pt


def test_evaluator_reports_the_atlas_block():
    truth, preds, pt = truth_and_predictions()
    report = Evaluator("jets", source="atlas_toptag").eval_domains(truth, preds, "nominal", jet_pt=pt)
    atlas = report["summary"]["atlas"]
    assert atlas["eps_s"] == 0.5 and atlas["pt_bin_edges_gev"][:2] == [350.0, 550.0]
    nominal = atlas["per_domain"]["nominal"]
    assert nominal["350_550"] == {"rejection": 4.0, "lower_bound": False, "n_signal": 4, "n_background": 4}
    assert nominal["550_750"] == {"rejection": 3.0, "lower_bound": True, "n_signal": 4, "n_background": 3}
    assert nominal["750_950"]["rejection"] is None and nominal["950_1150"]["n_signal"] == 0
    assert atlas["per_domain"]["cer"]["350_550"]["rejection"] == pytest.approx(4 / 3)
    u = atlas["uncertainty"]
    assert u["energy_scale"]["350_550"] == pytest.approx(0.5)
    assert u["cluster_total"]["350_550"] == pytest.approx(np.sqrt(0.5 + 4 / 9))
    assert u["cluster_total"]["550_750"] is None and u["esup"]["750_950"] is None
    # the inclusive per-domain metrics are still the evaluator's own
    assert set(report["per_domain"]["nominal"]) >= {"accuracy", "auc", "rejection_at_50"}


def test_evaluator_needs_jet_pt_for_atlas_and_adds_nothing_elsewhere():
    truth, preds, pt = truth_and_predictions()
    with pytest.raises(PredictionError, match="fjet_pt.*esup"):
        Evaluator("jets", source="atlas_toptag").eval_domains(truth, preds, "nominal",
                                                              jet_pt={"nominal": pt["nominal"]})
    with pytest.raises(PredictionError, match="cer: jet_pt must have shape"):
        Evaluator("jets", source="atlas_toptag").eval_domains(truth, preds, "nominal",
                                                              jet_pt={**pt, "cer": pt["cer"][:3]})
    plain = Evaluator("jets").eval_domains(truth, preds, "nominal")
    assert "atlas" not in plain["summary"]
    with_pt = Evaluator("jets", source="atlas_toptag").eval_domains(truth, preds, "nominal", jet_pt=pt)
    del with_pt["summary"]["atlas"]
    assert with_pt == plain


# ------------------------------------------------------------------------ result file + leaderboard
#: any committed jets robustness entry of the classifier: the template for the method and dataset blocks
SUBMISSION = sorted((Path(__file__).resolve().parents[1] / "leaderboard" / "submissions").glob(
    "jets__robustness__classifier__*.json"))[0]


def atlas_result(n_seeds: int = 2) -> dict:
    """A result on the atlas_toptag source built through build_result (schema and consistency checked)."""
    from benchmark.results.io import build_result

    base = json.loads(SUBMISSION.read_text())
    truth, preds, pt = truth_and_predictions()
    per_seed = []
    for seed in range(n_seeds):
        p = {d: (ids, np.clip(s + 0.001 * seed * (s > 0.5), 0, 1)) for d, (ids, s) in preds.items()}
        per_seed.append(Evaluator("jets", source="atlas_toptag").eval_domains(truth, p, "nominal", jet_pt=pt))
    domains = list(truth)
    dataset = {**base["dataset"], "source": "atlas_toptag", "version": "2", "size": "full",
               "test_sha256": {d: "0" * 64 for d in domains}}
    return build_result(method=base["method"], dataset=dataset, protocol="robustness", source_domain="nominal",
                        target_domain=None, domains=domains, domain_parameters={}, seeds=list(range(n_seeds)),
                        per_seed=per_seed, hardware=base["hardware"], wall_time_s=1.0)


def test_schema_accepts_the_atlas_block_and_old_files():
    from benchmark.results.io import schema_errors

    result = atlas_result()
    assert schema_errors(result) == []
    agg = result["aggregate"]["summary"]["atlas"]
    assert agg["per_domain"]["nominal"]["350_550"]["rejection"] == {"mean": 4.0, "std": 0.0}
    assert "750_950" not in agg["per_domain"]["nominal"] or \
        "rejection" not in agg["per_domain"]["nominal"]["750_950"]          # undefined: no mean
    assert schema_errors(json.loads(SUBMISSION.read_text())) == []        # old files stay valid
    bad = copy.deepcopy(result)
    bad["per_seed"][0]["summary"]["atlas"]["per_domain"]["nominal"]["350_550"]["rejection"] = -1
    bad["per_seed"][0]["summary"]["atlas"]["uncertainty"]["cer"]["bin one"] = 0.1
    errors = " ".join(schema_errors(bad))
    assert "350_550.rejection" in errors and "bin one" in errors


def test_leaderboard_shows_the_atlas_table(tmp_path):
    from benchmark.leaderboard import build_groups, make_entry, render_html, render_markdown

    result = atlas_result()
    result["method"] = {**result["method"], "name": "tagger <b>|x"}
    groups = build_groups([make_entry("atlas.json", result)])
    md = render_markdown(groups)
    assert "#### ATLAS binned rejection and systematic uncertainties" in md
    header = next(line for line in md.splitlines() if line.startswith("| jet pT"))
    assert [c.strip() for c in header.strip("|").split("|")] == \
        ["jet pT [GeV]", "jets (top / QCD)", "1/eps_B", "energy scale [%]", "cer [%]", "cpos [%]",
         "cluster total [%]"]
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")]
            for line in md.splitlines() if line.startswith("| ") and "–" in line.split("|")[1]}
    assert rows["350–550"][1:] == ["4 / 4", "4.0 ± 0.0", "50.0 ± 0.0", "66.7 ± 0.0", "50.0 ± 0.0",
                                   f"{100 * np.sqrt(0.5 + 4 / 9):.1f} ± 0.0"]
    assert rows["550–750"][2] == "≥ 3.0 ± 0.0" and rows["550–750"][3] == "–"
    assert rows["750–950"][2] == "–" and "950–1150" not in rows         # empty bins are not shown
    assert "tagger &lt;b&gt;\\|x" in md
    page = render_html(groups)
    assert "<h4>ATLAS binned rejection and systematic uncertainties</h4>" in page
    assert "<td>≥ 3.0 ± 0.0</td>" in page and "tagger &lt;b&gt;|x" in page and "<b>|x" not in page


def test_other_sources_get_no_atlas_table():
    from benchmark.leaderboard import build_groups, make_entry, render_markdown

    md = render_markdown(build_groups([make_entry(SUBMISSION.name, json.loads(SUBMISSION.read_text()))]))
    assert "ATLAS binned" not in md
