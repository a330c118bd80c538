"""The model the pre-split mesh tests run: the same script on the unsplit file and on a split set.

A gmsh box of two halves (physical volumes ``left`` and ``right``) with the outer faces of the
left half as physical surface ``pm``: volume reactions and diffusion in both halves, a diffusion
boundary between them, surface reactions and surface diffusion on ``pm``, a clamped species in
one tet; a tet ROI and a triangle ROI. Every (species, element) count is recorded; rank 0
writes them to an .npz file.

    python split_model.py make DIR N...             # DIR/box.msh and DIR/N/box_1..N.msh
    python split_model.py run OUT.npz MESH          # MESH: box.msh (serial) ...
    mpiexec -n N python split_model.py run OUT.npz DIR/N/box.msh --split
    mpiexec -n N python split_model.py layouts DIR/box.msh DIR/N/box.msh   # split path == global cut
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ for the shared model

import tetrasim as ts  # noqa: E402
from models import reaction_diffusion_model  # noqa: E402

SPECIES_VOLUME = ("A", "B", "C")
SPECIES_SURFACE = ("R", "RA")


def make_meshes(folder, parts, size=0.2) -> Path:
    """``folder/box.msh`` (unsplit) and, for each n in ``parts``, ``folder/n/box_1..n.msh``.

    A part count such as ``"2g"`` also writes Gmsh's ghost cells (``Mesh.PartitionCreateGhostCells``).
    """
    import gmsh

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    gmsh.initialize(["-noenv"], readConfigFiles=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.add("box")
        left = gmsh.model.occ.addBox(0, 0, 0, 0.5, 0.5, 0.5)
        right = gmsh.model.occ.addBox(0.5, 0, 0, 0.5, 0.5, 0.5)
        gmsh.model.occ.fragment([(3, left)], [(3, right)])
        gmsh.model.occ.synchronize()
        gmsh.model.addPhysicalGroup(3, [left], name="left")
        gmsh.model.addPhysicalGroup(3, [right], name="right")
        outer = [
            tag
            for _dim, tag in gmsh.model.getBoundary([(3, left)], oriented=False)
            if abs(gmsh.model.occ.getCenterOfMass(2, tag)[0] - 0.5) > 1e-9  # not the interface
        ]
        gmsh.model.addPhysicalGroup(2, outer, name="pm")
        gmsh.option.setNumber("Mesh.MeshSizeFromPoints", 0)
        gmsh.option.setNumber("Mesh.MeshSizeMin", size)
        gmsh.option.setNumber("Mesh.MeshSizeMax", size)
        gmsh.option.setNumber("Mesh.MshFileVersion", 4.1)
        gmsh.model.mesh.generate(3)
        gmsh.write(str(folder / "box.msh"))
        for n in parts:  # "2g": 2 parts with Gmsh's ghost cells written too (the reader skips them)
            (folder / str(n)).mkdir(exist_ok=True)
            gmsh.option.setNumber("Mesh.PartitionCreateGhostCells", int(str(n).endswith("g")))
            gmsh.model.mesh.partition(int(str(n).rstrip("g")))
            gmsh.option.setNumber("Mesh.PartitionSplitMeshFiles", 1)
            gmsh.write(str(folder / str(n) / "box.msh"))  # writes box_1.msh ... box_n.msh
            gmsh.option.setNumber("Mesh.PartitionSplitMeshFiles", 0)
            gmsh.model.mesh.unpartition()
    finally:
        gmsh.finalize()
    return folder


def build(mesh_path, split, backend=None, partition=None, halo=3, interface=False, empty=False, tris=()):
    """The simulation; ``interface``: also a patch on the left/right interface whose reactions read
    both sides (reaction clusters of tet, triangle and tet that cross the files' partition)."""
    model = reaction_diffusion_model(*(("S", "SA") if interface else ()))
    if interface:
        gate = model.surface_system("gate")
        gate.reaction("S.s + A.i <-> SA.s", kf=1e9, kb=30.0)
        gate.reaction("SA.s -> S.s + B.o", kf=40.0)  # reads the left tet, writes the right one
        gate.diffusion("S", 1e-13)
    mesh = ts.load_split_mesh(mesh_path, "um", halo=halo) if split else ts.load_mesh(mesh_path, "um")
    geom = ts.MeshGeometry(mesh)
    geom.compartment("left", tets=mesh.group("left"), systems=["vol"])
    geom.compartment("right", tets=mesh.group("right"), systems=["vol"])
    geom.roi("slab", tets=mesh.tets_where(lambda x, y, z: y < 0.25e-6))  # ROIs from per-element tests
    geom.roi("skin", tris=mesh.tris_where(lambda x, y, z: z < 0.2e-6, tri_ids=mesh.tri_group("pm")))
    if empty:  # a user error: allowed in one part, refused when every part has it empty
        geom.compartment("nowhere", tets=np.zeros(0, np.int64), systems=["vol"])
    geom.patch("pm", tris="pm", inner="left", systems=["memb"])  # a group name: the file's order
    geom.diffusion_boundary("gate", between=("left", "right"), species=["A"])  # open for A only
    if interface:
        between = geom.membrane_tris_between("left", "right")
        geom.patch("iface", tris=between, inner="left", outer="right", systems=["gate"])
    sim = ts.Simulation(
        model, geom, solver="opsplit", seed=5, progress=False, backend=backend, partition=partition
    )
    if split:  # the smallest serial id in 'left', agreed over the ranks
        from mpi4py import MPI

        ids = mesh.global_tets[mesh.group("left")]
        clamp = MPI.COMM_WORLD.allreduce(int(ids.min()) if len(ids) else mesh.n_global_tets, op=MPI.MIN)
    else:
        clamp = int(mesh.group("left")[0])
    sim.set_count("left", "A", 3000)
    sim.set_count("right", "B", 1500)
    sim.set_count(ts.Tet(clamp), "C", 40)
    sim.set_clamped(ts.Tet(clamp), "C", True)
    sim.set_count("pm", "R", 400)
    sim.set_count(ts.ROI("slab"), "B", 200)
    sim.set_count("skin", "RA", 50)
    if len(tris):  # triangles by their id in the whole mesh (ts.Tri)
        sim.set_count(ts.Tri(tris[0]), "R", 7)
    if interface:
        sim.set_count("iface", "S", 300)
    recorders = [
        sim.record(ts.Count(s, where=c, per_element=True), every=2e-3)
        for s in SPECIES_VOLUME
        for c in ("left", "right")
    ]
    recorders += [sim.record(ts.Count(s, where="pm", per_element=True), every=2e-3) for s in SPECIES_SURFACE]
    if interface:
        recorders += [sim.record(ts.Count(s, where="iface", per_element=True), every=2e-3)
                      for s in ("S", "SA")]
    recorders.append(sim.record(ts.Conc("A", where="left"), every=2e-3))
    recorders.append(sim.record(ts.Count("C", where=ts.ROI("slab"), per_element=True), every=2e-3))
    recorders.append(sim.record(ts.Count("R", where="skin"), every=2e-3))
    if len(tris):
        recorders.append(sim.record(ts.Count("RA", where=ts.Tri(list(tris)), per_element=True), every=2e-3))
    return sim, recorders


def run(args):
    sim, recorders = build(
        args.mesh, args.split, backend=args.backend, halo=args.halo, interface=args.interface,
        empty=args.empty_compartment, tris=args.tri,
    )
    results = sim.run(args.t_end)
    arrays = {r.name: results[r] for r in recorders}
    arrays["total_A_left"] = np.asarray(sim.get_count("left", "A"))
    arrays["total_R_pm"] = np.asarray(sim.get_count("pm", "R"))
    if getattr(sim.backend, "rank", 0) == 0:
        np.savez(args.out, **arrays)


def file_partition(whole_mesh, split_path) -> np.ndarray:
    """Rank of each tet of the whole mesh in the split set (test only: reads every file)."""
    from tetrasim.geometry.gmsh_parts import read_gmsh_part, split_file_name

    owner = np.full(whole_mesh.n_tets, -1, np.int64)
    tags = np.asarray(whole_mesh.element_ids)
    k = 1
    while split_file_name(split_path, k).exists():
        part = read_gmsh_part(split_file_name(split_path, k), "um")
        owner[np.searchsorted(tags, part.tet_tags)] = part.partition - 1
        k += 1
    assert (owner >= 0).all()
    return owner


def _same(a, b, what):
    if isinstance(a, dict):
        assert sorted(a) == sorted(b), what
        for key in a:
            _same(a[key], b[key], f"{what}[{key!r}]")
    elif isinstance(a, (tuple, list)) and not isinstance(a, str):
        assert len(a) == len(b), what
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{what}[{i}]")
    elif isinstance(a, np.ndarray):
        assert a.dtype == np.asarray(b).dtype and np.array_equal(a, b), what
    else:
        assert a == b, what


def layouts(args):
    """Every rank: the split path's layout equals the global compile-and-cut with the file partition."""
    whole = ts.load_mesh(args.whole, "um")
    owner = file_partition(whole, args.split_set)
    reference, _ = build(args.whole, False, backend="mpi", partition=owner, interface=args.interface)
    split, _ = build(args.split_set, True, halo=args.halo, interface=args.interface)
    ref, got = reference.layout, split.layout
    keys = sorted(set(ref) - {"system"})
    assert sorted(set(got) - {"system", "split", "rois"}) == keys, (sorted(got), keys)
    for key in keys:
        _same(ref[key], got[key], key)
    for name in ("slab", "skin"):  # ROIs: resolved when used on a whole mesh, at set-up on a split one
        local, positions, total = reference._resolve(ts.ROI(name))
        _same((local.astype(np.int64), positions.astype(np.int64), total), got["rois"][name][:3], name)
    fields = [f for f in vars(ref["system"]) if not f.startswith("_")]
    for name in fields:
        if name == "discretization":
            for attr, value in vars(ref["system"].discretization).items():
                _same(value, getattr(got["system"].discretization, attr), f"discretization.{attr}")
        else:
            _same(getattr(ref["system"], name), getattr(got["system"], name), f"system.{name}")
    if split.backend.rank == 0:
        print(f"layouts identical on {split.backend.size} ranks ({len(fields)} system fields)")


def positions():
    """global_positions against np.unique of every rank's keys, packed and structured (huge values)."""
    from mpi4py import MPI

    from tetrasim.backends.split_mesh import global_positions

    comm = MPI.COMM_WORLD
    rng = np.random.default_rng(comm.rank)
    for scale in (50, 2**40):  # 3 columns of 2**40 do not fit one int64: the structured path
        keys = rng.integers(0, 50, size=(200 + 37 * comm.rank, 3)) * scale  # repeats within and across ranks
        got, total = global_positions(comm, keys)
        pooled = np.concatenate(comm.allgather(keys))
        distinct = np.unique(pooled, axis=0)
        expected = [int(np.flatnonzero((distinct == row).all(axis=1))[0]) for row in keys]
        assert total == len(distinct) and np.array_equal(got, expected), scale
    got, total = global_positions(comm, np.zeros((0, 3), np.int64))  # no keys anywhere
    assert total == 0 and len(got) == 0
    if comm.rank == 0:
        print("positions ok")


def main(argv=None):
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("make")
    make.add_argument("folder")
    make.add_argument("parts", nargs="+", help="numbers of parts; 2g: 2 parts with ghost cells")
    go = sub.add_parser("run")
    go.add_argument("out")
    go.add_argument("mesh")
    go.add_argument("--split", action="store_true")
    go.add_argument("--backend", default=None)
    go.add_argument("--t-end", type=float, default=0.03)
    go.add_argument("--halo", type=int, default=3)
    go.add_argument("--interface", action="store_true")
    go.add_argument("--empty-compartment", action="store_true")
    go.add_argument("--tri", type=int, nargs="*", default=[], help="whole-mesh ids of patch triangles")
    lay = sub.add_parser("layouts")
    lay.add_argument("whole")
    lay.add_argument("split_set")
    lay.add_argument("--halo", type=int, default=3)
    lay.add_argument("--interface", action="store_true")
    sub.add_parser("positions")
    args = parser.parse_args(argv)
    if args.command == "make":
        make_meshes(args.folder, args.parts)
    elif args.command == "run":
        run(args)
    elif args.command == "positions":
        positions()
    else:
        layouts(args)


if __name__ == "__main__":
    main()
