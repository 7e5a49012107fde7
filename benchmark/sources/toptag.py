"""The published Top Quark Tagging Reference Dataset as a SimShift source (``jets/toptag``).

Record: Kasieczka, Plehn, Thompson, Russel, "Top Quark Tagging Reference Dataset", Zenodo 2603256,
version v0 (2018_03_27), CC-BY-4.0; described in arXiv:1902.09914 ("The Machine Learning Landscape of
Top Taggers").  Files train.h5 / val.h5 / test.h5: pandas HDFStore (PyTables "table" format), key
``table``, 806 columns ``E_0, PX_0, PY_0, PZ_0, ..., PZ_199`` (GeV, leading 200 e-flow constituents,
pT-sorted, zero-padded), ``truthE, truthPX, truthPY, truthPZ`` (truth top, zero for QCD), ``ttv``,
``is_signal_new`` (1 top, 0 QCD).  Published md5 and byte sizes as listed by the Zenodo API and
matched by independent download scripts (JetNet, hep-ml-lab); no sha256 is published.

Conversion (streamed in blocks of ``BLOCK_SIZE`` rows with ``pandas.read_hdf(start, stop)``):
zero padding dropped (E > 0, as ParT does), constituents sorted by decreasing pT, jet pT/eta/phi/mass
computed from the constituents, truth four-vector kept as ``truth_*``; val.h5 -> ``validation``.
The ``nominal`` domain is the published jets; the detector-level throws are derived from them with THE
SAME function as for generated jets (:func:`benchmark.simulators.jets.detector.apply_throw`), seeded
per (split, block, domain), so a user with the real files gets the full robustness protocol.
The generator-variant domains of the generated source have no published counterpart here.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from benchmark.data.fetch import RemoteFile
from benchmark.data.registry import EVENT_ID_STRIDE, SPLIT_CODES, DomainSpec
from benchmark.simulators.base import chunk_rng
from benchmark.sources.base import PublishedSource

RECORD = "https://zenodo.org/records/2603256/files"
N_CONSTITUENTS = 200
FOUR_VECTOR = ("E", "PX", "PY", "PZ")
CONSTITUENT_COLUMNS = tuple(f"{c}_{i}" for i in range(N_CONSTITUENTS) for c in FOUR_VECTOR)
TRUTH_COLUMNS = ("truthE", "truthPX", "truthPY", "truthPZ")
LABEL_COLUMN = "is_signal_new"
#: rows per converted part file (also the unit of the throw seeds: keep fixed for reproducibility)
BLOCK_SIZE = 20_000
#: seed of the derived detector throws (fixed: the published jets have no seed of their own)
THROW_SEED = 20190226
FILE_SPLITS = {"train.h5": "train", "val.h5": "validation", "test.h5": "test"}

FILES = (
    RemoteFile("train.h5", f"{RECORD}/train.h5", md5="45663819f47c13724f67eb0fd80bfa5c", size=1_038_496_555),
    RemoteFile("val.h5", f"{RECORD}/val.h5", md5="dca4b7248027618f041f9baa86d360fc", size=347_378_076),
    RemoteFile("test.h5", f"{RECORD}/test.h5", md5="13163479dee30a5fe546e4536cc3d04d", size=347_849_376),
)
#: published jet counts (train / validation / test), for the card
PUBLISHED_COUNTS = {"train": 1_211_000, "validation": 403_000, "test": 404_000}


class TopTagSource(PublishedSource):
    """Downloader/converter of Zenodo record 2603256 into the ``jets`` schema."""

    family = "jets"
    source = "toptag"
    version = "2"  # 2: opaque event ids, rows shuffled (benchmark.data.ids)
    files = FILES

    def domains(self) -> tuple[DomainSpec, ...]:
        from benchmark.simulators.jets import detector
        from benchmark.simulators.jets.generator import throw_domains

        nominal = DomainSpec("nominal", "the published Top Quark Tagging Reference Dataset jets (Delphes ATLAS card)",
                             dict(detector.THROW_NOMINAL), kind="nominal")
        return (nominal, *throw_domains())

    def files_needed(self, **options: Any) -> tuple[RemoteFile, ...]:
        return self.files

    def convert(self, raw: dict[str, Path], writer, max_jets: int | None = None,
                domains: list[str] | None = None, **options: Any) -> None:
        """Write every domain and split; ``max_jets`` caps the jets per split (a quick subset)."""
        import pandas as pd

        if options:
            raise TypeError(f"unknown toptag option(s) {sorted(options)}; valid: max_jets, domains")
        if max_jets is not None and int(max_jets) < 1:
            raise ValueError(f"max_jets must be a positive number of jets per split, got {max_jets}")
        all_domains = [d.name for d in self.domains()]
        domains = all_domains if domains is None else list(domains)
        unknown = sorted(set(domains) - set(all_domains))
        if unknown:
            raise ValueError(f"unknown toptag domain(s) {unknown}; valid: {', '.join(all_domains)}")
        missing = sorted(set(FILE_SPLITS) - set(raw))
        if missing:
            raise ValueError(f"toptag conversion needs the files {sorted(FILE_SPLITS)}; missing {missing}")
        for name, split in FILE_SPLITS.items():
            path = Path(raw[name])
            with pd.HDFStore(path, mode="r") as store:
                if "/table" not in store.keys():
                    raise ValueError(f"{path}: no pandas key 'table' (keys: {store.keys()}); is this a file "
                                     "of Zenodo record 2603256?")
                n_rows = store.get_storer("table").nrows
            stop = n_rows if max_jets is None else min(n_rows, int(max_jets))
            for part, start in enumerate(range(0, stop, BLOCK_SIZE)):
                df = pd.read_hdf(path, key="table", start=start, stop=min(start + BLOCK_SIZE, stop))
                for domain, cols in convert_block(df, split, start, part, domains).items():
                    writer.write_part(domain, split, part, cols)


def convert_block(df, split: str, first_row: int, block_index: int, domains: list[str]) -> dict[str, dict]:
    """Schema columns of every requested domain for one block of the published table."""
    from benchmark.simulators.jets import detector, pythia
    from benchmark.simulators.jets.generator import jets_columns, throw_parameters

    need = [*CONSTITUENT_COLUMNS, *TRUTH_COLUMNS, LABEL_COLUMN]
    absent = [c for c in need if c not in df.columns]
    if absent:
        raise ValueError(f"the table lacks the published columns {absent[:6]}{' ...' if len(absent) > 6 else ''}; "
                         "expected E_0,PX_0,PY_0,PZ_0,...,PZ_199, truthE..truthPZ, is_signal_new")
    p4 = df[list(CONSTITUENT_COLUMNS)].to_numpy(np.float64).reshape(len(df), N_CONSTITUENTS, 4)
    mask = p4[:, :, 0] > 0                              # zero padding has E = 0
    n = len(df)
    jet = np.repeat(np.arange(n), N_CONSTITUENTS)[mask.ravel()]
    flat = p4.reshape(-1, 4)[mask.ravel()]
    pt = np.hypot(flat[:, 1], flat[:, 2])
    order = np.lexsort((-pt, jet))                      # by jet, then decreasing pT
    flat = flat[order]
    offsets = np.concatenate([[0], np.cumsum(mask.sum(axis=1))]).astype(np.int64)
    e, px, py, pz = flat.T
    label = df[LABEL_COLUMN].to_numpy().astype(np.int64)
    if not np.isin(label, (0, 1)).all():
        raise ValueError(f"{LABEL_COLUMN} must be 0 or 1, found {np.unique(label)}")
    truth = df[list(TRUTH_COLUMNS)].to_numpy(np.float64)
    event_id = SPLIT_CODES[split] * EVENT_ID_STRIDE + first_row + np.arange(n, dtype=np.int64)
    out = {}
    for d in domains:
        rng = chunk_rng(THROW_SEED, "toptag", split, block_index, d, "throw")
        par = throw_parameters(d, n, rng)
        if d == "nominal":
            te, tx, ty, tz, toff = e, px, py, pz, offsets
        else:
            te, tx, ty, tz, toff = detector.apply_throw(e, px, py, pz, offsets, par, rng)
        # the reference used Pythia 8's default tune [arXiv:1902.09914]: store the default settings
        out[d] = jets_columns(event_id, label, te, tx, ty, tz, toff, {**par, **pythia.NOMINAL_GENERATOR}, truth)
    return out
