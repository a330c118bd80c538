"""Probes, recording schedule and results."""

from .probes import ROI, Amount, Conc, Count, Tet, Tri
from .results import Results, load_results

__all__ = ["Count", "Conc", "Amount", "Tet", "Tri", "ROI", "Results", "load_results"]
