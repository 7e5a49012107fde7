"""Event kinds: one module per shape of event (``sparse3d``: voxels, ``jets``: constituents) and the
registry every consumer asks instead of comparing ``EventSet.kind`` / ``FamilySpec.event_kind`` strings.

An :class:`~benchmark.kinds.base.EventKind` holds what depends on the kind: storage (ragged columns ->
EventSet), raw collate, the baselines' encoder inputs, batch joining, the contrastive augmentation
set, the encoder, DANN's encoder settings and the physics-feature observables. A new kind is one
subclass, registered with :func:`register_kind` (inside the package: one module here plus one line
below).
"""
from __future__ import annotations

from benchmark.data.registry import check_name
from benchmark.kinds.base import EventKind, KindConfigError
from benchmark.kinds.jets import JETS
from benchmark.kinds.sparse3d import SPARSE3D

#: the registered kinds by name
KINDS: dict[str, EventKind] = {}


def register_kind(kind: EventKind | type[EventKind], replace: bool = False) -> EventKind:
    """Add an event kind (an instance or a class) under its ``name``."""
    obj = kind() if isinstance(kind, type) else kind
    if not isinstance(obj, EventKind) or not obj.name:
        raise TypeError(f"{kind!r} is not a named benchmark.kinds.EventKind")
    if obj.name in KINDS and not replace:
        raise ValueError(f"event kind {obj.name!r} is already registered")
    KINDS[obj.name] = obj
    return obj


def unregister_kind(name: str) -> None:
    KINDS.pop(name, None)


def get_kind(name: str) -> EventKind:
    """The kind called ``name`` (a ValueError naming the registered kinds otherwise)."""
    return KINDS[check_name("event kind", name, KINDS)]


for _kind in (SPARSE3D, JETS):
    register_kind(_kind)

__all__ = ["EventKind", "KindConfigError", "KINDS", "register_kind", "unregister_kind", "get_kind"]
