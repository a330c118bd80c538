"""Membrane-potential models: the Rallpack cables (passive and Hodgkin–Huxley) and references.

- :func:`cable_geometry`: a cable along x (structured prism mesh) with its side membrane;
- :func:`hh_model`: Hodgkin–Huxley Na (8 states) and K (5 states) channels as
  voltage-dependent transitions with ohmic currents (Rallpack 3);
- :func:`run_cable`: Rallpack 1 (passive) or Rallpack 3 (HH) with any solver;
- :func:`cable_analytic`: the exact passive-cable response (sealed ends, current step at x = 0);
- :func:`neuron_cable`: the same cable in NEURON (``pip install neuron``), for comparisons.

Conventions: V in volts, rates in 1/s, channel conductance 20 pS per channel, currents
outward positive except injected (``set_current_clamp``) current, positive into the cell.

Examples
--------
>>> from tetrasim.examples_efield import run_cable
>>> out = run_cable("passive", length=100e-6, n_slices=20, t_end=1e-3, every=1e-4)
>>> out["times"].shape
(11,)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["CableGeometry", "cable_geometry", "hh_model", "hh_rates", "run_cable", "cable_analytic",
           "neuron_cable", "spike_times", "plot_ends", "set_hh_channels", "RALLPACK"]

#: Rallpack parameters (SI): cable, passive membrane, HH channels
RALLPACK = dict(length=1e-3, diameter=1e-6, axial_resistivity=1.0, membrane_resistivity=4.0, capacitance=0.01,
                rest=-65e-3, current=0.1e-9, g_na=1200.0, g_k=360.0, e_na=50e-3, e_k=-77e-3, e_leak=-65e-3,
                channel_conductance=20e-12)


@dataclass
class CableGeometry:
    """A cable mesh with its membrane; ``area`` and ``perimeter`` are the mesh's own (m², m)."""

    geometry: object
    mesh: object
    length: float
    area: float  # cross-section (m^2)
    perimeter: float  # membrane area per length (m)
    start_vertices: np.ndarray  # mesh vertices at x = 0
    end_vertices: np.ndarray  # mesh vertices at x = length


def cable_geometry(length=1e-3, diameter=1e-6, n_slices=200, n_sides=6, systems=(), surface_systems=(),
                   capacitance=0.01, axial_resistivity=1.0) -> CableGeometry:
    """A cable along x whose cross-section is a regular polygon of area π d²/4; the membrane is
    its side (sealed ends carry no membrane)."""
    import tetrasim as ts

    from .geometry.membrane import cable_mesh

    # circumradius of the n-gon with the cylinder's cross-section area
    radius = math.sqrt(math.pi * diameter**2 / 4 / (0.5 * n_sides * math.sin(2 * math.pi / n_sides)))
    mesh = cable_mesh(length, radius, n_slices, n_sides)
    surface = mesh.surface_tris()
    side = surface[np.abs(mesh.tri_normals[surface][:, 0]) < 1e-6]
    geom = ts.MeshGeometry(mesh)
    geom.compartment("cyto", systems=list(systems))
    geom.patch("memb", tris=side, inner="cyto", systems=list(surface_systems))
    geom.membrane("membrane", patches=["memb"], capacitance=capacitance, volume_resistivity=axial_resistivity)
    x = mesh.vertices[:, 0]
    return CableGeometry(geom, mesh, length, float(mesh.tet_volumes.sum() / length),
                         float(mesh.tri_areas[side].sum() / length), np.flatnonzero(np.isclose(x, 0.0)),
                         np.flatnonzero(np.isclose(x, length)))


def _linoid(x, y):
    """x / (exp(x / y) − 1), continuous at x = 0 (value y)."""
    return y if abs(x) < 1e-9 else x / math.expm1(x / y)


