"""Method interface (what a benchmark entry implements) and the shared method implementations.

* :mod:`benchmark.methods.base` — ``Method`` (fit / predict / embed), ``method.yaml`` parsing;
* :mod:`benchmark.methods.external` — methods written in any language, as programs;
* :mod:`benchmark.methods.features` — hand-made physics observables and the linear classifier floor.
"""
from benchmark.methods.base import Method, MethodConfigError, MethodSpec, RunContext, load_method_spec

__all__ = ["Method", "MethodConfigError", "MethodSpec", "RunContext", "load_method_spec"]
