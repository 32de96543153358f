"""Timeloop v0.3/v0.4 specification reading: YAML -> typed, immutable objects (see ``types``)."""
