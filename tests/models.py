"""The reaction–diffusion model that the back-end identity checks share (MPI, split meshes, GPU).

Volume reactions of first and second order (one reversible), surface reactions with volume
reactants and products, volume and surface diffusion: every code path whose result must be the
same on every back end. Systems ``vol`` (volume) and ``memb`` (surface).
"""

from __future__ import annotations

import tetrasim as ts


def reaction_diffusion_model(*extra_species: str) -> ts.Model:
    """The shared model; ``extra_species`` are declared after its own (for a caller's extra systems)."""
    model = ts.Model()
    model.species("A", "B", "C", "R", "RA", *extra_species)
    vol = model.volume_system("vol")
    vol.reaction("A + B <-> C", kf=2e8, kb=20.0)
    vol.reaction("C -> A", kf=5.0)
    for name, d in (("A", 1e-12), ("B", 8e-13), ("C", 5e-13)):
        vol.diffusion(name, d)
    memb = model.surface_system("memb")
    memb.reaction("R.s + A.i <-> RA.s", kf=1e9, kb=30.0)
    memb.reaction("RA.s -> R.s + B.i", kf=10.0)
    memb.diffusion("R", 2e-13)
    memb.diffusion("RA", 1e-13)
    return model
