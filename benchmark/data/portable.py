"""Bit-identical generation on every x86-64 CPU: numpy on its baseline SIMD kernels.

This module imports nothing heavy, so a process (the test suite's ``conftest.py``) can set
``PORTABLE_NUMPY_ENV`` before numpy is first imported.
"""
from __future__ import annotations

import os
from contextlib import contextmanager

__all__ = ["PORTABLE_NUMPY_ENV", "numpy_is_portable", "portable_numpy_for_children"]

#: numpy's SIMD kernels for the x86-64-v3/v4 dispatch targets (AVX2, AVX-512) may round float64
#: transcendental functions differently from its baseline kernels: on a CPU with AVX-512, 90 of the 990
#: files of sfgd's default preset came out different from the standard release (a few events each).
#: The generators therefore run numpy on its baseline kernels (numpy's ``NPY_DISABLE_CPU_FEATURES``,
#: https://numpy.org/doc/stable/reference/simd/build-options.html#runtime-dispatch), so that every x86-64
#: CPU writes the standard bytes; other architectures may still differ, and ``generate`` says so.
PORTABLE_NUMPY_ENV = {"NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4 AVX512_ICL AVX512_SPR"}


def numpy_is_portable() -> bool:
    """Whether this process's numpy runs none of the dispatch targets that ``PORTABLE_NUMPY_ENV`` turns off
    (numpy reads the variable once, at import: a process that imported it without must spawn workers)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:  # another numpy layout: assume the worst, generate in spawned workers
        return False
    return not any(__cpu_features__.get(t) for t in PORTABLE_NUMPY_ENV["NPY_DISABLE_CPU_FEATURES"].split())


@contextmanager
def portable_numpy_for_children():
    """Spawned workers inherit the environment: theirs disables numpy's non-portable kernels."""
    saved = {k: os.environ.get(k) for k in PORTABLE_NUMPY_ENV}
    os.environ.update(PORTABLE_NUMPY_ENV)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
