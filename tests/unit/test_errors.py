"""Tier 0: the error hierarchy of DESIGN.md §6 and its helpers."""

import warnings

import pytest

import tetrasim as ts
from tetrasim import errors


@pytest.mark.parametrize(
    ("cls", "bases"),
    [
        (errors.ModelError, (errors.TetrasimError, ValueError)),
        (errors.UnitError, (errors.TetrasimError, ValueError)),
        (errors.GeometryError, (errors.TetrasimError, ValueError)),
        (errors.MeshFormatError, (errors.GeometryError, errors.TetrasimError, ValueError)),
        (errors.CompileError, (errors.TetrasimError,)),
        (errors.CapabilityError, (errors.TetrasimError, NotImplementedError)),
        (errors.SimulationError, (errors.TetrasimError, RuntimeError)),
        (errors.InternalError, (errors.TetrasimError,)),
    ],
)
def test_hierarchy(cls, bases):
    for base in bases:
        assert issubclass(cls, base), (cls, base)
    assert issubclass(errors.TetrasimError, Exception)
    assert not issubclass(errors.TetrasimError, (ValueError, RuntimeError))


def test_public_names():
    for name in (
        "TetrasimError",
        "ModelError",
        "UnitError",
        "GeometryError",
        "MeshFormatError",
        "CompileError",
        "CapabilityError",
        "SimulationError",
    ):
        assert getattr(ts, name) is getattr(errors, name)
        assert name in ts.__all__
    assert ts.errors is errors
    assert set(errors.__all__) >= {"InternalError", "ModelWarning", "GeometryWarning"}


@pytest.mark.parametrize(
    ("name", "candidates", "expected"),
    [
        ("CaBfu", ["Ca", "Buf", "CaBuf"], " (did you mean 'CaBuf'?)"),
        ("cyto", ["cyt", "memb"], " (did you mean 'cyt'?)"),
        ("zzz", ["Ca", "Buf"], ""),
        ("A", [], ""),
        (3, [1, 3], " (did you mean '3'?)"),
    ],
)
def test_did_you_mean(name, candidates, expected):
    assert errors.did_you_mean(name, candidates) == expected


def test_model_warning_points_at_the_caller():
    def user_code():
        errors.warn_model("implausible", stacklevel=2)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        user_code()
    assert caught[0].category is errors.ModelWarning
    assert issubclass(errors.ModelWarning, UserWarning)
    assert caught[0].filename == __file__
