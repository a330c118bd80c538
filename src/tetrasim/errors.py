"""The tetrasim error hierarchy (DESIGN.md §6).

Every message names the object, the offending value, what was expected and what to do.
Users catch :class:`TetrasimError` to catch everything raised deliberately by tetrasim.
"""

from __future__ import annotations

import difflib
import warnings

__all__ = [
    "TetrasimError",
    "ModelError",
    "UnitError",
    "GeometryError",
    "MeshFormatError",
    "CompileError",
    "CheckpointError",
    "CapabilityError",
    "SimulationError",
    "InternalError",
    "ModelWarning",
    "GeometryWarning",
    "did_you_mean",
    "warn_model",
]


class TetrasimError(Exception):
    """Base class of every error tetrasim raises on purpose."""


class ModelError(TetrasimError, ValueError):
    """The model description is invalid (unknown species, bad reaction, bad rate...)."""


class UnitError(TetrasimError, ValueError):
    """A quantity has the wrong dimensions or cannot be parsed."""


class GeometryError(TetrasimError, ValueError):
    """The geometry (well-mixed or mesh) is invalid or inconsistent."""


class MeshFormatError(GeometryError):
    """A mesh file is truncated, garbled or uses an unsupported feature."""


class CompileError(TetrasimError, ValueError):
    """Model and geometry do not fit together (e.g. a reaction's species are absent)."""


class CapabilityError(TetrasimError, NotImplementedError):
    """The chosen solver or back end cannot do what was asked."""


class SimulationError(TetrasimError, RuntimeError):
    """A run cannot proceed (bad time, bad state access, ...)."""


class CheckpointError(SimulationError):
    """A checkpoint cannot be restored: unreadable file, or another model, geometry or solver."""


class InternalError(TetrasimError, RuntimeError):
    """A bug in tetrasim: please report it with the traceback."""


class ModelWarning(UserWarning):
    """An implausible but legal model parameter (magnitudes far from biology)."""


class GeometryWarning(UserWarning):
    """An implausible but legal geometry (edge lengths that suggest a wrong unit)."""


def did_you_mean(name: str, candidates) -> str:
    """Return a ``" (did you mean 'x'?)"`` hint, or an empty string when nothing is close."""
    close = difflib.get_close_matches(str(name), [str(c) for c in candidates], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def warn_model(message: str, stacklevel: int = 3) -> None:
    """Emit a :class:`ModelWarning` pointing at the user's line."""
    warnings.warn(message, ModelWarning, stacklevel=stacklevel)
