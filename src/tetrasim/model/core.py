"""The model language: species, volume and surface systems, reactions and diffusion rules.

A model describes chemistry only; where it happens is the geometry's job. Rate constants are
stored in SI / STEPS conventions as plain floats, converted once here
(docs/concepts/propensities_and_units.md).
"""

from __future__ import annotations

import hashlib
import json
import math

from ..arguments import check_keywords
from ..errors import ModelError, did_you_mean, warn_model
from ..units import rate_dims, to_si
from .channels import add_channel, add_ghk_current, add_ohmic_current, add_vdep_transition
from .elements import Diffusion, Reaction, Species
from .elements import check_name as _check_name
from .elements import definition_site as _definition_site
from .parser import SPECIES_NAME, parse_reaction

__all__ = ["Model", "Species", "VolumeSystem", "SurfaceSystem", "Reaction", "Diffusion"]

def _rate(value, order: int, surface_only: bool, what: str) -> float:
    number = to_si(value, rate_dims(order, surface_only), what)  # UnitError names the parameter (§3)
    if not math.isfinite(number) or number < 0:
        raise ModelError(f"{what} = {value!r}: a rate constant must be finite and >= 0")
    return number


@check_keywords
class _System:
    surface = False

    def __init__(self, model: Model, name: str):
        self.model = model
        self.name = name
        self.reactions: dict[str, Reaction] = {}
        self.diffusions: dict[str, Diffusion] = {}

    def __repr__(self) -> str:
        kind = "SurfaceSystem" if self.surface else "VolumeSystem"
        return f"{kind}({self.name!r}, {len(self.reactions)} reactions, {len(self.diffusions)} diffusions)"

    def _check_species(self, name: str, equation: str, site: str) -> None:
        if name not in self.model._species:
            raise ModelError(
                f"{site}: reaction {equation!r} in system {self.name!r} uses unknown species {name!r}"
                f"{did_you_mean(name, self.model._species)}; declare it with model.species({name!r})"
            )

    def reaction(self, equation: str, kf, kb=None, name: str | None = None) -> Reaction:
        """Add a reaction such as ``"Ca + Buf <-> CaBuf"`` with forward/backward rate constants.

        Rate units follow STEPS (§3): order-n volume rate in M^-(n-1)/s; a surface reaction
        with only surface reactants in (mol/m²)^-(n-1)/s. ``<->`` needs ``kb``.
        """
        site = _definition_site()
        parsed = parse_reaction(equation)
        for term in parsed.reactants + parsed.products:
            self._check_species(term.name, equation, site)
        self._check_locations(parsed, equation, site)
        if parsed.reversible and kb is None:
            raise ModelError(f"{site}: reversible reaction {equation!r} needs a backward rate kb=")
        if not parsed.reversible and kb is not None:
            raise ModelError(
                f"{site}: reaction {equation!r} is irreversible ('->') but kb= was given; use '<->'"
            )
        name = _check_name("reaction", name) if name is not None else f"{self.name}_r{len(self.reactions)}"
        if name in self.reactions:
            raise ModelError(f"{site}: system {self.name!r} already has a reaction named {name!r}")
        surface_only_f = self.surface and all(t.location == "surface" for t in parsed.reactants)
        surface_only_b = self.surface and all(t.location == "surface" for t in parsed.products)
        order_f = sum(t.count for t in parsed.reactants)
        order_b = sum(t.count for t in parsed.products)
        kf_si = _rate(kf, order_f, surface_only_f, f"{site}: kf of {equation!r}")
        kb_si = (
            _rate(kb, order_b, surface_only_b, f"{site}: kb of {equation!r}") if parsed.reversible else None
        )
        reaction = Reaction(name, self.name, equation, parsed.reactants, parsed.products, kf_si, kb_si,
                            self.surface, site)
        self.model._register(name, reaction, site)
        self.reactions[name] = reaction
        return reaction

    def _check_locations(self, parsed, equation: str, site: str) -> None:
        for term in parsed.reactants + parsed.products:
            if term.location is not None:
                raise ModelError(
                    f"{site}: {equation!r} is in volume system {self.name!r}: drop the location suffix on "
                    f"{term.name!r} (suffixes .s/.i/.o belong to surface systems)"
                )

    def diffusion(self, species, coefficient, name: str | None = None) -> Diffusion:
        """Let ``species`` diffuse with ``coefficient`` (m²/s, or a quantity like ``Q('9 um^2/s')``)."""
        site = _definition_site()
        species_name = str(species)
        if species_name not in self.model._species:
            raise ModelError(
                f"{site}: diffusion in system {self.name!r} of unknown species {species_name!r}"
                f"{did_you_mean(species_name, self.model._species)}"
            )
        value = to_si(
            coefficient, "diffusion coefficient", f"{site}: diffusion coefficient of {species_name}"
        )
        if value < 0 or not math.isfinite(value):
            raise ModelError(
                f"{site}: diffusion coefficient of {species_name} = {coefficient!r} must be finite and >= 0"
            )
        if value > 0 and not (1e-16 <= value <= 1e-7):
            warn_model(
                f"{site}: diffusion coefficient {value:g} m^2/s of {species_name} is outside 1e-16..1e-7 "
                "m^2/s; bare numbers are in m^2/s (use ts.Q('9 um^2/s') for other units)"
            )
        if species_name in self.diffusions:
            raise ModelError(f"{site}: {species_name!r} already diffuses in system {self.name!r}")
        name = _check_name("diffusion", name) if name is not None else f"{self.name}_diff_{species_name}"
        rule = Diffusion(name, self.name, species_name, value, self.surface, site)
        self.model._register(name, rule, site)
        self.diffusions[species_name] = rule
        return rule


