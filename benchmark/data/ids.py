"""Opaque event ids and label-blind row order: what makes ``event_id`` safe to hand to a method.

Generators and converters number the true events of a split internally (``split code x 10^9 + index``,
:func:`benchmark.simulators.base.Generator.chunks`): that index seeds the per-event random numbers, so a
true particle does not depend on chunking, and it is the same in every domain, which pairs the domains.
Such an index must never reach a method: it reveals the split, the generation order and, wherever a
class depends on the order, the label.  Every part file therefore stores

* ``event_id`` = a keyed pseudo-random permutation of the 63-bit non-negative integers applied to the
  internal index (a 64-bit Feistel network, cycle-walked into ``[0, 2**63)``).  The key is derived from
  the family, source, data version and seed, so the same true event keeps the same id in every domain
  (pairing) while ids of different data versions are unrelated;
* its rows sorted by that id, so the row order within a part is a pseudo-random order that carries no
  information about the label or the generation order, identical in every domain.

This removes the information from the ids and the row order; it is not a secret.  The key is computed
from public provenance, and the simulators are open code: anyone can regenerate a generated dataset and
read its truth.  A benchmark with public simulators cannot prevent that; the ranking rules
(``docs/CONTRIBUTING.md``) forbid it, and what a method is handed (:mod:`benchmark.tasks`) carries
neither labels nor truth.
"""
from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

#: Feistel rounds; 8 rounds of a good 32-bit round function make the permutation indistinguishable from
#: random for any statistical test a classifier could learn (Luby & Rackoff 1988 need only 4 for a PRF).
_ROUNDS = 8
_MASK32 = np.uint64(0xFFFFFFFF)
_ID_SPACE = np.uint64(1) << np.uint64(63)


def id_key(family: str, source: str, version: str, seed: int | None) -> bytes:
    """The permutation key of one dataset: family, source, data version and seed (``None`` = published)."""
    return hashlib.sha256(f"simshift-event-id/v1/{family}/{source}/{version}/{seed}".encode()).digest()


def _round_keys(key: bytes) -> np.ndarray:
    words = np.frombuffer(hashlib.sha512(key).digest(), dtype="<u8")
    return words[:_ROUNDS].astype(np.uint64)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser (Steele, Lea & Flood, OOPSLA 2014): a bijective 64-bit avalanche mix."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _feistel(x: np.ndarray, round_keys: np.ndarray) -> np.ndarray:
    left, right = x >> np.uint64(32), x & _MASK32
    for k in round_keys:
        left, right = right, left ^ (_mix(right ^ k) & _MASK32)
    return (left << np.uint64(32)) | right


def opaque_ids(internal: np.ndarray, key: bytes) -> np.ndarray:
    """Map internal event indices (non-negative int64) to opaque ids in ``[0, 2**63)`` (a bijection)."""
    x = np.asarray(internal, dtype=np.int64)
    if x.size and x.min() < 0:
        raise ValueError("internal event indices must be non-negative")
    rk = _round_keys(key)
    y = _feistel(x.astype(np.uint64), rk)
    # cycle walking: a permutation of [0, 2**64) restricted to [0, 2**63) by re-encrypting until inside
    out = y >= _ID_SPACE
    while out.any():
        y[out] = _feistel(y[out], rk)
        out = y >= _ID_SPACE
    return y.astype(np.int64)


def permute_rows(columns: dict[str, Any], order: np.ndarray) -> dict[str, Any]:
    """Reorder every per-event column (1-D/2-D arrays and ragged lists) by ``order``."""
    out = {}
    for name, value in columns.items():
        if isinstance(value, list):
            out[name] = [value[i] for i in order]
        else:
            out[name] = np.asarray(value)[order]
    return out


def make_opaque(columns: dict[str, Any], key: bytes) -> dict[str, Any]:
    """One part's columns with opaque ``event_id`` s, rows sorted by them (see the module docstring)."""
    ids = opaque_ids(columns["event_id"], key)
    order = np.argsort(ids, kind="stable")
    out = permute_rows({k: v for k, v in columns.items() if k != "event_id"}, order)
    out["event_id"] = ids[order]
    return out
