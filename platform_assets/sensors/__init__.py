"""Sensors that react to arriving source data."""
