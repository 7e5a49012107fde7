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


@pytest.mark.parametrize("family", ["ndlar", "sfgd", "jets"])
def test_card_has_what_the_hub_asks_for(family):
    """A release is downloaded without the repository: its card itself carries the licence, the task and
    size categories, the column units, the domains, the simulator's limits and the BibTeX to cite."""
    import yaml

    card = (ROOT / "datasets" / family / "README.md").read_text()
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["license"] and meta["task_categories"]
    assert "size_categories" in meta  # filled from the event count once data exist (empty in the template)
    for section in ("## Columns", "| unit |", "## Domains", "not modelled", "## Citation", "```bibtex"):
        assert section.lower() in card.lower(), section
    for key in ("@software{simshift", "@article{radev2025contrastive", "@article{dillon2022jetclr"):
        assert key in card
