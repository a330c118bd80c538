"""Probes, recording schedule and results."""

from .probes import ROI, Conc, Count, Tet, Tri
from .results import Results, load_results

__all__ = ["Count", "Conc", "Tet", "Tri", "ROI", "Results", "load_results"]
