"""Entry points named by baselines/*/method.yaml (``entry: benchmark.methods.torch_methods:<Class>``).

The methods live in :mod:`benchmark.methods.torch`. This module stays because a method's entry point is
part of every run's fingerprint (``benchmark.runner.method_code_digest``): renaming the entry here
would invalidate the finished runs of every baseline.
"""
from benchmark.methods.torch import DANN, AugmentedClassifier, Classifier, Contrastive

__all__ = ["Classifier", "AugmentedClassifier", "DANN", "Contrastive"]
