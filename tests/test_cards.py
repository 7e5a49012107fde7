"""The committed dataset cards are the ones the family specs render (one source of truth)."""
from pathlib import Path

import pytest

from benchmark.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("family", ["ndlar", "sfgd", "jets"])
def test_committed_card_is_up_to_date(family, tmp_path, capsys):
    assert main(["card", family, "--out", str(tmp_path / "README.md")]) == 0
    committed = (ROOT / "datasets" / family / "README.md").read_text()
    assert committed == (tmp_path / "README.md").read_text(), \
        f"datasets/{family}/README.md is stale: run `python -m benchmark card {family}`"
    assert "configs:" in committed and "config_name: nominal" in committed
