"""Issue 15 item 1: every public call rejects an unknown keyword with a typed error and a did-you-mean.

Before the fix ``ts.Simulation(m, g, solver="wm-ssa", sed=1, progres=False)`` ran with a random
seed, and a misspelt keyword anywhere else ended in a bare Python ``TypeError``.
"""

from __future__ import annotations

import inspect

import pytest

import tetrasim as ts
from tetrasim.geometry import shapes
from tetrasim.model.core import SurfaceSystem, VolumeSystem
from tetrasim.solvers.registry import get_solver_class

PUBLIC_CLASSES = [ts.Model, VolumeSystem, SurfaceSystem, ts.WellMixed, ts.MeshGeometry, ts.TetMesh,
                  ts.Simulation, ts.Results, ts.Count, ts.Conc, ts.Amount, ts.Tet, ts.Tri, ts.ROI]
PUBLIC_FUNCTIONS = [ts.load_results, ts.load_mesh, ts.load_split_mesh, ts.geometry.save_mesh, ts.mesh_info,
                    shapes.box,
                    shapes.cylinder, shapes.sphere, shapes.branchlet, shapes.branchlet_volume]


def public_callables():
    for cls in PUBLIC_CLASSES:
        for name, member in inspect.getmembers(cls):
            if name.startswith("_") and name != "__init__":
                continue
            function = getattr(member, "__func__", member)
            if inspect.isfunction(function) and function.__qualname__.split(".")[0] != "object":
                yield f"{cls.__name__}.{name}", function
    for function in PUBLIC_FUNCTIONS:
        yield function.__name__, function


CALLABLES = dict(public_callables())


@pytest.mark.parametrize("name", sorted(CALLABLES))
def test_unknown_keyword_is_an_argument_error(name):
    function = CALLABLES[name]
    parameters = inspect.signature(function).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        pytest.skip("takes **options: checked against the declared options (tests below)")
    with pytest.raises(ts.ArgumentError, match="has no keyword 'definitely_not_a_keyword'"):
        function(None, definitely_not_a_keyword=1)


def test_suggestion_names_the_closest_keyword():
    with pytest.raises(ts.ArgumentError, match=r"did you mean 'length_unit'\?"):
        ts.TetMesh.from_arrays([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], [[0, 1, 2, 3]], lenght_unit="um")
    with pytest.raises(ts.ArgumentError, match=r"did you mean 'every'\?"):
        ts.Simulation.record(None, ts.Count("A"), evry=1.0)


@pytest.mark.parametrize("solver", ["wm-ssa", "wm-ode", "ssa", "opsplit", "ode"])
def test_every_solver_declares_its_options(solver):
    solver_class = get_solver_class(solver)
    assert isinstance(solver_class.accepted_options, tuple)
    for option in solver_class.accepted_options:
        solver_class.check_options({option: 1})  # declared: accepted
    with pytest.raises(ts.ArgumentError, match="did you mean 'seed'"):
        solver_class.check_options({"sed": 1}, ("model", "geometry", "solver", "seed", "progress"))
