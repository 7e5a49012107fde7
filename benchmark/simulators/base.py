"""The interface every built-in simulator implements.

Generation is organised in *chunks* of true events.  A chunk is rendered into every domain at
once, so all domains show the same true particles/jets (paired by ``event_id``), and a chunk's
content depends only on ``(seed, version, split, chunk_index)``: the result is identical whatever
the number of workers or shards (``--shard i/N``) that produced it, and an interrupted run resumes
by skipping chunks already on disk.

A generator returns, per domain, a dict of columns:

* scalar columns: 1-D numpy arrays of length ``n`` (one value per event);
* vector columns: 2-D numpy arrays ``(n, k)``;
* ragged columns (``coords``, ``charge``, jet constituents): a list of ``n`` 1-D numpy arrays.

Every domain's dict must contain ``event_id`` and ``label``.  A domain may drop events that fail
its selection (e.g. too few hits above a raised threshold); ``event_id`` keeps the pairing.
"""
from __future__ import annotations

import abc
import hashlib
from typing import Any

import numpy as np

from benchmark.data.registry import EVENT_ID_STRIDE, SPLIT_CODES, DomainSpec

Columns = dict[str, Any]


class Generator(abc.ABC):
    """Base class of the built-in simulators (``ndlar``, ``sfgd``, ``jets``)."""

    #: family name in the registry
    family: str = ""
    #: bump whenever the output for a given seed changes; recorded in the provenance file
    version: str = "0"
    #: size preset -> split -> number of true events (documented in the dataset card)
    sizes: dict[str, dict[str, int]] = {}
    #: true events per chunk file
    chunk_size: int = 500

    @abc.abstractmethod
    def domains(self) -> tuple[DomainSpec, ...]:
        """All domains this generator renders (must equal the source's domains in the registry)."""

    @abc.abstractmethod
    def generate_chunk(self, split: str, chunk_index: int, event_ids: np.ndarray, seed: int,
                       domains: list[str] | None = None) -> dict[str, Columns]:
        """Render the true events ``event_ids`` of one chunk into each requested domain.

        ``domains=None`` means all domains that have ``split`` (test-only domains are only asked
        for ``split == "test"``).  Must be deterministic in ``(seed, split, chunk_index)``.
        """

    def parameters(self) -> dict[str, Any]:
        """Generator-level settings shown by ``benchmark info`` and stored in the provenance."""
        return {}

    def chunk_cost(self, n_events: int, domains: tuple[str, ...] | list[str]) -> float:
        """Relative CPU cost of rendering ``n_events`` true events into ``domains``.

        Only the order of work uses it: the process pool starts the most expensive chunks first, so
        that no long chunk is left running alone at the end (longest-processing-time-first scheduling).
        """
        return float(n_events * max(len(domains), 1))

    def chunks(self, size: str, split: str) -> list[np.ndarray]:
        """The event ids of each chunk of ``split`` at preset ``size``."""
        n = self.sizes[size][split]
        start = SPLIT_CODES[split] * EVENT_ID_STRIDE
        ids = np.arange(start, start + n, dtype=np.int64)
        return [ids[i:i + self.chunk_size] for i in range(0, n, self.chunk_size)]


def chunk_rng(seed: int, *keys: Any) -> np.random.Generator:
    """A numpy generator that depends only on ``seed`` and ``keys`` (e.g. split, chunk, purpose).

    Uses a hash, not Python's ``hash`` (salted per process), so workers agree.
    """
    text = "/".join(str(k) for k in (seed, *keys)).encode()
    words = np.frombuffer(hashlib.sha256(text).digest(), dtype=np.uint32)
    return np.random.default_rng(np.random.SeedSequence(words.tolist()))


def event_rng(seed: int, event_id: int, *keys: Any) -> np.random.Generator:
    """A generator for one true event, independent of chunking (so the same particle is drawn
    whatever the chunk size)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(event_id) & 0xFFFFFFFF,
                                                         int(event_id) >> 32,
                                                         *[int(hashlib.sha256(str(k).encode()).hexdigest()[:8], 16)
                                                           for k in keys]]))
