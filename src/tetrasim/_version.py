"""The package version (its own module, so that modules inside tetrasim can read it without
importing the package they belong to)."""

__version__ = "0.1.0"
