"""Protocols: which data a method may see, and how its output is scored.

``robustness``
    fit on labelled ``<source>/train`` (model selection on ``<source>/validation`` only), predict the
    ``test`` split of every domain; per-domain metrics + robustness summary.
``domain_shift``
    labelled ``<source>/train`` plus UNLABELLED ``<target>/train``; model selection on
    ``<source>/validation`` only; scored on ``<target>/test`` (and ``<source>/test`` for reference).
    Where the two domains render the same true events (paired), the source and target train sets
    are disjoint halves of them (by ``event_id`` parity), so no target event has a labelled twin.
``linear_probe``
    the method supplies frozen embeddings; the benchmark fits its fixed linear probe
    (:mod:`benchmark.evaluation.linear_probe`) on ``<source>/train``, chooses its regularisation on
    ``<source>/validation`` and scores every domain's test embeddings.

The :class:`Task` object holds the labels it needs for scoring.  A method gets exactly what its
protocol entitles it to, in two steps:

* ``fit`` receives a :class:`MethodData` (``task.method_data()``): the labelled source train and
  validation splits and, under ``domain_shift``, the unlabelled target train split.  No test inputs:
  a method cannot adapt to the events it is scored on (the protocols are inductive).
* after ``fit`` returns, the test inputs (``task.test_inputs()``) reach it through ``predict`` /
  ``embed`` only.

Every EventSet handed to a method holds the event content (voxels or constituents), ``event_id`` and
the family's declared model-input columns (:meth:`~benchmark.data.registry.FamilySpec.method_columns`);
labelled sets add labels and event weights.  Truth columns and the per-event detector/generator
parameters are never loaded into them.
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from benchmark.data.events import EventSet
from benchmark.data.loader import cached_split, load_events, resolve_folder
from benchmark.data.registry import FamilySpec, check_name, get_family
from benchmark.evaluation import Evaluator, align, fit_linear_probe, full_proba
from benchmark.evaluation.atlas import ATLAS_SOURCE
from benchmark.protocols import Protocol, get_protocol, protocol_names

class _ProtocolSummaries(Mapping):
    """``{name: one-line summary}`` of the registered protocols, read live from the registry."""

    def __getitem__(self, name: str) -> str:
        return get_protocol(name).summary if name in protocol_names() else {}[name]

    def __iter__(self) -> Iterator[str]:
        return iter(protocol_names())

    def __len__(self) -> int:
        return len(protocol_names())


PROTOCOLS: Mapping[str, str] = _ProtocolSummaries()


@dataclass
class MethodData:
    """Everything ``fit`` may see under a protocol (and nothing else: no test inputs)."""

    protocol: str
    family: FamilySpec
    source_domain: str
    train: EventSet  # labelled
    validation: EventSet  # labelled
    unlabelled: dict[str, EventSet] = field(default_factory=dict)  # domain_shift target train, no labels

    @property
    def num_classes(self) -> int:
        return self.family.num_classes


class Task:
    """One protocol on one family/source/size; loads data lazily and scores predictions."""

    def __init__(self, protocol: str, family: str, source: str | None = None, size: str | None = None,
                 source_domain: str = "nominal", target_domain: str | None = None,
                 domains: list[str] | None = None, cache_dir: str | os.PathLike | None = None):
        self.rules: Protocol = get_protocol(protocol)
        self.protocol = self.rules.name
        self.family = get_family(family)
        self.source = self.family.source(source)
        self.size = size
        self.cache_dir = cache_dir
        self.folder = resolve_folder(family, self.source.name, size, cache_dir)
        valid = self.source.domain_names
        trainable = [d.name for d in self.source.domains if not d.test_only]
        self.source_domain = check_name("source domain", source_domain, trainable)
        if self.rules.needs_target:
            if target_domain is None:
                raise ValueError(f"{protocol} needs a target domain (--target); one of: "
                                 f"{', '.join(d for d in trainable if d != source_domain)}")
            self.target_domain = check_name("target domain", target_domain, trainable)
            if self.target_domain == self.source_domain:
                raise ValueError("the target domain must differ from the source domain")
        else:
            if target_domain is not None:
                raise ValueError(f"--target only applies to protocols with a target domain, not {protocol}")
            self.target_domain = None
        requested = [check_name("domain", d, valid) for d in domains] if domains else None
        self.domains = self.rules.scored_domains(valid, self.source_domain, self.target_domain, requested)
        self._cache: dict[tuple, EventSet] = {}
        self._truth: dict[str, tuple] = {}
        self._jet_pt: dict[str, np.ndarray] = {}  # ATLAS source: fjet_pt of each test split (scoring only)
        self._paired_cache: bool | None = None  # decided when train data are first asked for

    def __repr__(self) -> str:
        tgt = f" -> {self.target_domain}" if self.target_domain else ""
        return (f"Task({self.protocol}, {self.family.name}/{self.source.name}, "
                f"{self.source_domain}{tgt}, {len(self.domains)} domains)")

    def share_cache(self, other: "Task") -> None:
        """Read data through ``other``'s cache (tasks of one run on the same family and source)."""
        if (other.family.name, other.source.name, other.folder) != (self.family.name, self.source.name, self.folder):
            raise ValueError("only tasks on the same dataset folder can share loaded data")
        self._cache, self._truth, self._jet_pt = other._cache, other._truth, other._jet_pt

    # -- data a method may see ----------------------------------------------------------------
    def _events(self, domain: str, split: str, with_labels: bool) -> EventSet:
        """A split as a method may see it: content, ids, model inputs (+ labels and weights)."""
        key = (domain, split, with_labels)
        if key not in self._cache:
            allowed = self.family.method_columns(self.source.name, labelled=with_labels)
            self._cache[key] = load_events(self.family.name, domain, split, self.source.name, self.size,
                                           self.cache_dir, with_labels=with_labels, meta_columns=allowed)
        return self._cache[key]

    @property
    def _paired(self) -> bool:
        if self._paired_cache is None:
            self._paired_cache = bool(self.rules.needs_target) and self._target_is_paired()
        return self._paired_cache

    def _target_is_paired(self) -> bool:
        """True if the target train split renders the same true events as the source train split."""
        ids = [cached_split(self.family.name, d, "train", source=self.source.name, size=self.size,
                            cache_dir=self.cache_dir).select_columns(["event_id"]).with_format("numpy")[:]["event_id"]
               for d in (self.source_domain, self.target_domain)]
        return bool(np.intersect1d(ids[0], ids[1]).size)

    def _disjoint_half(self, events: EventSet, half: int) -> EventSet:
        """With a target domain paired to the source, source and target train use disjoint halves of the
        true events (opaque ids are pseudo-random, so their parity is a fair split): otherwise a method
        could join the unlabelled target events to their labelled source twins by ``event_id``."""
        if not self._paired:
            return events
        return events.subset(np.flatnonzero(events.event_id % 2 == half))

    def train_data(self) -> EventSet:
        return self._disjoint_half(self._events(self.source_domain, "train", True), 0)

    def validation_data(self) -> EventSet:
        return self._events(self.source_domain, "validation", True)

    def target_train_data(self) -> EventSet:
        """The unlabelled target train split (its half disjoint from the source train, where paired)."""
        return self._disjoint_half(self._events(self.target_domain, "train", False), 1)

    def unlabelled_data(self) -> dict[str, EventSet]:
        return self.rules.unlabelled(self)

    def test_inputs(self) -> dict[str, EventSet]:
        """The unlabelled test split of every scored domain: for ``predict``/``embed`` after ``fit``."""
        return {d: self._events(d, "test", False) for d in self.domains}

    def method_data(self) -> MethodData:
        """What ``fit`` gets: no reference back to this task, its labels or any test input."""
        return MethodData(self.protocol, self.family, self.source_domain, self.train_data(),
                          self.validation_data(), self.unlabelled_data())

    # -- scoring (labels stay here) -------------------------------------------------------------
    def _test_truth(self, domain: str) -> tuple:
        if domain not in self._truth:
            ds = cached_split(self.family.name, domain, "test", source=self.source.name,
                              size=self.size, cache_dir=self.cache_dir)
            cols = ["event_id", "label"] + (["weight"] if "weight" in ds.column_names else [])
            atlas = self.source.name == ATLAS_SOURCE
            if atlas and "fjet_pt" not in ds.column_names:
                raise ValueError(f"{domain}/test of {self.source.name} has no fjet_pt column: the ATLAS binned "
                                 "rejection needs it; convert the data again with this benchmark")
            table = ds.select_columns(cols + (["fjet_pt"] if atlas else [])).with_format("arrow")[:]
            self._truth[domain] = tuple(table.column(c).to_numpy() for c in cols)
            if atlas:
                self._jet_pt[domain] = table.column("fjet_pt").to_numpy()
        return self._truth[domain]

    def evaluate(self, predictions: dict[str, tuple]) -> dict:
        """Score ``{domain: (event_id, scores (N, C))}`` on the test split of every scored domain
        (on the ATLAS source with the record's binned rejection and uncertainties in the summary)."""
        truth = {d: self._test_truth(d) for d in self.domains}
        jet_pt = {d: self._jet_pt[d] for d in self.domains} if self.source.name == ATLAS_SOURCE else None
        return Evaluator(self.family, self.source.name).eval_domains(truth, predictions, self.source_domain,
                                                                     jet_pt=jet_pt)

    def evaluate_embeddings(self, embeddings: dict[str, tuple]) -> dict:
        """The linear probe: ``{"train": (ids, emb), "validation": (ids, emb), <domain>: (ids, emb)}``."""
        for key in ("train", "validation"):
            if key not in embeddings:
                raise ValueError(f"embeddings need a {key!r} entry (source-domain {key} split)")
        train, val = self.train_data(), self.validation_data()
        tx = align(*embeddings["train"], train.event_id, "train", what="embeddings")
        vx = align(*embeddings["validation"], val.event_id, "validation", what="embeddings")
        weight = train.meta.get("weight")
        probe, info = fit_linear_probe(tx, train.labels, vx, val.labels, self.family.num_classes,
                                       self.family.primary_metric, sample_weight=weight)
        preds = {}
        for d in self.domains:
            if d not in embeddings:
                raise ValueError(f"no test embeddings for domain {d!r}")
            ids = np.asarray(embeddings[d][0])
            x = align(ids, embeddings[d][1], ids, d, what="embeddings")
            preds[d] = (ids, full_proba(probe, x, self.family.num_classes).astype(np.float32))
        report = self.evaluate(preds)
        report["probe"] = info
        report["predictions"] = preds
        return report


def get_task(protocol: str, family: str, source: str | None = None, size: str | None = None,
             source_domain: str = "nominal", target_domain: str | None = None,
             domains: list[str] | None = None, cache_dir: str | os.PathLike | None = None) -> Task:
    """Build a :class:`Task` (errors name the valid protocols, families, domains)."""
    return Task(protocol, family, source, size, source_domain, target_domain, domains, cache_dir)


__all__ = ["PROTOCOLS", "MethodData", "Task", "get_task"]
