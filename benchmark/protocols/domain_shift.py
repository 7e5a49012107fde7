"""``domain_shift``: labelled source train plus the unlabelled target train; scored on the target test split.

Where the two domains render the same true events (paired), the source and target train sets are
disjoint halves of them (:meth:`benchmark.tasks.Task.train_data`), so no target event has a labelled twin.
"""
from __future__ import annotations

from benchmark.protocols.base import Protocol, predict_scores


class DomainShift(Protocol):
    name = "domain_shift"
    summary = "labelled source train + unlabelled target train; scored on the target test split"
    score_rule = "`domain_shift`: on the target domain"
    fit_group = "domain_shift"
    needs_target = True

    def scored_domains(self, all_domains, source_domain, target_domain, requested):
        return [source_domain, target_domain]

    def default_target(self, trainable, source_domain, family_default):
        if family_default and family_default != source_domain:
            return family_default
        return next(d for d in trainable if d != source_domain)

    def unlabelled(self, task):
        return {task.target_domain: task.target_train_data()}

    def score(self, task, method, test):
        return predict_scores(task, method, test)

    def headline(self, seed_entry, result):
        return seed_entry["per_domain"][result["target_domain"]][seed_entry["summary"]["metric"]]
