"""Reaction extents: how many times a reaction fired, per element or summed over a region.

Record with ``sim.record(ts.Extent("R1", where="cyto"), every=1e-3)`` (STEPS
``getTetReacExtent``/``getCompReacExtent``; ``"R1#back"`` is the backward direction of a
reversible reaction) or read with ``sim.get_extent(where, "R1")``. Values are cumulative
firings since time 0 (or the last ``sim.reset_extents()``).

The exact and operator-splitting SSA kernels count firings only when asked: the first
``Extent`` (or :func:`track_extents`) appends one integer per reaction process to every
replicate's state, after the pools, and the kernels add one there per firing. Without it the
kernels skip the counting (one predictable branch per event). The deterministic solvers have
no firings and refuse, with a :class:`~tetrasim.errors.CapabilityError`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import CapabilityError, SimulationError
from .probes import resolve_where

__all__ = ["Extent", "track_extents", "extent_columns", "reaction_processes"]


@dataclass(frozen=True)
class Extent:
    """Number of firings of reaction ``reaction`` in ``where`` (summed, or per element)."""

    reaction: str
    where: object = None
    per_element: bool = False
    unit = "firings"
    quantity = "extent"

    def __post_init__(self):
        object.__setattr__(self, "reaction", str(self.reaction))

    @property
    def species(self) -> str:
        """What is counted, for the results' ``species`` field: the reaction's name."""
        return self.reaction


def track_extents(simulation) -> None:
    """Make ``simulation`` count reaction firings from now on (idempotent)."""
    solver = simulation.solver
    if not hasattr(solver, "extent_positions"):
        raise CapabilityError(f"solver {simulation.solver_name!r} is deterministic: reactions have rates, "
                              "not firings; reaction extents need 'wm-ssa', 'ssa' or 'opsplit'")
    if solver.extent_offset >= 0:
        return
    c = simulation.compiled
    solver.extent_offset = c.n_pools
    extension = np.zeros(c.n_reactions, dtype=simulation._template.dtype)
    simulation._template = np.concatenate([simulation._template, extension])
    if simulation._states is not None:
        zeros = np.zeros((simulation._states.shape[0], c.n_reactions), dtype=simulation._states.dtype)
        simulation._states = np.ascontiguousarray(np.concatenate([simulation._states, zeros], axis=1))


def extent_columns(simulation, reaction: str, where) -> tuple[np.ndarray, np.ndarray]:
    """(state columns, elements) of the processes of ``reaction`` in ``where``."""
    processes = reaction_processes(simulation, reaction, where)
    positions = simulation.solver.extent_positions(processes)
    elements = np.asarray(simulation.compiled.rx_element[processes], np.int64)
    return simulation.compiled.n_pools + positions, elements


def reaction_processes(simulation, reaction: str, where) -> np.ndarray:
    """Compiled process ids of ``reaction`` in ``where``, in element order.

    ``reaction`` is a reaction name (its forward direction) or ``"name#back"``.
    """
    c = simulation.compiled
    rules = [i for i in c.rule_indices(reaction.removesuffix("#back"))
             if c.reaction_rules[i].backward == reaction.endswith("#back")]
    if not rules:
        raise SimulationError(f"reaction {reaction.removesuffix('#back')!r} has no backward direction")
    elements, _kind = resolve_where(c, simulation.geometry, where)
    processes = np.flatnonzero(np.isin(c.rx_rule, rules) & np.isin(c.rx_element, elements))
    if len(processes) == 0:
        raise SimulationError(f"reaction {reaction!r} does not act in {where!r}: no system placed there "
                              "has it")
    return processes
