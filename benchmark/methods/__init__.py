"""Method interface (what a benchmark entry implements) and the shared method implementations.

* :mod:`benchmark.methods.base` — ``Method`` (fit / predict / embed), ``method.yaml`` parsing;
* :mod:`benchmark.methods.external` — methods written in any language, as programs;
* :mod:`benchmark.methods.features` — the linear classifier on the event kind's physics observables (the floor);
* :mod:`benchmark.methods.torch` — the PyTorch baselines (:mod:`benchmark.methods.torch_methods` re-exports
  them under the names ``baselines/*/method.yaml`` give).
"""
from benchmark.methods.base import Method, MethodConfigError, MethodSpec, RunContext, load_method_spec

__all__ = ["Method", "MethodConfigError", "MethodSpec", "RunContext", "load_method_spec"]
