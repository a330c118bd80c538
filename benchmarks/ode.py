"""Deterministic reaction-diffusion on meshes (``ode``): FRAP and 3-D Ca diffusion, beside NEURON rxd.

Cases
-----
(a) ``frap``: the astrocyte photobleaching protocol on the generated d0/3 branchlet (50,797
    tets): 25 µM ZsGreen, D = 9 µm²/s, 60 % of the bleach region bleached at t = 1 s
    (``run(1.0)``; set; ``run(2.5)``), the bleach region sampled every 3.6 ms.
(b) ``published``: pure diffusion for 2.5 s on the published 54,267-tet d0/3 mesh, every
    molecule starting in the central node, the node sampled every 3.6 ms (needs the reference
    data: ``$TETRASIM_DATA`` or ``../shared/data``; skipped otherwise).
(c) ``cylinder``: Ca²⁺ diffusion (D = 0.22 µm²/ms) in a cylinder 10 µm long and 1 µm in
    diameter, 10 µM in the first micrometre at t = 0, 10 ms simulated, the far half sampled
    every 0.025 ms (NEURON's default step), on meshes of ~8,800 and ~68,800 tets. NEURON rxd
    solves the same problem in 3-D (``rxd.set_solve_type(dimension=3)``) on a voxel grid whose
    ``dx`` gives about as many voxels as tets, in the same run, when ``neuron`` is installed.

For (a) and (b) the script also runs the same problem at rtol = 1e-11 and reports the largest
relative deviation of the samples from that tight run, and the relative change of the total
molecule count at the end (conservation). Every timing is the median of ``--repeats`` runs
after an untimed warm-up, each case in a fresh process, on one core (BLAS and numba threads
pinned to 1).

Usage
-----
    .bench-env/bin/python benchmarks/ode.py                 # all cases
    .bench-env/bin/python benchmarks/ode.py --cases frap --repeats 5
"""

from __future__ import annotations

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")  # one core, before NumPy / numba load

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (  # noqa: E402
    command_line,
    format_mib,
    format_seconds,
    machine_markdown,
    markdown_table,
    peak_rss_mib,
    run_isolated,
)

CYLINDER = {"radius": 0.5e-6, "length": 10e-6, "diffusion": 0.22e-9, "conc": 10e-6, "loaded": 1e-6,
            "t_end": 10e-3, "every": 0.025e-3}
#: mesh sizes (m) that give ~8,800 and ~68,800 tets with the bundled gmsh; NEURON dx (µm) for as many voxels
CYLINDER_MESHES = {"~8,800": (1.67e-7, 0.104), "~68,800": (0.815e-7, 0.0504)}


# ---------------------------------------------------------------------------------------- FRAP
def _frap_once(name: str, rtol: float | None, published_mode: bool):
    import tetrasim as ts
    from tetrasim.examples_frap import frap_geometry, frap_model

    geometry = frap_geometry(name, seed=0)
    model, geom = frap_model(geometry)
    options = {} if rtol is None else {"rtol": rtol}
    sim = ts.Simulation(model, geom, solver="ode", progress=False, **options)
    if published_mode:
        sim.set_conc(ts.ROI("node"), "ZsGreen", 25e-6)
        where = ts.ROI("node")
    else:
        sim.set_conc("cytosol", "ZsGreen", 25e-6)
        where = ts.ROI("bleach")
    rec = sim.record(ts.Count("ZsGreen", where=where), every=3.6e-3)
    total_start = sim.get_count("cytosol", "ZsGreen")
    start = time.perf_counter()
    if published_mode:
        res = sim.run(2.5)
    else:
        sim.run(1.0)
        counts = np.asarray(sim.get_count(ts.ROI("bleach"), "ZsGreen", per_element=True))
        sim.set_count(ts.ROI("bleach"), "ZsGreen", counts * 0.4, per_element=True)
        sim.set_count(ts.ROI("bleach"), "Bleached", counts * 0.6, per_element=True)
        res = sim.run(2.5)
    wall = time.perf_counter() - start
    total_end = sim.get_count("cytosol", "ZsGreen") + sim.get_count("cytosol", "Bleached")
    return dict(wall=wall, samples=np.asarray(res[rec][0]), tets=len(geometry.cytosol),
                conservation=abs(total_end - total_start) / total_start, method=sim.solver.method,
                stats=dict(sim.solver.stats))


