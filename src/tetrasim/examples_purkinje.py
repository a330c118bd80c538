"""A Purkinje-cell dendrite of the STEPS "CaBurst" family: P-type Ca, BK and SK channels, Ca buffers.

A 10 µm × 2 µm cylinder (the smallest mesh of the family) with the channel kinetics and
constants of Anwar, Hepburn, Nedelescu, Chen & De Schutter (2013), J. Neurosci. 33:15848,
as listed in the STEPS user manual's CaBurst tutorial (its ``extra/constants.py`` table;
facts only, the code here is our own):

- P-type Ca channel: 4 states m0..m3 (three independent gates), ``α = m∞/τ``, ``β = (1−m∞)/τ``
  with m∞ a Boltzmann (V½ −29.458 mV, slope 8.429 mV) and τ (ms) =
  0.2702 + 1.1622·exp(−(V+26.798)²/164.19) above −40 mV, 0.6923·exp(V/1089.372) below,
  Q10 3 from 23 °C; GHK Ca flux through m3, 2.5e-20 m³/s per channel, 3.8e13 channels/m²,
  outer Ca 2 mM (the "virtual" outer compartment of the 160 µm mesh);
- BK: 5 closed and 5 open states binding up to 4 Ca (on 1e9/M/s per site, off Kc = 8.63 µM,
  Ko = 0.6563 µM times the on rate), opening f_n = pf_n·exp(0.73·FV/RT), closing
  b_n = pb_n·exp(−0.67·FV/RT), Q10 3 from 25 °C; 210 pS per channel, 2.0238e12 /m², −77 mV;
- SK: C1..C4 binding 3 Ca, open states O1 (from C3) and O2 (from C4), 10 pS, 3.1e11 /m², −77 mV;
- leak 1e-2 S/m² towards −61 mV (as a membrane resistivity of 100 Ω·m²), Cm 1.5e-2 F/m²,
  cytosol 2.357 Ω·m, initial potential −60 mV, efield_dt 20 µs;
- membrane Ca pump (6.022e12 /m², on 3e9 /M/s, off 1.75e4 /s, transport 7.255e4 /s);
- mobile calbindin with two fast and two slow sites and parvalbumin binding Ca and Mg
  (590 µM), with the published resting concentrations and diffusion constants.

Left out of the published model (to stay tiny): the T-type Ca channel and the immobile
calbindin; there is no extracellular compartment. A current injected at one end (our
addition: the published runs are spontaneous on longer cylinders) depolarises the dendrite.
"""

from __future__ import annotations

import math

import numpy as np

from .examples_efield import cable_geometry

__all__ = ["purkinje_model", "run_purkinje", "PURKINJE"]

FARADAY = 96485.3365  # C/mol (the published constants' values)
GAS = 8.3144621  # J/(mol K)

#: published constants (SI; concentrations in M), Anwar et al. 2013 via the STEPS CaBurst tutorial
PURKINJE = dict(
    temperature=34.0 + 273.15, capacitance=1.5e-2, axial_resistivity=2.357, initial_potential=-60e-3,
    leak_conductance=1e-2, leak_reversal=-61e-3, efield_dt=2e-5,
    cap_permeability=2.5e-20, cap_density=3.8e13, ca_outer=2e-3,
    bk_conductance=2.1e-10, bk_density=2.0238e12, sk_conductance=1e-11, sk_density=3.1e11, k_reversal=-77e-3,
    pump_density=6.022141e12, ca=45e-9, mg=590e-6,
    cb={"CBsf": 110.82e-6, "CBCaf": 10.549e-6, "CBsCa": 6.0595e-6, "CBCaCa": 0.57682e-6},
    pv={"PV": 3.2066e-6, "PVCa": 16.252e-6, "PVMg": 60.541e-6},
    cap_states={"m0": 0.92402, "m1": 0.073988, "m2": 0.0019748, "m3": 1.7569e-05},
    bk_states={"C0": 0.99997, "C1": 4.3619e-07, "C2": 4.1713e-09, "C3": 4.4449e-11, "C4": 6.3132e-14,
               "O0": 2.5202e-05, "O1": 1.1765e-06, "O2": 6.6148e-08, "O3": 2.4392e-09, "O4": 4.0981e-11},
    sk_states={"C1": 0.96256, "C2": 0.036096, "C3": 0.0010829, "C4": 6.4973e-06, "O1": 0.00017326,
               "O2": 7.7967e-05},
)

