"""Mesh generators (gmsh, OpenCASCADE kernel): box, cylinder, sphere and the astrocyte branchlet.

All lengths are SI metres in, a :class:`~tetrasim.geometry.mesh.TetMesh` out. Each call is
deterministic (one thread, fixed ``seed``) and cached on disk as ``.npz``, keyed by every
parameter and the gmsh version, under ``$TETRASIM_CACHE`` (default ``~/.cache/tetrasim``);
pass ``cache=False`` to skip the cache.

Placement
---------
* :func:`box`: the corner at the origin, ``[0, lx] x [0, ly] x [0, lz]``.
* :func:`cylinder`: axis along z from ``z = 0`` to ``z = length``.
* :func:`sphere`: centred at the origin.
* :func:`branchlet`: axis along x, centred at the origin; node ``i`` is centred at
  ``x_i = (i - (n_nodes - 1) / 2) * spacing``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import threading
from pathlib import Path

import numpy as np

from ..arguments import checked_keywords
from ..errors import GeometryError
from .mesh import TetMesh

__all__ = ["box", "cylinder", "sphere", "branchlet", "branchlet_volume", "cache_dir", "GMSH_INSTALL_HINT"]

_CACHE_VERSION = 2  # 2: Netgen optimisation, size wins over curvature, structured box
_LOCK = threading.Lock()
_UNIT = 1e-6  # gmsh model unit in metres (see _gmsh_session)
GMSH_INSTALL_HINT = (
    "the mesh generators need the gmsh Python package: `pip install gmsh`; its library also needs "
    "system packages, on Debian/Ubuntu: `apt-get install libglu1-mesa libgl1 libxrender1 libxcursor1 "
    "libxfixes3 libxext6 libxft2 libfontconfig1 libxinerama1 libx11-6 libgomp1`"
)


def cache_dir() -> Path:
    """Directory of cached generated meshes (``$TETRASIM_CACHE`` or ``~/.cache/tetrasim``)."""
    root = os.environ.get("TETRASIM_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "tetrasim"
    return base / "shapes"


def _import_gmsh():
    try:
        import gmsh
    except (ImportError, OSError) as error:
        raise ImportError(f"cannot import gmsh ({error}); {GMSH_INSTALL_HINT}") from None
    return gmsh


@contextlib.contextmanager
def _gmsh_session(
    size: float, seed: int, size_min: float | None = None, curvature: int | None = None, optimize: bool = True
):
    """Initialise gmsh for one model; lengths given to gmsh are in units of :data:`_UNIT` metres.

    OpenCASCADE's tolerance (1e-7 model units) would swallow sub-micrometre features given in
    metres, so geometry is built in micrometres and scaled back in :func:`_extract`.
    ``curvature`` (elements per 2*pi of curved surfaces, ``None``: off) refines below ``size``;
    ``optimize`` runs gmsh's Netgen optimiser after the Delaunay mesher, which removes most
    slivers (the minimum dihedral angle of a default branchlet goes from 2 to 13 degrees).
    """
    gmsh = _import_gmsh()
    size, size_min = size / _UNIT, (size_min / _UNIT if size_min is not None else None)
    with _LOCK:
        if gmsh.isInitialized():
            gmsh.finalize()
        gmsh.initialize(["-noenv"], readConfigFiles=False, interruptible=False)
        try:
            opt = gmsh.option.setNumber
            opt("General.Terminal", 0)
            opt("General.Verbosity", 1)
            opt("General.NumThreads", 1)
            opt("Mesh.MaxNumThreads1D", 1)
            opt("Mesh.MaxNumThreads2D", 1)
            opt("Mesh.MaxNumThreads3D", 1)
            opt("Mesh.RandomSeed", int(seed))
            opt("Mesh.Algorithm", 6)
            opt("Mesh.Algorithm3D", 1)
            opt("Mesh.MeshSizeMax", size)
            opt("Mesh.MeshSizeMin", size_min if size_min is not None else size / 10)
            opt("Mesh.MeshSizeFromCurvature", int(curvature) if curvature else 0)
            # without a curvature rule, size alone sets the mesh: gmsh would otherwise carry the
            # fine spacing of short boundary curves (a sphere's seam) into the surfaces and volume
            opt("Mesh.MeshSizeExtendFromBoundary", 1 if curvature else 0)
            opt("Mesh.OptimizeNetgen", 1 if optimize else 0)
            opt("Mesh.ElementOrder", 1)
            gmsh.model.add("tetrasim")
            yield gmsh
        finally:
            gmsh.finalize()


def _extract(gmsh, groups_of_volumes: dict[str, list[int]], source: str) -> TetMesh:
    """Read nodes, tets and per-volume element groups from the current gmsh model."""
    node_tags, coords, _ = gmsh.model.mesh.getNodes()
    node_tags = np.asarray(node_tags, dtype=np.int64)
    coords = np.asarray(coords, dtype=np.float64).reshape(-1, 3) * _UNIT
    lookup = np.full(int(node_tags.max()) + 1, -1, dtype=np.int64)
    lookup[node_tags] = np.arange(len(node_tags))
    tags, conn = gmsh.model.mesh.getElementsByType(4)
    tags = np.asarray(tags, dtype=np.int64)
    order = np.argsort(tags)
    tets = lookup[np.asarray(conn, dtype=np.int64).reshape(-1, 4)][order]
    tags = tags[order]
    used = np.unique(tets)
    remap = np.full(len(coords), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    groups = {}
    for name, vols in groups_of_volumes.items():
        el = [np.asarray(gmsh.model.mesh.getElementsByType(4, tag=v)[0], dtype=np.int64) for v in vols]
        el = np.concatenate(el) if el else np.zeros(0, np.int64)
        groups[name] = np.searchsorted(tags, np.sort(el))
    return TetMesh(coords[used], remap[tets], groups=groups, fix_orientation=True, source=source)


def _cached(kind: str, params: dict, build, cache: bool) -> TetMesh:
    gmsh_version = "unknown"
    try:
        from importlib.metadata import version

        gmsh_version = version("gmsh")
    except Exception:  # noqa: BLE001 - the version only keys the cache
        pass
    key = json.dumps({"kind": kind, "v": _CACHE_VERSION, "gmsh": gmsh_version, **params}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    path = cache_dir() / f"{kind}-{digest}.npz"
    if cache and path.exists():
        try:
            return TetMesh.load(path)
        except GeometryError:
            pass  # a damaged cache entry: rebuild it
    mesh = build()
    if cache:
        try:
            mesh.save(path)
        except OSError:
            pass  # read-only home: still return the mesh
    return mesh


def _positive(name: str, value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise GeometryError(f"{name} must be a positive length in metres, got {value!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise GeometryError(f"{name} must be a positive length in metres, got {value!r}")
    return v


def _check_size(size, *lengths) -> float:
    s = _positive("size", size)
    if s < min(lengths) / 400:
        raise GeometryError(
            f"size={s:g} m is tiny compared with the shape ({min(lengths):g} m): this would make "
            "a huge mesh; pass a larger size"
        )
    return s


@checked_keywords
def box(
    lx: float,
    ly: float,
    lz: float,
    size: float | None = None,
    seed: int = 0,
    *,
    structured: bool = True,
    optimize: bool = True,
    cache: bool = True,
) -> TetMesh:
    """Tet mesh of the box ``[0, lx] x [0, ly] x [0, lz]`` (metres), target edge ``size``.

    Parameters
    ----------
    lx, ly, lz : float
        Side lengths in metres.
    size : float, optional
        Target edge length (default ``min(lx, ly, lz) / 5``).
    seed : int
        Gmsh's random seed (unstructured meshes only).
    structured : bool
        ``True`` (default): ``round(l / size)`` cells along each side (near-cubes of edge about
        ``size``), each cut into 6 tets around a diagonal, the cut mirrored from cell to cell so
        that the two tets of every interior face are mirror images across it. The barycentre
        diffusion formula is then exact for linear profiles (effective D = D on cubic cells).
        ``False``: gmsh's unstructured Delaunay mesh.
    optimize : bool
        Unstructured meshes only: run gmsh's Netgen optimiser (see :func:`sphere`).
    cache : bool
        Reuse (and store) the mesh in :func:`cache_dir`.

    Examples
    --------
    >>> from tetrasim.geometry import shapes
    >>> mesh = shapes.box(1e-6, 1e-6, 2e-6, size=0.5e-6)
    >>> round(mesh.total_volume * 1e18, 6), mesh.n_tets
    (2.0, 96)
    """
    lx, ly, lz = (_positive(n, v) for n, v in (("lx", lx), ("ly", ly), ("lz", lz)))
    size = _check_size(size if size is not None else min(lx, ly, lz) / 5, lx, ly, lz)
    source = f"shapes.box({lx:g}, {ly:g}, {lz:g}, size={size:g})"
    if structured:
        return _mirrored_kuhn_box((lx, ly, lz), size, source)

    def build():
        with _gmsh_session(size, seed, size_min=size / 2, optimize=optimize) as gmsh:
            v = gmsh.model.occ.addBox(0, 0, 0, lx / _UNIT, ly / _UNIT, lz / _UNIT)
            gmsh.model.occ.synchronize()
            gmsh.model.mesh.generate(3)
            return _extract(gmsh, {"box": [v]}, source)

    params = {"lx": lx, "ly": ly, "lz": lz, "size": size, "seed": seed, "optimize": bool(optimize)}
    return _cached("box", params, build, cache)


def _near_cubic_counts(lengths, size: float) -> list[int]:
    """Cells per side, edges about ``size`` or shorter, chosen to make the cells as cubic as possible.

    The mirror property needs cubic cells; on sides that are not commensurate, the most nearly
    cubic cells among up to 1.5 times as many per side (``size / 1.5`` .. ``size``) are taken.
    """
    best = None
    for step in np.linspace(size, size / 1.5, 41):
        counts = [max(1, math.ceil(length / step - 1e-9)) for length in lengths]
        edges = [length / n for length, n in zip(lengths, counts, strict=True)]
        score = (round(max(edges) / min(edges), 6), int(np.prod(counts)))
        if best is None or score < best[0]:
            best = (score, counts)
    return best[1]


#: The 6 orders in which a path from corner (0,0,0) to (1,1,1) of a unit cell can step along the axes;
#: each gives one tet of the Kuhn subdivision (all 6 share the diagonal).
_KUHN_ORDERS = ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))


def _mirrored_kuhn_box(lengths, size: float, source: str) -> TetMesh:
    """Structured box: Kuhn-cut cells, the cut of cell (i, j, k) mirrored along each odd index.

    Two Kuhn tets of one cell that share a face are mirror images across the plane ``x_a = x_b``
    holding it; mirroring every other cell makes tets across cell faces mirror images too. So
    the line between neighbouring barycentres is normal to their shared face everywhere.
    """
    counts = _near_cubic_counts(lengths, size)
    nx, ny, nz = counts
    axes = [np.linspace(0.0, length, n + 1) for length, n in zip(lengths, counts, strict=True)]
    vertices = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    cells = np.stack(np.meshgrid(*(np.arange(n) for n in counts), indexing="ij"), -1).reshape(-1, 3)
    flip = cells % 2
    tets = []
    for order in _KUHN_ORDERS:
        corner = np.zeros(3, dtype=np.int64)
        path = [corner.copy()]
        for axis in order:
            corner[axis] = 1
            path.append(corner.copy())
        ids = []
        for offset in path:
            ijk = cells + np.where(flip == 1, 1 - offset, offset)
            ids.append((ijk[:, 0] * (ny + 1) + ijk[:, 1]) * (nz + 1) + ijk[:, 2])
        tets.append(np.stack(ids, axis=1))
    tets = np.concatenate(tets)
    cell_of = np.tile(np.arange(len(cells)), len(_KUHN_ORDERS))
    tets = tets[np.argsort(cell_of, kind="stable")]  # the 6 tets of a cell next to each other
    return TetMesh(vertices, tets, groups={"box": np.arange(len(tets))}, fix_orientation=True, source=source)


def _curvature(curvature) -> int | None:
    if curvature is None:
        return None
    try:
        value = int(curvature)
    except (TypeError, ValueError):
        value = 0
    if value < 3 or value != curvature:
        raise GeometryError(
            f"curvature={curvature!r} must be a whole number of elements per turn (at least 3), or None "
            "to let size alone set the mesh"
        )
    return value


@checked_keywords
def cylinder(
    radius: float,
    length: float,
    size: float | None = None,
    seed: int = 0,
    *,
    curvature: int | None = None,
    optimize: bool = True,
    cache: bool = True,
) -> TetMesh:
    """Tet mesh of a cylinder of ``radius`` with its axis along z from 0 to ``length`` (metres).

    ``size`` (default ``radius / 6``) is the target edge; ``curvature``, ``optimize``: see :func:`sphere`.
    The default is the coarsest of r/3 .. r/6 at which the barycentre diffusion formula gives
    an effective D within 3 % of D on these unstructured meshes (0.971-0.973 at r/6, 0.945-0.956
    at r/3; docs/mesh.md); it costs about 7 times the tets of r/3.
    """
    radius, length = _positive("radius", radius), _positive("length", length)
    size = _check_size(size if size is not None else radius / 6, radius, length)
    curvature = _curvature(curvature)

    def build():
        with _gmsh_session(size, seed, curvature=curvature, optimize=optimize) as gmsh:
            v = gmsh.model.occ.addCylinder(0, 0, 0, 0, 0, length / _UNIT, radius / _UNIT)
            gmsh.model.occ.synchronize()
            gmsh.model.mesh.generate(3)
            return _extract(
                gmsh, {"cylinder": [v]}, f"shapes.cylinder({radius:g}, {length:g}, size={size:g})"
            )

    params = {"radius": radius, "length": length, "size": size, "seed": seed}
    params.update(curvature=curvature, optimize=bool(optimize))
    return _cached("cylinder", params, build, cache)


@checked_keywords
def sphere(
    radius: float,
    size: float | None = None,
    seed: int = 0,
    *,
    curvature: int | None = None,
    optimize: bool = True,
    cache: bool = True,
) -> TetMesh:
    """Tet mesh of a sphere of ``radius`` centred at the origin (metres).

    Parameters
    ----------
    radius : float
        Metres.
    size : float, optional
        Target edge length (default ``radius / 4``); it sets the mesh unless ``curvature`` is given.
    seed : int
        Gmsh's random seed; the same call gives the same mesh.
    curvature : int, optional
        Also refine curved surfaces to at least this many elements per turn (``16`` was the fixed
        rule before ``size`` took precedence; it made the tet count of small shapes ignore ``size``).
    optimize : bool
        Run gmsh's Netgen optimiser after meshing (default): fewer slivers, a larger opsplit
        diffusion step and an effective diffusion coefficient closer to D (docs/mesh.md).
    cache : bool
        Reuse (and store) the mesh in :func:`cache_dir`.
    """
    radius = _positive("radius", radius)
    size = _check_size(size if size is not None else radius / 4, radius)
    curvature = _curvature(curvature)

    def build():
        with _gmsh_session(size, seed, curvature=curvature, optimize=optimize) as gmsh:
            v = gmsh.model.occ.addSphere(0, 0, 0, radius / _UNIT)
            gmsh.model.occ.synchronize()
            gmsh.model.mesh.generate(3)
            return _extract(gmsh, {"sphere": [v]}, f"shapes.sphere({radius:g}, size={size:g})")

    params = {"radius": radius, "size": size, "seed": seed}
    params.update(curvature=curvature, optimize=bool(optimize))
    return _cached("sphere", params, build, cache)


# ---------------------------------------------------------------------------- branchlet
def _node_centres(n_nodes: int, spacing: float) -> np.ndarray:
    return (np.arange(n_nodes) - (n_nodes - 1) / 2.0) * spacing


def _end_extent(n_nodes, d_node, spacing, length) -> float:
    """Half-length reached by terminal shafts (0 when the nodes already span ``length``)."""
    last = (n_nodes - 1) / 2.0 * spacing
    return length / 2.0 if length / 2.0 > last + d_node / 2.0 else 0.0


@checked_keywords
def branchlet_volume(
    n_nodes: int = 5,
    d_node: float = 380e-9,
    d_shaft: float = 378e-9,
    spacing: float = 1.57e-6,
    length: float = 6.65e-6,
) -> float:
    """Analytic volume (m^3) of the node-shaft shape: spheres + cylinders - the overlaps.

    Each shaft of radius ``a = d_shaft/2`` joins the centres of two spheres of radius
    ``R = d_node/2`` (``a <= R``). Inside a sphere the shaft occupies a cylinder of length
    ``h0 = sqrt(R^2 - a^2)`` from the centre plus the spherical cap of height ``R - h0``
    (``pi h^2 (3R - h) / 3``), so

    ``V = n (4/3) pi R^3 + sum_shafts [pi a^2 L - n_ends (pi a^2 h0 + cap(R - h0))]``

    with ``L`` the centre-to-centre (or centre-to-end) length and ``n_ends`` the spheres the
    shaft enters (2 between nodes, 1 for a terminal shaft).
    """
    rr, a = d_node / 2.0, d_shaft / 2.0
    if a > rr:
        raise GeometryError(f"d_shaft={d_shaft:g} m must not exceed d_node={d_node:g} m")
    h0 = math.sqrt(rr * rr - a * a)
    h = rr - h0
    inside = math.pi * a * a * h0 + math.pi * h * h * (3 * rr - h) / 3.0
    vol = n_nodes * 4.0 / 3.0 * math.pi * rr**3
    vol += (n_nodes - 1) * (math.pi * a * a * spacing - 2 * inside)
    end = _end_extent(n_nodes, d_node, spacing, length)
    if end:
        last = (n_nodes - 1) / 2.0 * spacing
        vol += 2 * (math.pi * a * a * (end - last) - inside)
    return vol


@checked_keywords
def branchlet(
    n_nodes: int = 5,
    d_node: float = 380e-9,
    d_shaft: float = 378e-9,
    spacing: float = 1.57e-6,
    length: float = 6.65e-6,
    size: float | None = None,
    er: bool = False,
    er_d_node: float | None = None,
    er_d_shaft: float | None = None,
    seed: int = 0,
    *,
    node_size: float | None = None,
    curvature: int | None = None,
    optimize: bool = True,
    cache: bool = True,
) -> TetMesh:
    """Astrocyte branchlet: ``n_nodes`` spheres of diameter ``d_node`` joined by shafts of ``d_shaft``.

    The axis is x and the shape is centred at the origin; node ``i`` sits at
    ``x_i = (i - (n_nodes - 1)/2) * spacing``. Shafts join neighbouring node centres; when
    ``length`` exceeds the node span, terminal shafts extend to ``x = +-length/2``.

    Parameters
    ----------
    n_nodes, d_node, d_shaft, spacing, length : int, float
        Shape in metres (defaults: the Glia 2022 geometry, d0 = 378 nm shafts).
    size : float, optional
        Target edge length (default ``min(d_shaft, d_node) / 4``, at least 12 elements around a
        shaft). A node that bulges out of its shafts by less than ``size / 8`` (the default
        d0 = 378 nm shafts on 380 nm nodes: 1 nm) is meshed as part of the shaft: elements of
        that size cannot resolve the bulge, and meshing its 39 nm wide band made slivers.
    node_size : float, optional
        Target edge inside the node spheres when it is larger than ``size`` (a graded mesh):
        thin shafts need small elements, the nodes, which hold most of the volume, do not, and
        every element smaller than needed makes a stochastic run slower (a molecule's hop rate
        grows as D/h²). The size grows from ``size`` at one ``node_size`` outside a node's
        surface to ``node_size`` on it. Default: ``size`` everywhere.
    er : bool
        Add an inner endoplasmic reticulum of the same node-shaft shape (diameters
        ``er_d_node``, ``er_d_shaft``, default half the outer ones) as group ``"er"``.
    seed : int
        Gmsh's random seed; the same call gives the same mesh.
    curvature, optimize
        See :func:`sphere` (``curvature=16`` refines curved surfaces to 16 elements per turn).

    Returns
    -------
    TetMesh
        Groups: ``"cytosol"`` (all non-ER tets), ``"er"`` (when ``er``), ``"node0"`` ..
        (cytosol of each node sphere), ``"shaft0a"``, ``"shaft0b"``, ... (cytosol of each half of
        shaft ``i``, between node ``i`` and ``i + 1``: ``a`` next to node ``i``, ``b`` next to node
        ``i + 1``) and ``"end0"``/``"end1"`` for terminal shafts. The FRAP bleach region of the
        5-node branchlet is ``node2 + shaft1b + shaft2a``.
    """
    n_nodes = int(n_nodes)
    if n_nodes < 1:
        raise GeometryError(f"n_nodes must be at least 1, got {n_nodes}")
    d_node, d_shaft = _positive("d_node", d_node), _positive("d_shaft", d_shaft)
    spacing, length = _positive("spacing", spacing), _positive("length", length)
    if d_shaft > d_node:
        raise GeometryError(f"d_shaft={d_shaft:g} m must not exceed d_node={d_node:g} m")
    if n_nodes > 1 and spacing <= d_node:
        raise GeometryError(
            f"spacing={spacing:g} m must exceed d_node={d_node:g} m (the nodes would overlap)"
        )
    er_dn = _positive("er_d_node", er_d_node) if er_d_node is not None else d_node / 2
    er_ds = _positive("er_d_shaft", er_d_shaft) if er_d_shaft is not None else d_shaft / 2
    if er and (er_dn >= d_node or er_ds >= d_shaft or er_ds > er_dn):
        raise GeometryError(
            "the ER must fit inside the branchlet: er_d_node < d_node, er_d_shaft < d_shaft, "
            "er_d_shaft <= er_d_node"
        )
    size = _check_size(size if size is not None else min(d_shaft, d_node) / 4, d_shaft, d_node)
    graded = node_size is not None and _positive("node_size", node_size) > size
    params = dict(
        n_nodes=n_nodes,
        d_node=d_node,
        d_shaft=d_shaft,
        spacing=spacing,
        length=length,
        size=size,
        er=bool(er),
        er_d_node=er_dn,
        er_d_shaft=er_ds,
        seed=seed,
        curvature=_curvature(curvature),
        optimize=bool(optimize),
    )
    if graded:  # only then: a uniform mesh keeps its cache key
        params["node_size"] = float(node_size)

    def build():
        u = _UNIT
        xs = _node_centres(n_nodes, spacing) / u
        end = _end_extent(n_nodes, d_node, spacing, length) / u
        rn, rs, ern, ers = d_node / 2 / u, d_shaft / 2 / u, er_dn / 2 / u, er_ds / 2 / u
        unresolved = size / 8 / u  # a node bulge lower than this becomes part of the shaft
        rs = rn if rn - rs < unresolved else rs
        ers = ern if ern - ers < unresolved else ers
        with _gmsh_session(
            size, seed, size_min=size / 20, curvature=params["curvature"], optimize=optimize
        ) as gmsh:
            occ = gmsh.model.occ

            def chain(r_node, r_shaft):
                parts = [(3, occ.addSphere(x, 0, 0, r_node)) for x in xs]
                parts += [
                    (3, occ.addCylinder(xs[i], 0, 0, xs[i + 1] - xs[i], 0, 0, r_shaft))
                    for i in range(n_nodes - 1)
                ]
                if end:
                    parts.append((3, occ.addCylinder(-end, 0, 0, xs[0] + end, 0, 0, r_shaft)))
                    parts.append((3, occ.addCylinder(xs[-1], 0, 0, end - xs[-1], 0, 0, r_shaft)))
                if len(parts) == 1:
                    return parts
                fused, _ = occ.fuse(parts[:1], parts[1:])
                return fused

            outer = chain(rn, rs)
            er_vols: list[int] = []
            if er:
                inner = chain(ern, ers)
                _, out_map = occ.fragment(outer, inner)
                er_vols = sorted({t for dimtags in out_map[len(outer) :] for d, t in dimtags if d == 3})
            occ.synchronize()
            all_vols = sorted(t for d, t in gmsh.model.getEntities(3))
            cyt_vols = [t for t in all_vols if t not in er_vols]
            if graded:
                _grade_nodes(gmsh, xs, rn, size / u, node_size / u)
            try:
                gmsh.model.mesh.generate(3)
            except Exception as error:  # noqa: BLE001 - gmsh raises bare Exception
                raise GeometryError(
                    f"gmsh could not mesh the branchlet ({error}); try another size"
                ) from None
            groups = {"cytosol": cyt_vols}
            if er:
                groups["er"] = er_vols
            graded_note = f", node_size={node_size:g}" if graded else ""
            mesh = _extract(gmsh, groups,
                            f"shapes.branchlet(d_shaft={d_shaft:g}, size={size:g}{graded_note}, er={er})")
        return _label_branchlet(mesh, xs * u, d_node / 2, end * u)

    return _cached("branchlet", params, build, cache)


def _grade_nodes(gmsh, xs, r_node: float, size: float, node_size: float) -> None:
    """Background size field: ``node_size`` inside each node sphere, ``size`` one ``node_size``
    beyond its surface, linear in between (gmsh Ball fields, the largest wins)."""
    field = gmsh.model.mesh.field
    balls = []
    for x in xs:
        ball = field.add("Ball")
        field.setNumber(ball, "XCenter", float(x))
        field.setNumber(ball, "YCenter", 0.0)
        field.setNumber(ball, "ZCenter", 0.0)
        field.setNumber(ball, "Radius", float(r_node))
        field.setNumber(ball, "Thickness", float(node_size))
        field.setNumber(ball, "VIn", float(node_size))
        field.setNumber(ball, "VOut", float(size))
        balls.append(ball)
    largest = field.add("Max")
    field.setNumbers(largest, "FieldsList", balls)
    field.setAsBackgroundMesh(largest)
    gmsh.option.setNumber("Mesh.MeshSizeMax", float(node_size))
    gmsh.option.setNumber("Mesh.MeshSizeFromPoints", 0)


def _label_branchlet(mesh: TetMesh, xs: np.ndarray, r_node: float, end: float) -> TetMesh:
    """Add node/shaft groups to a branchlet mesh by the position of each cytosol tet's barycenter."""
    cyt = mesh.group("cytosol")
    bc = mesh.tet_barycenters[cyt]
    groups = dict(mesh.groups)
    d2 = (bc[:, None, 0] - xs[None, :]) ** 2 + bc[:, None, 1] ** 2 + bc[:, None, 2] ** 2
    nearest = np.argmin(d2, axis=1)
    in_node = d2[np.arange(len(cyt)), nearest] <= r_node**2
    for i in range(len(xs)):
        groups[f"node{i}"] = cyt[in_node & (nearest == i)]
    x = bc[:, 0]
    rest = ~in_node
    for i in range(len(xs) - 1):
        mid = 0.5 * (xs[i] + xs[i + 1])
        groups[f"shaft{i}a"] = cyt[rest & (x >= xs[i]) & (x < mid)]
        groups[f"shaft{i}b"] = cyt[rest & (x >= mid) & (x <= xs[i + 1])]
    if end:
        groups["end0"] = cyt[rest & (x < xs[0])]
        groups["end1"] = cyt[rest & (x > xs[-1])]
    return TetMesh(mesh.vertices, mesh.tets, groups=groups, validate=False, source=mesh.source)