def measure_frap(name: str, repeats: int, published_mode: bool) -> dict:
    """Worker (fresh process): median wall time, error against rtol = 1e-11, conservation."""
    _frap_once(name, None, published_mode)  # warm-up: numba cache load, mesh cache
    runs = [_frap_once(name, None, published_mode) for _ in range(repeats)]
    tight = _frap_once(name, 1e-11, published_mode)
    error = float(np.max(np.abs(runs[0]["samples"] - tight["samples"]) / np.abs(tight["samples"])))
    return dict(walls=[r["wall"] for r in runs], wall=statistics.median(r["wall"] for r in runs),
                tets=runs[0]["tets"], error=error, conservation=max(r["conservation"] for r in runs),
                method=runs[0]["method"], stats=runs[0]["stats"], tight_wall=tight["wall"],
                peak_rss=peak_rss_mib())


# ---------------------------------------------------------------------------------------- cylinder
def _cylinder_tetrasim_once(size: float):
    import tetrasim as ts
    from tetrasim.geometry import MeshGeometry, shapes

    p = CYLINDER
    mesh = shapes.cylinder(radius=p["radius"], length=p["length"], size=size)
    model = ts.Model()
    model.species("Ca")
    model.volume_system("cyt").diffusion("Ca", p["diffusion"])
    geom = MeshGeometry(mesh)
    geom.compartment("cyto", tets=np.arange(mesh.n_tets), systems=["cyt"])
    z = mesh.tet_barycenters[:, 2]
    geom.roi("far", tets=np.flatnonzero(z > p["length"] / 2))
    sim = ts.Simulation(model, geom, solver="ode", progress=False)
    loaded = z < p["loaded"]
    sim.set_conc("cyto", "Ca", np.where(loaded, p["conc"], 0.0), per_element=True)
    rec = sim.record(ts.Count("Ca", where=ts.ROI("far")), every=p["every"])
    total = sim.get_count("cyto", "Ca")
    start = time.perf_counter()
    res = sim.run(p["t_end"])
    wall = time.perf_counter() - start
    return dict(wall=wall, tets=mesh.n_tets, far_fraction=float(res[rec][0][-1] / total))


def measure_cylinder_tetrasim(size: float, repeats: int) -> dict:
    _cylinder_tetrasim_once(size)
    runs = [_cylinder_tetrasim_once(size) for _ in range(repeats)]
    return dict(walls=[r["wall"] for r in runs], wall=statistics.median(r["wall"] for r in runs),
                tets=runs[0]["tets"], far_fraction=runs[0]["far_fraction"], peak_rss=peak_rss_mib())


def _cylinder_neuron_once(dx: float):
    from neuron import h, rxd

    p = CYLINDER
    h.load_file("stdrun.hoc")
    section = h.Section(name="cylinder")
    section.L, section.diam, section.nseg = p["length"] * 1e6, 2 * p["radius"] * 1e6, 1
    rxd.set_solve_type([section], dimension=3)
    region = rxd.Region([section], name="cyt", nrn_region="i", dx=dx)
    loaded_um, conc_mm = p["loaded"] * 1e6, p["conc"] * 1e3
    species = rxd.Species(region, name="ca", d=p["diffusion"] * 1e9, charge=2,  # µm²/ms
                          initial=lambda node: conc_mm if node.x3d < loaded_um else 0.0)
    h.finitialize(-65)
    nodes = list(species.nodes)
    total = sum(n.concentration * n.volume for n in nodes)
    start = time.perf_counter()
    h.continuerun(p["t_end"] * 1e3)
    wall = time.perf_counter() - start
    far = sum(n.concentration * n.volume for n in nodes if n.x3d > p["length"] * 1e6 / 2)
    return dict(wall=wall, voxels=len(nodes), far_fraction=far / total, dt=h.dt)


def measure_cylinder_neuron(dx: float, repeats: int) -> dict:
    runs = [run_isolated(_cylinder_neuron_once, dx) for _ in range(repeats + 1)][1:]  # first: warm-up
    return dict(walls=[r["wall"] for r in runs], wall=statistics.median(r["wall"] for r in runs),
                voxels=runs[0]["voxels"], far_fraction=runs[0]["far_fraction"], dt=runs[0]["dt"])


def neuron_available() -> bool:
    return importlib.util.find_spec("neuron") is not None


