"""D_eff/D of gmsh's cylinder: the alternatives to its mesh, its sizes and gmsh settings, measured.

Run:  python benchmarks/cylinder_meshes.py [--section alternatives|sizes|options|all]

``D_eff / D`` is the slowest (axial) decay rate of the solvers' diffusion operator over the
exact rate (pi / L)^2 (:mod:`tetrasim.geometry.accuracy`; deterministic, no sampling). The
axial rate does not depend on the cross-section, so the inscribed polygon is not the cause.
``--section alternatives``: three families of meshes of the same cylinder, at r/3 (the previous
default size) and r/6 (the default):

* ``gmsh``: ``ts.shapes.cylinder`` (unstructured Delaunay + Netgen optimisation);
* ``unstructured box``: a square tube of the same length meshed the same way: no curved
  boundary, no axis;
* ``extruded disc``: gmsh's 2-D disc mesh extruded in layers of height ``dz``, each prism cut
  into 3 tets (plain, or mirrored from layer to layer like the structured box);
* ``O-grid Kuhn``: the structured box's mirrored Kuhn cells on a square grid, mapped onto the
  disc (inner square of half-width ``s`` kept, the ring blended onto the circle).

``--section sizes``: ``ts.shapes.cylinder`` at sizes r/3 .. r/6 on both cylinders of
docs/mesh.md (r 0.5 um x 4 um and r 0.2 um x 10 um), for the default seed and four others
(gmsh's ``Mesh.RandomSeed``; the spread says how much of a difference is the particular mesh).
``--section options``: gmsh settings other than the generator's, at r/4 and r/5 (3-D
algorithm, optimiser passes and thresholds, smoothing, the 2-D algorithm). ``--section all``
(default) prints the three tables.
"""

from __future__ import annotations

import argparse
import time

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


#: The two cylinders of docs/mesh.md's table: (radius, length).
CYLINDERS = ((0.5 * UM, 4 * UM), (0.2 * UM, 10 * UM))
#: Seeds of the spread in ``--section sizes`` (gmsh gives seed 1 the same mesh as seed 0).
SEEDS = (0, 2, 3, 4, 5)
#: ``--section options``: label -> (gmsh options set on top of the generator's, optimiser passes after
#: meshing).
OPTIONS = {
    "the generator's (Delaunay, Netgen)": ({}, ()),
    "HXT 3-D (`Mesh.Algorithm3D` 10)": ({"Mesh.Algorithm3D": 10}, ()),
    "frontal 3-D (`Mesh.Algorithm3D` 4)": ({"Mesh.Algorithm3D": 4}, ()),
    "Delaunay 2-D (`Mesh.Algorithm` 5)": ({"Mesh.Algorithm": 5}, ()),
    "`Mesh.QualityType` 1 (SIGE)": ({"Mesh.QualityType": 1}, ()),
    "`Mesh.OptimizeThreshold` 0.9": ({"Mesh.OptimizeThreshold": 0.9}, ()),
    "`Mesh.Smoothing` 100": ({"Mesh.Smoothing": 100}, ()),
    "5 more Netgen passes": ({}, (("Netgen", 5),)),
    "5 gmsh + 5 Netgen passes": ({}, (("", 5), ("Netgen", 5))),
    "5 Relocate3D passes": ({}, (("Relocate3D", 5),)),
}


def gmsh_cylinder(radius: float, length: float, size: float, options: dict, passes=(), seed: int = 0):
    """``shapes.cylinder``'s gmsh session with ``options`` set on top and ``passes`` of ``mesh.optimize``."""
    from tetrasim.geometry.shapes import _UNIT, _extract, _gmsh_session

    with _gmsh_session(size, seed) as gmsh:
        for name, value in options.items():
            gmsh.option.setNumber(name, value)
        volume = gmsh.model.occ.addCylinder(0, 0, 0, 0, 0, length / _UNIT, radius / _UNIT)
        gmsh.model.occ.synchronize()
        gmsh.model.mesh.generate(3)
        for method, count in passes:
            gmsh.model.mesh.optimize(method, niter=count)
        return _extract(gmsh, {"cylinder": [volume]}, "benchmarks/cylinder_meshes.py")


def alternatives(r: float, length: float) -> None:
    from tetrasim.geometry import shapes
    from tetrasim.geometry.accuracy import effective_diffusion_ratio, exact_slowest_rate, quality_report

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


def sizes(divisors=(3, 4, 5, 6)) -> None:
    """D_eff/D of ``shapes.cylinder`` per size on both cylinders, for the default seed and the spread."""
    from tetrasim.geometry import shapes
    from tetrasim.geometry.accuracy import effective_diffusion_ratio, exact_slowest_rate

    seeds = ", ".join(str(s) for s in SEEDS)
    print(f"\n`shapes.cylinder` per size; D_eff/D for seed 0 (the default) and min-max over seeds {seeds}\n")
    print("| cylinder | size | tets (seed 0) | D_eff/D, seed 0 | min-max over seeds | mean "
          "| generation s (seed 0) |\n|---|---|---|---|---|---|---|")
    for r, length in CYLINDERS:
        rate, modes = exact_slowest_rate("cylinder", radius=r, length=length)
        for divisor in divisors:
            ratios, tets, seconds = [], None, None
            for seed in SEEDS:
                start = time.perf_counter()
                mesh = shapes.cylinder(r, length, size=r / divisor, seed=seed, cache=False)
                if seed == SEEDS[0]:
                    tets, seconds = mesh.n_tets, time.perf_counter() - start
                ratios.append(effective_diffusion_ratio(mesh, rate, modes))
            spread = f"{min(ratios):.3f}–{max(ratios):.3f}"
            print(f"| r {r / UM:g} um × {length / UM:g} um | r/{divisor} | {tets:,} | {ratios[0]:.3f} | "
                  f"{spread} | {np.mean(ratios):.3f} | {seconds:.1f} |", flush=True)


def options(r: float, length: float, divisors=(4, 5)) -> None:
    """D_eff/D of the cylinder under other gmsh settings (seed 0)."""
    from tetrasim.geometry.accuracy import effective_diffusion_ratio, exact_slowest_rate, quality_report

    rate, modes = exact_slowest_rate("cylinder", radius=r, length=length)
    print(f"\ngmsh settings, cylinder r = {r / UM:g} um × {length / UM:g} um, seed 0\n")
    print("| gmsh setting | size | tets | min dihedral | D_eff/D |\n|---|---|---|---|---|")
    for divisor in divisors:
        for label, (settings, passes) in OPTIONS.items():
            mesh = gmsh_cylinder(r, length, r / divisor, settings, passes)
            q = quality_report(mesh)
            ratio = effective_diffusion_ratio(mesh, rate, modes)
            dihedral = f"{q['dihedral_min']:.1f}°"
            print(f"| {label} | r/{divisor} | {mesh.n_tets:,} | {dihedral} | {ratio:.3f} |", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--radius", type=float, default=0.5 * UM, help="alternatives and options (m)")
    parser.add_argument("--length", type=float, default=4 * UM, help="alternatives and options (m)")
    parser.add_argument("--section", choices=("alternatives", "sizes", "options", "all"), default="all")
    args = parser.parse_args(argv)
    if args.section in ("alternatives", "all"):
        alternatives(args.radius, args.length)
    if args.section in ("sizes", "all"):
        sizes()
    if args.section in ("options", "all"):
        options(args.radius, args.length)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
