"""The original studies' analyses as commands (``python -m benchmark study ...``).

* :mod:`.crosstalk_grid` — the cube study's grid (arXiv:2502.07724): train at each crosstalk fraction,
  score across the whole scan, accuracy and fractional residual against the fraction;
* :mod:`.jet_augmentations` — JetCLR's ablation (arXiv:2108.04253): the linear classifier test of a
  contrastive representation per set of jet augmentations, beside JetCLR's published table;
* :mod:`.parameter_curves` — a metric in bins of a per-event detector parameter, for results on the
  ``*_random`` domains where every event draws its own parameters.
"""
