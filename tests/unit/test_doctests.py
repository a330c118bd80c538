"""Every docstring example in the package runs (numpydoc examples are part of the documentation)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import warnings

import pytest

import tetrasim

MODULES = sorted(name for _, name, _ in pkgutil.walk_packages(tetrasim.__path__, "tetrasim.")
                 if not name.endswith("__main__"))  # importing __main__ runs the command line


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    try:
        module = importlib.import_module(name)
    except ImportError as error:  # an optional extra (mpi4py, numba-cuda) that is not installed
        pytest.skip(f"{name} needs an optional dependency: {error}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # examples use toy meshes in metres; their warnings are expected
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed"
