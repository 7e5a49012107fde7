"""Top vs QCD jets: Pythia 8 (pythia8mc) + FastJet anti-kT R=0.8 + a Delphes-ATLAS-like parametric detector.

Modules: ``pythia`` (process setup per variant, batched event loop), ``detector`` (e-flow response and
the detector-level throws), ``clustering`` (jets, cuts, truth matching), ``preprocessing`` (the jet
image-like preprocessing used by baselines), ``generator`` (``JetsGenerator``), ``validation`` (plots,
rates, a quick tagger check).
"""
