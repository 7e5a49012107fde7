"""``robustness``: fit on the labelled source train split, predict the test split of every domain."""
from __future__ import annotations

from benchmark.protocols.base import Protocol, predict_scores


class Robustness(Protocol):
    name = "robustness"
    summary = "fit on labelled source train; predict every domain's test split"
    score_rule = "`robustness`: mean over the shifted domains (every scored domain except the source domain)"
    fit_group = "inductive"

    def score(self, task, method, test):
        return predict_scores(task, method, test)
