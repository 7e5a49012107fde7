"""Integrity of the leaderboard (issue 14): only verified claims are ranked, `leaderboard --check`
re-verifies the store, the store survives concurrent and killed submits, pages show every name
safely, and an ingest never writes through a link to the user's copy.

Uses the toy family (``tests/toyfamily.py``) and the run helper of ``test_results.py``.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from test_results import edit, make_run, run_dir, template_run, tiny_data, truth  # noqa: F401 (fixtures)

TESTS = Path(__file__).resolve().parent


@pytest.fixture
def board(tmp_path):
    (tmp_path / "board" / "submissions").mkdir(parents=True)
    return tmp_path / "board"


def submit_ok(path, board, cache, **kw):
    from benchmark.results import submit

    return submit(path, leaderboard_dir=board, cache_dir=cache, **kw)


def refused(path, cache, **kw) -> list[str]:
    from benchmark.results import SubmissionError, submit

    with pytest.raises(SubmissionError) as info:
        submit(path, dry_run=True, cache_dir=cache, **kw)
    return info.value.reasons


def ranked_methods(board: Path) -> list[str]:
    """Method names in ranked rows (rank is a number) of README.md."""
    names = []
    for line in (board / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if line.startswith("|") and cells[0].isdigit():
            names.append(cells[1])
    return names


# ------------------------------------------------------------------------- verified or not ranked

def test_result_without_predictions_is_refused(run_dir, tiny_data):
    shutil.rmtree(run_dir.parent / "predictions")
    reasons = refused(run_dir, tiny_data[0])
    assert any(r.startswith("no predictions: a leaderboard entry must carry them") for r in reasons)
    edit(run_dir, lambda r: r.update(predictions=None))
    assert any(r.startswith("no predictions") for r in refused(run_dir, tiny_data[0]))


def test_fabricated_results_never_reach_a_ranked_table(tiny_data, truth, tmp_path, board):
    from benchmark.leaderboard import generate_leaderboard
    from benchmark.results import ResultFileError

    cache = tiny_data[0]
    honest = make_run(tiny_data, truth, tmp_path / "honest", name="Honest")
    submit_ok(honest, board, cache)
    # 1. metrics that the predictions do not reproduce (consistent among themselves)
    liar = make_run(tiny_data, truth, tmp_path / "liar", name="Liar")
    edit(liar, lambda r: [e["per_domain"][d].update(auc=0.999) for e in r["per_seed"] for d in r["domains"]])
    assert any("per_domain.nominal.auc: reported 0.999" in r for r in refused(liar, cache))
    # 2. a fabricated 0.99 accuracy without predictions, added to the store by hand
    fake = make_run(tiny_data, truth, tmp_path / "fake", name="Fake")
    shutil.copy(fake, board / "submissions" / "toy__robustness__fake__000000000000.json")
    with pytest.raises(ResultFileError, match=r"fake__000000000000.json: has no predictions"):
        generate_leaderboard(board)
    (board / "submissions" / "toy__robustness__fake__000000000000.json").unlink()
    # 3. derived values that disagree: accuracy against the confusion matrix, summary against per_domain
    edit(fake, lambda r: r["per_seed"][0]["per_domain"]["shifted"].update(accuracy=0.99))
    assert any("accuracy = 0.99 but its confusion matrix gives" in r for r in refused(fake, cache))
    edit(fake, lambda r: r["per_seed"][0]["per_domain"]["shifted"].update(n_events=7))
    assert any("confusion_matrix counts" in r for r in refused(fake, cache))
    generate_leaderboard(board)
    assert ranked_methods(board) == ["Honest"]


def test_summary_must_follow_from_per_domain(run_dir, tiny_data):
    edit(run_dir, lambda r: r["per_seed"][1]["summary"].update(agreement=1.0))
    assert any(r.startswith("per_seed seed 1: summary.agreement = 1.0, but per_domain gives")
               for r in refused(run_dir, tiny_data[0]))


def test_same_predictions_submitted_twice_are_one_entry(run_dir, tiny_data, board):
    cache = tiny_data[0]
    first = submit_ok(run_dir, board, cache)
    r = json.loads(run_dir.read_text())
    r["created"] = "2030-01-01T00:00:00Z"
    run_dir.write_text(json.dumps(r, indent=4))  # re-indented and re-dated: other bytes, same run
    again = submit_ok(run_dir, board, cache)
    assert again.already_present and again.stored_path == first.stored_path
    assert len(list((board / "submissions").glob("*.json"))) == 1
    assert (board / "README.md").read_text().count("Tiny method") == 1
    edit(run_dir, lambda r: r["method"].update(name="Copycat"))
    from benchmark.results import SubmissionError

    with pytest.raises(SubmissionError, match="same predictions are already on the leaderboard"):
        submit_ok(run_dir, board, cache)


def test_stored_files_have_the_usual_permissions(run_dir, tiny_data, board):
    old = os.umask(0o022)
    try:
        report = submit_ok(run_dir, board, tiny_data[0])
    finally:
        os.umask(old)
    for p in (report.stored_path, report.stored_path.with_suffix(".npz"), *report.pages):
        assert p.stat().st_mode & 0o777 == 0o644, p


def test_result_records_the_evaluator_version_not_the_package_version(run_dir):
    import benchmark
    from benchmark.evaluation import EVALUATOR_VERSION

    r = json.loads(run_dir.read_text())
    assert r["evaluator_version"] == EVALUATOR_VERSION != benchmark.__version__


# ------------------------------------------------------------------------------ leaderboard --check

def test_check_verifies_the_store_and_fails_on_tampering(run_dir, tiny_data, board):
    from benchmark.leaderboard import LeaderboardCheckError, check_leaderboard

    cache = tiny_data[0]
    stored = submit_ok(run_dir, board, cache).stored_path
    done = check_leaderboard(board, cache_dir=cache, log=None)
    assert any("metrics recomputed" in d for d in done) and any(d.startswith("README.md") for d in done)
    # tampered metric (consistent with everything derivable, same predictions, so the same name)
    text = stored.read_text()
    r = json.loads(text)
    for e in r["per_seed"]:
        e["per_domain"]["scan_2"]["auc"] = 0.991
    from benchmark.results import compute_aggregate

    r["aggregate"] = compute_aggregate(r["per_seed"])
    stored.write_text(json.dumps(r))
    with pytest.raises(LeaderboardCheckError) as info:
        check_leaderboard(board, cache_dir=cache, log=None)
    assert any(stored.name in m and "scan_2.auc: reported 0.991" in m for m in info.value.reasons)
    stored.write_text(text)
    # tampered predictions: the content no longer matches the name
    npz = stored.with_suffix(".npz")
    good = npz.read_bytes()
    from benchmark.evaluation import read_npz, write_npz
    from benchmark.results.store import expected_members

    arrays = read_npz(npz, sorted(expected_members(r)))
    arrays["scores/seed0/nominal"] = arrays["scores/seed0/nominal"][::-1].copy()
    write_npz(npz, arrays)
    with pytest.raises(LeaderboardCheckError, match=f"{stored.name}: must be named"):
        check_leaderboard(board, cache_dir=cache, log=None)
    npz.write_bytes(good)
    # a page edited by hand
    with open(board / "README.md", "a") as fh:
        fh.write("| 1 | Me | 1.0 |\n")
    with pytest.raises(LeaderboardCheckError, match="README.md: differs from the pages generated"):
        check_leaderboard(board, cache_dir=cache, log=None)


def test_check_command_line(run_dir, tiny_data, board):
    from benchmark.cli import main

    submit_ok(run_dir, board, tiny_data[0])
    assert main(["leaderboard", "--check", "--leaderboard-dir", str(board), "--cache-dir", str(tiny_data[0])]) == 0
    (board / "index.html").write_text("<p>edited</p>")
    assert main(["leaderboard", "--check", "--leaderboard-dir", str(board), "--cache-dir", str(tiny_data[0])]) == 1


# --------------------------------------------------------------------------------------- the store

def test_temporary_and_bad_files_in_the_store(run_dir, tiny_data, board):
    from benchmark.leaderboard import generate_leaderboard
    from benchmark.results import ResultFileError

    stored = submit_ok(run_dir, board, tiny_data[0]).stored_path
    (board / "submissions" / f".{stored.name}.k3j2.tmp.json").write_text("{half a fi")  # another writer's
    generate_leaderboard(board)
    r = json.loads(stored.read_text())
    for change, message in ((lambda e: e.update(accuracy=None), "accuracy"),
                            (lambda e: e.update(bogus=0.5), "which the official evaluator does not produce")):
        bad = json.loads(json.dumps(r))
        change(bad["per_seed"][0]["per_domain"]["shifted"])
        path = board / "submissions" / "toy__robustness__hand__0123456789ab.json"
        path.write_text(json.dumps(bad))
        with pytest.raises(ResultFileError) as info:
            generate_leaderboard(board)
        assert "hand__0123456789ab.json" in str(info.value) and message in str(info.value)
        path.unlink()


_WORKER = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    from benchmark.data.registry import register_family
    register_family("toyfamily:FAMILY")
    from benchmark.evaluation import predictions
    from benchmark.results import submit
    if {kill!r}:  # die between the predictions' rename and the result file's write, holding the lock
        real = predictions.write_npz
        def write_then_die(path, arrays):
            real(path, arrays)
            (path.parent / ("." + path.stem + ".json.x1.tmp.json")).write_text("{{")
            os.kill(os.getpid(), signal.SIGKILL)
        predictions.write_npz = write_then_die
    print(submit(sys.argv[1], leaderboard_dir=sys.argv[2], cache_dir=sys.argv[3]).stored_path)
""")


