"""The ATLAS Top Tagging Open Data Set with systematic uncertainties as a SimShift source (``jets/atlas_toptag``).

Record: ATLAS collaboration (2024), "ATLAS top tagging open data set with systematic uncertainties",
CERN Open Data record 80030, DOI 10.7483/OPENDATA.ATLAS.SOAY.LABE, licence CC0-1.0; paper
"Accuracy versus precision in boosted top tagging with the ATLAS detector", arXiv:2407.20127,
JINST 19 (2024) P08018, CERN-EP-2024-159.  13 TeV ATLAS full simulation; large-R jets described by up
to 200 calorimeter-cluster constituents (pT, eta, phi, E in MeV, hardest first, zero padded).

Why a source of ``jets`` and not a family of its own: the task (top = 1 vs QCD = 0), the event
content (a variable-length list of constituent four-momenta) and the protocols are the same, so a
method trained on either source runs unchanged on the other; what differs (13 TeV, a 350-3150 GeV pT
range, calorimeter clusters instead of Delphes e-flow, per-jet training weights, 15 substructure
observables) is carried by source-specific columns (:data:`EXTRA_COLUMNS`) and documented in the card.

Files and trust chain (``datasets/atlas_toptag/README.md`` has the table and where each number comes from):

1. The record publishes, per set, a file index (``<set>_file_index.json``) with its size and adler32
   checksum (record JSON in github.com/cernopendata/opendata.cern.ch, ``data/records/atlas-CERN-EP-2024-159.json``).
   They are pinned in :data:`INDEX_FILES`.  The https address is the record's ``root://eospublic.cern.ch/``
   URI with that prefix replaced by ``https://opendata.cern.ch``, the rule of the portal's own client
   (cernopendata-client ``searcher.get_files_list(protocol="http")``).
2. A downloaded index is verified (size + adler32) and then lists every data file (``*.h5.gz``) with its
   size, adler32 and URI; those are verified the same way after download.  Nothing is trusted that did
   not come through a verified step; an index entry without a checksum is refused unless the caller
   passes ``trust_size_only=True``.

CERN Open Data publishes only size + adler32, which pooch does not check; :mod:`benchmark.data.fetch`
does (``RemoteFile.adler32``): every file goes through the standard fetch path, so a cached copy that
does not match is fetched again, a download that does not match is deleted and refused with
:class:`~benchmark.data.fetch.FetchError`, and ``--local-dir`` ingests copies after the same check.
Only index entries accepted with ``trust_size_only`` (no checksum) are checked here, by size alone.

Conversion (streamed in blocks of :data:`BLOCK_SIZE` jets with h5py; each ``.h5.gz`` is decompressed to
a temporary file next to it and removed after conversion):

* constituents: (pT, eta, phi, E) [MeV] -> (E, px, py, pz) [GeV], zero padding (pT = 0) dropped,
  sorted by decreasing pT; ``jet_*`` from the constituent sum like every jets source;
* ``label`` from the file's ``labels`` (1 = signal top jet, 0 = background, as the record states);
* ``weight``: the published per-jet training weight in train/validation (record rule 1: weight every
  jet's loss term by it); 1.0 in every test split, because the systematic sets carry no training
  weight ("training weight (nominal only)", record text) and nominal and shifted test metrics must be
  computed the same way; the published value itself is kept as ``training_weight`` (NaN where absent);
* the jet four-vector (``fjet_pt``, ``fjet_eta``, ``fjet_phi``, ``fjet_m``) and the 15 high-level
  observables as float32 columns, dimensionful ones converted from MeV^k to GeV^k (which ones are
  dimensionful: the official example code ``utils.high_level`` scales ECF1, sqrt(d12), sqrt(d23), Qw
  as energies, ECF2 as energy^2, ECF3 as energy^3); ``EventInfo_mcEventNumber`` as ``mc_event_number``;
  the Pythia shower weights (``EventInfo_mcEventWeights``, 2-D, nominal only) are not kept;
* validation: the record has no validation set, so the nominal train files are split by event number:
  jets with ``mcEventNumber % VALIDATION_MODULUS == 0`` (10 %) go to ``validation``.  Deterministic, the
  same whatever subset is fetched, and all jets of one event land in the same split.
* ``event_id`` = split code x 1e9 + set code x 1e8 + file ordinal x 250,000 + row: unique per split and
  never equal across sets, because pairing of the systematic sets with the nominal test jets is not
  documented (per-event agreement with nominal is therefore not reported for them).

The six modelling sets (ttbar_pythia/ttbar_herwig signal only, cluster/string/angular/dipole background
only) are single-class samples whose official use compares efficiencies at a fixed working point, a
metric our evaluator does not compute; their index checksums are registered but they are not domains.
"""
from __future__ import annotations