def hh_rates(rest=-65e-3):
    """The six Hodgkin–Huxley rate functions (1/s) of V (volts), in the Rallpack/NEURON form."""

    def v_of(V):
        return (V - rest) * 1e3  # mV above rest

    return dict(
        alpha_m=lambda V: 1e3 * 0.1 * _linoid(25.0 - v_of(V), 10.0),
        beta_m=lambda V: 1e3 * 4.0 * math.exp(-v_of(V) / 18.0),
        alpha_h=lambda V: 1e3 * 0.07 * math.exp(-v_of(V) / 20.0),
        beta_h=lambda V: 1e3 / (math.exp((30.0 - v_of(V)) / 10.0) + 1.0),
        alpha_n=lambda V: 1e3 * 0.01 * _linoid(10.0 - v_of(V), 10.0),
        beta_n=lambda V: 1e3 * 0.125 * math.exp(-v_of(V) / 80.0),
    )


def hh_model(channel_conductance=20e-12, e_na=50e-3, e_k=-77e-3, rest=-65e-3):
    """HH Na (m3h1 open) and K (n4 open) channels on surface system ``"hh"``."""
    import tetrasim as ts

    model = ts.Model()
    model.channel("Na", states=[f"m{m}h{h}" for h in (0, 1) for m in range(4)])
    model.channel("K", states=[f"n{n}" for n in range(5)])
    hh = model.surface_system("hh")
    r = hh_rates(rest)
    for h in (0, 1):
        for m in range(3):
            hh.vdep_transition(f"Na.m{m}h{h} -> Na.m{m + 1}h{h}", rate=lambda V, k=3 - m: k * r["alpha_m"](V))
            hh.vdep_transition(f"Na.m{m + 1}h{h} -> Na.m{m}h{h}", rate=lambda V, k=m + 1: k * r["beta_m"](V))
    for m in range(4):
        hh.vdep_transition(f"Na.m{m}h0 -> Na.m{m}h1", rate=r["alpha_h"])
        hh.vdep_transition(f"Na.m{m}h1 -> Na.m{m}h0", rate=r["beta_h"])
    for n in range(4):
        hh.vdep_transition(f"K.n{n} -> K.n{n + 1}", rate=lambda V, k=4 - n: k * r["alpha_n"](V))
        hh.vdep_transition(f"K.n{n + 1} -> K.n{n}", rate=lambda V, k=n + 1: k * r["beta_n"](V))
    hh.ohmic_current("INa", channel_state="Na.m3h1", conductance=channel_conductance, reversal=e_na)
    hh.ohmic_current("IK", channel_state="K.n4", conductance=channel_conductance, reversal=e_k)
    return model


def _hh_steady_state(V, rest=-65e-3):
    """Equilibrium state probabilities of the Na and K channels at potential V."""
    from math import comb

    r = hh_rates(rest)
    m = r["alpha_m"](V) / (r["alpha_m"](V) + r["beta_m"](V))
    h = r["alpha_h"](V) / (r["alpha_h"](V) + r["beta_h"](V))
    n = r["alpha_n"](V) / (r["alpha_n"](V) + r["beta_n"](V))
    na = {
        f"m{i}h{j}": comb(3, i) * m**i * (1 - m) ** (3 - i) * (h if j else 1 - h)
        for i in range(4)
        for j in (0, 1)
    }
    k = {f"n{i}": comb(4, i) * n**i * (1 - n) ** (4 - i) for i in range(5)}
    return na, k


def set_hh_channels(sim, patch, membrane_area):
    """Na and K channels of the Rallpack densities on ``patch`` (area ``membrane_area``, m²), each
    state at its resting equilibrium share; whole numbers for stochastic solvers."""
    p = RALLPACK
    na, k = _hh_steady_state(p["rest"], p["rest"])
    for channel, density, states in (("Na", p["g_na"], na), ("K", p["g_k"], k)):
        total = density / p["channel_conductance"] * membrane_area
        for state, probability in states.items():
            count = total * probability
            sim.set_count(patch, f"{channel}.{state}", round(count) if sim.solver.stochastic else count)


