"""The catalogue of dataset families, their sources and their domains.

A *family* is one detector technology with one label set (``ndlar``, ``sfgd``, ``jets``).
A *source* is where a family's events come from: ``generated`` (a built-in simulator, the
embedded default) or a published record (``toptag`` ...).  Each source has *domains*: ``nominal``
plus shifted versions ("throws", "variants") that render the same true events where the
generator allows it.  Every domain has the splits ``train``, ``validation`` and ``test``.

Family modules live in :mod:`benchmark.families` and are imported lazily, so that ``list`` and
``--help`` stay fast and a broken simulator cannot break the whole CLI.
"""
from __future__ import annotations

import difflib
import importlib
import re
from dataclasses import dataclass, field
from typing import Any, Callable

SPLITS: tuple[str, ...] = ("train", "validation", "test")
SPLIT_CODES = {"train": 0, "validation": 1, "test": 2}
#: internal event indices (never stored: :mod:`benchmark.data.ids` makes the stored ids opaque) of
#: different splits never collide: index = split code * EVENT_ID_STRIDE + position in the split
EVENT_ID_STRIDE = 1_000_000_000
DOMAIN_NAME = re.compile(r"^\w+$")
#: label-like columns of every family, hidden from methods without label rights
TRUTH_COLUMNS = frozenset({"label", "pdg", "kinetic_energy", "direction", "start", "is_signal_new", "ttv"})


class UnknownNameError(KeyError, ValueError):
    """A family, source, domain, protocol or method name that does not exist.

    The message names the valid choices and the closest match, so a typo is fixed in one step.
    """

    def __init__(self, kind: str, name: str, valid: list[str] | tuple[str, ...]):
        valid = sorted(valid)
        close = difflib.get_close_matches(str(name), valid, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        self.kind, self.name, self.valid = kind, name, valid
        super().__init__(f"unknown {kind} {name!r}.{hint} Valid {kind}s: {', '.join(valid)}.")

    def __str__(self) -> str:  # KeyError would otherwise wrap the message in quotes
        return self.args[0]


def check_name(kind: str, name: str, valid) -> str:
    """Return ``name`` if it is one of ``valid``, else raise :class:`UnknownNameError`."""
    valid = list(valid)
    if name not in valid:
        raise UnknownNameError(kind, name, valid)
    return name


@dataclass(frozen=True)
class ColumnSpec:
    """One column of the data contract: users write code against these, keep them stable."""

    name: str
    dtype: str  # numpy dtype name of the values ("int32", "float32", ...)
    description: str
    unit: str = ""
    #: "scalar" (one value per event), "vector" (fixed length ``length``) or "ragged" (variable length)
    shape: str = "scalar"
    length: int | None = None
    #: truth information (labels, true kinematics): never handed to a method that is not entitled to labels
    truth: bool = False
    #: what a method may receive of a scalar column (:meth:`FamilySpec.method_columns`): ``"input"`` (a
    #: reconstructed quantity, e.g. the jet mass), ``"weight"`` (an event weight, with the labels only) or
    #: ``""`` (withheld: detector/generator parameters, bookkeeping)
    role: str = ""


@dataclass(frozen=True)
class DomainSpec:
    """One domain: a fixed detector/generator configuration or a random throw range.

    ``parameters`` is machine readable (it is written into the dataset card): for a fixed domain the
    value of every varied parameter, for a random domain the ranges each event draws from.
    ``test_only`` domains (fine scans for robustness curves) only have a ``test`` split.
    """

    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=dict)
    kind: str = "fixed"  # "nominal", "fixed", "scan", "random", "variant", "systematic"
    test_only: bool = False

    def __post_init__(self):
        if not DOMAIN_NAME.match(self.name):
            raise ValueError(f"domain name {self.name!r} must match {DOMAIN_NAME.pattern} (no dashes)")

    @property
    def splits(self) -> tuple[str, ...]:
        return ("test",) if self.test_only else SPLITS


@dataclass(frozen=True)
class SourceSpec:
    """Where a family's events come from.

    ``kind`` is ``"generated"`` (``make_generator`` builds the simulator) or ``"published"``
    (``make_fetcher`` builds the downloader/converter).  Both write the same schema.
    """

    name: str
    kind: str
    description: str
    domains: tuple[DomainSpec, ...]
    make_generator: Callable[[], Any] | None = None
    make_fetcher: Callable[[], Any] | None = None
    citation: str = ""
    #: columns only this source writes, besides the family's (e.g. a published record's weights)
    columns: tuple[ColumnSpec, ...] = ()
    #: SPDX-style licence id of the data (Hugging Face card field ``license``)
    license: str = "cc-by-4.0"

    @property
    def domain_names(self) -> list[str]:
        return [d.name for d in self.domains]

    def domain(self, name: str) -> DomainSpec:
        for d in self.domains:
            if d.name == name:
                return d
        raise UnknownNameError("domain", name, self.domain_names)


