"""Getters and run-time controls of :class:`~tetrasim.Simulation` beyond counts and concentrations.

STEPS parity for data access: reaction extents and propensities, clamps, volumes and areas of
any region (compartment, patch, ROI, tets or triangles), and per-species diffusion boundaries.
Like :meth:`Simulation.get_count`, getters take ``keep_runs=True`` to always return the run
axis (shape ``(runs,)`` or ``(runs, elements)``, as in :class:`~tetrasim.Results`).
"""

from __future__ import annotations

import numpy as np

from .arguments import check_keywords
from .diffusion_control import refresh_diffusion_rates
from .errors import SimulationError
from .recording.extent import extent_columns, reaction_processes, track_extents
from .recording.probes import resolve_where

__all__ = ["DataAccessMixin"]


@check_keywords
class DataAccessMixin:
    """Methods mixed into :class:`~tetrasim.Simulation` (they use its state and helpers)."""

    # ------------------------------------------------------------------ reaction extents
    def _extent_columns(self, reaction, where):
        track_extents(self)
        columns, elements = extent_columns(self, str(reaction), where)
        return elements, columns

    def track_extents(self) -> None:
        """Count reaction firings from now on, for :meth:`get_extent` without a recorder."""
        track_extents(self)

    def get_extent(self, where, reaction, per_element: bool = False, *, keep_runs=None):
        """Firings of ``reaction`` (``"R#back"``: backward direction) in ``where`` since time 0.

        Needs a ``ts.Extent`` recorder or :meth:`track_extents` before the first run.
        """
        if getattr(self.solver, "extent_offset", -1) < 0:
            raise SimulationError("reaction extents are not being counted: record a ts.Extent(...) or call "
                                  "sim.track_extents() before the first run")
        columns, _elements = extent_columns(self, str(reaction), where)
        return self._unpack(self._states_view()[:, columns], per_element, keep_runs)

    def reset_extents(self) -> None:
        """Set every reaction extent back to zero (STEPS ``resetReacExtent``)."""
        offset = getattr(self.solver, "extent_offset", -1)
        if offset >= 0:
            self._template[offset:] = 0
            if self._states is not None:
                self._states[:, offset:] = 0

    # ------------------------------------------------------------------ propensities, clamps
    def get_propensity(self, where, reaction, per_element: bool = False, *, keep_runs=None):
        """Propensity (events/s) of ``reaction`` in ``where`` at the current state.

        Stochastic solvers: c · falling factorials of the counts (what the SSA draws from);
        deterministic ones: the mass-action rate of the rate equations.
        """
        c = self.compiled
        processes = reaction_processes(self, str(reaction), where)
        states = self._states_view()
        values = np.empty((states.shape[0], len(processes)))
        stochastic = np.issubdtype(self.solver.state_dtype, np.integer)
        for r in range(states.shape[0]):
            values[r] = _propensities(c, self.runtime.rx_rate, states[r, :c.n_pools], stochastic)[processes]
        return self._unpack(values, per_element, keep_runs)

    def get_clamped(self, where, species, per_element: bool = False):
        """Whether ``species`` is clamped in ``where``: True if in every element (or one flag per element)."""
        _, pools, _ = self._select(where, species)
        flags = self.runtime.clamped[pools].copy()
        return flags if per_element else bool(flags.all())

    # ------------------------------------------------------------------ geometry
    def get_volume(self, where) -> float:
        """Volume (m³) of a compartment, an ROI of tets or ``ts.Tet(...)``."""
        elements, kind = resolve_where(self.compiled, self.geometry, where)
        if kind != "volume":
            raise SimulationError(f"{where!r} is a surface: use get_area")
        return float(self.compiled.measure[elements].sum())

    def get_area(self, where) -> float:
        """Area (m²) of a patch, an ROI of triangles or ``ts.Tri(...)``."""
        elements, kind = resolve_where(self.compiled, self.geometry, where)
        if kind != "surface":
            raise SimulationError(f"{where!r} is a volume: use get_volume")
        return float(self.compiled.measure[elements].sum())

    # ------------------------------------------------------------------ diffusion boundaries
    def set_diffusion_boundary_active(self, name: str, species, active: bool) -> None:
        """Open (``True``) or close a (surface) diffusion boundary for ``species`` from now on.

        STEPS ``sim.setDiffBoundarySpecDiffusionActive``; boundaries start closed except for the
        species given as ``species=`` when they were created.
        """
        self._diffusion.set_active(name, species, active)
        refresh_diffusion_rates(self)

    def get_diffusion_boundary_active(self, name: str, species) -> bool:
        """Whether ``species`` crosses diffusion boundary ``name`` now."""
        return self._diffusion.get_active(name, species)

    def set_diffusion_boundary_coefficient(self, name: str, species, coefficient) -> None:
        """Diffusion coefficient (m²/s) of ``species`` across boundary ``name`` (``None``: the species' own).

        STEPS ``sim.setDiffBoundarySpecDcst``. It does not open the boundary.
        """
        self._diffusion.set_coefficient(name, species, coefficient)
        refresh_diffusion_rates(self)

    def get_diffusion_boundary_coefficient(self, name: str, species) -> float:
        """Diffusion coefficient (m²/s) of ``species`` across boundary ``name``."""
        return self._diffusion.get_coefficient(name, species, self._diffusion_coefficient)


def _propensities(compiled, rx_rate, counts, stochastic: bool) -> np.ndarray:
    """Propensity of every reaction process at ``counts``."""
    c = compiled
    out = np.zeros(c.n_reactions + c.n_diffusions)
    if stochastic:
        from .kernels.ssa import propensities

        propensities(np.ascontiguousarray(counts, dtype=np.int64), rx_rate, c.rx_reac_ptr, c.rx_reac_pool,
                     c.rx_reac_count, c.df_pool, np.zeros(c.n_diffusions), out)
        return out[:c.n_reactions]
    from .kernels.ode import reaction_rates

    rates = np.zeros(c.n_reactions)
    reaction_rates(np.ascontiguousarray(counts, dtype=np.float64), rx_rate, c.rx_reac_ptr, c.rx_reac_pool,
                   c.rx_reac_count, rates)
    return rates
