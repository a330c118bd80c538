"""ParaView output: per-element recordings as an XDMF time series (XML + HDF5).

``res.to_xdmf("run.xdmf")`` writes two files: ``run.xdmf`` (the XML ParaView opens) and
``run.xdmf.h5`` (the heavy data). The mesh is written once — every tet and every patch
triangle, as one mixed grid — and each sample time is a grid that points at it, with cell
data:

* ``compartment`` (index into ``compartments`` listed in the file's ``Information``, -1 for a
  tet in none, and for triangles) and ``patch`` (likewise for triangles, -1 for tets), so the
  regions can be thresholded in ParaView;
* one field per per-element recorder (``record(ts.Count(..., per_element=True))``), NaN on the
  cells it does not cover and at times it has no sample; with several runs, one field per run
  (``<name>_run<r>``) and their mean (``<name>_mean``).

Totals over a region are not spatial and are left out (they are in ``res.save``/``to_xarray``).
Both files are written to a temporary folder beside the target and moved into place only when
complete (the HDF5 file first), so a failure never leaves a half file over a good one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

import numpy as np

from ..errors import SimulationError

__all__ = ["MeshLayout", "mesh_layout", "write_xdmf", "write_layout", "read_layout"]

_XDMF_TETRAHEDRON = 6  # XDMF mixed-topology cell type codes
_XDMF_TRIANGLE = 4


@dataclass
class MeshLayout:
    """What results need to be drawn: the mesh and which element is which cell.

    Element ``e < n_volume`` is tet ``e``; element ``n_volume + k`` is surface triangle ``k``
    (vertex ids ``surface_tris[k]``).
    """

    vertices: np.ndarray  # (n, 3) m
    tets: np.ndarray  # (m, 4)
    surface_tris: np.ndarray  # (k, 3) vertex ids of the patch triangles, in element order
    tet_compartment: np.ndarray  # (m,) index into compartment_names, -1 none
    tri_patch: np.ndarray  # (k,) index into patch_names
    compartment_names: tuple[str, ...]
    patch_names: tuple[str, ...]

    @property
    def n_volume(self) -> int:
        return len(self.tets)

    @property
    def n_cells(self) -> int:
        return len(self.tets) + len(self.surface_tris)


def mesh_layout(compiled, geometry) -> MeshLayout | None:
    """The :class:`MeshLayout` of a mesh simulation, ``None`` for a well-mixed one."""
    mesh = getattr(geometry, "mesh", None)
    disc = compiled.discretization
    if mesh is None or disc.element_kind != "tet":
        return None
    surface = disc.surface_mesh_tris if disc.surface_mesh_tris is not None else np.zeros(0, np.int64)
    tri_patch = np.full(len(surface), -1, np.int64)
    for index, elements in enumerate(compiled.patch_elements.values()):
        tri_patch[np.asarray(elements) - disc.n_volume] = index
    return MeshLayout(vertices=np.asarray(mesh.vertices, dtype=np.float64),
                      tets=np.asarray(mesh.tets, np.int64),
                      surface_tris=np.asarray(mesh.tris[surface], np.int64).reshape(-1, 3),
                      tet_compartment=disc.compartment_of_volume(), tri_patch=tri_patch,
                      compartment_names=tuple(compiled.compartment_elements),
                      patch_names=tuple(compiled.patch_elements))


def write_layout(group, layout: MeshLayout) -> None:
    """Store ``layout`` in an HDF5 group (used by ``Results.save``)."""
    for name in ("vertices", "tets", "surface_tris", "tet_compartment", "tri_patch"):
        group.create_dataset(name, data=getattr(layout, name))
    group.attrs["compartment_names"] = list(layout.compartment_names) or [""]
    group.attrs["patch_names"] = list(layout.patch_names) or [""]
    group.attrs["n_compartments"] = len(layout.compartment_names)
    group.attrs["n_patches"] = len(layout.patch_names)


def read_layout(group) -> MeshLayout:
    compartments = [str(n) for n in group.attrs["compartment_names"]][:int(group.attrs["n_compartments"])]
    patches = [str(n) for n in group.attrs["patch_names"]][:int(group.attrs["n_patches"])]
    return MeshLayout(*(group[name][()] for name in ("vertices", "tets", "surface_tris", "tet_compartment",
                                                      "tri_patch")), tuple(compartments), tuple(patches))


def _fields(results, layout: MeshLayout):
    """(union of sample times, {field name: (times, (len(times), n_cells) values)})."""
    fields = {}
    for name, series in results.series.items():
        if series.elements is None or series.data.ndim != 3:
            continue
        cells = np.asarray(series.elements, dtype=np.int64)
        runs = series.data.shape[0]
        per_run = [(f"{name}_run{r}" if runs > 1 else name, series.data[r]) for r in range(runs)]
        if runs > 1:
            per_run.append((f"{name}_mean", series.data.mean(axis=0)))
        for field_name, values in per_run:
            full = np.full((len(series.times), layout.n_cells), np.nan)
            full[:, cells] = values
            fields[field_name] = (np.asarray(series.times), full)
    if not fields:
        raise SimulationError("to_xdmf() draws per-element recordings, and there are none: record with "
                              "ts.Count(species, where=..., per_element=True) (or ts.Conc/ts.Extent "
                              "likewise)")
    times = np.unique(np.concatenate([t for t, _ in fields.values()]))
    return times, fields


def _data_item(h5_name: str, path: str, shape, dtype: np.dtype) -> str:
    kind = "Int" if np.issubdtype(dtype, np.integer) else "Float"
    dims = " ".join(str(n) for n in shape)
    return (f'<DataItem Dimensions="{dims}" NumberType="{kind}" Precision="{dtype.itemsize}" '
            f'Format="HDF">{h5_name}:{path}</DataItem>')


def write_xdmf(results, path) -> str:
    """Write ``results`` as ``path`` (XDMF) + ``path + '.h5'`` (HDF5). Returns the XDMF path."""
    import h5py

    layout = getattr(results, "layout", None)
    if layout is None:
        raise SimulationError("to_xdmf() needs a mesh: these results come from a well-mixed simulation (or a "
                              "file saved without its mesh)")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    h5_name = os.path.basename(path) + ".h5"
    times, fields = _fields(results, layout)

    topology = np.concatenate([
        np.column_stack([np.full(len(layout.tets), _XDMF_TETRAHEDRON), layout.tets]).ravel(),
        np.column_stack([np.full(len(layout.surface_tris), _XDMF_TRIANGLE), layout.surface_tris]).ravel(),
    ]).astype(np.int64)
    no_compartment = np.full(len(layout.surface_tris), -1)
    compartment = np.concatenate([layout.tet_compartment, no_compartment]).astype(np.int64)
    patch = np.concatenate([np.full(len(layout.tets), -1), layout.tri_patch]).astype(np.int64)
    staging = tempfile.mkdtemp(prefix=".tetrasim-xdmf-", dir=folder)
    try:
        with h5py.File(os.path.join(staging, h5_name), "w") as f:
            f.create_dataset("mesh/geometry", data=layout.vertices)
            f.create_dataset("mesh/topology", data=topology)
            f.create_dataset("mesh/compartment", data=compartment)
            f.create_dataset("mesh/patch", data=patch)
            rows = {}
            for index, (name, (field_times, values)) in enumerate(fields.items()):
                for row in range(len(field_times)):  # one dataset per sample: what XDMF readers index
                    f.create_dataset(f"fields/{index}/{row}", data=values[row])
                rows[name] = (index, np.searchsorted(field_times, times))
            f.create_dataset("fields/nan", data=np.full(layout.n_cells, np.nan))
            xml = _xml(layout, h5_name, times, fields, rows, len(topology))
        with open(os.path.join(staging, os.path.basename(path)), "w", encoding="utf-8") as out:
            out.write(xml)
        os.replace(os.path.join(staging, h5_name), os.path.join(folder, h5_name))
        os.replace(os.path.join(staging, os.path.basename(path)), path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def _xml(layout, h5_name, times, fields, rows, topology_length) -> str:
    n_cells = layout.n_cells
    mesh = (f'<Topology TopologyType="Mixed" NumberOfElements="{n_cells}">'
            f'{_data_item(h5_name, "/mesh/topology", (topology_length,), np.dtype(np.int64))}</Topology>'
            f'<Geometry GeometryType="XYZ">'
            f'{_data_item(h5_name, "/mesh/geometry", layout.vertices.shape, np.dtype(np.float64))}'
            '</Geometry>')

    def attribute(name, item):
        return f'<Attribute Name={quoteattr(name)} AttributeType="Scalar" Center="Cell">{item}</Attribute>'

    integer = np.dtype(np.int64)
    static = (attribute("compartment", _data_item(h5_name, "/mesh/compartment", (n_cells,), integer))
              + attribute("patch", _data_item(h5_name, "/mesh/patch", (n_cells,), integer)))
    steps = []
    for k, t in enumerate(times):
        parts = [f'<Grid Name="step{k}" GridType="Uniform">', mesh, f'<Time Value="{float(t)!r}"/>', static]
        for name, (field_times, _values) in fields.items():
            index, positions = rows[name]
            row = positions[k]
            if row < len(field_times) and field_times[row] == t:
                item = _data_item(h5_name, f"/fields/{index}/{row}", (n_cells,), np.dtype(np.float64))
            else:
                item = _data_item(h5_name, "/fields/nan", (n_cells,), np.dtype(np.float64))
            parts.append(attribute(name, item))
        parts.append("</Grid>")
        steps.append("".join(parts))
    info = (f'<Information Name="compartments" Value={quoteattr(",".join(layout.compartment_names))}/>'
            f'<Information Name="patches" Value={quoteattr(",".join(layout.patch_names))}/>')
    return ('<?xml version="1.0"?>\n<Xdmf Version="3.0"><Domain>' + info
            + '<Grid Name="tetrasim" GridType="Collection" CollectionType="Temporal">'
            + "\n".join(steps) + "</Grid></Domain></Xdmf>\n")
