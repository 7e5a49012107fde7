"""The ``jets`` family: top vs QCD jets (14 TeV, 550 < pT < 650 GeV, anti-kT R = 0.8).

Sources: ``generated`` (Pythia 8 + FastJet + a Delphes-ATLAS-like parametric detector, the embedded
default) and ``toptag`` (the published Top Quark Tagging Reference Dataset, Zenodo 2603256).
"""
from __future__ import annotations

from benchmark.data.registry import ColumnSpec, FamilySpec, SourceSpec
from benchmark.simulators.jets.generator import JetsGenerator
from benchmark.sources.atlas_toptag import SOURCE as ATLAS_TOPTAG
from benchmark.sources.toptag import PUBLISHED_COUNTS, TopTagSource

COLUMNS = (
    ColumnSpec("event_id", "int64", "opaque id, the same for the same jet in every paired domain (generator "
               "variants are unpaired: their jets have ids of their own)"),
    ColumnSpec("label", "int64", "1 = top (hadronic top jet), 0 = QCD jet (ClassLabel)", truth=True),
    ColumnSpec("E", "float32", "constituent energies, constituents ordered by decreasing pT, no padding", "GeV",
               "ragged"),
    ColumnSpec("px", "float32", "constituent momentum x components (same order as E)", "GeV", "ragged"),
    ColumnSpec("py", "float32", "constituent momentum y components", "GeV", "ragged"),
    ColumnSpec("pz", "float32", "constituent momentum z components (beam axis)", "GeV", "ragged"),
    ColumnSpec("jet_pt", "float32", "transverse momentum of the constituent four-momentum sum", "GeV", role="input"),
    ColumnSpec("jet_eta", "float32", "pseudorapidity of the constituent sum", role="input"),
    ColumnSpec("jet_phi", "float32", "azimuth of the constituent sum", "rad", role="input"),
    ColumnSpec("jet_mass", "float32", "invariant mass of the constituent sum", "GeV", role="input"),
    ColumnSpec("jes", "float32", "jet energy scale factor applied to every constituent (1 = nominal)"),
    ColumnSpec("constituent_resolution", "float32",
               "extra relative constituent energy smearing (log-normal sigma; 0 = nominal)"),
    ColumnSpec("soft_pt_min", "float32", "constituents below this pT were removed (0 = nominal)", "GeV"),
    ColumnSpec("angular_sigma", "float32", "Gaussian smearing of constituent eta and phi (0 = nominal)", "rad"),
    ColumnSpec("fsr_renorm_fac", "float32", "Pythia TimeShower:renormMultFac (1 = nominal; 0.5 = alpha_s up)"),
    ColumnSpec("lund_a", "float32", "Pythia StringZ:aLund (0.68 = Monash default)"),
    ColumnSpec("lund_b", "float32", "Pythia StringZ:bLund (0.98 = Monash default)"),
    ColumnSpec("shower_model", "float32", "Pythia PartonShowers:model (1 = simple shower, 2 = Vincia)"),
    ColumnSpec("truth_E", "float32", "energy of the matched truth top quark (0 for QCD)", "GeV", truth=True),
    ColumnSpec("truth_px", "float32", "px of the matched truth top quark (0 for QCD)", "GeV", truth=True),
    ColumnSpec("truth_py", "float32", "py of the matched truth top quark (0 for QCD)", "GeV", truth=True),
    ColumnSpec("truth_pz", "float32", "pz of the matched truth top quark (0 for QCD)", "GeV", truth=True),
)

_gen = JetsGenerator()
_sizes = ", ".join(f"{s}: {n}" for s, n in _gen.sizes["default"].items())

