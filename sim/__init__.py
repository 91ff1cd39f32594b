"""dealsim: a Monte Carlo simulator of long-cycle B2B deals.

The Python API (imported lazily, so ``import sim`` stays cheap)::

    import sim
    run = sim.simulate("equipment", replications=200, write=False)
    cmp = sim.compare("equipment", sets={"budget.funded_share": 0.5})
    cmp.metrics["bookings"]   # {a, b, delta, ci_low, ci_high, se, n}
    sw = sim.sweep("equipment", "budget.funded_share", [0.2, 0.35, 0.5])
    sens = sim.sensitivity("equipment", ["budget.funded_share=0.2..0.5"], method="tornado")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

#: Public name -> the module that defines it (imported on first use).
_LAZY = {
    "simulate": "sim.api",
    "RunResult": "sim.api",
    "compare": "sim.comparison",
    "Comparison": "sim.comparison",
    "sweep": "sim.sweeps",
    "Sweep": "sim.sweeps",
    "sensitivity": "sim.sensitivity_analysis",
    "Sensitivity": "sim.sensitivity_analysis",
    "load_scenario": "sim.scenario",
    "Scenario": "sim.scenario",
}

__all__ = [
    "Comparison",
    "RunResult",
    "Scenario",
    "Sensitivity",
    "Sweep",
    "__version__",
    "compare",
    "load_scenario",
    "sensitivity",
    "simulate",
    "sweep",
]

if TYPE_CHECKING:  # for editors and type checkers; nothing is imported at run time
    from sim.api import RunResult, simulate
    from sim.comparison import Comparison, compare
    from sim.scenario import Scenario, load_scenario
    from sim.sensitivity_analysis import Sensitivity, sensitivity
    from sim.sweeps import Sweep, sweep


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sim' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # cache: the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