def _submit_process(path, board, cache, kill=False):
    code = _WORKER.format(tests=str(TESTS), kill=kill)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", code, str(path), str(board), str(cache)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_parallel_submits_each_stored_and_shown_once(tiny_data, truth, tmp_path, board):
    cache = tiny_data[0]
    names = [f"Parallel {k}" for k in range(4)]
    runs = [make_run(tiny_data, truth, tmp_path / f"r{k}", name=n, quality=0.3 + 0.1 * k) for k, n in enumerate(names)]
    procs = [_submit_process(p, board, cache) for p in runs]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [o[1][-2000:] for o in outs]
    assert len(list((board / "submissions").glob("*.json"))) == 4
    assert len(list((board / "submissions").glob("*.npz"))) == 4
    assert sorted(ranked_methods(board)) == names
    page = (board / "index.html").read_text()
    assert all(page.count(f">{n}<") == 1 for n in names)


def test_a_submit_killed_mid_write_does_not_block_the_next(tiny_data, truth, tmp_path, board):
    from benchmark.leaderboard import generate_leaderboard

    cache = tiny_data[0]
    victim = make_run(tiny_data, truth, tmp_path / "victim", name="Victim")
    proc = _submit_process(victim, board, cache, kill=True)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL, err[-2000:]
    leftovers = sorted(p.name for p in (board / "submissions").iterdir())
    assert any(n.endswith(".npz") for n in leftovers) and any(n.startswith(".") for n in leftovers)
    generate_leaderboard(board)  # an incomplete entry is not shown and breaks nothing
    survivor = make_run(tiny_data, truth, tmp_path / "survivor", name="Survivor", quality=0.9)
    report = submit_ok(survivor, board, cache)  # the dead process's lock is gone with it
    assert sorted(p.name for p in (board / "submissions").iterdir()) == sorted(
        [report.stored_path.name, report.stored_path.with_suffix(".npz").name])
    assert ranked_methods(board) == ["Survivor"]


