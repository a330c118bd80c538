"""Channels, voltage-dependent transitions and membrane currents (the EField model language).

A channel is a set of states; each state is a surface species named ``"Channel.state"``
(counts on membrane triangles, settable and recordable like any species). Transitions
between states whose rates depend on the membrane potential are :class:`VDepTransition`
rules; they compile to ordinary first-order surface reactions whose rate constant the
EField loop refreshes from tabulated values after each potential update. Currents:

- :class:`OhmicCurrent`: ``I = g · N_open · (V − E)`` per triangle (outward positive),
- :class:`GHKCurrent`: Goldman–Hodgkin–Katz flux through each open channel, compiled to
  two voltage-dependent surface reactions that move single ions (influx and efflux), so
  that a stochastic solver sees each ion crossing as one event carrying ``z·e``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from ..errors import ModelError, did_you_mean
from ..units import AVOGADRO, FARADAY, GAS_CONSTANT, to_si
from .elements import Reaction, Species, check_name
from .parser import Term

__all__ = ["Channel", "VDepTransition", "OhmicCurrent", "GHKCurrent", "DEFAULT_VRANGE", "ghk_rate_functions"]

DEFAULT_VRANGE = (-150e-3, 100e-3, 1e-4)  # V: lowest, highest, step of the rate tables
_TRANSITION = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*)\s*->\s*"
                         r"([A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*)\s*$")


@dataclass(eq=False)
class Channel:
    """A membrane channel: its states are the surface species ``f"{name}.{state}"``."""

    name: str
    states: tuple[str, ...]
    defined_at: str

    def state(self, state: str) -> str:
        """Species name of one state, e.g. ``Na.state("m3h1") == "Na.m3h1"``."""
        if state not in self.states:
            raise ModelError(
                f"channel {self.name!r} has no state {state!r}{did_you_mean(state, self.states)}"
            )
        return f"{self.name}.{state}"

    def __getattr__(self, state: str) -> str:
        states = self.__dict__.get("states", ())
        if state in states:
            return f"{self.__dict__['name']}.{state}"
        raise AttributeError(state)

    def __repr__(self) -> str:
        return f"Channel({self.name!r}, states={list(self.states)})"


@dataclass(eq=False)
class VDepTransition:
    """A first-order surface reaction whose rate (1/s) is ``rate(V)`` with V in volts.

    ``reaction`` names the compiled reaction rule; ``vrange`` = (lowest, highest, step) of
    the table (V). GHK influx/efflux reactions are stored as transitions too, with a
    ``rate`` in the reaction's own units (see :func:`ghk_rate_functions`).
    """

    name: str
    reaction: str
    system: str
    rate: object
    vrange: tuple[float, float, float]
    defined_at: str

    def table(self) -> np.ndarray:
        """Rates on the grid ``lowest + i·step``; a raising, negative or NaN rate is a ModelError."""
        low, high, step = self.vrange
        n = int(round((high - low) / step)) + 1
        grid = low + step * np.arange(n)
        values = np.empty(n)
        for i, v in enumerate(grid):
            try:
                value = float(self.rate(float(v)))
            except Exception as error:  # the user's function: report which V broke it
                raise ModelError(f"{self.defined_at}: the rate of voltage-dependent transition {self.name!r} "
                                 f"raised {type(error).__name__}: {error} at V = {v:.6g} V") from None
            if not math.isfinite(value) or value < 0:
                raise ModelError(
                    f"{self.defined_at}: the rate of voltage-dependent transition {self.name!r} is "
                    f"{value!r} at V = {v:.6g} V; a rate must be finite and >= 0 (1/s) over the "
                    f"whole table {low:g}..{high:g} V (narrow it with vrange=)"
                )
            values[i] = value
        return values


@dataclass(eq=False)
class OhmicCurrent:
    """``I = conductance · N(channel_state) · (V − reversal)`` (A, outward positive)."""

    name: str
    system: str
    channel_state: str
    conductance: float  # S per channel
    reversal: float  # V
    defined_at: str


@dataclass(eq=False)
class GHKCurrent:
    """GHK current of ``ion`` through each channel in ``channel_state``.

    ``permeability`` in m³/s per channel; ``outer_conc`` (M) a fixed outer concentration
    when the membrane has no outer compartment (else the outer species is used).
    """

    name: str
    system: str
    channel_state: str
    ion: str
    valence: int
    permeability: float
    outer_conc: float | None
    temperature: float  # K
    influx_reaction: str
    efflux_reaction: str
    influx_counter: str  # hidden surface species counting influx events in one EField step
    efflux_counter: str
    defined_at: str


def ghk_rate_functions(valence: int, permeability: float, temperature: float, outer_conc: float | None):
    """Macroscopic rate constants of the GHK influx and efflux reactions as functions of V.

    With ``u = z F V / (R T)`` the outward molar flux of one open channel is
    ``P · u · (C_i − C_o e^(−u)) / (1 − e^(−u))`` (C in mol/m³). The efflux part is first
    order in the inner ions, ``P · u/(1 − e^(−u)) · C_i``; written as the surface reaction
    ``S.s + Ion.i -> S.s`` with count-based constant ``c = k / (10³ N_A V_tet)`` this gives
    ``k = 10³ N_A P u/(1 − e^(−u))`` (1/(M·s)). The influx part ``P · u e^(−u)/(1 − e^(−u)) · C_o``
    is either ``S.s -> S.s + Ion.i`` with ``k = 10³ N_A P C_o u/(e^u − 1)`` (1/s, fixed
    ``outer_conc`` C_o in M) or ``S.s + Ion.o -> ...`` with ``k = 10³ N_A P u/(e^u − 1)``.
    """
    scale = FARADAY * valence / (GAS_CONSTANT * temperature)
    factor = 1e3 * AVOGADRO * permeability

    def u_of(v):
        return scale * v

    def efflux(v):
        u = u_of(v)
        return factor * (1.0 if u == 0 else u / -math.expm1(-u))

    def influx(v):
        u = u_of(v)
        base = factor * (1.0 if u == 0 else u / math.expm1(u))
        return base * (outer_conc if outer_conc is not None else 1.0)

    return influx, efflux


def _number(value, dims: str, what: str, positive: bool = False, signed: bool = False) -> float:
    number = to_si(value, dims, what)
    if (
        not math.isfinite(number)
        or (positive and number <= 0)
        or (not signed and not positive and number < 0)
    ):
        need = "> 0" if positive else ">= 0"
        raise ModelError(f"{what} = {value!r} must be finite" + ("" if signed else f" and {need}"))
    return float(number)


def parse_transition(text: str, site: str) -> tuple[str, str]:
    """``"Na.m0h0 -> Na.m1h0"`` -> the two state names; anything else is a ModelError."""
    if not isinstance(text, str):
        raise ModelError(f"{site}: a transition is written 'Channel.state -> Channel.state', got {text!r}")
    match = _TRANSITION.match(text)
    if not match:
        hint = " (transitions are one-way: declare the reverse one separately)" if "<->" in text else ""
        raise ModelError(
            f"{site}: cannot read the transition {text!r}: write 'Channel.state -> Channel.state', "
            f"e.g. 'Na.m0h0 -> Na.m1h0'{hint}"
        )
    return match.group(1), match.group(2)


def check_vrange(vrange, what: str) -> tuple[float, float, float]:
    """(lowest, highest[, step]) in V, step default 0.1 mV."""
    if vrange is None:
        return DEFAULT_VRANGE
    try:
        values = [float(to_si(v, "potential", what)) for v in vrange]
    except TypeError:
        raise ModelError(f"{what}: vrange must be (lowest, highest) or (lowest, highest, step) in V, "
                         f"got {vrange!r}") from None
    if len(values) == 2:
        values.append(DEFAULT_VRANGE[2])
    if len(values) != 3 or not all(math.isfinite(v) for v in values) or not (values[0] < values[1]) \
            or not (values[2] > 0) or (values[1] - values[0]) / values[2] > 1e7:
        raise ModelError(f"{what}: vrange must be (lowest, highest[, step]) V with lowest < highest and "
                         f"0 < step (at most 1e7 table entries), got {vrange!r}")
    return values[0], values[1], values[2]


def surface_term(name: str) -> Term:
    return Term(name, "surface", 1)


# --------------------------------------------------------------------------- builders
# Called by the thin methods of Model and SurfaceSystem (model/core.py).

def add_channel(model, name: str, states, site: str) -> Channel:
    check_name("channel", name)
    if name in model._species or name in model._systems or name in model._channels:
        raise ModelError(f"{site}: the name {name!r} is already used in this model")
    if isinstance(states, str) or not states:
        raise ModelError(
            f"{site}: channel {name!r} needs a list of state names, e.g. states=['closed', 'open']"
        )
    states = tuple(states)
    for state in states:
        check_name(f"state of channel {name!r}", state)
    if len(set(states)) != len(states):
        raise ModelError(f"{site}: channel {name!r} lists a state twice: {list(states)}")
    for state in states:
        full = f"{name}.{state}"
        model._species[full] = Species(full, 0, site)
    channel = Channel(name, states, site)
    model._channels[name] = channel
    return channel


def _check_state(system, state: str, site: str, what: str) -> str:
    state = str(state)
    model = system.model
    if state not in model._species:
        states = [s for s in model._species if "." in s]
        raise ModelError(f"{site}: {what} uses {state!r}, which is not a channel state"
                         f"{did_you_mean(state, states)}; declare it with model.channel(name, states=[...])")
    return state


def _rule_name(system, name, default: str) -> str:
    return check_name("rule", name) if name is not None else default


def add_vdep_transition(system, transition: str, rate, vrange, name, site: str) -> VDepTransition:
    source, target = parse_transition(transition, site)
    for state in (source, target):
        _check_state(system, state, site, f"transition {transition!r}")
    if not callable(rate):
        raise ModelError(f"{site}: the rate of transition {transition!r} must be a function of V (volts) "
                         f"returning 1/s, e.g. rate=lambda V: 1e3, got {rate!r}")
    limits = check_vrange(vrange, f"{site}: vrange of {transition!r}")
    name = _rule_name(system, name, f"{system.name}_vdep{len(system.model._vdep)}")
    if name in system.reactions:
        raise ModelError(f"{site}: system {system.name!r} already has a rule named {name!r}")
    equation = f"{source}.s -> {target}.s"
    reaction = Reaction(
        name, system.name, equation, (surface_term(source),), (surface_term(target),), 0.0, None, True, site
    )
    system.model._register(name, reaction, site)
    system.reactions[name] = reaction
    rule = VDepTransition(transition.strip(), name, system.name, rate, limits, site)
    system.model._vdep[name] = rule
    return rule


def add_ohmic_current(system, name: str, channel_state, conductance, reversal, site: str) -> OhmicCurrent:
    check_name("current", name)
    model = system.model
    if name in model._currents:
        raise ModelError(
            f"{site}: a current named {name!r} already exists (at {model._currents[name].defined_at})"
        )
    state = _check_state(system, channel_state, site, f"ohmic current {name!r}")
    g = _number(conductance, "conductance", f"{site}: conductance of {name!r}")
    e = _number(reversal, "potential", f"{site}: reversal potential of {name!r}", signed=True)
    current = OhmicCurrent(name, system.name, state, g, e, site)
    model._currents[name] = current
    return current


def add_ghk_current(system, name: str, channel_state, ion, permeability, outer_conc, temperature,
                    site: str) -> GHKCurrent:
    check_name("current", name)
    model = system.model
    if name in model._currents:
        raise ModelError(
            f"{site}: a current named {name!r} already exists (at {model._currents[name].defined_at})"
        )
    state = _check_state(system, channel_state, site, f"GHK current {name!r}")
    ion_name = str(ion)
    if ion_name not in model._species or "." in ion_name:
        raise ModelError(f"{site}: GHK current {name!r}: unknown ion species {ion_name!r}"
                         f"{did_you_mean(ion_name, model._species)}")
    valence = int(model._species[ion_name].valence)
    if valence == 0:
        raise ModelError(f"{site}: GHK current {name!r}: ion {ion_name!r} has valence 0; set it first, e.g. "
                         f"model.species({ion_name!r}, valence=2) or {ion_name}.valence = 2")
    p = _number(permeability, "volume", f"{site}: permeability (m³/s per channel) of {name!r}")
    co = (
        None
        if outer_conc is None
        else _number(outer_conc, "concentration", f"{site}: outer_conc of {name!r}")
    )
    temp = _number(temperature, "dimensionless", f"{site}: temperature (K) of {name!r}", positive=True)
    counters = (f"_ghk_in_{name}", f"_ghk_out_{name}")
    for counter in counters:
        model._species[counter] = Species(counter, 0, site)
    influx_name, efflux_name = f"{name}_influx", f"{name}_efflux"
    ion_inner = Term(ion_name, "inner", 1)
    ion_outer = Term(ion_name, "outer", 1)
    channel = surface_term(state)
    # influx: from the fixed outer concentration (zero order in ions) or from the outer compartment
    influx_reactants = (channel,) if co is not None else (channel, ion_outer)
    influx = Reaction(
        influx_name,
        system.name,
        f"{state}.s -> {state}.s + {ion_name}.i  (GHK {name})",
        influx_reactants,
        (channel, ion_inner, surface_term(counters[0])),
        0.0,
        None,
        True,
        site,
    )
    efflux_products = (channel, surface_term(counters[1])) + (() if co is not None else (ion_outer,))
    efflux = Reaction(efflux_name, system.name, f"{state}.s + {ion_name}.i -> {state}.s  (GHK {name})",
                      (channel, ion_inner), efflux_products, 0.0, None, True, site)
    influx_rate, efflux_rate = ghk_rate_functions(valence, p, temp, co)
    for reaction, rate in ((influx, influx_rate), (efflux, efflux_rate)):
        model._register(reaction.name, reaction, site)
        system.reactions[reaction.name] = reaction
        model._vdep[reaction.name] = VDepTransition(
            f"GHK {name} ({reaction.name})", reaction.name, system.name, rate, DEFAULT_VRANGE, site
        )
    current = GHKCurrent(name, system.name, state, ion_name, valence, p, co, temp, influx_name, efflux_name,
                         counters[0], counters[1], site)
    model._currents[name] = current
    return current