_QT = 3.0 ** ((34.0 - 23.0) / 10.0)  # Q10 3 from 23 °C
_QT_BK = 3.0 ** ((34.0 - 25.0) / 10.0)  # the BK (mslo) data: from 25 °C


def _cap_m_inf(mv):
    return 1.0 / (1.0 + math.exp(-(mv + 29.458) / 8.429))


def _cap_tau_ms(mv):
    if mv >= -40.0:
        return 0.2702 + 1.1622 * math.exp(-((mv + 26.798) ** 2) / 164.19)
    return 0.6923 * math.exp(mv / 1089.372)


def cap_alpha(v):
    """P-type Ca gate opening rate (1/s) at V (volts)."""
    return _cap_m_inf(v * 1e3) / _cap_tau_ms(v * 1e3) * _QT * 1e3


def cap_beta(v):
    """P-type Ca gate closing rate (1/s) at V (volts)."""
    return (1.0 - _cap_m_inf(v * 1e3)) / _cap_tau_ms(v * 1e3) * _QT * 1e3


_BK_OPEN = (2.39, 5.4918, 24.6205, 142.4546, 211.0220)  # pf0..pf4 (1/s)
_BK_CLOSE = (3936.0, 687.3251, 234.5875, 103.2204, 11.6581)  # pb0..pb4 (1/s)


def _bk_rate(base, charge):
    scale = charge * FARADAY / (GAS * PURKINJE["temperature"])
    return lambda v: base * _QT_BK * math.exp(scale * v)


def purkinje_model():
    """The CaBurst-family dendrite model (see the module docstring for every constant's source)."""
    import tetrasim as ts

    p = PURKINJE
    model = ts.Model()
    model.species("Ca", valence=2)
    model.species("Mg", *p["cb"], *p["pv"], "Pump", "CaPump")
    model.channel("CaP", states=list(p["cap_states"]))
    model.channel("BK", states=list(p["bk_states"]))
    model.channel("SK", states=list(p["sk_states"]))
    cyt = model.volume_system("cyt")
    # calbindin: two fast (f) and two slow (s) sites, each pair binding in either order
    fast, slow = (4.35e7, 35.8), (0.55e7, 2.6)
    cyt.reaction("CBsf + Ca <-> CBsCa", kf=fast[0], kb=fast[1])
    cyt.reaction("CBsCa + Ca <-> CBCaCa", kf=slow[0], kb=slow[1])
    cyt.reaction("CBsf + Ca <-> CBCaf", kf=slow[0], kb=slow[1])
    cyt.reaction("CBCaf + Ca <-> CBCaCa", kf=fast[0], kb=fast[1])
    cyt.reaction("PV + Ca <-> PVCa", kf=10.7e7, kb=0.95)
    cyt.reaction("PV + Mg <-> PVMg", kf=0.8e6, kb=25.0)
    cyt.diffusion("Ca", 0.223e-9)
    for name in p["cb"]:
        cyt.diffusion(name, 0.028e-9)
    for name in p["pv"]:
        cyt.diffusion(name, 0.043e-9)
    pm = model.surface_system("pm")
    pm.reaction("Ca.i + Pump.s <-> CaPump.s", kf=3e9, kb=1.75e4)
    pm.reaction("CaPump.s -> Pump.s", kf=7.255e4)
    for n in range(3):
        pm.vdep_transition(f"CaP.m{n} -> CaP.m{n + 1}", rate=lambda v, k=3 - n: k * cap_alpha(v))
        pm.vdep_transition(f"CaP.m{n + 1} -> CaP.m{n}", rate=lambda v, k=n + 1: k * cap_beta(v))
    pm.ghk_current("ICaP", channel_state="CaP.m3", ion="Ca", permeability=p["cap_permeability"],
                   outer_conc=p["ca_outer"], temperature=p["temperature"])
    on = 1e6 * 1e3 * _QT_BK  # k1 · onoffrate, per binding site
    for n in range(4):
        for kind, kd in (("C", 8.63e-6), ("O", 0.6563e-6)):
            pm.reaction(f"BK.{kind}{n}.s + Ca.i <-> BK.{kind}{n + 1}.s", kf=(4 - n) * on,
                        kb=(n + 1) * kd * on)
    for n in range(5):
        pm.vdep_transition(f"BK.C{n} -> BK.O{n}", rate=_bk_rate(_BK_OPEN[n], 0.73))
        pm.vdep_transition(f"BK.O{n} -> BK.C{n}", rate=_bk_rate(_BK_CLOSE[n], -0.67))
        pm.ohmic_current(f"IBK{n}", channel_state=f"BK.O{n}", conductance=p["bk_conductance"],
                         reversal=p["k_reversal"])
    for n, (kf, kb) in enumerate(((200e6, 80.0), (160e6, 80.0), (80e6, 200.0))):
        pm.reaction(f"SK.C{n + 1}.s + Ca.i <-> SK.C{n + 2}.s", kf=kf * _QT / 3.0, kb=kb * _QT)
    pm.reaction("SK.C3.s <-> SK.O1.s", kf=160.0 * _QT, kb=1000.0 * _QT)
    pm.reaction("SK.C4.s <-> SK.O2.s", kf=1200.0 * _QT, kb=100.0 * _QT)
    for n in (1, 2):
        pm.ohmic_current(f"ISK{n}", channel_state=f"SK.O{n}", conductance=p["sk_conductance"],
                         reversal=p["k_reversal"])
    return model


