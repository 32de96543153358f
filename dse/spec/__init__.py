"""Timeloop v0.3/v0.4 specification reading: YAML -> typed, immutable objects (see ``types``).

Public API::

    load_spec(paths, variables=None) -> Spec
    evaluate(expr, names, where) -> value
    evaluate_attribute(value, names, where) -> value
"""
from dse.spec.expressions import evaluate, evaluate_attribute
from dse.spec.loader import load_spec

__all__ = ["load_spec", "evaluate", "evaluate_attribute"]
