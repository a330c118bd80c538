"""A mesh split by gmsh into one file per MPI rank, each rank reading only its own file.

    python examples/split_mesh.py split cell.msh 2            # cell.msh, cell_1.msh, cell_2.msh
    mpiexec -n 2 python examples/split_mesh.py run cell.msh   # rank r reads cell_<r+1>.msh only
    python examples/split_mesh.py run cell.msh --whole        # one process, the unsplit file

Both runs print the same counts: for one seed the trajectory does not depend on the ranks.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import tetrasim as ts


def split(path: Path, parts: int, size: float = 0.25) -> None:
    """Mesh a 1 µm cube with gmsh; write it whole to ``path`` and split into ``parts`` files."""
    import gmsh

    gmsh.initialize(["-noenv"], readConfigFiles=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        cube = gmsh.model.occ.addBox(0, 0, 0, 1, 1, 1)
        gmsh.model.occ.synchronize()
        gmsh.model.addPhysicalGroup(3, [cube], name="cyto")  # compartments come from volume groups
        skin = [tag for _dim, tag in gmsh.model.getBoundary([(3, cube)], oriented=False)]
        gmsh.model.addPhysicalGroup(2, skin, name="membrane")  # patches from surface groups
        for option, value in (("Mesh.MeshSizeFromPoints", 0), ("Mesh.MeshSizeMin", size),
                              ("Mesh.MeshSizeMax", size), ("Mesh.MshFileVersion", 4.1)):
            gmsh.option.setNumber(option, value)
        gmsh.model.mesh.generate(3)
        gmsh.write(str(path))  # the unsplit file, for a serial run
        gmsh.model.mesh.partition(parts)
        gmsh.option.setNumber("Mesh.PartitionSplitMeshFiles", 1)
        gmsh.write(str(path))  # writes cell_1.msh ... cell_<parts>.msh
    finally:
        gmsh.finalize()


def run(path: Path, whole: bool) -> None:
    model = ts.Model()
    model.species("A", "R", "RA")
    cyto = model.volume_system("cyto")
    cyto.diffusion("A", "0.5 um^2/s")
    memb = model.surface_system("memb")
    memb.reaction("R.s + A.i <-> RA.s", kf="1e8 /M/s", kb="5 /s")
    memb.diffusion("R", "0.05 um^2/s")
    # the same calls either way: a whole mesh, or this rank's part of the split set
    mesh = ts.load_mesh(path, "um") if whole else ts.load_split_mesh(path, "um")
    geom = ts.MeshGeometry(mesh)
    geom.compartment("cyto", tets=mesh.group("cyto"), systems=["cyto"])
    geom.patch("membrane", tris=mesh.tri_group("membrane"), inner="cyto", systems=["memb"])
    sim = ts.Simulation(model, geom, solver="opsplit", seed=3, progress=False)
    sim.set_count("cyto", "A", 2000)
    sim.set_count("membrane", "R", 500)
    sim.run(0.05)
    bound = sim.get_count("membrane", "RA")
    if getattr(sim.backend, "is_root", True):
        ranks = getattr(sim.backend, "size", 1)
        print(f"{ranks} rank(s): RA on the membrane at t = 0.05 s: {bound}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("split", help="mesh a cube and split it into files")
    make.add_argument("path", type=Path)
    make.add_argument("parts", type=int)
    go = sub.add_parser("run", help="run the model (under mpiexec: on the split set)")
    go.add_argument("path", type=Path)
    go.add_argument("--whole", action="store_true", help="read the unsplit file (one process)")
    args = parser.parse_args(argv)
    if args.command == "split":
        split(args.path, args.parts)
    else:
        run(args.path, args.whole)
    return 0


if __name__ == "__main__":
    sys.exit(main())
