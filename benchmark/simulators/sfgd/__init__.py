"""Fast parametric simulator of a SuperFGD-like magnetised scintillator-cube detector.

The same file roles as every simulator here: ``constants`` (every number with its source),
``particles`` moves single particles (and their secondaries) through the cube array, ``detector``
turns energy deposits into photo-electrons per fibre and cube hits with optical crosstalk,
``generator`` wraps both into the SimShift :class:`Generator` contract, ``validation`` the plots.
"""


def __getattr__(name):  # lazy, so that importing constants/particles stays cheap
    if name == "SFGDGenerator":
        from benchmark.simulators.sfgd.generator import SFGDGenerator
        return SFGDGenerator
    raise AttributeError(name)


__all__ = ["SFGDGenerator"]