class VolumeSystem(_System):
    """Reactions and diffusion that happen inside a compartment's volume."""


@check_keywords
class SurfaceSystem(_System):
    """Reactions on a membrane patch, between surface (.s), inner (.i) and outer (.o) species."""

    surface = True

    def _check_locations(self, parsed, equation: str, site: str) -> None:
        for term in parsed.reactants + parsed.products:
            if term.location is None:
                raise ModelError(
                    f"{site}: surface reaction {equation!r}: give {term.name!r} a location: "
                    f"{term.name}.s (on the membrane), {term.name}.i (inner volume) or {term.name}.o (outer)"
                )
        sides = {t.location for t in parsed.reactants if t.location != "surface"}
        if len(sides) > 1:
            raise ModelError(
                f"{site}: surface reaction {equation!r} has volume reactants on both sides of the membrane "
                "(.i and .o); all volume reactants must be on one side"
            )
        back = {t.location for t in parsed.products if t.location != "surface"}
        if parsed.reversible and len(back) > 1:
            raise ModelError(
                f"{site}: reversible surface reaction {equation!r}: the backward reaction would have volume "
                "reactants on both sides of the membrane; split it into two irreversible reactions"
            )

    # ------------------------------------------------------------ membrane rules (model/channels.py)
    def vdep_transition(self, transition: str, rate, vrange=None, name: str | None = None):
        """Voltage-dependent transition ``"Chan.a -> Chan.b"`` with ``rate(V)`` in 1/s (V in volts).

        ``vrange=(lowest, highest[, step])`` sets the rate table (default -150..100 mV, 0.1 mV).
        """
        return add_vdep_transition(self, transition, rate, vrange, name, _definition_site())

    def ohmic_current(self, name: str, channel_state, conductance, reversal):
        """Ohmic current ``conductance`` (S per channel) x open channels x (V - ``reversal``)."""
        return add_ohmic_current(self, name, channel_state, conductance, reversal, _definition_site())

    def ghk_current(self, name: str, channel_state, ion, permeability, outer_conc=None, temperature=293.15):
        """GHK current of ``ion`` through channels in ``channel_state``.

        ``permeability`` is in m³/s per channel.
        """
        return add_ghk_current(self, name, channel_state, ion, permeability, outer_conc, temperature,
                               _definition_site())