import dataclasses
import gzip
import json
import re
import shutil
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from benchmark.data.fetch import FetchError, RemoteFile, _human, fetch_file, mismatch, resolve_url
from benchmark.data.registry import (EVENT_ID_STRIDE, SPLIT_CODES, ColumnSpec, DomainSpec, FamilySpec,
                                     SourceSpec)
from benchmark.simulators.jets.detector import jet_kinematics
from benchmark.sources.base import PublishedSource

RECORD_ID = "80030"
DOI = "10.7483/OPENDATA.ATLAS.SOAY.LABE"
RECORD_URL = f"https://opendata.cern.ch/record/{RECORD_ID}"
#: the portal's XRootD prefix and its https replacement (cernopendata-client config/searcher)
ROOT_PREFIX = "root://eospublic.cern.ch/"
HTTP_SERVER = "https://opendata.cern.ch"
INDEX_DIR = "root://eospublic.cern.ch//eos/opendata/atlas/datascience/CERN-EP-2024-159/file-indexes"

#: (size in bytes, adler32) of every ``<set>_file_index.json`` and ``.txt`` as published in the record
#: JSON (cernopendata/opendata.cern.ch data/records/atlas-CERN-EP-2024-159.json, recid 80030).
INDEX_FILES: dict[str, dict[str, tuple[int, str]]] = {
    "angular": {"json": (10449, "1038c77b"), "txt": (4600, "cdbc02bc")},
    "bias": {"json": (20505, "2388bf00"), "txt": (8989, "6ce4a28a")},
    "cer": {"json": (20304, "bacc7441"), "txt": (8888, "90827ab1")},
    "cluster": {"json": (10658, "339d094c"), "txt": (4692, "f7642647")},
    "cpos": {"json": (20506, "e0b3d370"), "txt": (8989, "cabcab38")},
    "dipole": {"json": (10349, "37199a30"), "txt": (4550, "c1cced63")},
    "esdown": {"json": (20910, "e2537ff4"), "txt": (9191, "bb2e01ae")},
    "esup": {"json": (20506, "6951dd5d"), "txt": (8989, "d83fae60")},
    "string": {"json": (10556, "d22cdd38"), "txt": (4641, "56e610f6")},
    "teg": {"json": (15078, "7330abc8"), "txt": (6600, "6400878f")},
    "tej": {"json": (14274, "8a1cca2b"), "txt": (6248, "5fc213ee")},
    "test_nominal": {"json": (22778, "58983cbf"), "txt": (10088, "b5b75fba")},
    "tfj": {"json": (14073, "ba0f9265"), "txt": (6160, "5a8ef707")},
    "tfl": {"json": (12062, "92d9584d"), "txt": (5280, "78f0d417")},
    "train_nominal": {"json": (205312, "34fdfbdb"), "txt": (91042, "3e62dbfb")},
    "ttbar_herwig": {"json": (442, "7d9f8190"), "txt": (194, "a26941ae")},
    "ttbar_pythia": {"json": (443, "64288261"), "txt": (194, "a76a41c0")},
}
#: the record's totals (distribution block of the record JSON)
RECORD_TOTAL = {"files": 2020, "bytes": 182_814_191_608, "jets": 205_774_178}

