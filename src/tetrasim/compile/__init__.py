"""Compile model + geometry into flat arrays."""

from .compiler import CompiledSystem, compile_system

__all__ = ["CompiledSystem", "compile_system"]