def test_submit_writes_to_the_working_tree_never_the_package(run_dir, tiny_data, tmp_path, monkeypatch):
    from benchmark.results import default_leaderboard_dir, submit

    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="pass --leaderboard-dir"):
        submit(run_dir, cache_dir=tiny_data[0])
    (tmp_path / "clone" / "leaderboard" / "submissions").mkdir(parents=True)
    (tmp_path / "clone" / "docs").mkdir()
    monkeypatch.chdir(tmp_path / "clone" / "docs")
    assert default_leaderboard_dir() == (tmp_path / "clone" / "leaderboard").resolve()
    report = submit(run_dir, cache_dir=tiny_data[0])
    assert report.stored_path.parent == (tmp_path / "clone" / "leaderboard" / "submissions").resolve()


# ------------------------------------------------------------------------------------------- pages

@pytest.mark.parametrize("name", ["evil\u202eexe.gpj", "zero\u200bwidth", "c1\u0085control", "bom\ufeff",
                                  "iso\u2066late"])
def test_invisible_characters_in_names_are_refused(run_dir, tiny_data, name):
    reasons = refused(edit(run_dir, lambda r: r["method"].update(name=name)), tiny_data[0])
    assert any(r.startswith("method.name: only printable characters are allowed; found U+") for r in reasons)