#: published jet counts and signal fractions per set (record description text)
SETS: dict[str, dict[str, Any]] = {
    "train_nominal": {"jets": 92_820_427, "signal_fraction": 0.5, "what": "nominal training set"},
    "test_nominal": {"jets": 10_306_813, "signal_fraction": 0.5, "what": "nominal test set"},
    "esup": {"jets": 10_032_472, "signal_fraction": 0.5, "what": "cluster energy scale up"},
    "esdown": {"jets": 10_032_472, "signal_fraction": 0.5, "what": "cluster energy scale down"},
    "cer": {"jets": 10_040_653, "signal_fraction": 0.5, "what": "cluster energy resolution"},
    "cpos": {"jets": 10_032_472, "signal_fraction": 0.5, "what": "cluster position"},
    "teg": {"jets": 7_421_204, "signal_fraction": 0.30, "what": "track efficiency, global"},
    "tej": {"jets": 7_017_046, "signal_fraction": 0.32, "what": "track efficiency in jets"},
    "tfl": {"jets": 5_907_310, "signal_fraction": 0.18, "what": "track fake rate, loose"},
    "tfj": {"jets": 6_977_371, "signal_fraction": 0.32, "what": "track fake rate in jets"},
    "bias": {"jets": 10_011_330, "signal_fraction": 0.52, "what": "track bias"},
    "ttbar_pythia": {"jets": 193_792, "signal_fraction": 1.0, "what": "SM ttbar, Pythia (signal modelling)"},
    "ttbar_herwig": {"jets": 180_811, "signal_fraction": 1.0, "what": "SM ttbar, Herwig (signal modelling)"},
    "cluster": {"jets": 5_000_004, "signal_fraction": 0.0, "what": "Sherpa cluster hadronisation (background)"},
    "string": {"jets": 5_000_001, "signal_fraction": 0.0, "what": "Lund string hadronisation (background)"},
    "angular": {"jets": 4_900_000, "signal_fraction": 0.0, "what": "Herwig angular-ordered shower (background)"},
    "dipole": {"jets": 4_900_000, "signal_fraction": 0.0, "what": "Herwig dipole shower (background)"},
}
#: the detector systematic sets that become test-only domains (mixed signal and background)
SYSTEMATIC_SETS = ("esup", "esdown", "cer", "cpos", "teg", "tej", "tfl", "tfj", "bias")
#: set -> (domain, split); the nominal train set also feeds ``validation`` (see VALIDATION_MODULUS)
SET_TARGET = {"train_nominal": ("nominal", "train"), "test_nominal": ("nominal", "test"),
              **{s: (s, "test") for s in SYSTEMATIC_SETS}}
#: sets sharing the test split get disjoint event-id ranges
SET_CODES = {"train_nominal": 0, "test_nominal": 0, **{s: i + 1 for i, s in enumerate(SYSTEMATIC_SETS)}}
SET_STRIDE = 100_000_000
FILE_STRIDE = 250_000

#: jets per converted part (also the h5py read block)
BLOCK_SIZE = 20_000
#: validation = nominal train jets whose mcEventNumber is divisible by this (10 %)
VALIDATION_MODULUS = 10
MEV_PER_GEV = 1000.0

CONSTITUENT_FIELDS = ("fjet_clus_pt", "fjet_clus_eta", "fjet_clus_phi", "fjet_clus_E")
JET_FIELDS = ("fjet_pt", "fjet_eta", "fjet_phi", "fjet_m")
#: the 15 high-level observables (official example code and record: "15 high level summary quantities")
HL_FIELDS = ("fjet_C2", "fjet_D2", "fjet_ECF1", "fjet_ECF2", "fjet_ECF3", "fjet_L2", "fjet_L3", "fjet_Qw",
             "fjet_Split12", "fjet_Split23", "fjet_Tau1_wta", "fjet_Tau2_wta", "fjet_Tau3_wta",
             "fjet_Tau4_wta", "fjet_ThrustMaj")
#: energy power of the dimensionful fields (MeV^k -> GeV^k); all others are dimensionless
ENERGY_POWER = {"fjet_pt": 1, "fjet_m": 1, "fjet_ECF1": 1, "fjet_ECF2": 2, "fjet_ECF3": 3, "fjet_Qw": 1,
                "fjet_Split12": 1, "fjet_Split23": 1}
LABEL_FIELD = "labels"
WEIGHT_FIELD = "training_weights"
EVENT_NUMBER_FIELD = "EventInfo_mcEventNumber"

_HL_MEANING = {
    "fjet_C2": "energy correlation ratio C2", "fjet_D2": "energy correlation ratio D2",
    "fjet_ECF1": "energy correlation function ECF1", "fjet_ECF2": "energy correlation function ECF2",
    "fjet_ECF3": "energy correlation function ECF3", "fjet_L2": "generalised ECF ratio L2",
    "fjet_L3": "generalised ECF ratio L3", "fjet_Qw": "W-mass splitting observable Qw",
    "fjet_Split12": "kT splitting scale sqrt(d12)", "fjet_Split23": "kT splitting scale sqrt(d23)",
    "fjet_Tau1_wta": "N-subjettiness tau1 (WTA axis)", "fjet_Tau2_wta": "N-subjettiness tau2 (WTA axis)",
    "fjet_Tau3_wta": "N-subjettiness tau3 (WTA axis)", "fjet_Tau4_wta": "N-subjettiness tau4 (WTA axis)",
    "fjet_ThrustMaj": "thrust major",
}


def _unit(name: str) -> str:
    k = ENERGY_POWER.get(name, 0)
    return "" if k == 0 else ("GeV" if k == 1 else f"GeV^{k}")