@check_keywords
class Model:
    """A reaction–diffusion model: species and the systems that hold reactions and diffusion.

    Examples
    --------
    >>> import tetrasim as ts
    >>> model = ts.Model()
    >>> Ca, Buf, CaBuf = model.species("Ca", "Buf", "CaBuf")
    >>> cyt = model.volume_system("cyt")
    >>> cyt.reaction("Ca + Buf <-> CaBuf", kf=1e8, kb=100)
    Reaction('cyt_r0': 'Ca + Buf <-> CaBuf')
    """

    def __init__(self) -> None:
        self._species: dict[str, Species] = {}
        self._systems: dict[str, _System] = {}
        self._rule_names: dict[str, str] = {}
        self._channels: dict = {}  # membrane rules (model/channels.py)
        self._vdep: dict = {}
        self._currents: dict = {}

    def _register(self, name: str, obj, site: str) -> None:
        """Reaction and diffusion names are unique model-wide so a simulation can address them."""
        if name in self._rule_names:
            raise ModelError(f"{site}: the name {name!r} is already used (at {self._rule_names[name]})")
        self._rule_names[name] = site

    def species(self, *names: str, valence: int = 0):
        """Declare species; returns one :class:`Species` for one name, else a tuple."""
        site = _definition_site()
        if not names:
            raise ModelError(f"{site}: model.species() needs at least one name")
        created = []
        for name in names:
            _check_name("species", name)
            if not SPECIES_NAME.fullmatch(name):  # e.g. "Caα": an identifier, but no equation could name it
                raise ModelError(f"{site}: species name {name!r} can only use the ASCII letters A-Z, a-z, "
                                 "digits and '_' (reaction equations are parsed with these)")
            if name in self._species:
                raise ModelError(
                    f"{site}: species {name!r} is already declared (at {self._species[name].defined_at})"
                )
            if name in self._systems:
                raise ModelError(f"{site}: {name!r} is already the name of a system")
            species = Species(name, valence, site)
            self._species[name] = species
            created.append(species)
        return created[0] if len(created) == 1 else tuple(created)

    def channel(self, name: str, states):
        """Declare a channel; its states become surface species ``"name.state"``. Returns a Channel."""
        return add_channel(self, name, states, _definition_site())

    def _new_system(self, cls, name: str):
        site = _definition_site()
        _check_name("system", name)
        if name in self._systems or name in self._species:
            raise ModelError(f"{site}: the name {name!r} is already used in this model")
        system = cls(self, name)
        self._systems[name] = system
        return system

    def volume_system(self, name: str) -> VolumeSystem:
        """Create a :class:`VolumeSystem` (reactions/diffusion inside compartments)."""
        return self._new_system(VolumeSystem, name)

    def surface_system(self, name: str) -> SurfaceSystem:
        """Create a :class:`SurfaceSystem` (reactions/diffusion on patches)."""
        return self._new_system(SurfaceSystem, name)

    # ----------------------------------------------------------------- queries
    @property
    def species_names(self) -> list[str]:
        return list(self._species)

    def get_species(self, name) -> Species:
        key = str(name)
        if key not in self._species:
            raise ModelError(f"unknown species {key!r}{did_you_mean(key, self._species)}")
        return self._species[key]

    @property
    def systems(self) -> dict[str, _System]:
        return dict(self._systems)

    def system(self, name: str) -> _System:
        name = getattr(name, "name", name)
        if not isinstance(name, str) or name not in self._systems:
            raise ModelError(f"unknown system {name!r}{did_you_mean(name, self._systems)}")
        return self._systems[name]

    def reactions(self) -> list[Reaction]:
        return [r for s in self._systems.values() for r in s.reactions.values()]

    def to_dict(self) -> dict:
        """A plain description, stable across runs, used for the model hash in results."""
        return {
            "species": {n: s.valence for n, s in self._species.items()},
            "systems": {
                name: {
                    "surface": system.surface,
                    "reactions": {
                        r.name: [r.equation, r.kf, r.kb] for r in system.reactions.values()
                    },
                    "diffusions": {d.species: d.coefficient for d in system.diffusions.values()},
                }
                for name, system in self._systems.items()
            },
            **({"currents": {n: repr(vars(c)) for n, c in self._currents.items()}} if self._currents else {}),
        }

    def hash(self) -> str:
        """SHA-256 (16 hex digits) of :meth:`to_dict`."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"Model({len(self._species)} species, {len(self._systems)} systems)"