DESCRIPTION = f"""
Boosted top-quark jets (signal, label 1) against QCD light-quark/gluon jets (background, label 0) at
a 14 TeV proton-proton collider, in the setting of the Top Quark Tagging Reference Dataset
(Kasieczka, Plehn et al., arXiv:1902.09914, Zenodo 2603256): the leading anti-kT R = 0.8 jet with
550 < pT < 650 GeV and |eta| < 2, described by up to 200 constituent four-momenta.

**Units and conventions.** Energies and momenta in GeV, angles in radians; z is the beam axis.
Constituents are stored as `E`, `px`, `py`, `pz` lists ordered by decreasing pT, without padding
(at most 200 per jet). `jet_*` are computed from the stored constituents. The per-jet settings the
jet was rendered with are float32 columns (`jes`, `constituent_resolution`, `soft_pt_min`,
`angular_sigma`, `fsr_renorm_fac`, `lund_a`, `lund_b`, `shower_model`). `truth_*` is the four-momentum
of the matched top quark (zeros for QCD); it is truth information and is never given to methods.
The preprocessing used by the baselines ((pT, eta, phi), centring, optional rotation, flip, pT
normalisation) is `benchmark.simulators.jets.preprocessing.preprocess_jets`.

### Generated source (embedded default)
* **Generator**: Pythia 8 (`pythia8mc` 8.317 wheel), 14 TeV pp, Monash 2013 default tune (Tune:pp = 14),
  **MPI off and no pile-up**, like the reference dataset. Top: `Top:gg2ttbar`, `Top:qqbar2ttbar` with
  both W forced to hadrons (`24:onMode = off`, `24:onIfAny = 1 2 3 4 5`). QCD: `HardQCD:all`.
  pT-hat window 500-700 GeV (the reference's pT-hat cut is not published; the window is a little wider
  than the jet window so jets that gain or lose pT are not cut away). Particles with c tau > 10 mm are
  stable (`ParticleDecays:limitTau0`), so K0S and Lambda reach the calorimeter.
* **Detector**: a fast parametric response with the values of Delphes' default ATLAS card
  (delphes/delphes cards/delphes_card_ATLAS.tcl, modules/SimpleCalorimeter.cc): charged-track efficiency
  (0.70/0.95 below/above 1 GeV for |eta| <= 1.5, 0.60/0.85 to 2.5) and log-normal pT resolution
  sqrt(a^2 + (b pT)^2); ECAL (10.1%/sqrt(E) + 0.17%) and HCAL (52.05%/sqrt(E) + 3.02% + 1.59 GeV) towers on
  0.0174 x 1 deg and 0.1 x 10 deg grids, thresholds 0.5/1.0 GeV and significance 2, tower positions
  uniform in the cell; energy flow = tracks + the significant neutral excess of each tower (tracks
  rescaled to the inverse-variance mean of track and tower energy when there is none). Not modelled:
  track bending before the calorimeter, material interactions, separate e/mu efficiencies, pile-up.
* **Jets**: FastJet anti-kT R = 0.8 on all e-flow objects of the event; the leading jet only; 550 < pT <
  650 GeV, |eta| < 2. Top jets must be truth matched as in the reference: the top quark (last copy before
  decay) within dR < 0.8 of the jet axis and all its decay quarks (b and both W daughters) within dR < 0.8.
  QCD jets are not matched. Up to 200 constituents, pT-sorted.
* **Classes**: each chunk of 250 jets (1000 under `full`) is half top, half QCD, generated by two Pythia
  instances (one per process) whose random stream is restarted from (seed, split, chunk, variant, process)
  and interleaved in a seeded random order. Each worker initialises every instance once, with one fixed
  `Random:seed`, so a chunk does not depend on which chunks its worker made before (generator version 3).
* **Sizes**: preset `default` (nominal jets) {_sizes}; preset `full` the reference's
  1,211,000 / 403,000 / 404,000. Generator variants hold a fraction of these (see the domain table):
  0.25 for the shower/hadronisation variants, 0.2 of `test` only for Vincia (about ten times slower).

### Domains
* `nominal`.
* **Detector-level throws** (paired: the SAME reconstructed jets as `nominal`, same `event_id`),
  applied to the constituents by one function for both sources: `jes_up` / `jes_down` (every
  constituent x 1.05 / 0.95), `resolution` (extra log-normal constituent energy smearing, 20%),
  `soft_loss` (constituents below 1 GeV removed), `angular` (constituent eta and phi + N(0, 0.02)),
  `detector_random` (each jet draws jes in [0.95, 1.05], resolution in [0, 0.2], soft threshold in
  [0, 1] GeV, angular sigma in [0, 0.02], uniformly). Throws do not re-apply the jet selection, so the
  jet pT of `jes_up` extends above 650 GeV: the shift is in the measurement, not in the jets chosen.
  The sizes are stress-test choices, not measured ATLAS uncertainties.
* **Generator-modelling variants** (UNPAIRED: a different Pythia configuration cannot reproduce the same
  particles; `event_id` = nominal slot id + k x 100,000,000, unique and never equal to a nominal id):
  `fsr_up` / `fsr_down` (TimeShower:renormMultFac = 0.5 / 2, Pythia's own alphaShi / alphaSlo
  definitions), `lund_up` / `lund_down` (StringZ:aLund, bLund = 0.88, 1.18 / 0.48, 0.78, i.e. both
  +-0.2 around Monash 0.68, 0.98 — our choice of size, not a published tune uncertainty), `vincia`
  (PartonShowers:model = 2, test split only). Per-event agreement with nominal is undefined for these.

### Published source `toptag`
The three files of Zenodo record 2603256 (train.h5, val.h5, test.h5; md5-checked; about 1.7 GB in all),
converted in blocks: zero padding dropped, constituents sorted by pT, truth top kept as `truth_*`,
val.h5 -> `validation`. `nominal` is the published jets (published counts {PUBLISHED_COUNTS});
the detector-level throws are derived from them with the same throw function and a fixed seed, so the
robustness protocol runs on the real dataset too. The published `ttv` column is dropped (the file gives
the split). Generator columns hold Pythia's default-tune values (the reference used the default tune).

### Not modelled
Pile-up, MPI, detector material and bending, b-tagging, track impact parameters, particle identity of
constituents; generator variants are not weights of the nominal sample but independent samples.

### Default domain-shift target
`domain_shift` uses `lund_up` (Lund fragmentation function up) when no `--target` is given: it is
where the nominal-trained classifier loses most, 0.9756 -> 0.9639 AUC (-0.012, 3 seeds at the default
size, generator version 3), and the physics-feature probe too (0.9607 -> 0.9484), measured with
`python -m benchmark run baselines/classifier --dataset jets --out runs/grid/classifier/jets` and
`baselines/linear_probe`. The loss is small and not much larger than the test sample's own statistical
error: a variant's test split holds 750 jets, so an AUC near 0.97 carries about +-0.008 from the sample
alone (the seed spread does not include it). On generator version 2 data the largest loss was on
`lund_down` (-0.008) and `lund_up` gained: the jets shifts here are mild for learned taggers at this
size; a shift that a method must adapt to needs a stronger generator change or the `full` preset.
"""

