"""Entry points named by baselines/*/method.yaml (``entry: benchmark.methods.torch_methods:<Class>``).

The methods live in :mod:`benchmark.methods.torch`. This module stays because a method folder's code
digest (``benchmark.runner.method_code_digest``: its method.yaml included) is part of every run's
fingerprint: renaming the entry there would invalidate the finished runs of every baseline.
"""
from benchmark.methods.torch import DANN, AugmentedClassifier, Classifier, Contrastive

__all__ = ["Classifier", "AugmentedClassifier", "DANN", "Contrastive"]
