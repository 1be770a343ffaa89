"""Deterministic generators for the sandbox sources (same seed, same data, same planted defects)."""

from sandbox.generator.fx import FxDataset, FxDefect, FxPublication, generate_fx

__all__ = ["FxDataset", "FxDefect", "FxPublication", "generate_fx"]