@dataclass(frozen=True)
class FamilySpec:
    """A dataset family: label set, event layout, columns and sources."""

    name: str
    title: str
    description: str
    event_kind: str  # "sparse3d" (coords + charge) or "jets" (constituent four-momenta)
    class_names: tuple[str, ...]
    columns: tuple[ColumnSpec, ...]
    sources: dict[str, SourceSpec]
    #: the metric the leaderboard ranks by ("accuracy" for multi-class, "auc" for binary)
    primary_metric: str = "accuracy"
    #: how a voxel index maps to space, for sparse 3D families (written into the card)
    voxel_size_cm: float | None = None
    default_source: str = "generated"
    #: the target domain ``domain_shift`` uses when none is named (a representative throw)
    default_target: str | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def source(self, name: str | None = None) -> SourceSpec:
        name = name or self.default_source
        if name not in self.sources:
            raise UnknownNameError(f"source of family {self.name!r}", name, list(self.sources))
        return self.sources[name]

    def is_truth(self, name: str) -> bool:
        """True for label-like columns (never shown to a method without label rights)."""
        spec = self.column(name)
        return spec.truth or name in TRUTH_COLUMNS or name.startswith("truth")

    def method_columns(self, source: str | None = None, labelled: bool = False) -> tuple[str, ...]:
        """The scalar columns a method may receive besides ``event_id`` and the event content.

        Model inputs always; event weights only with the labels.  Detector and generator parameters
        are withheld: robustness to them is what the benchmark measures.
        """
        roles = ("input", "weight") if labelled else ("input",)
        return tuple(c.name for c in self.columns_for(source)
                     if c.shape == "scalar" and c.role in roles and not self.is_truth(c.name))

    def columns_for(self, source: str | None = None) -> tuple[ColumnSpec, ...]:
        """The family's columns plus those only ``source`` writes."""
        return self.columns + self.source(source).columns

    def column(self, name: str) -> ColumnSpec:
        every = self.columns + tuple(c for s in self.sources.values() for c in s.columns)
        for c in every:
            if c.name == name:
                return c
        raise UnknownNameError("column", name, sorted({c.name for c in every}))


# name -> "module:attribute" of the FamilySpec; imported on first use
_FAMILY_MODULES: dict[str, str] = {
    "ndlar": "benchmark.families.ndlar:FAMILY",
    "sfgd": "benchmark.families.sfgd:FAMILY",
    "jets": "benchmark.families.jets:FAMILY",
}
_CACHE: dict[str, FamilySpec] = {}


def family_names() -> list[str]:
    return list(_FAMILY_MODULES)


def get_family(name: str) -> FamilySpec:
    """The :class:`FamilySpec` called ``name`` (raises :class:`UnknownNameError` naming the valid ones)."""
    check_name("family", name, _FAMILY_MODULES)
    if name not in _CACHE:
        module, attr = _FAMILY_MODULES[name].split(":")
        _CACHE[name] = getattr(importlib.import_module(module), attr)
    return _CACHE[name]


def family_ref(name: str) -> str:
    """The ``"module:attribute"`` that defines family ``name`` (passed to worker processes)."""
    check_name("family", name, _FAMILY_MODULES)
    return _FAMILY_MODULES[name]


def register_family(ref: str, name: str | None = None, replace: bool = False) -> FamilySpec:
    """Add a family defined at ``"module:attribute"`` (tests, users with a family of their own).

    Worker processes re-register it from the same reference, so the module must be importable.
    """
    module, attr = ref.split(":")
    spec = getattr(importlib.import_module(module), attr)
    name = name or spec.name
    if name in _FAMILY_MODULES and _FAMILY_MODULES[name] != ref and not replace:
        raise ValueError(f"family {name!r} is already registered as {_FAMILY_MODULES[name]}")
    _FAMILY_MODULES[name] = ref
    _CACHE[name] = spec
    return spec


def unregister_family(name: str) -> None:
    _FAMILY_MODULES.pop(name, None)
    _CACHE.pop(name, None)


def sparse3d_columns(parameter_columns: list[ColumnSpec]) -> tuple[ColumnSpec, ...]:
    """The shared column contract of the sparse 3D families (``ndlar``, ``sfgd``)."""
    return (
        ColumnSpec("event_id", "int64", "opaque id, the same for the same true particle in every domain"),
        ColumnSpec("label", "int64", "class index (ClassLabel)", truth=True),
        ColumnSpec("coords", "int32", "voxel indices flattened x0,y0,z0,x1,y1,z1,...", "voxel", "ragged"),
        ColumnSpec("charge", "float32", "charge per voxel", "", "ragged"),
        ColumnSpec("pdg", "int64", "PDG code of the true particle", truth=True),
        ColumnSpec("kinetic_energy", "float32", "true initial kinetic energy", "MeV", truth=True),
        ColumnSpec("direction", "float32", "true initial unit direction (x, y, z)", "", "vector", 3, truth=True),
        ColumnSpec("start", "float32", "true start point (x, y, z)", "cm", "vector", 3, truth=True),
        *parameter_columns,
    )