def run_cable(
    kind="passive",
    solver="ode",
    length=1e-3,
    diameter=1e-6,
    n_slices=200,
    n_sides=6,
    efield_dt=1e-5,
    t_end=0.25,
    every=1e-4,
    seed=1,
    current=0.1e-9,
    runs=1,
):
    """Rallpack 1 (``kind="passive"``) or 3 (``"hh"``): potentials at both ends over time.

    Returns a dict with ``times`` (s), ``v_start``/``v_end`` (V, shape (runs, times)) and the
    ``cable`` (:class:`CableGeometry`). Channel counts are whole numbers (rounded) for
    stochastic solvers and real numbers for ``ode``.
    """
    import tetrasim as ts

    p = RALLPACK
    hh = kind == "hh"
    cable = cable_geometry(length, diameter, n_slices, n_sides, surface_systems=["hh"] if hh else (),
                           capacitance=p["capacitance"], axial_resistivity=p["axial_resistivity"])
    model = hh_model(p["channel_conductance"], p["e_na"], p["e_k"], p["rest"]) if hh else ts.Model()
    options = {"linear_solver": "direct"} if solver == "ode" else {}
    sim = ts.Simulation(model, cable.geometry, solver=solver, seed=seed, efield_dt=efield_dt, **options)
    sim.set_potential("membrane", p["rest"])
    sim.set_membrane_resistivity("membrane", p["membrane_resistivity"], p["e_leak"])
    sim.set_current_clamp(ts.Verts(cable.start_vertices), current)
    if hh:
        set_hh_channels(sim, "memb", cable.perimeter * length)
    start = sim.record(ts.Potential(ts.Verts(cable.start_vertices)), every=every)
    end = sim.record(ts.Potential(ts.Verts(cable.end_vertices)), every=every)
    results = sim.run(t_end, runs=runs)
    return {"times": results.times_of(start),
            "v_start": results[start], "v_end": results[end], "cable": cable, "simulation": sim}


