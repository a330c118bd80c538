"""Checkpoint and restore a simulation: ``sim.checkpoint(path)``, ``Simulation.restore(path, model, geom)``.

A checkpoint is one HDF5 file holding everything a run depends on from now on:

* the state of every replicate (counts, and reaction extents when counted), the initial state
  and the log of setters that places molecules per replicate (placement.py);
* what the user changed at run time: clamps, rate constants, diffusion coefficients,
  per-species diffusion-boundary switches and coefficients;
* every random stream: the xoshiro state of each SSA replicate together with the event it
  drew past the last stop, or the Philox key and step counter of each ``opsplit`` replicate;
* the recorders (probe, schedule, next sample) and everything recorded so far.

So for the stochastic solvers ``run(a); checkpoint; restore; run(b)`` gives the same numbers,
bit for bit, as ``run(b)`` alone with the same seed (and the same as ``run(a); run(b)``).
The deterministic solvers restart their integrator from the saved state, as a plain
``run(a); run(b)`` does (the two agree bit for bit); against one ``run(b)`` they differ by the
integrator's local error, of the order of ``rtol``.

Restoring needs the same model and geometry: their hashes are checked and a mismatch raises
:class:`~tetrasim.errors.CheckpointError`. Files are written to a temporary file in the same
folder and renamed over the target only when complete, so a crash (or a full disk) during a
checkpoint leaves the previous one intact.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile

import numpy as np

from .arguments import check_keywords
from .errors import CheckpointError, SimulationError, TetrasimError
from .units import to_si

__all__ = ["CheckpointMixin", "AutoCheckpoint", "geometry_hash", "CHECKPOINT_SCHEMA"]

CHECKPOINT_SCHEMA = 1
_KIND = "tetrasim-checkpoint"


def geometry_hash(compiled) -> str:
    """SHA-256 of the discretized geometry: element sizes, neighbours, couplings and regions."""
    disc = compiled.discretization
    digest = hashlib.sha256()
    for array in (disc.measure, disc.volume_neighbors, disc.volume_couplings, disc.surface_neighbors,
                  disc.surface_couplings, disc.surface_inner, disc.surface_outer, compiled.df_geom,
                  compiled.df_dest):
        if array is not None:
            array = np.ascontiguousarray(array)
            digest.update(str(array.dtype).encode() + str(array.shape).encode() + array.tobytes())
    for table in (disc.compartment_elements, disc.patch_elements):
        for name, elements in table.items():
            digest.update(name.encode() + np.ascontiguousarray(elements, dtype=np.int64).tobytes())
    digest.update(json.dumps([list(disc.boundaries), list(disc.surface_boundaries)]).encode())
    return digest.hexdigest()


# ---------------------------------------------------------------------- where= and probes
def _write_where(group, where) -> None:
    from .recording.probes import ROI, Tet, Tri

    if where is None:
        group.attrs["where_kind"] = "none"
    elif isinstance(where, str):
        group.attrs["where_kind"], group.attrs["where_name"] = "name", where
    elif isinstance(where, ROI):
        group.attrs["where_kind"], group.attrs["where_name"] = "roi", where.name
    elif isinstance(where, (Tet, Tri)):
        group.attrs["where_kind"] = "tet" if isinstance(where, Tet) else "tri"
        group.create_dataset("where_index", data=np.atleast_1d(np.asarray(where.index, dtype=np.int64)))
        group.attrs["where_scalar"] = np.ndim(where.index) == 0
    else:
        raise SimulationError(f"cannot checkpoint a recorder whose where= is {where!r}")


def _read_where(group):
    from .recording.probes import ROI, Tet, Tri

    kind = str(group.attrs["where_kind"])
    if kind == "none":
        return None
    if kind == "name":
        return str(group.attrs["where_name"])
    if kind == "roi":
        return ROI(str(group.attrs["where_name"]))
    index = group["where_index"][()]
    if bool(group.attrs["where_scalar"]):
        index = int(index[0])
    return Tet(index) if kind == "tet" else Tri(index)


def _probe_from(group):
    from .recording.extent import Extent
    from .recording.probes import Conc, Count

    kind = str(group.attrs["probe"])
    where = _read_where(group)
    per_element = bool(group.attrs["per_element"])
    what = str(group.attrs["what"])
    return {"count": Count, "conc": Conc, "extent": Extent}[kind](what, where, per_element)


# ---------------------------------------------------------------------- atomic HDF5
def write_atomically(path, fill) -> str:
    """Write an HDF5 file with ``fill(h5file)`` into a temporary file, then rename it over ``path``."""
    import h5py

    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=".tetrasim-", suffix=".h5.part", dir=folder)
    os.close(handle)
    try:
        with h5py.File(tmp, "w") as f:
            fill(f)
        with open(tmp, "rb+") as raw:  # on disk before the rename makes it the checkpoint
            os.fsync(raw.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def _options_json(options: dict) -> tuple[str, dict]:
    plain, arrays = {}, {}
    for key, value in options.items():
        if isinstance(value, np.ndarray):
            arrays[key] = value
        elif isinstance(value, (np.integer, np.floating, np.bool_)):
            plain[key] = value.item()
        else:
            plain[key] = value
    try:
        return json.dumps(plain), arrays
    except TypeError:
        raise SimulationError(f"cannot checkpoint solver options {plain!r}: give plain numbers or "
                              "strings") from None


# ---------------------------------------------------------------------- writing
def write_checkpoint(sim, path) -> str:
    """Write the complete state of ``sim`` to ``path`` (see the module docstring)."""
    from ._version import __version__

    solver = sim.solver
    options_text, option_arrays = _options_json(sim._options)

    def fill(f):
        f.attrs["kind"] = _KIND
        f.attrs["schema_version"] = CHECKPOINT_SCHEMA
        f.attrs["tetrasim_version"] = __version__
        f.attrs["solver"] = sim.solver_name
        f.attrs["seed"] = sim.seed
        f.attrs["time"] = sim.time
        f.attrs["model_hash"] = sim.compiled.model_hash
        f.attrs["geometry_hash"] = geometry_hash(sim.compiled)
        f.attrs["options"] = options_text
        f.attrs["placements"] = sim._placements
        f.attrs["extent_offset"] = int(getattr(solver, "extent_offset", -1))
        for key, value in option_arrays.items():
            f.create_dataset(f"options/{key}", data=value)
        f.create_dataset("template", data=sim._template)
        if sim._states is not None:
            compression = "gzip" if sim._states.size > 65536 else None
            f.create_dataset("states", data=sim._states, compression=compression)
        rt = sim.runtime
        for name, value in (("rx_rate", rt.rx_rate), ("df_rate", rt.df_rate), ("df_total", rt.df_total),
                            ("clamped", rt.clamped), ("rule_k", sim._rule_k),
                            ("diffusion_coefficient", sim._diffusion_coefficient),
                            ("boundary_active", sim._diffusion.active),
                            ("boundary_coefficient", sim._diffusion.coefficient)):
            f.create_dataset(f"runtime/{name}", data=value)
        for key, value in sim._initial_log.to_arrays().items():
            f.create_dataset(f"initial_log/{key}", data=value)
        f.require_group("initial_log")
        if sim._run_states is not None and hasattr(solver, "run_state_arrays"):
            for r, run_state in enumerate(sim._run_states):
                for key, value in solver.run_state_arrays(run_state).items():
                    f.create_dataset(f"runs/{r}/{key}", data=value)
        group = f.create_group("recorders", track_order=True)
        for name, recorder in sim._recorders.items():
            g = group.create_group(name)
            probe = recorder.probe
            g.attrs["probe"] = getattr(probe, "quantity", None) or type(probe).__name__.lower()
            g.attrs["what"] = probe.species
            g.attrs["per_element"] = bool(probe.per_element)
            g.attrs["every"] = recorder.every
            g.attrs["next_index"] = recorder.next_index
            _write_where(g, probe.where)
            if recorder.chunks:
                g.create_dataset("data", data=np.concatenate(recorder.chunks, axis=1))
                g.create_dataset("times", data=np.concatenate(recorder.time_chunks))

    return write_atomically(path, fill)


# ---------------------------------------------------------------------- reading
def read_checkpoint(cls, path, model, geometry, progress=None):
    """A new simulation of class ``cls`` in the state saved at ``path``."""
    import h5py

    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(f"no checkpoint at {path!r}")
    try:
        f = h5py.File(path, "r")
    except OSError as error:
        raise CheckpointError(f"{path}: not a readable checkpoint ({error}); it may be truncated — use the "
                              "previous one") from None
    try:
        with f:
            return _restore_from(cls, f, path, model, geometry, progress)
    except (KeyError, OSError, ValueError) as error:
        if isinstance(error, TetrasimError):
            raise
        raise CheckpointError(f"{path}: damaged or incomplete checkpoint ({error})") from None


def _restore_from(cls, f, path, model, geometry, progress):
    from .recording.extent import track_extents

    if f.attrs.get("kind") != _KIND:
        raise CheckpointError(f"{path} is not a tetrasim checkpoint (results files are read with "
                              "ts.load_results)")
    schema = int(f.attrs["schema_version"])
    if schema != CHECKPOINT_SCHEMA:
        raise CheckpointError(f"{path}: checkpoint schema {schema}, this tetrasim reads {CHECKPOINT_SCHEMA}")
    options = json.loads(str(f.attrs["options"]))
    if "options" in f:
        options.update({key: value[()] for key, value in f["options"].items()})
    sim = cls(model, geometry, solver=str(f.attrs["solver"]), seed=int(f.attrs["seed"]), progress=progress,
              **options)
    if sim.compiled.model_hash != str(f.attrs["model_hash"]):
        saved_hash = str(f.attrs["model_hash"])[:12]
        raise CheckpointError(f"{path} was written for another model (hash {saved_hash}…, "
                              f"this one is {sim.compiled.model_hash[:12]}…): restore with the model it was "
                              "saved with")
    if geometry_hash(sim.compiled) != str(f.attrs["geometry_hash"]):
        raise CheckpointError(f"{path} was written for another geometry (mesh, compartments, patches or "
                              "boundaries differ): restore with the geometry it was saved with")
    if int(f.attrs["extent_offset"]) >= 0:
        track_extents(sim)
    for name, recorder_group in f["recorders"].items():
        every = float(recorder_group.attrs["every"])
        recorder = sim.record(_probe_from(recorder_group), every=every, name=name)
        if recorder.name != name:
            raise CheckpointError(f"{path}: recorder {name!r} could not be recreated under its name")
        recorder.next_index = int(recorder_group.attrs["next_index"])
        if "data" in recorder_group:
            recorder.chunks.append(recorder_group["data"][()])
            recorder.time_chunks.append(recorder_group["times"][()])
    template = f["template"][()]
    if template.shape != sim._template.shape:
        raise CheckpointError(f"{path}: the saved state has {template.shape[0]} values, this model and "
                              f"geometry have {sim._template.shape[0]}")
    sim._template[:] = template
    runtime = f["runtime"]
    rt = sim.runtime
    rt.rx_rate[:] = runtime["rx_rate"][()]
    rt.df_rate[:] = runtime["df_rate"][()]
    rt.df_total[:] = runtime["df_total"][()]
    rt.clamped[:] = runtime["clamped"][()]
    sim._rule_k[:] = runtime["rule_k"][()]
    sim._diffusion_coefficient[:] = runtime["diffusion_coefficient"][()]
    sim._diffusion.active[:] = runtime["boundary_active"][()]
    sim._diffusion.coefficient[:] = runtime["boundary_coefficient"][()]
    from .placement import InitialStateLog

    sim._initial_log = InitialStateLog.from_arrays({key: f["initial_log"][key][()]
                                                    for key in _dataset_names(f["initial_log"])})
    sim._placements = int(f.attrs["placements"])
    sim.solver.parameters_changed()  # before the run states: a pending SSA event stays valid after this
    if "states" in f:
        sim._states = np.ascontiguousarray(f["states"][()])
        n_runs = sim._states.shape[0]
        if "runs" in f:
            runs = [f["runs"][str(r)] if str(r) in f["runs"] else {} for r in range(n_runs)]
            sim._run_states = [sim.solver.run_state_from_arrays({key: group[key][()] for key in
                                                                 _dataset_names(group)} if group else {})
                               for group in runs]
        else:
            sim._run_states = sim.solver.new_runs(sim.seed, n_runs)
    sim.time = float(f.attrs["time"])
    return sim


def _dataset_names(group) -> list[str]:
    names = []
    group.visit(lambda name: names.append(name) if hasattr(group[name], "shape") else None)
    return names


# ---------------------------------------------------------------------- automatic checkpoints
class AutoCheckpoint:
    """Split every ``run`` into segments of ``every`` simulated seconds and checkpoint after each.

    Segments end at multiples of ``every``; as continuation is exact, the trajectory is the one
    an uninterrupted run gives (for the deterministic solvers, within the integrator's tolerance).
    """

    def __init__(self, every: float, path):
        self.every = every
        self.path = os.fspath(path)
        self.busy = False
        self.written = 0

    def run(self, sim, t_end: float, runs, progress):
        self.busy = True
        try:
            result = None
            while True:
                boundary = (math.floor(sim.time / self.every * (1 + 1e-12)) + 1) * self.every
                stop = min(boundary, t_end)
                result = sim.run(stop, runs=runs, progress=progress)
                runs = None
                if stop >= t_end:
                    if stop == boundary:
                        sim.checkpoint(self.path)
                        self.written += 1
                    return result
                sim.checkpoint(self.path)
                self.written += 1
        finally:
            self.busy = False


@check_keywords
class CheckpointMixin:
    """Checkpoint methods mixed into :class:`~tetrasim.Simulation`."""

    def checkpoint(self, path) -> str:
        """Write everything needed to continue this simulation exactly to ``path`` (HDF5, atomic).

        Continue later with ``ts.Simulation.restore(path, model, geom)``. Returns the path.
        """
        return write_checkpoint(self, path)

    @classmethod
    def restore(cls, path, model, geometry, progress=None):
        """A simulation continuing from the checkpoint at ``path`` (same model and geometry).

        Raises :class:`~tetrasim.errors.CheckpointError` when the file is unreadable or was
        written for another model or geometry.
        """
        return read_checkpoint(cls, path, model, geometry, progress)

    def auto_checkpoint(self, every, path) -> AutoCheckpoint | None:
        """Checkpoint to ``path`` every ``every`` simulated seconds during runs (``every=None``: stop)."""
        if every is None:
            self._auto_checkpoint = None
            return None
        every = float(to_si(every, "time", "auto_checkpoint(every=...)"))
        if not (math.isfinite(every) and every > 0):
            raise SimulationError(f"auto_checkpoint(every=...) must be a positive time, got {every!r}")
        self._auto_checkpoint = AutoCheckpoint(every, path)
        return self._auto_checkpoint
