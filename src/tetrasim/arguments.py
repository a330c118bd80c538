"""Checks on the arguments of public calls: unknown keywords, indices, flags and seeds.

A misspelt keyword must never be ignored (``seed=1`` typed ``sed=1`` would silently run with a
random seed), and a Python ``TypeError`` from a wrong call must read like every other tetrasim
error. :func:`checked_keywords` wraps a function, :func:`check_keywords` every public method of
a class; both raise :class:`~tetrasim.errors.ArgumentError` with a did-you-mean.

The value checks (:func:`index_array`, :func:`flag`, :func:`seed_value`) turn the silent
conversions NumPy would do (``int(1.7) == 1``, ``bool("no") is True``) into errors.
"""

from __future__ import annotations

import functools
import inspect
import numbers

import numpy as np

from .errors import ArgumentError, did_you_mean

__all__ = ["checked_keywords", "check_keywords", "index_array", "flag", "seed_value"]

_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def _call_name(func) -> str:
    name = func.__qualname__
    return "ts." + name.split(".")[0] if name.endswith("__init__") else name


def checked_keywords(func):
    """Wrap ``func`` so that an unknown keyword or a wrong number of arguments is an ArgumentError.

    Functions taking ``**kwargs`` check their own keywords and are returned unchanged.
    The check costs one set lookup per keyword; the signature is bound only after Python
    itself refused the call, so a ``TypeError`` raised inside ``func`` passes unchanged.
    """
    signature = inspect.signature(func)
    parameters = signature.parameters
    if any(p.kind == inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return func
    names = frozenset(name for name, p in parameters.items() if p.kind in _NAMED and name != "self")

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        for key in kwargs:
            if key not in names:
                raise ArgumentError(unknown_keyword_message(_call_name(func), key, names))
        try:
            return func(*args, **kwargs)
        except TypeError as error:
            try:
                signature.bind(*args, **kwargs)
            except TypeError:
                raise ArgumentError(f"{_call_name(func)}(): {error}") from None
            raise

    wrapper.__tetrasim_checked__ = True
    return wrapper


def unknown_keyword_message(call: str, key: str, names) -> str:
    """``call() has no keyword 'x' (did you mean 'y'?); it takes a, b``."""
    taken = ", ".join(sorted(names)) or "no keywords"
    return f"{call}() has no keyword {key!r}{did_you_mean(key, names)}; it takes {taken}"


def check_keywords(cls):
    """Class decorator: :func:`checked_keywords` on ``__init__`` and every public method."""
    for name, member in list(vars(cls).items()):
        if name.startswith("_") and name != "__init__":
            continue
        if isinstance(member, (staticmethod, classmethod)):
            wrapped = checked_keywords(member.__func__)
            setattr(cls, name, type(member)(wrapped))
        elif inspect.isfunction(member):
            setattr(cls, name, checked_keywords(member))
    return cls


def _is_whole(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def index_array(values, what: str, error=ArgumentError) -> np.ndarray:
    """``values`` (one index or a 1-D sequence) as int64 indices; no truncation of 1.7 or 0.9.

    Booleans, strings and fractional numbers raise ``error``: an index is a whole number.
    Whole-valued floats (``2.0``) are refused too, because they almost always come from a
    computation that was meant to produce something else.
    """
    if isinstance(values, (str, bytes)) or values is None:
        raise error(f"{what}: expected element indices (whole numbers), got {values!r}")
    if _is_whole(values):
        if not -(2**63) <= values < 2**63:
            raise error(f"{what}: index {values} is out of range")
        return np.array([int(values)], np.int64)
    try:
        array = np.asarray(values)
    except (TypeError, ValueError):
        raise error(f"{what}: expected element indices (whole numbers), got {values!r}") from None
    if array.size == 0:
        return np.zeros(0, np.int64)
    if array.dtype.kind not in "iu":
        raise error(f"{what}: element indices must be whole numbers, got {_short(values)} "
                    f"(dtype {array.dtype}); pass integers, e.g. np.asarray(ids, dtype=int) after checking "
                    "they are whole")
    if array.ndim > 1:
        raise error(f"{what}: expected a flat list of indices, got an array of shape {array.shape}")
    return array.astype(np.int64).ravel()


def _short(values) -> str:
    text = repr(values)
    return text if len(text) < 60 else text[:57] + "..."


def flag(value, what: str, error=ArgumentError) -> bool:
    """``value`` as a bool, accepting only True/False (and NumPy booleans): ``"no"`` is not False."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise error(f"{what} must be True or False, got {value!r}")


def seed_value(seed, error=ArgumentError) -> int:
    """A seed: a whole number >= 0 (not a bool, not a float)."""
    if not _is_whole(seed) or seed < 0:
        raise error(f"seed must be a whole number >= 0 (or None for a random one), got {seed!r}")
    return int(seed)
