"""The registry of solver names: canonical names, STEPS aliases and where each solver lives.

Solvers are imported by name on first use, so importing :mod:`tetrasim` compiles nothing,
and :mod:`tetrasim.solvers.base` (the contract every solver implements) never imports a
concrete solver.
"""

from __future__ import annotations

from importlib import import_module

from ..errors import CapabilityError, did_you_mean

__all__ = ["SOLVER_ALIASES", "SOLVER_CLASSES", "get_solver_class", "canonical_solver_name"]

SOLVER_ALIASES = {
    "wm-ssa": "wm-ssa", "wmdirect": "wm-ssa", "ssa-wm": "wm-ssa",
    "wm-ode": "wm-ode", "wmrk4": "wm-ode", "wmrssa": "wm-ssa",
    "ssa": "ssa", "tetexact": "ssa",
    "opsplit": "opsplit", "tetopsplit": "opsplit", "disttetopsplit": "opsplit",
    "ode": "ode", "tetode": "ode",
}

#: canonical name -> (module under tetrasim.solvers, class name)
SOLVER_CLASSES = {
    "wm-ssa": ("ssa", "WellMixedSSASolver"),
    "ssa": ("ssa", "SSASolver"),
    "wm-ode": ("ode", "WellMixedODESolver"),
    "ode": ("ode", "ODESolver"),
    "opsplit": ("opsplit", "OpSplitSolver"),
}


def canonical_solver_name(name: str) -> str:
    key = str(name).strip().lower()
    if key not in SOLVER_ALIASES:
        raise CapabilityError(f"unknown solver {name!r}{did_you_mean(key, SOLVER_ALIASES)}; "
                              "choose wm-ssa, wm-ode, ssa, opsplit or ode")
    return SOLVER_ALIASES[key]


def get_solver_class(name: str):
    """The solver class registered under ``name`` (a canonical name or an alias)."""
    canonical = canonical_solver_name(name)
    if canonical not in SOLVER_CLASSES:
        raise CapabilityError(f"solver {name!r} is not available")
    module_name, class_name = SOLVER_CLASSES[canonical]
    try:
        module = import_module(f"{__package__}.{module_name}")
    except ImportError as error:
        raise CapabilityError(f"the {canonical!r} solver is not available in this installation ({error})") \
            from None
    return getattr(module, class_name)
