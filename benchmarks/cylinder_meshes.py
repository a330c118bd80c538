"""Why the default cylinder misses D_eff/D = 1 +- 3 %: the alternatives to gmsh's mesh, measured.

Run:  python benchmarks/cylinder_meshes.py

``D_eff / D`` is the slowest (axial) decay rate of the solvers' diffusion operator over the
exact rate (pi / L)^2 (:mod:`tetrasim.geometry.accuracy`; deterministic, no sampling). The
axial rate does not depend on the cross-section, so the inscribed polygon is not the cause.
Three families of meshes of the same cylinder, at the default size r/3 and at r/6:

* ``gmsh``: ``ts.shapes.cylinder`` (unstructured Delaunay + Netgen optimisation);
* ``unstructured box``: a square tube of the same length meshed the same way: no curved
  boundary, no axis;
* ``extruded disc``: gmsh's 2-D disc mesh extruded in layers of height ``dz``, each prism cut
  into 3 tets (plain, or mirrored from layer to layer like the structured box);
* ``O-grid Kuhn``: the structured box's mirrored Kuhn cells on a square grid, mapped onto the
  disc (inner square of half-width ``s`` kept, the ring blended onto the circle).
"""

from __future__ import annotations

import argparse

import numpy as np

UM = 1e-6


def disc_triangles(radius: float, size: float):
    """gmsh's 2-D mesh of a disc: (vertices (n, 2), triangles (m, 3))."""
    from tetrasim.geometry.shapes import _UNIT, _import_gmsh

    gmsh = _import_gmsh()
    gmsh.initialize(["-noenv"], readConfigFiles=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.option.setNumber("Mesh.MeshSizeMax", size / _UNIT)
        gmsh.option.setNumber("Mesh.MeshSizeMin", size / _UNIT / 10)
        gmsh.option.setNumber("Mesh.Algorithm", 6)
        gmsh.model.add("disc")
        gmsh.model.occ.addDisk(0, 0, 0, radius / _UNIT, radius / _UNIT)
        gmsh.model.occ.synchronize()
        gmsh.model.mesh.generate(2)
        tags, coords, _ = gmsh.model.mesh.getNodes()
        _, conn = gmsh.model.mesh.getElementsByType(2)
    finally:
        gmsh.finalize()
    lookup = np.full(int(np.max(tags)) + 1, -1)
    lookup[np.asarray(tags, np.int64)] = np.arange(len(tags))
    triangles = lookup[np.asarray(conn, np.int64)].reshape(-1, 3)
    xy = np.asarray(coords).reshape(-1, 3)[:, :2] * _UNIT
    used = np.unique(triangles)
    renumber = np.full(len(xy), -1)
    renumber[used] = np.arange(len(used))
    return xy[used], renumber[triangles]


def extruded(xy, triangles, length: float, layers: int, mirror: bool):
    """Prisms over each triangle, 3 tets each (cut by the vertices' order), ``layers`` along z."""
    from tetrasim.geometry.mesh import TetMesh

    n = len(xy)
    heights = np.linspace(0.0, length, layers + 1)
    vertices = np.concatenate([np.column_stack([xy, np.full(n, z)]) for z in heights])
    triangles = np.sort(triangles, axis=1)
    tets = []
    for k in range(layers):
        low, high = triangles + k * n, triangles + (k + 1) * n
        if mirror and k % 2:
            low, high = high, low
        tets += [np.column_stack([low[:, 0], low[:, 1], low[:, 2], high[:, 0]]),
                 np.column_stack([low[:, 1], low[:, 2], high[:, 0], high[:, 1]]),
                 np.column_stack([low[:, 2], high[:, 0], high[:, 1], high[:, 2]])]
    return TetMesh(vertices, np.concatenate(tets), fix_orientation=True)


def ogrid_kuhn(radius: float, length: float, size: float, inner: float):
    """The mirrored Kuhn box on [-r, r]^2 x [0, L], its square grid bent onto the disc."""
    from tetrasim.geometry import shapes
    from tetrasim.geometry.mesh import TetMesh

    cells = max(2, round(2 * radius / size))
    box = shapes._mirrored_kuhn_box((2 * radius, 2 * radius, length), 2 * radius / cells * 1.0001, "ogrid")
    v = box.vertices.copy()
    x, y = v[:, 0] / radius - 1, v[:, 1] / radius - 1
    rho = np.maximum(np.abs(x), np.abs(y))
    ring = rho > inner
    weight = (rho[ring] - inner) / (1 - inner)
    norm = np.hypot(x[ring], y[ring])
    for coordinate in (x, y):
        on_circle = coordinate[ring] / norm * rho[ring]
        coordinate[ring] = (1 - weight) * coordinate[ring] + weight * on_circle
    v[:, 0], v[:, 1] = radius * x, radius * y
    return TetMesh(v, box.tets, fix_orientation=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--radius", type=float, default=0.5 * UM)
    parser.add_argument("--length", type=float, default=4 * UM)
    args = parser.parse_args(argv)
    from tetrasim.geometry import shapes
    from tetrasim.geometry.accuracy import effective_diffusion_ratio, exact_slowest_rate, quality_report

    r, length = args.radius, args.length
    rate, modes = exact_slowest_rate("cylinder", radius=r, length=length)
    print(f"cylinder r = {r / UM:g} um, length {length / UM:g} um; D_eff/D of the axial mode\n")
    print("| mesh | size | tets | min dihedral | D_eff/D |\n|---|---|---|---|---|")

    def row(label, size_label, mesh, exact=rate, n_modes=modes):
        q = quality_report(mesh)
        ratio = effective_diffusion_ratio(mesh, exact, n_modes)
        print(f"| {label} | {size_label} | {mesh.n_tets:,} | {q['dihedral_min']:.1f}° | {ratio:.3f} |")

    for divisor in (3, 6):
        size = r / divisor
        label = f"r/{divisor}"
        row("gmsh (`shapes.cylinder`)", label, shapes.cylinder(r, length, size=size, cache=False))
        side = r * np.sqrt(np.pi)  # the square of the disc's area
        box_rate, box_modes = exact_slowest_rate("box", lengths=(side, side, length))
        row("unstructured box, same length and area", label,
            shapes.box(side, side, length, size=size, structured=False, cache=False), box_rate, box_modes)
        xy, triangles = disc_triangles(r, size)
        for mirror in (False, True):
            for dz in (1.0, 0.8):
                layers = max(1, round(length / (dz * size)))
                name = f"extruded disc, dz = {dz:g} size, {'mirrored' if mirror else 'plain'}"
                row(name, label, extruded(xy, triangles, length, layers, mirror))
        for inner in (0.34, 0.5):
            row(f"O-grid Kuhn, inner square {inner:g} r", label, ogrid_kuhn(r, length, size, inner))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