def run_purkinje(solver="ode", length=10e-6, diameter=2e-6, n_slices=5, t_end=20e-3, every=1e-4,
                 efield_dt=None, current=20e-12, current_start=2e-3, seed=1):
    """Depolarise the dendrite from one end with ``current`` (A) after ``current_start`` (s).

    Returns times (s) and, per time, V (mean over the membrane), the cytosolic Ca
    concentration (M) and the total CaP, BK and SK currents (A, outward positive).
    """
    import tetrasim as ts

    p = PURKINJE
    cable = cable_geometry(length, diameter, n_slices, systems=["cyt"], surface_systems=["pm"],
                           capacitance=p["capacitance"], axial_resistivity=p["axial_resistivity"])
    options = {"linear_solver": "direct"} if solver == "ode" else {}
    sim = ts.Simulation(purkinje_model(), cable.geometry, solver=solver, seed=seed,
                        efield_dt=p["efield_dt"] if efield_dt is None else efield_dt, **options)
    area = cable.perimeter * length

    def amount(value):
        return round(value) if sim.solver.stochastic else value

    sim.set_potential("membrane", p["initial_potential"])
    sim.set_membrane_resistivity("membrane", 1.0 / p["leak_conductance"], p["leak_reversal"])
    sim.set_conc("cyto", "Ca", p["ca"])
    sim.set_conc("cyto", "Mg", p["mg"])
    for name, conc in {**p["cb"], **p["pv"]}.items():
        sim.set_conc("cyto", name, conc)
    sim.set_count("memb", "Pump", amount(p["pump_density"] * area))
    for channel, density in (("CaP", p["cap_density"]), ("BK", p["bk_density"]), ("SK", p["sk_density"])):
        for state, fraction in p[f"{channel.lower()}_states"].items():
            sim.set_count("memb", f"{channel}.{state}", amount(density * area * fraction))
    records = {"V": sim.record(ts.Potential("membrane"), every=every),
               "Ca": sim.record(ts.Conc("Ca", where="cyto"), every=every),
               "ICaP": sim.record(ts.Current("ICaP", where="membrane"), every=every)}
    for name, parts in (("IBK", [f"IBK{n}" for n in range(5)]), ("ISK", ["ISK1", "ISK2"])):
        records[name] = [sim.record(ts.Current(part, where="membrane"), every=every) for part in parts]
    first = sim.run(min(current_start, t_end))
    sim.set_current_clamp(ts.Verts(cable.start_vertices), current)
    second = sim.run(t_end) if t_end > current_start else None

    results = second if second is not None else first  # a continued run's results hold the whole history

    def series(record):
        if isinstance(record, list):
            return sum(series(r) for r in record)
        return np.asarray(results[record][0])

    data = {name: series(record) for name, record in records.items()}
    return {"times": results.times_of(records["V"]), **data, "simulation": sim, "cable": cable}
