"""Fast parametric simulator of a SuperFGD-like magnetised scintillator-cube detector.

``tracking`` moves single particles (and their secondaries) through the cube array,
``response`` turns energy deposits into photo-electrons per fibre and cube hits with optical
crosstalk, ``generator`` wraps both into the SimShift :class:`Generator` contract.
"""


def __getattr__(name):  # lazy, so that importing constants/tracking stays cheap
    if name == "SFGDGenerator":
        from benchmark.simulators.sfgd.generator import SFGDGenerator
        return SFGDGenerator
    raise AttributeError(name)


__all__ = ["SFGDGenerator"]