def test_pipe_in_code_url_and_underscore_names_are_shown(run_dir, tiny_data, board):
    edit(run_dir, lambda r: r["method"].update(name="_private", code_url="https://example.org/a|b(c)"))
    submit_ok(run_dir, board, tiny_data[0])
    readme = (board / "README.md").read_text()
    row = next(line for line in readme.splitlines() if "private" in line)
    header = next(line for line in readme.splitlines() if line.startswith("| Rank"))
    assert row.count(" | ") == header.count(" | ")
    assert "[code](https://example.org/a%7Cb%28c%29)" in row
    page = (board / "index.html").read_text()
    assert "<!-- _private -->" in page  # matplotlib writes each text as a comment before its paths


def test_undefined_agreement_is_shown_as_a_dash(tiny_data, truth, tmp_path, board):
    from benchmark.leaderboard.markdown import UNDEFINED

    def unpair(r):
        for e in r["per_seed"]:
            e["summary"]["agreement"], e["summary"]["agreement_per_domain"] = None, {}

    path = edit(make_run(tiny_data, truth, tmp_path / "u", name="Unpaired"), unpair)
    import test_leaderboard

    test_leaderboard.store(board, json.loads(path.read_text()))
    from benchmark.leaderboard import generate_leaderboard

    generate_leaderboard(board)
    rows = test_leaderboard.table_rows((board / "README.md").read_text(), "### toy")
    assert rows[0]["Agreement"] == UNDEFINED == "–"


# ------------------------------------------------------------------------------------------ ingest

def test_ingest_never_writes_through_a_stale_link_to_the_users_copy(tmp_path, monkeypatch):
    import hashlib

    from benchmark.data import fetch

    data = os.urandom(1 << 16)
    original = tmp_path / "mine" / "f.h5"
    original.parent.mkdir()
    original.write_bytes(data)
    other = tmp_path / "other" / "f.h5"  # a second copy of the same published file
    other.parent.mkdir()
    other.write_bytes(data)
    remote = fetch.RemoteFile("f.h5", "https://example.org/f.h5", sha256=hashlib.sha256(data).hexdigest())
    cache = tmp_path / "cache"
    cache.mkdir()
    os.link(original, cache / ".f.h5.ingest")  # what an ingest interrupted after os.link leaves
    os.link(original, cache / ".f.h5.ingest.tmp")

    def copy_then_die(src, dst, *a, **k):  # a copy interrupted half-way
        with open(dst, "wb") as fh:
            fh.write(b"x")
        raise KeyboardInterrupt

    monkeypatch.setattr(fetch.shutil, "copyfile", copy_then_die)
    monkeypatch.setattr(fetch.os, "link", lambda *a: (_ for _ in ()).throw(OSError("EXDEV")))
    with pytest.raises(KeyboardInterrupt):
        fetch.ingest(remote, cache, other.parent)
    assert original.read_bytes() == data
    monkeypatch.undo()
    assert fetch.ingest(remote, cache, other.parent).read_bytes() == data
    assert original.read_bytes() == data