def cable_analytic(x, times, length, area, perimeter, axial_resistivity=1.0, membrane_resistivity=4.0,
                   capacitance=0.01, current=0.1e-9, rest=-65e-3, n_modes=20000) -> np.ndarray:
    """Exact potential (V) of a passive cable with sealed ends after a current step into x = 0.

    ``c_m ∂V/∂t = (1/r_a) ∂²V/∂x² − g_m (V − E) + I δ(x)`` with ``r_a = ρ/A``, ``g_m = P/R_m``,
    ``c_m = C_m P``; the solution is the steady state ``I r_a λ cosh((L−x)/λ)/sinh(L/λ)`` minus the
    cosine-mode transients ``Σ_n I φ_n(0) φ_n(x) e^(−γ_n t)/(c_m γ_n)``, γ_n = (g_m + (nπ/L)²/r_a)/c_m.
    """
    ra, gm, cm = axial_resistivity / area, perimeter / membrane_resistivity, capacitance * perimeter
    lam = math.sqrt(1.0 / (ra * gm))
    steady = current * ra * lam * math.cosh((length - x) / lam) / math.sinh(length / lam)
    n = np.arange(n_modes)
    phi0_squared = np.where(n == 0, 1.0 / length, 2.0 / length)
    gamma = (gm + (n * math.pi / length) ** 2 / ra) / cm
    coefficient = current * phi0_squared * np.cos(n * math.pi * x / length) / (cm * gamma)
    times = np.atleast_1d(np.asarray(times, dtype=np.float64))
    transient = np.concatenate([np.exp(-np.outer(chunk, gamma)) @ coefficient
                                for chunk in np.array_split(times, max(1, len(times) // 200))])
    return rest + steady - transient


def neuron_cable(kind="hh", length=1e-3, area=None, perimeter=None, n_segments=1000, dt=1e-6, t_end=0.1,
                 every=1e-4, current=0.1e-9, rate_tables=False, second_order=True):
    """The same cable in NEURON (``hh`` mechanism at 6.3 °C, or passive): times, V(0), V(L) in SI.

    ``rate_tables=False`` (default) turns off the ``hh`` mechanism's rate tables (NEURON's
    default interpolates m∞, τ_m... in 1 mV steps from −100 to 100 mV), so that NEURON computes
    the Hodgkin–Huxley rate functions exactly, as the Rallpack definition and tetrasim (0.1 mV
    tables) do. With NEURON's tables the interspike interval of Rallpack 3 is ~14 µs (0.1 %)
    shorter: a drift of the reference that accumulates over the 7 spikes of 0.1 s.
    ``second_order=True`` (default) runs NEURON's Crank–Nicolson (``secondorder = 2``), whose
    spikes at dt 1 µs are within 1 µs of its converged ones; its default backward Euler is
    ~3 µs late per interspike interval at dt 1 µs.

    A NEURON section has one diameter; with ``area``/``perimeter`` of a mesh cable, the
    diameter gives the cross-section and the specific membrane parameters are scaled by
    ``perimeter / (π d)`` so that the per-length axial resistance, capacitance and
    conductances equal the mesh cable's.
    """
    from neuron import h

    p = RALLPACK
    area = math.pi * p["diameter"] ** 2 / 4 if area is None else area
    diameter = math.sqrt(4 * area / math.pi)
    scale = 1.0 if perimeter is None else perimeter / (math.pi * diameter)
    h.load_file("stdrun.hoc")
    section = h.Section(name="cable")
    section.L, section.diam, section.nseg = length * 1e6, diameter * 1e6, n_segments
    section.Ra = p["axial_resistivity"] * 100.0  # Ω·cm
    section.cm = p["capacitance"] * 100.0 * scale  # µF/cm²
    if kind == "hh":
        section.insert("hh")
        h.usetable_hh = 1 if rate_tables else 0
        for segment in section:
            segment.hh.gnabar = p["g_na"] * 1e-4 * scale
            segment.hh.gkbar = p["g_k"] * 1e-4 * scale
            segment.hh.gl = 1e-4 / p["membrane_resistivity"] * scale
            segment.hh.el = p["e_leak"] * 1e3
            segment.ena, segment.ek = p["e_na"] * 1e3, p["e_k"] * 1e3
    else:
        section.insert("pas")
        for segment in section:
            segment.pas.g = 1e-4 / p["membrane_resistivity"] * scale
            segment.pas.e = p["e_leak"] * 1e3
    clamp = h.IClamp(section(0.0))
    clamp.delay, clamp.dur, clamp.amp = 0.0, 1e9, current * 1e9
    h.celsius = 6.3
    h.secondorder = 2 if second_order else 0
    h.dt = dt * 1e3
    v0, v1, tv = h.Vector(), h.Vector(), h.Vector()
    v0.record(section(0.0)._ref_v, every * 1e3)
    v1.record(section(1.0)._ref_v, every * 1e3)
    tv.record(h._ref_t, every * 1e3)
    h.finitialize(p["rest"] * 1e3)
    h.continuerun(t_end * 1e3)
    return np.array(tv) * 1e-3, np.array(v0) * 1e-3, np.array(v1) * 1e-3


def spike_times(times, potential, threshold=0.0) -> np.ndarray:
    """Upward crossings of ``threshold`` (V), linearly interpolated (s)."""
    v = np.asarray(potential) - threshold
    up = np.flatnonzero((v[:-1] < 0) & (v[1:] >= 0))
    return times[up] - v[up] * (times[up + 1] - times[up]) / (v[up + 1] - v[up])


def plot_ends(times, ours, reference, label, path, title):
    """V against t at both ends, ours (solid) and the reference (dashed, when given); returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    reference = list(reference or [])
    for index, (v, where) in enumerate(zip(ours, ("x = 0", "x = 1 mm"), strict=True)):
        ax.plot(times[: len(v)] * 1e3, v * 1e3, color=f"C{index}", label=f"tetrasim, {where}")
        if index < len(reference):
            ref = reference[index]
            ax.plot(times[: len(ref)] * 1e3, ref * 1e3, "--", color=("k", "grey")[index],
                    label=f"{label}, {where}")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("V (mV)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
