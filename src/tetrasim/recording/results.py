"""Results of a simulation: one array per recorder, shaped (runs, times, *elements).

Saved to HDF5 with a schema version; writing goes to a temporary file in the same folder that
is renamed over the target only once complete, so a crash never leaves a half file over a good one.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field

import numpy as np

from ..arguments import check_keywords, checked_keywords
from ..errors import SimulationError, did_you_mean

__all__ = ["Results", "RecordedSeries", "load_results", "SCHEMA_VERSION"]

SCHEMA_VERSION = 1
EXTENSIONS = (".h5", ".hdf5")  # results are HDF5; another extension (".csv") would mislabel the file


def _target_path(path) -> str:
    """The file ``save`` may write: an HDF5 name in an existing folder, not a folder itself."""
    try:
        path = os.fspath(path)
    except TypeError:
        raise SimulationError(f"save() takes a file name such as 'results.h5', got {path!r}") from None
    if not isinstance(path, str):
        path = os.fsdecode(path)
    if os.path.isdir(path):
        raise SimulationError(f"cannot save results to {path!r}: it is a folder; give a file name such as "
                              f"{os.path.join(path, 'results.h5')!r}")
    if not path.lower().endswith(EXTENSIONS):
        raise SimulationError(f"cannot save results to {path!r}: results are written as HDF5, so the name "
                              f"must end in {' or '.join(EXTENSIONS)} (for CSV, export res[rec] with "
                              "numpy.savetxt)")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise SimulationError(f"cannot save results to {path!r}: the folder {folder!r} does not exist; "
                              "create it first (os.makedirs) or pick another one")
    return path


@dataclass
class RecordedSeries:
    """One recorder's samples: ``data`` has shape (runs, times, *elements)."""

    name: str
    quantity: str  # "count" | "conc"
    species: str
    where: str
    unit: str
    times: np.ndarray
    data: np.ndarray
    elements: np.ndarray | None = None  # element ids when per_element

    @property
    def mean(self) -> np.ndarray:
        """Mean over runs, shape (times, *elements)."""
        return self.data.mean(axis=0)