FAMILY = FamilySpec(
    name="jets",
    title="Top vs QCD jets",
    description=DESCRIPTION,
    event_kind="jets",
    class_names=("qcd", "top"),
    columns=COLUMNS,
    sources={
        "generated": SourceSpec(
            name="generated", kind="generated",
            description="Pythia 8 (pythia8mc) + FastJet anti-kT R=0.8 + Delphes-ATLAS-like parametric e-flow; "
                        "deterministic in (seed, generator version).",
            domains=_gen.domains(), make_generator=JetsGenerator,
            citation="Bierlich et al., A comprehensive guide to the physics and usage of PYTHIA 8.3, "
                     "SciPost Phys. Codebases 8 (2022); Cacciari, Salam, Soyez, FastJet user manual, "
                     "Eur. Phys. J. C 72 (2012) 1896; de Favereau et al., DELPHES 3, JHEP 02 (2014) 057."),
        "toptag": SourceSpec(
            name="toptag", kind="published",
            description="Top Quark Tagging Reference Dataset, Zenodo record 2603256 (v0 2018_03_27, CC-BY-4.0): "
                        "train.h5 / val.h5 / test.h5 converted into this schema; detector-level throws derived "
                        "with the same function as for generated jets.",
            domains=TopTagSource().domains(), make_fetcher=TopTagSource,
            citation="Kasieczka, Plehn, Thompson, Russel, Top Quark Tagging Reference Dataset, Zenodo 2603256 "
                     "(2019); Kasieczka et al., The Machine Learning Landscape of Top Taggers, SciPost Phys. 7, "
                     "014 (2019), arXiv:1902.09914."),
        "atlas_toptag": ATLAS_TOPTAG,
    },
    primary_metric="auc",
    #: domain_shift target when none is named: the largest loss of the nominal-trained classifier (card)
    default_target="lund_up",
)
