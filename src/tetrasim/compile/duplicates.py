"""Refuse rules that would act twice at one location (the same system listed twice, a species
diffusing under two rules, one reaction written twice).

Each copy would become its own process, so the rate would silently double; in ``opsplit`` two
diffusion processes of one pool would also draw the same random numbers and the step τ would
see only one of them. tetrasim rejects the duplicate instead of merging it: the fix (one rule
with the summed rate, or a distinct reaction) is the modeller's decision.
"""

from __future__ import annotations

from ..errors import ModelError

__all__ = ["check_duplicate_rules"]


def _side(terms) -> tuple:
    return tuple(sorted((t.name, t.location or "", t.count) for t in terms))


_SUFFIX = {"": "", "surface": ".s", "inner": ".i", "outer": ".o"}


def _equation(reactants, products) -> str:
    """``'2 A + B.i -> C'`` from the sorted sides of a key."""
    def side(terms):
        return " + ".join(f"{count} {name}{_SUFFIX[loc]}" if count > 1 else f"{name}{_SUFFIX[loc]}"
                          for name, loc, count in terms) or "0"
    return f"{side(reactants)} -> {side(products)}"


def check_duplicate_rules(model, disc) -> None:
    """Raise :class:`ModelError` naming both definition sites of any rule that acts twice somewhere."""
    for kind, table in (("compartment", disc.compartment_systems), ("patch", disc.patch_systems)):
        for location, systems in table.items():
            seen_systems: set[str] = set()
            diffusions: dict[str, object] = {}
            reactions: dict[tuple, tuple] = {}
            for system_name in systems:
                if system_name in seen_systems:
                    raise ModelError(f"{kind} {location!r} lists system {system_name!r} twice (systems=...); "
                                     "a system acts once per location, listing it again would double "
                                     "its rates")
                seen_systems.add(system_name)
                system = model.systems[system_name]
                for rule in system.diffusions.values():
                    if rule.species in diffusions:
                        first = diffusions[rule.species]
                        raise ModelError(
                            f"{rule.species!r} diffuses twice in {kind} {location!r}: rule {first.name!r} of "
                            f"system {first.system!r} (defined at {first.defined_at}) and rule {rule.name!r} "
                            "of "
                            f"system {rule.system!r} (defined at {rule.defined_at}); keep one diffusion rule "
                            "per species and location")
                    diffusions[rule.species] = rule
                for reaction in system.reactions.values():
                    directions = [(_side(reaction.reactants), _side(reaction.products))]
                    if reaction.reversible:
                        directions.append((directions[0][1], directions[0][0]))
                    for key in directions:
                        if key in reactions:
                            first = reactions[key]
                            raise ModelError(
                                f"the reaction {_equation(*key)} appears twice in {kind} {location!r}: in "
                                f"{first.name!r} ({first.equation!r}, system {first.system!r}, defined at "
                                f"{first.defined_at}) and in {reaction.name!r} ({reaction.equation!r}, "
                                f"system {reaction.system!r}, defined at {reaction.defined_at}); their rates "
                                "would add up silently: write one reaction with the summed rate constant")
                        reactions[key] = reaction