#: columns this source writes besides the shared jets columns (the family must declare them)
EXTRA_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("weight", "float32", "weight the benchmark applies: the published training weight in "
               "train/validation (use it in every loss term, record rule 1), 1.0 in test splits", role="weight"),
    ColumnSpec("training_weight", "float32", "the published per-jet training weight (NaN where the set has none)"),
    ColumnSpec("mc_event_number", "int64", "EventInfo_mcEventNumber of the simulated event"),
    ColumnSpec("fjet_pt", "float32", "calibrated large-R jet pT as published (official pT binning uses it)", "GeV", role="input"),
    ColumnSpec("fjet_eta", "float32", "large-R jet pseudorapidity as published", role="input"),
    ColumnSpec("fjet_phi", "float32", "large-R jet azimuth as published", "rad", role="input"),
    ColumnSpec("fjet_m", "float32", "large-R jet mass as published", "GeV", role="input"),
    *(ColumnSpec(f, "float32", _HL_MEANING[f] + " (published high-level observable)", _unit(f), role="input")
      for f in HL_FIELDS),
)

CITATION = ("ATLAS Collaboration, ATLAS top tagging open data set with systematic uncertainties, CERN Open Data "
            f"Portal (2024), DOI:{DOI}; ATLAS Collaboration, Accuracy versus precision in boosted top tagging "
            "with the ATLAS detector, JINST 19 (2024) P08018, arXiv:2407.20127.")

DESCRIPTION = f"""
The ATLAS Top Tagging Open Data Set with systematic uncertainties (CERN Open Data record {RECORD_ID},
DOI {DOI}, CC0-1.0; arXiv:2407.20127): 13 TeV ATLAS full simulation, large-R jets with up to 200
calorimeter-cluster constituents, top jets (label 1) vs light-quark/gluon jets (label 0). Converted to
this schema: constituents (pT, eta, phi, E) in MeV -> (E, px, py, pz) in GeV, pT-descending, no padding.
`nominal` = the published train/test sets (validation = the train jets with mcEventNumber % {VALIDATION_MODULUS} == 0);
the detector systematic sets ({", ".join(SYSTEMATIC_SETS)}) are test-only domains of kind "systematic".

**Rules of the record.** (1) The contribution of every jet to a loss function must be weighted by its
training weight: the `weight` column holds it in train/validation and methods must use it (the linear
probe does). (2) A performance claim is incomplete without the systematic uncertainties estimated with
the official method: background rejection 1/eps_B at eps_S = 0.5 in bins of `fjet_pt` (200 GeV wide,
350-3150 GeV), uncertainty |R_var/R_nom - 1| per set, energy scale = max(esup, esdown), cluster total =
quadrature of scale, resolution and position. The evaluator computes these (unweighted, as the
official code) into `summary.atlas` of every result on this source, and the leaderboard shows them; the
per-domain metrics next to them are integrated over pT (and unweighted in every test split).

Not included: the six modelling sets (single-class samples), the Pythia shower weights. Event ids of
different sets never coincide: per-event agreement with nominal is not defined for this source.
"""


# ---------------------------------------------------------------------------------------------------
# verified files
# ---------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Adler32File(RemoteFile):
    """A registry entry whose publisher gives only size + adler32 (CERN Open Data).

    ``verified`` is False only for index entries without a checksum, accepted with ``trust_size_only``;
    their ``known_hash`` is ``None`` and only their size is checked (:func:`ensure_file`).
    """

    verified: bool = True

    @property
    def known_hash(self):  # type: ignore[override]
        return RemoteFile.known_hash.fget(self) if (self.sha256 or self.md5 or self.adler32) else None

    @property
    def checksum(self) -> str:
        return f"adler32:{self.adler32}" if self.adler32 else "none (size only)"


def file_problem(path: Path, remote: Adler32File) -> str | None:
    """What is wrong with ``path`` as a copy of ``remote`` (None when it matches)."""
    if remote.known_hash is not None:
        return mismatch(path, remote)
    if remote.verified:
        return "no published checksum"
    size = path.stat().st_size  # trust_size_only entry
    return f"size {size} bytes, published {remote.size}" if remote.size is not None and size != remote.size else None


