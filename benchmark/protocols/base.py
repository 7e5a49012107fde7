"""The protocol interface: one class per protocol owns everything the protocol decides.

In the spirit of MTEB's task types and DomainBed's model-selection classes, every consumer asks the
protocol object instead of testing the protocol's name: the task (:mod:`benchmark.tasks`) asks it what a
method may receive, the runner how to score a fitted method and which protocols can share one fit, the
result checks which fields a result file must have, and the leaderboard its headline score and rule text.
Adding a protocol is one subclass registered with :func:`benchmark.protocols.register_protocol`.
"""
from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from benchmark.methods.base import Method
    from benchmark.tasks import Task


class Protocol(abc.ABC):
    """What a method may see, how it is run and scored, and how its results are ranked."""

    #: the name users type (``--protocol``) and result files record
    name: ClassVar[str]
    #: one line for ``list`` and ``--help``
    summary: ClassVar[str]
    #: the sentence of the leaderboard's ranking rules that defines the headline score
    score_rule: ClassVar[str]
    #: protocols with the same fit group entitle a method to the same data: one fit per seed serves them
    fit_group: ClassVar[str]
    #: whether the protocol needs a target domain (and hands out its unlabelled train split)
    needs_target: ClassVar[bool] = False

    # -- data -------------------------------------------------------------------------------------
    def scored_domains(self, all_domains: list[str], source_domain: str, target_domain: str | None,
                       requested: list[str] | None) -> list[str]:
        """The domains whose test split is scored (default: every domain, the source first)."""
        domains = list(requested) if requested else list(all_domains)
        if source_domain not in domains:
            domains.insert(0, source_domain)
        return domains

    def default_target(self, trainable: list[str], source_domain: str, family_default: str | None) -> str | None:
        return None

    def unlabelled(self, task: "Task") -> dict:
        """Unlabelled data ``fit`` may use besides the labelled source train/validation (none by default)."""
        return {}

    # -- scoring ----------------------------------------------------------------------------------
    @abc.abstractmethod
    def score(self, task: "Task", method: "Method", test: dict) -> tuple[dict, dict]:
        """Score a fitted ``method`` on the unlabelled ``test`` inputs: ``(report, {domain: (ids, scores)})``."""

    def headline(self, seed_entry: dict, result: dict) -> float | None:
        """The ranked score of one seed of a result, read from its verified summary."""
        return seed_entry["summary"].get("mean_shifted")

    # -- result files -----------------------------------------------------------------------------
    def result_errors(self, result: dict) -> list[str]:
        """Protocol-specific consistency errors of a result file (empty when it is consistent)."""
        errors = []
        if self.needs_target and not result.get("target_domain"):
            errors.append(f"protocol {self.name} needs a target_domain")
        if not self.needs_target and result.get("target_domain") is not None:
            errors.append(f"target_domain must be null for protocol {self.name}")
        domains = result.get("domains", [])
        if result.get("source_domain") not in domains:
            errors.append(f"source_domain {result.get('source_domain')!r} is not among the scored domains {domains}")
        target = result.get("target_domain")
        if self.needs_target and target is not None:
            if target not in domains:
                errors.append(f"target_domain {target!r} is not among the scored domains {domains}")
            elif target == result.get("source_domain"):
                errors.append("target_domain must differ from source_domain")
        return errors

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "summary": self.summary, "score_rule": self.score_rule,
                "fit_group": self.fit_group, "needs_target": self.needs_target}


def predict_scores(task: "Task", method: "Method", test: dict) -> tuple[dict, dict]:
    """Score ``method.predict`` on every scored domain (scores rounded to float32 as they are saved)."""
    predictions = {d: (ev.event_id, np.asarray(method.predict(ev), dtype=np.float32))
                   for d, ev in test.items() if d in task.domains}
    return task.evaluate(predictions), predictions