# ---------------------------------------------------------------------------------------- main
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", default="frap,published,cylinder",
                        help="comma-separated: frap, published, cylinder")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement (median reported)")
    parser.add_argument("--no-neuron", action="store_true", help="tetrasim only")
    args = parser.parse_args(argv)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    load_before = os.getloadavg()
    frap_rows, cylinder_rows, details = [], [], []
    for case, name, published_mode in (("frap", "d0/3", False), ("published", "published d0/3", True)):
        if case not in cases:
            continue
        if published_mode:
            from tetrasim.examples_frap import published_data_dir

            if published_data_dir() is None:
                details.append("- published: skipped (no reference data; set TETRASIM_DATA)")
                continue
        print(f"[{case}] {name} ...", file=sys.stderr, flush=True)
        r = run_isolated(measure_frap, name, args.repeats, published_mode)
        what = ("pure diffusion from the central node, 2.5 s" if published_mode
                else "FRAP protocol (bleach at 1 s), 2.5 s")
        frap_rows.append([f"{name}: {what}", f"{r['tets']:,}", format_seconds(r["wall"]),
                          f"{r['error']:.1e}", f"{r['conservation']:.1e}", format_mib(r["peak_rss"]),
                          "≤ 5 s, ≤ 1e-4, ≤ 1e-9: " + ("met" if r["wall"] <= 5 and r["error"] <= 1e-4
                                                        and r["conservation"] <= 1e-9 else "**NOT met**")])
        walls = ", ".join(format_seconds(w) for w in r["walls"])
        details.append(f"- {case}: method {r['method']}, walls {walls} s; "
                       f"solver stats of one run {r['stats']}; the rtol = 1e-11 run took "
                       f"{format_seconds(r['tight_wall'])} s")
    if "cylinder" in cases:
        use_neuron = not args.no_neuron and neuron_available()
        for label, (size, dx) in CYLINDER_MESHES.items():
            print(f"[cylinder {label}] tetrasim ...", file=sys.stderr, flush=True)
            t = run_isolated(measure_cylinder_tetrasim, size, args.repeats)
            ms = CYLINDER["t_end"] * 1e3
            row = [f"{t['tets']:,} tets", format_seconds(t["wall"] / ms), f"{t['far_fraction']:.4f}"]
            if use_neuron:
                print(f"[cylinder {label}] NEURON rxd 3-D ...", file=sys.stderr, flush=True)
                n = measure_cylinder_neuron(dx, args.repeats)
                row += [f"{n['voxels']:,} voxels (dx {dx} µm)", format_seconds(n["wall"] / ms),
                        f"{n['far_fraction']:.4f}", f"{n['wall'] / t['wall']:.1f}×"]
                walls = ", ".join(format_seconds(w) for w in t["walls"])
                neuron_walls = ", ".join(format_seconds(w) for w in n["walls"])
                details.append(f"- cylinder {label}: tetrasim walls {walls} s; NEURON walls {neuron_walls} s "
                               f"(dt {n['dt']} ms)")
            else:
                row += ["n/a", "n/a", "n/a", "n/a"]
            row.append(format_mib(t["peak_rss"]))
            cylinder_rows.append(row)
    load_after = os.getloadavg()
    extra = {"load average (1/5/15 min) before, after":
             f"{' '.join(f'{x:.2f}' for x in load_before)}; {' '.join(f'{x:.2f}' for x in load_after)}"}
    try:
        import neuron

        extra["neuron"] = neuron.__version__
    except ImportError:
        extra["neuron"] = "not installed"
    print("## Deterministic solver on meshes (`ode`)\n")
    print("Machine:\n")
    print(machine_markdown(extra))
    print(f"\nCommand: `{command_line()}` — one core; each time is the median of {args.repeats} runs.\n")
    if frap_rows:
        print(markdown_table(["case", "cytosol tets", "wall (s)", "max rel. error vs rtol 1e-11",
                              "molecules: rel. change", "peak RSS (MiB)", "target"], frap_rows))
        print()
    if cylinder_rows:
        print("Ca²⁺ diffusion in a cylinder 10 µm × 1 µm, 10 ms, the far half sampled every 0.025 ms; "
              "wall seconds per simulated ms:\n")
        print(markdown_table(["tetrasim mesh", "tetrasim s / ms", "tetrasim far-half fraction at 10 ms",
                              "NEURON rxd 3-D grid", "NEURON s / ms", "NEURON far-half fraction",
                              "NEURON / tetrasim", "tetrasim peak RSS (MiB)"], cylinder_rows))
        print()
    print("\n".join(details))
    return 0


if __name__ == "__main__":
    sys.exit(main())
