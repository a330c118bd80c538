"""Quality and diffusion accuracy of the generated meshes (``ts.shapes``), per generator and size.

Run:  python benchmarks/mesh_quality.py [--generator-src PATH] [--quick] [--only TEXT]

For each mesh: tets, smallest and median tet volume, smallest dihedral angle, the opsplit
diffusion step relative to the step of the median tet (``step ratio``: 1 is ideal), and
``D_eff / D`` -- the slowest decay rate of the mesh's diffusion operator (the solvers' mean
dynamics, barycentre formula) over the exact Neumann rate of the shape
(:mod:`tetrasim.geometry.accuracy`). Deterministic: no sampling, no timing in the numbers.
Sphere rates use the radius of the sphere with the mesh's volume (the inscribed polyhedron is
smaller than the sphere); the axial rate of a box or cylinder depends only on its length.

``--generator-src PATH`` generates the meshes with another checkout's ``src`` (for example the
code before an optimisation) and evaluates them with this one; options that checkout does not
know (``structured``, ``optimize``, ``curvature``) are left out.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
UM = 1e-6
D0 = 378e-9
#: label -> (generator, positional arguments in metres, keyword arguments, exact-rate shape or None)
CASES = {
    "box 1x1x4 um, default size (0.2 um)": ("box", (UM, UM, 4 * UM), {}, "box"),
    "box 1x1x4 um, size 0.1 um": ("box", (UM, UM, 4 * UM), {"size": 0.1 * UM}, "box"),
    "box 1x1.3x4.1 um, default size": ("box", (UM, 1.3 * UM, 4.1 * UM), {}, "box"),
    "box 1x1x4 um, unstructured": ("box", (UM, UM, 4 * UM), {"structured": False}, "box"),
    "cylinder r 0.5 um x 4 um, size r/3": ("cylinder", (0.5 * UM, 4 * UM), {"size": UM / 6}, "cylinder"),
    "cylinder r 0.5 um x 4 um, default size (r/6)": ("cylinder", (0.5 * UM, 4 * UM), {}, "cylinder"),
    "cylinder r 0.2 um x 10 um, size r/3": ("cylinder", (0.2 * UM, 10 * UM), {"size": UM / 15}, "cylinder"),
    "cylinder r 0.2 um x 10 um, default size (r/6)": ("cylinder", (0.2 * UM, 10 * UM), {}, "cylinder"),
    "sphere r 1 um, default size (r/4)": ("sphere", (UM,), {}, "sphere"),
    "sphere r 1 um, size r/2": ("sphere", (UM,), {"size": 0.5 * UM}, "sphere"),
    "sphere r 1 um, size r/8": ("sphere", (UM,), {"size": 0.125 * UM}, "sphere"),
    "branchlet d0 (378 nm shafts), default": ("branchlet", (), {"d_shaft": D0}, None),
    "branchlet d0/2, default": ("branchlet", (), {"d_shaft": D0 / 2}, None),
    "branchlet d0/3, default": ("branchlet", (), {"d_shaft": D0 / 3}, None),
}
QUICK = [label for label in CASES if "default" in label]
#: Cases whose default changed: the previous generators are given the new default size explicitly, so
#: that "before -> after" compares meshes of one size (the previous default is a case of its own).
LEGACY_KWARGS = {
    "cylinder r 0.5 um x 4 um, default size (r/6)": {"size": UM / 12},
    "cylinder r 0.2 um x 10 um, default size (r/6)": {"size": 0.2 * UM / 6},
}
NEW_OPTIONS = ("structured", "optimize", "curvature")


def generate(labels: list[str], folder: Path, legacy: bool) -> dict[str, float]:
    """Write each case's mesh to ``folder`` as .npz; return the generation times (s)."""
    from tetrasim.geometry import shapes

    times = {}
    for k, label in enumerate(labels):
        kind, args, kwargs, _ = CASES[label]
        if legacy:
            kwargs = {key: value for key, value in kwargs.items() if key not in NEW_OPTIONS}
            kwargs.update(LEGACY_KWARGS.get(label, {}))
        start = time.perf_counter()
        mesh = getattr(shapes, kind)(*args, cache=False, **kwargs)
        times[label] = time.perf_counter() - start
        mesh.save(folder / f"case{k}.npz")
    return times


def evaluate(mesh, exact_shape, args) -> dict:
    from tetrasim.geometry.accuracy import effective_diffusion_ratio, exact_slowest_rate, quality_report

    row = quality_report(mesh)
    row["d_ratio"] = None
    if exact_shape == "box":
        rate, modes = exact_slowest_rate("box", lengths=args)
    elif exact_shape == "cylinder":
        rate, modes = exact_slowest_rate("cylinder", radius=args[0], length=args[1])
    elif exact_shape == "sphere":
        radius = (3 * mesh.total_volume / (4 * np.pi)) ** (1 / 3)
        rate, modes = exact_slowest_rate("sphere", radius=radius)
    else:
        return row
    row["d_ratio"] = effective_diffusion_ratio(mesh, rate, modes)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generator-src", help="generate the meshes with this src folder (another checkout)")
    parser.add_argument("--quick", action="store_true", help="only the default sizes")
    parser.add_argument("--only", help="only the cases whose label contains this text (e.g. 'cylinder')")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        folder, flags = Path(args.worker[0]), json.loads(args.worker[1])
        print(json.dumps(generate(flags["labels"], folder, flags["legacy"])))
        return
    labels = QUICK if args.quick else list(CASES)
    labels = [label for label in labels if args.only is None or args.only in label]
    src = Path(args.generator_src).resolve() if args.generator_src else ROOT / "src"
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, PYTHONPATH=str(src), OMP_NUM_THREADS="1")
        flags = json.dumps({"labels": labels, "legacy": args.generator_src is not None})
        command = [sys.executable, __file__, "--worker", tmp, flags]
        out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        times = json.loads(out.stdout.strip().splitlines()[-1])
        sys.path.insert(0, str(ROOT / "src"))
        from tetrasim.geometry import TetMesh

        print(f"meshes generated with {src}")
        print(
            f"{'mesh':<46}{'tets':>8}{'V min nm3':>11}{'V med nm3':>11}{'min dih.':>9}"
            f"{'step ratio':>11}{'D_eff/D':>9}{'gen. s':>8}"
        )
        for k, label in enumerate(labels):
            kind, shape_args, _, exact_shape = CASES[label]
            mesh = TetMesh.load(Path(tmp) / f"case{k}.npz")
            row = evaluate(mesh, exact_shape, shape_args)
            ratio = f"{row['d_ratio']:.4f}" if row["d_ratio"] is not None else "-"
            print(
                f"{label:<46}{row['n_tets']:>8,}{row['volume_min'] * 1e27:>11,.0f}"
                f"{row['volume_median'] * 1e27:>11,.0f}{row['dihedral_min']:>9.1f}"
                f"{row['step_ratio']:>11.3f}{ratio:>9}{times[label]:>8.1f}"
            )


if __name__ == "__main__":
    main()