def ensure_file(remote: Adler32File, dest_dir: Path, progress: bool = False) -> Path:
    """A verified copy of ``remote`` in ``dest_dir``: reuse a good cached copy, else download once.

    Checksummed entries take the standard fetch path; entries accepted with ``trust_size_only`` are
    checked by size here. A copy that does not match is deleted; the error says what to do.
    """
    if remote.known_hash is not None:
        return fetch_file(remote, dest_dir, progress=progress)
    import pooch

    dest = Path(dest_dir) / remote.name
    if dest.exists():
        if file_problem(dest, remote) is None:
            return dest
        dest.unlink()  # truncated cached copy: fetch again
    url = resolve_url(remote)
    try:
        pooch.retrieve(url, known_hash=None, fname=remote.name, path=dest_dir, progressbar=progress)
    except Exception as err:  # network and HTTP errors
        raise FetchError(
            f"could not download {remote.name} ({_human(remote.size)}) from {url}: {type(err).__name__}: {err}.\n"
            f"Offline: download {remote.url} elsewhere and serve the folder over http "
            f"(python -m http.server) with SIMSHIFT_MIRROR=<its url>.") from err
    problem = file_problem(dest, remote)
    if problem is not None:
        dest.unlink()
        raise FetchError(f"{remote.name} downloaded from {url} does not match its published size "
                         f"({problem}); the bad copy was deleted. The server sent a truncated "
                         f"file: try again later or use another mirror via SIMSHIFT_MIRROR.")
    return dest


def http_url(uri: str) -> str:
    """The https address of a portal ``root://`` URI (cernopendata-client's protocol="http" rule)."""
    if not uri.startswith(ROOT_PREFIX):
        raise ValueError(f"unexpected file URI {uri!r}: expected it to start with {ROOT_PREFIX}")
    return HTTP_SERVER + uri[len(ROOT_PREFIX):]


def index_file(set_name: str) -> Adler32File:
    """The pinned registry entry of a set's JSON file index."""
    if set_name not in INDEX_FILES:
        raise ValueError(f"unknown set {set_name!r}; sets of record {RECORD_ID}: {', '.join(sorted(INDEX_FILES))}")
    size, adler = INDEX_FILES[set_name]["json"]
    name = f"{set_name}_file_index.json"
    return Adler32File(name, http_url(f"{INDEX_DIR}/{name}"), size=size, adler32=adler)


_DATA_NAME = re.compile(r"^(?P<set>\w+?)_(?P<num>\d+)\.h5\.gz$")


def parse_index(path: Path, set_name: str, trust_size_only: bool = False) -> list[Adler32File]:
    """Data files listed by a verified ``<set>_file_index.json``, ordered by file number."""
    try:
        entries = json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise FetchError(f"{path} is not a JSON file index: {err}") from err
    if isinstance(entries, dict):  # tolerate {"files": [...]}
        entries = entries.get("files", [])
    files = []
    for e in entries:
        uri = e.get("uri") or ""
        name = e.get("filename") or uri.rsplit("/", 1)[-1]
        if not uri or "size" not in e:
            raise FetchError(f"{path}: entry {e!r} lacks 'uri' or 'size'; is this a CERN Open Data file index?")
        checksum = e.get("checksum") or ""
        adler = checksum.split(":", 1)[1] if checksum.lower().startswith("adler32:") else None
        if adler is None and not trust_size_only:
            raise FetchError(f"{path}: {name} has no adler32 checksum ({checksum!r}); refusing to use it. "
                             "Pass trust_size_only=True to accept size-checked files (recorded as unverified).")
        files.append(Adler32File(name, http_url(uri), size=int(e["size"]), adler32=adler, verified=adler is not None))
    numbered = []
    for f in files:
        m = _DATA_NAME.match(f.name)
        if m is None or m.group("set") != set_name:
            continue  # not a data file of this set
        numbered.append((int(m.group("num")), f))
    if not numbered:
        raise FetchError(f"{path} lists no '{set_name}_NNN.h5.gz' data files")
    return [f for _, f in sorted(numbered, key=lambda t: t[0])]


# ---------------------------------------------------------------------------------------------------
# conversion
# ---------------------------------------------------------------------------------------------------
def read_block(h5, start: int, stop: int) -> dict[str, np.ndarray]:
    """The published fields of rows [start, stop) of one file (names checked, dtypes cast)."""
    need = [*CONSTITUENT_FIELDS, *JET_FIELDS, *HL_FIELDS, LABEL_FIELD]
    missing = [n for n in need if n not in h5]
    if missing:
        raise ValueError(f"{h5.filename}: missing the published datasets {missing}; is this a file of record "
                         f"{RECORD_ID}? (file attributes constit={h5.attrs.get('constit')!r}, hl={h5.attrs.get('hl')!r})")
    out = {n: np.asarray(h5[n][start:stop]) for n in need}
    for n in (WEIGHT_FIELD, EVENT_NUMBER_FIELD):
        out[n] = np.asarray(h5[n][start:stop]) if n in h5 else None
    return out


