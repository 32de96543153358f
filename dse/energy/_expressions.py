"""A small, safe evaluator for compound-component attribute expressions.

Accelergy attribute values may be numbers, names of other attributes
(``width: memory_width``) or arithmetic such as
``max(1, ceil(log2(depth))) if depth >= 1 else 1``.  This module evaluates them
without ``eval``: the expression is parsed with :mod:`ast` and only a white-list
of node types, operators and functions is interpreted.

``dse.spec.expressions`` (the spec package's evaluator) did not exist when this
was written, so this is a private copy that keeps ``dse.energy`` self-contained.
NOTE: fold this module into ``dse.spec.expressions`` once that has landed and
covers the same grammar (conditional expressions, math functions, comparisons)
plus Accelergy's "strings allowed" rule implemented by :func:`evaluate_attribute`.
"""
from __future__ import annotations

import ast
import math
import operator
from typing import Any, Callable, Mapping

from dse.errors import EstimationError

_FUNCTIONS: Mapping[str, Callable[..., Any]] = {
    "max": max,
    "min": min,
    "abs": abs,
    "round": round,
    "int": int,
    "float": float,
    "ceil": math.ceil,
    "floor": math.floor,
    "log": math.log,
    "log2": math.log2,
    "log10": math.log10,
    "sqrt": math.sqrt,
    "exp": math.exp,
    "pow": pow,
}
_CONSTANTS: Mapping[str, Any] = {"True": True, "False": False, "None": None, "pi": math.pi, "e": math.e}

_BINOPS: Mapping[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: Mapping[type, Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg, ast.Not: operator.not_}
_COMPARE: Mapping[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}


class UnknownName(Exception):
    """Raised internally when an expression refers to a name that is not defined."""


def _eval_node(node: ast.AST, names: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Expression):
        return _eval_node(node.body, names)
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in names:
            return names[node.id]
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        raise UnknownName(node.id)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        return _BINOPS[type(node.op)](_eval_node(node.left, names), _eval_node(node.right, names))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval_node(node.operand, names))
    if isinstance(node, ast.BoolOp):
        values = [_eval_node(v, names) for v in node.values]
        if isinstance(node.op, ast.And):
            return all(values)
        return any(values)
    if isinstance(node, ast.Compare):
        left = _eval_node(node.left, names)
        for op, comparator in zip(node.ops, node.comparators):
            if type(op) not in _COMPARE:
                raise ValueError(f"operator {type(op).__name__} is not allowed")
            right = _eval_node(comparator, names)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.IfExp):
        return _eval_node(node.body if _eval_node(node.test, names) else node.orelse, names)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        if node.func.id not in _FUNCTIONS:
            raise ValueError(f"function {node.func.id}() is not allowed")
        return _FUNCTIONS[node.func.id](*[_eval_node(a, names) for a in node.args])
    raise ValueError(f"{type(node).__name__} is not allowed in an attribute expression")


def evaluate_strict(expr: str, names: Mapping[str, Any], where: str) -> Any:
    """Evaluate ``expr``; raise :class:`EstimationError` on any failure."""
    try:
        tree = ast.parse(expr.strip(), mode="eval")
        return _eval_node(tree, names)
    except UnknownName as err:
        raise EstimationError(
            f"expression {expr!r} refers to unknown name {err.args[0]!r}",
            where=where,
            accepted="names of attributes defined before it: " + ", ".join(sorted(map(str, names))) if names else None,
        ) from None
    except (SyntaxError, ValueError, TypeError, ZeroDivisionError, OverflowError) as err:
        raise EstimationError(f"cannot evaluate expression {expr!r}: {err}", where=where) from None


def evaluate_attribute(value: Any, names: Mapping[str, Any], where: str) -> Any:
    """Evaluate one attribute value the way Accelergy does ("strings allowed").

    Non-strings are returned unchanged.  A string is evaluated as an expression over
    ``names``; if it is not a valid expression (``"32nm"``, ``"1ns"``) or refers only
    to unknown names (``"SAR"``, ``"LPDDR4"``), it is kept as a string literal.  A
    valid expression that fails for another reason (division by zero, bad function)
    raises :class:`EstimationError`.
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text == "" or text == "must_specify":
        return text
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        return text  # e.g. "32nm", "1ns": a literal string
    if isinstance(tree.body, ast.Name) and tree.body.id not in names and tree.body.id not in _CONSTANTS:
        return text  # a bare unknown word: a string literal such as "SAR"
    try:
        return _eval_node(tree, names)
    except UnknownName:
        return text
    except (ValueError, TypeError, ZeroDivisionError, OverflowError) as err:
        raise EstimationError(f"cannot evaluate expression {text!r}: {err}", where=where) from None
