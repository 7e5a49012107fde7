"""``linear_probe`` (the linear classifier test): the method gives frozen embeddings, the benchmark fits its
fixed probe (:mod:`benchmark.evaluation.linear_probe`) on the source train embeddings and scores every domain."""
from __future__ import annotations

import numpy as np

from benchmark.protocols.base import Protocol


class LinearProbe(Protocol):
    name = "linear_probe"
    summary = "frozen embeddings; the benchmark's fixed linear probe is fitted on source train"
    score_rule = "`linear_probe`: mean over all scored domains"
    fit_group = "inductive"

    def score(self, task, method, test):
        train, val = task.train_data(), task.validation_data()
        emb = {"train": (train.event_id, method.embed(train.without_labels())),
               "validation": (val.event_id, method.embed(val.without_labels()))}
        emb.update({d: (ev.event_id, method.embed(ev)) for d, ev in test.items() if d in task.domains})
        report = task.evaluate_embeddings(emb)
        return report, report.pop("predictions")

    def headline(self, seed_entry, result):
        metric = seed_entry["summary"]["metric"]
        return float(np.mean([seed_entry["per_domain"][d][metric] for d in result["domains"]]))