def constituents_to_p4(pt, eta, phi, energy):
    """(N, C) MeV arrays -> flat E, px, py, pz [GeV] of the real constituents, pT-descending, + offsets."""
    pt = np.asarray(pt, np.float64)
    if pt.ndim != 2:
        raise ValueError(f"constituent arrays must be (jets, constituents), got shape {pt.shape}")
    mask = pt > 0  # zero padding (the official preprocessing masks pt == 0)
    n, c = pt.shape
    jet = np.repeat(np.arange(n), c)[mask.ravel()]
    order = np.lexsort((-pt[mask], jet))  # by jet, then decreasing pT
    sel = [np.asarray(a, np.float64)[mask][order] for a in (pt, eta, phi, energy)]
    p, h, f, e = sel
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(mask.sum(axis=1), out=offsets[1:])
    g = MEV_PER_GEV
    return e / g, p * np.cos(f) / g, p * np.sin(f) / g, p * np.sinh(h) / g, offsets



def convert_block(block: dict[str, np.ndarray], set_name: str, split: str, first_id: int) -> dict[str, Any]:
    """Schema columns (shared + :data:`EXTRA_COLUMNS`) of one block of one set's file."""
    e, px, py, pz, off = constituents_to_p4(*(block[f] for f in CONSTITUENT_FIELDS))
    n = len(off) - 1
    label = np.asarray(block[LABEL_FIELD]).astype(np.int64).ravel()
    if not np.isin(label, (0, 1)).all():
        raise ValueError(f"{LABEL_FIELD} must be 0 (background) or 1 (signal), found {np.unique(label)[:10]}")
    pt, eta, phi, mass = jet_kinematics(e, px, py, pz, off)
    tw = block[WEIGHT_FIELD]
    tw = np.full(n, np.nan, np.float32) if tw is None else np.asarray(tw, np.float32).ravel()
    if split == "test":
        weight = np.ones(n, np.float32)
    else:
        if not np.all(np.isfinite(tw)):
            raise ValueError(f"{set_name}: training jets without a finite '{WEIGHT_FIELD}'; the record's rule 1 "
                             "needs it for every training jet")
        weight = tw
    evn = block[EVENT_NUMBER_FIELD]
    cols: dict[str, Any] = {
        "event_id": first_id + np.arange(n, dtype=np.int64), "label": label,
        "E": np.split(e.astype(np.float32), off[1:-1]), "px": np.split(px.astype(np.float32), off[1:-1]),
        "py": np.split(py.astype(np.float32), off[1:-1]), "pz": np.split(pz.astype(np.float32), off[1:-1]),
        "jet_pt": pt, "jet_eta": eta, "jet_phi": phi, "jet_mass": mass,
        "weight": weight, "training_weight": tw,
        "mc_event_number": np.full(n, -1, np.int64) if evn is None else np.asarray(evn).astype(np.int64).ravel(),
    }
    for f in (*JET_FIELDS, *HL_FIELDS):
        cols[f] = np.asarray(block[f], np.float64).ravel() / MEV_PER_GEV ** ENERGY_POWER.get(f, 0)
    return cols


def fit_to_family(cols: dict[str, Any], columns: Iterable[ColumnSpec]) -> dict[str, Any]:
    """Add the family columns this source has no value for (float scalars: NaN = not applicable)."""
    out = dict(cols)
    n = len(cols["event_id"])
    for c in columns:
        if c.name in out:
            continue
        if c.shape == "scalar" and np.dtype(c.dtype).kind == "f":
            out[c.name] = np.full(n, np.nan, dtype=c.dtype)
        else:
            raise ValueError(f"the jets family column {c.name!r} ({c.dtype}, {c.shape}) has no value in the "
                             "atlas_toptag conversion; extend benchmark/sources/atlas_toptag.py")
    return out


class _PartWriter:
    """Collects converted rows per (domain, split) and writes parts of ``BLOCK_SIZE`` jets.

    Buffering keeps the validation parts (a tenth of each block) full-sized.  It also makes one-jet
    parts rare (only a remainder of exactly one jet at the end of a set), which the current
    DatasetWriter cannot write (``ds[...] = data`` does not broadcast a single ragged row; fix proposed).
    """

    def __init__(self, writer, columns):
        self.writer, self.columns = writer, columns
        self.buffers: dict[tuple[str, str], list[dict]] = {}
        self.next_part: dict[tuple[str, str], int] = {}

    def add(self, domain: str, split: str, cols: dict[str, Any]) -> None:
        if not len(cols["event_id"]):
            return
        buf = self.buffers.setdefault((domain, split), [])
        buf.append(cols)
        if sum(len(c["event_id"]) for c in buf) >= BLOCK_SIZE:
            self._write(domain, split)

    def flush(self) -> None:
        for domain, split in list(self.buffers):
            self._write(domain, split)

    def _write(self, domain: str, split: str) -> None:
        buf = self.buffers.pop((domain, split), [])
        if not buf:
            return
        cols = {k: (sum((c[k] for c in buf), []) if isinstance(buf[0][k], list) else np.concatenate([c[k] for c in buf]))
                for k in buf[0]}
        part = self.next_part.get((domain, split), 0)
        self.next_part[(domain, split)] = part + 1
        self.writer.write_part(domain, split, part, fit_to_family(cols, self.columns))


