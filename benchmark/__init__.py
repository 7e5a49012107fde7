"""SimShift: how do machine-learning models for particle-physics detectors hold up when the
detector differs from the simulation they were trained on?

Public entry points (imported lazily so that ``import benchmark`` stays fast)::

    benchmark.load_dataset(family, domain)      # the Hugging Face dataset object
    benchmark.load_events(family, domain, split) # numpy EventSet for training loops
    benchmark.get_task(protocol, family)         # protocol object handing out data, scoring predictions
    benchmark.Evaluator(family)                  # numpy in, dict of metrics out
"""
__version__ = "0.1.0"

_LAZY = {
    "load_dataset": "benchmark.data.loader",
    "load_events": "benchmark.data.loader",
    "dataset_folder": "benchmark.data.loader",
    "get_family": "benchmark.data.registry",
    "get_task": "benchmark.tasks",
    "Evaluator": "benchmark.evaluation",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'benchmark' has no attribute {name!r}")