@check_keywords
@dataclass
class Results:
    """What a run recorded. Index with the handle ``sim.record`` returned, or its name.

    ``res[rec]`` is an ndarray of shape (runs, times, *elements), never squeezed.
    """

    series: dict[str, RecordedSeries]
    seed: int | None
    solver: str
    model_hash: str
    version: str
    runs: int
    meta: dict = field(default_factory=dict)
    # False on MPI ranks other than 0: they hold the same results but only rank 0 writes files
    write_files: bool = field(default=True, repr=False, compare=False)
    layout: object = None  # recording.xdmf.MeshLayout of a mesh simulation (for to_xdmf), else None

    def _get(self, key) -> RecordedSeries:
        name = getattr(key, "name", key)
        if name not in self.series:
            raise SimulationError(
                f"no recorder named {name!r} in these results{did_you_mean(str(name), self.series)}"
            )
        return self.series[name]

    def __getitem__(self, key) -> np.ndarray:
        return self._get(key).data

    def __contains__(self, key) -> bool:
        return getattr(key, "name", key) in self.series

    def __iter__(self):
        return iter(self.series)

    def keys(self):
        return self.series.keys()

    def times_of(self, key) -> np.ndarray:
        return self._get(key).times

    def series_of(self, key) -> RecordedSeries:
        return self._get(key)

    @property
    def times(self) -> np.ndarray:
        """Sample times (s) of the first recorder (all recorders with the same ``every`` share them)."""
        if not self.series:
            return np.zeros(0)
        return next(iter(self.series.values())).times

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}: {v.data.shape}" for k, v in self.series.items())
        return f"Results(solver={self.solver!r}, runs={self.runs}, seed={self.seed}, {shapes})"

    # ------------------------------------------------------------------ export
    def to_xarray(self):
        """An ``xarray.Dataset`` with one variable per recorder (dims run, time_<name>, element_<name>)."""
        try:
            import xarray as xr
        except ImportError:
            raise SimulationError("to_xarray() needs xarray: pip install 'tetrasim[xarray]'") from None
        variables = {}
        for name, s in self.series.items():
            dims = ["run", f"time_{name}"] + ([f"element_{name}"] if s.data.ndim == 3 else [])
            coords = {"run": np.arange(s.data.shape[0]), f"time_{name}": s.times}
            if s.data.ndim == 3:
                coords[f"element_{name}"] = (
                    s.elements if s.elements is not None else np.arange(s.data.shape[2])
                )
            variables[name] = xr.DataArray(s.data, dims=dims, coords=coords,
                                           attrs={"units": s.unit, "species": s.species, "where": s.where,
                                                  "quantity": s.quantity})
        return xr.Dataset(variables, attrs=self._attrs())

    def _attrs(self) -> dict:
        return {"seed": -1 if self.seed is None else int(self.seed), "solver": self.solver,
                "model_hash": self.model_hash, "tetrasim_version": self.version, "runs": int(self.runs),
                "schema_version": SCHEMA_VERSION}

    def to_xdmf(self, path) -> str:
        """Per-element recordings as a ParaView time series: ``path`` (XDMF) + ``path + '.h5'``.

        See :mod:`tetrasim.recording.xdmf`. Returns the XDMF path.
        """
        from .xdmf import write_xdmf

        return write_xdmf(self, path)

    def save(self, path, xdmf: bool = False) -> str:
        """Write to HDF5 atomically (temporary file + rename). Returns the path.

        ``xdmf=True`` also writes the per-element recordings for ParaView beside it
        (``<stem>.xdmf`` and ``<stem>.xdmf.h5``, see :meth:`to_xdmf`).

        The folder must exist: a typo in a folder name should fail, not create a new folder.
        """
        import h5py

        path = _target_path(path)
        if not self.write_files:  # an MPI rank other than 0: rank 0 writes the file
            return path
        folder = os.path.dirname(os.path.abspath(path))
        try:
            handle, tmp = tempfile.mkstemp(prefix=".tetrasim-", suffix=".h5.part", dir=folder)
        except OSError as error:
            raise SimulationError(f"cannot save results to {path!r}: {error.strerror} "
                                  f"in {folder!r}") from None
        os.close(handle)
        try:
            with h5py.File(tmp, "w") as f:
                for key, value in self._attrs().items():
                    f.attrs[key] = value
                for key, value in self.meta.items():
                    if isinstance(value, (int, float, str, bool, np.integer, np.floating)):
                        f.attrs[f"meta_{key}"] = value
                group = f.create_group("series", track_order=True)
                for name, s in self.series.items():
                    g = group.create_group(name)
                    g.create_dataset("data", data=s.data, compression="gzip" if s.data.size > 4096 else None)
                    g.create_dataset("times", data=s.times)
                    if s.elements is not None:
                        g.create_dataset("elements", data=s.elements)
                    for attr in ("quantity", "species", "where", "unit"):
                        g.attrs[attr] = getattr(s, attr)
                if self.layout is not None:
                    from .xdmf import write_layout

                    write_layout(f.create_group("mesh"), self.layout)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp's private mode must not survive the rename
            os.replace(tmp, path)
        except BaseException as error:
            if os.path.exists(tmp):
                os.remove(tmp)
            if isinstance(error, OSError):
                raise SimulationError(f"cannot save results to {path!r}: {error}") from None
            raise
        if xdmf:
            self.to_xdmf(os.path.splitext(path)[0] + ".xdmf")
        return path


@checked_keywords
def load_results(path) -> Results:
    """Read results written by :meth:`Results.save`."""
    import h5py

    try:
        path = os.fspath(path)
    except TypeError:
        raise SimulationError(f"load_results() takes a file name, got {path!r}") from None
    if not os.path.isfile(path):
        raise SimulationError(f"no results file at {path!r}")
    try:
        with h5py.File(path, "r") as f:
            if "schema_version" not in f.attrs or "series" not in f:
                raise SimulationError(f"{path}: an HDF5 file, but not tetrasim results (no schema_version or "
                                      "series); load files written by Results.save")
            schema = int(f.attrs.get("schema_version", -1))
            if schema != SCHEMA_VERSION:
                raise SimulationError(f"{path}: results schema version {schema}, this tetrasim reads "
                                      f"{SCHEMA_VERSION}; upgrade tetrasim or re-run")
            series = {}
            for name, g in f["series"].items():
                series[name] = RecordedSeries(
                    name=name, quantity=str(g.attrs["quantity"]), species=str(g.attrs["species"]),
                    where=str(g.attrs["where"]), unit=str(g.attrs["unit"]), times=g["times"][()],
                    data=g["data"][()], elements=g["elements"][()] if "elements" in g else None)
            seed = int(f.attrs["seed"])
            meta = {k[5:]: f.attrs[k] for k in f.attrs if k.startswith("meta_")}
            layout = None
            if "mesh" in f:
                from .xdmf import read_layout

                layout = read_layout(f["mesh"])
            return Results(series, None if seed < 0 else seed, str(f.attrs["solver"]),
                           str(f.attrs["model_hash"]), str(f.attrs["tetrasim_version"]), int(f.attrs["runs"]),
                           meta, layout=layout)
    except OSError as error:
        raise SimulationError(f"{path}: not a readable tetrasim HDF5 results file ({error})") from None
    except (KeyError, ValueError, TypeError) as error:
        raise SimulationError(f"{path}: a damaged or incomplete tetrasim results file ({error!r}); "
                              "re-run and save again") from None