def _take(cols: dict[str, Any], mask: np.ndarray) -> dict[str, Any]:
    idx = np.flatnonzero(mask)
    return {k: ([v[i] for i in idx] if isinstance(v, list) else np.asarray(v)[idx]) for k, v in cols.items()}


class AtlasTopTagSource(PublishedSource):
    """Downloader/converter of CERN Open Data record 80030 into the ``jets`` schema.

    Options (all optional): ``max_files`` (data files per set), ``max_jets`` (jets per set),
    ``domains`` (list of domain names), ``trust_size_only`` (accept index entries without checksum).
    """

    family = "jets"
    source = "atlas_toptag"
    version = "2"  # 2: opaque event ids, rows shuffled (benchmark.data.ids)
    files = tuple(index_file(s) for s in SET_TARGET)

    def domains(self) -> tuple[DomainSpec, ...]:
        def params(s):
            return {"set": s, "published_jets": SETS[s]["jets"], "signal_fraction": SETS[s]["signal_fraction"]}

        nominal = DomainSpec("nominal", "the published nominal sets: train_nominal (train; validation carved by "
                             "mcEventNumber) and test_nominal (test)",
                             {"train_set": "train_nominal", "test_set": "test_nominal",
                              "published_jets_train": SETS["train_nominal"]["jets"],
                              "published_jets_test": SETS["test_nominal"]["jets"],
                              "validation_rule": f"mcEventNumber % {VALIDATION_MODULUS} == 0"}, kind="nominal")
        syst = tuple(DomainSpec(s, f"ATLAS systematic set '{s}': {SETS[s]['what']} variation active (test only)",
                                params(s), kind="systematic", test_only=True) for s in SYSTEMATIC_SETS)
        return (nominal, *syst)

    # -- options ------------------------------------------------------------------------------------
    def _sets(self, domains: list[str] | None) -> list[str]:
        names = [d.name for d in self.domains()]
        domains = names if domains is None else list(domains)
        unknown = sorted(set(domains) - set(names))
        if unknown:
            raise ValueError(f"unknown atlas_toptag domain(s) {unknown}; valid: {', '.join(names)}")
        return [s for s, (d, _) in SET_TARGET.items() if d in domains]

    @staticmethod
    def _check(max_files, max_jets) -> None:
        for name, v in (("max_files", max_files), ("max_jets", max_jets)):
            if v is not None and int(v) < 1:
                raise ValueError(f"{name} must be a positive number, got {v}")

    def files_needed(self, domains: list[str] | None = None, max_files: int | None = None,
                     max_jets: int | None = None, trust_size_only: bool = False, **options) -> tuple:
        """The file indexes of the requested sets (the data files are chosen from them in ``convert``)."""
        if options:
            raise TypeError(f"unknown atlas_toptag option(s) {sorted(options)}; valid: domains, max_files, "
                            "max_jets, trust_size_only")
        self._check(max_files, max_jets)
        return tuple(index_file(s) for s in self._sets(domains))

    def subset_name(self, **options: Any) -> str:
        opts = {k: v for k, v in options.items() if v not in (None, False)}
        if "domains" in opts:
            opts["domains"] = "-".join(opts["domains"])
        return super().subset_name(**opts)

    # -- conversion ---------------------------------------------------------------------------------
    def convert(self, raw: dict[str, Path], writer, domains: list[str] | None = None, max_files: int | None = None,
                max_jets: int | None = None, trust_size_only: bool = False, progress: bool = False,
                **options: Any) -> None:
        import h5py

        if options:
            raise TypeError(f"unknown atlas_toptag option(s) {sorted(options)}")
        self._check(max_files, max_jets)
        columns = writer.family.columns + tuple(getattr(writer.source, "columns", ()))
        missing = [c.name for c in EXTRA_COLUMNS if c.name not in {c.name for c in columns}]
        if missing:
            raise ValueError(f"neither the family {writer.family.name!r} nor the source declares the atlas_toptag "
                             f"columns {missing}: register benchmark.sources.atlas_toptag.SOURCE (SourceSpec with "
                             "source-specific columns) or use family_with_source(FAMILY)")
        used: dict[str, dict] = {}
        stats: dict[str, dict] = {}
        parts = _PartWriter(writer, columns)
        for set_name in self._sets(domains):
            remote = index_file(set_name)
            if remote.name not in raw:
                raise ValueError(f"atlas_toptag conversion needs {remote.name}; got {sorted(raw)}")
            raw_dir = Path(raw[remote.name]).parent
            index_path = ensure_file(remote, raw_dir, progress)  # verifies (and re-fetches a bad copy)
            used[remote.name] = {"url": remote.url, "bytes": remote.size, "adler32": remote.adler32, "verified": True}
            data_files = parse_index(index_path, set_name, trust_size_only)
            if max_files is not None:
                data_files = data_files[: int(max_files)]
            domain, split = SET_TARGET[set_name]
            base = SPLIT_CODES[split] * EVENT_ID_STRIDE + SET_CODES[set_name] * SET_STRIDE
            limit = EVENT_ID_STRIDE if SET_CODES[set_name] == 0 else SET_STRIDE
            n_read, n_files, counts = 0, 0, {}
            for ordinal, data in enumerate(data_files):
                if max_jets is not None and n_read >= int(max_jets):
                    break
                gz = self._obtain(data, raw_dir, progress)
                used[data.name] = {"url": data.url, "bytes": data.size, "adler32": data.adler32,
                                   "verified": data.verified}
                h5_path = raw_dir / f".{data.name[:-3]}.tmp"
                try:
                    with gzip.open(gz, "rb") as src, open(h5_path, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 22)
                    with h5py.File(h5_path, "r") as h5:
                        rows = int(h5[LABEL_FIELD].shape[0])
                        if rows > FILE_STRIDE or (ordinal + 1) * FILE_STRIDE > limit:
                            raise ValueError(f"{data.name}: {rows} jets (file {ordinal}) exceed the event-id "
                                             f"layout ({FILE_STRIDE} per file); bump the converter version")
                        if max_jets is not None:
                            rows = min(rows, int(max_jets) - n_read)
                        for start in range(0, rows, BLOCK_SIZE):
                            stop = min(start + BLOCK_SIZE, rows)
                            cols = convert_block(read_block(h5, start, stop), set_name, split,
                                                 base + ordinal * FILE_STRIDE + start)
                            for sp, sub in self._splits(cols, split, set_name).items():
                                parts.add(domain, sp, sub)
                                c = counts.setdefault(sp, [0, 0])
                                c[0] += int(len(sub["label"]) - sub["label"].sum())
                                c[1] += int(sub["label"].sum())
                        n_read += rows
                        n_files += 1
                finally:
                    if h5_path.exists():
                        h5_path.unlink()
            parts.flush()
            stats[set_name] = {"domain": domain, "files_used": n_files,
                               "files_listed": len(data_files), "jets_read": n_read,
                               "qcd_top_per_split": {k: v for k, v in counts.items()}}
        writer.info["atlas_toptag"] = {"record": RECORD_URL, "doi": DOI, "files": used, "sets": stats,
                                       "validation_rule": f"mcEventNumber % {VALIDATION_MODULUS} == 0",
                                       "unverified_files": sorted(k for k, v in used.items() if not v["verified"])}

    def _obtain(self, remote: Adler32File, raw_dir: Path, progress: bool) -> Path:
        """A data file listed by an index: through the fetch driver (so --local-dir works), size-only here."""
        if self.fetch_remote is None or remote.known_hash is None:
            return ensure_file(remote, raw_dir, progress)
        return Path(self.fetch_remote(remote))

    @staticmethod
    def _splits(cols: dict[str, Any], split: str, set_name: str) -> dict[str, dict]:
        if split != "train":
            return {split: cols}
        evn = cols["mc_event_number"]
        if np.any(evn < 0):
            raise ValueError(f"{set_name}: '{EVENT_NUMBER_FIELD}' is missing; it is needed to carve the "
                             "validation split")
        val = (evn % VALIDATION_MODULUS) == 0
        return {"train": _take(cols, ~val), "validation": _take(cols, val)}


SOURCE = SourceSpec(
    name="atlas_toptag", kind="published", description=DESCRIPTION,
    domains=AtlasTopTagSource().domains(), make_fetcher=AtlasTopTagSource, citation=CITATION, license="cc0-1.0",
    columns=EXTRA_COLUMNS,
)


def family_with_source(family: FamilySpec) -> FamilySpec:
    """``family`` with the ``atlas_toptag`` source added (a new FamilySpec; the tests' way in)."""
    return dataclasses.replace(family, sources={**family.sources, SOURCE.name: SOURCE})


__all__ = ["AtlasTopTagSource", "Adler32File", "EXTRA_COLUMNS", "INDEX_FILES", "SOURCE", "family_with_source",
           "index_file", "parse_index"]
