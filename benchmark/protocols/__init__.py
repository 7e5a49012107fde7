"""Protocols: one class per protocol (:mod:`.robustness`, :mod:`.domain_shift`, :mod:`.linear_probe`) and the
registry every consumer asks (CLI, task, runner, result checks, schema, leaderboard)."""
from __future__ import annotations

from benchmark.data.registry import check_name
from benchmark.protocols.base import Protocol
from benchmark.protocols.domain_shift import DomainShift
from benchmark.protocols.linear_probe import LinearProbe
from benchmark.protocols.robustness import Robustness

_REGISTRY: dict[str, Protocol] = {}


def register_protocol(protocol: Protocol | type[Protocol], replace: bool = False) -> Protocol:
    """Add a protocol (an instance or a class) under its ``name``."""
    obj = protocol() if isinstance(protocol, type) else protocol
    if obj.name in _REGISTRY and not replace:
        raise ValueError(f"protocol {obj.name!r} is already registered")
    _REGISTRY[obj.name] = obj
    return obj


def unregister_protocol(name: str) -> None:
    _REGISTRY.pop(name, None)


def get_protocol(name: str) -> Protocol:
    """The protocol called ``name`` (the error names the valid ones)."""
    return _REGISTRY[check_name("protocol", name, _REGISTRY)]


def protocol_names() -> list[str]:
    return list(_REGISTRY)


for _cls in (Robustness, DomainShift, LinearProbe):
    register_protocol(_cls)

__all__ = ["Protocol", "register_protocol", "unregister_protocol", "get_protocol", "protocol_names"]
