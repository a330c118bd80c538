"""The tetrasim error hierarchy (docs/user_guide.md §8).

Every message names the object, the offending value, what was expected and what to do.
Users catch :class:`TetrasimError` to catch everything raised deliberately by tetrasim.
"""

from __future__ import annotations

import difflib
import os
import sys
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
    "ArgumentError",
    "ModelWarning",
    "GeometryWarning",
    "LengthUnitWarning",
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


class ArgumentError(TetrasimError, TypeError):
    """A call got a keyword it does not take, or an argument of the wrong kind (e.g. a misspelt option)."""


class ModelWarning(UserWarning):
    """An implausible but legal model parameter (magnitudes far from biology)."""


class GeometryWarning(UserWarning):
    """An implausible but legal geometry (edge lengths that suggest a wrong unit)."""


def _normalised(text: str) -> str:
    """Lower case, '-' for '_' and blanks: 'WM_SSA' and 'wm-ssa' are the same word to a reader."""
    return "-".join(str(text).lower().replace("_", "-").split())


class LengthUnitWarning(GeometryWarning):
    """A mesh whose size is implausible for a cell: probably read with the wrong ``length_unit``."""


def did_you_mean(name: str, candidates) -> str:
    """Return a ``" (did you mean 'x'?)"`` hint, or an empty string when nothing is close.

    A candidate that differs only in case or in '-'/'_' wins over a merely similar spelling.
    """
    candidates = [str(c) for c in candidates]
    key = _normalised(name)
    same = [c for c in candidates if _normalised(c) == key and c != str(name)]
    if same:
        return f" (did you mean {same[0]!r}?)"
    by_key: dict[str, str] = {}
    for c in candidates:
        by_key.setdefault(_normalised(c), c)
    close = difflib.get_close_matches(key, list(by_key), n=1, cutoff=0.6)
    return f" (did you mean {by_key[close[0]]!r}?)" if close else ""


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def warn_model(message: str, stacklevel: int | None = None) -> None:
    """Emit a :class:`ModelWarning` pointing at the user's line.

    By default the warning is attributed to the first caller outside the tetrasim package,
    however deep the call (wrappers, helpers) inside tetrasim is; ``stacklevel`` overrides.
    """
    if stacklevel is None:
        stacklevel, frame = 2, sys._getframe(1)  # level 2 is our caller
        while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
            stacklevel += 1
            frame = frame.f_back
    warnings.warn(message, ModelWarning, stacklevel=stacklevel)
