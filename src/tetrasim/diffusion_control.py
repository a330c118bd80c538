"""Run-time diffusion parameters: coefficients per rule and diffusion boundaries per species.

The per-target diffusion rate is ``geometric coupling x D``. ``D`` is the coefficient of the
target's diffusion rule, except across a diffusion boundary (volume or surface), where the
target is open only while the boundary is active for its species (STEPS
``setDiffBoundarySpecDiffusionActive``) and uses the boundary's own coefficient for that
species when one was set (STEPS ``setDiffBoundarySpecDcst``). Every change recomputes the
rates the solvers read (``runtime.df_rate``/``df_total``); nothing is recompiled.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import SimulationError, did_you_mean
from .units import to_si

__all__ = ["DiffusionControl"]


class DiffusionControl:
    """Per-boundary, per-species state of the diffusion boundaries of one simulation."""

    def __init__(self, compiled):
        c = compiled
        self.compiled = c
        extra = c.extra
        self.names = tuple(extra.get("boundary_names", ()))
        self.between = tuple(extra.get("boundary_between", ()))
        n_species = c.n_species
        default = extra.get("boundary_default_open")
        self.active = np.array(default, dtype=bool) if default is not None else np.zeros((0, n_species), bool)
        self.coefficient = np.full(self.active.shape, np.nan)  # NaN: the rule's own D
        df_boundary = extra.get("df_boundary")
        self.df_boundary = np.zeros(0, np.int32) if df_boundary is None else df_boundary
        self._crossing = np.flatnonzero(self.df_boundary >= 0)
        self._crossing_boundary = self.df_boundary[self._crossing].astype(np.int64)
        self._crossing_species = np.asarray(c.df_dest, dtype=np.int64)[self._crossing] % max(n_species, 1)
        self._target_rule = (np.repeat(c.df_rule, np.diff(c.df_ptr)) if len(c.df_ptr) > 1
                             else np.zeros(0, np.int64))

    def rates(self, rule_coefficient: np.ndarray) -> np.ndarray:
        """Per-target diffusion rate (1/s) for the rule coefficients and the boundary state."""
        coefficient = rule_coefficient[self._target_rule]
        if len(self._crossing):
            b, s = self._crossing_boundary, self._crossing_species
            own = self.coefficient[b, s]
            chosen = np.where(np.isnan(own), coefficient[self._crossing], own)
            coefficient[self._crossing] = np.where(self.active[b, s], chosen, 0.0)
        return self.compiled.df_geom * coefficient

    # ------------------------------------------------------------------ lookups
    def boundary(self, name) -> int:
        if name not in self.names:
            hint = did_you_mean(str(name), self.names)
            raise SimulationError(f"no diffusion boundary named {name!r}{hint}; "
                                  "create one with geom.diffusion_boundary(name, between=(a, b)) or "
                                  "geom.surface_diffusion_boundary(name, between=(patch_a, patch_b))")
        return self.names.index(name)

    def species(self, boundary: int, species) -> int:
        index = self.compiled.species_index(species)
        crossing = self._crossing_species[self._crossing_boundary == boundary]
        if not np.any(crossing == index):
            raise SimulationError(f"species {str(species)!r} cannot cross diffusion boundary "
                                  f"{self.names[boundary]!r}: it must diffuse on one side and be present "
                                  f"on the other {self.between[boundary]!r}")
        return index

    def set_active(self, name, species, active: bool) -> None:
        if not isinstance(active, (bool, np.bool_)):
            raise SimulationError(f"set_diffusion_boundary_active({name!r}, {str(species)!r}, ...) takes "
                                  f"True or False, got {active!r}")
        b = self.boundary(name)
        self.active[b, self.species(b, species)] = bool(active)

    def get_active(self, name, species) -> bool:
        b = self.boundary(name)
        return bool(self.active[b, self.species(b, species)])

    def set_coefficient(self, name, species, coefficient) -> None:
        b = self.boundary(name)
        s = self.species(b, species)
        if coefficient is None:
            self.coefficient[b, s] = np.nan
            return
        what = f"diffusion coefficient of {species} across {name}"
        value = float(to_si(coefficient, "diffusion coefficient", what))
        if not math.isfinite(value) or value < 0:
            raise SimulationError(f"diffusion coefficient of {str(species)!r} across {name!r} must be finite "
                                  f"and >= 0, got {coefficient!r}")
        self.coefficient[b, s] = value

    def get_coefficient(self, name, species, rule_coefficient: np.ndarray) -> float:
        """The D used across the boundary: its own, or the rule's (first crossing target's)."""
        b = self.boundary(name)
        s = self.species(b, species)
        if not math.isnan(self.coefficient[b, s]):
            return float(self.coefficient[b, s])
        first = self._crossing[(self._crossing_boundary == b) & (self._crossing_species == s)][0]
        return float(rule_coefficient[self._target_rule[first]])


def refresh_diffusion_rates(simulation) -> None:
    """Recompute ``runtime.df_rate``/``df_total`` of ``simulation`` and tell its solver."""
    c, rt = simulation.compiled, simulation.runtime
    rt.df_rate[:] = simulation._diffusion.rates(simulation._diffusion_coefficient)
    if len(c.df_ptr) > 1:
        rt.df_total[:] = np.add.reduceat(rt.df_rate, c.df_ptr[:-1]) if len(rt.df_rate) else 0.0
    simulation.solver.parameters_changed()
