"""Safe evaluation of the arithmetic expressions found in Timeloop / Accelergy YAML.

Values such as ``262144*2``, ``(SP_SIZE*8)//(IN_BITWIDTH*DIM)`` or
``max(1, ceil(log2(depth))) if depth >= 1 else 1`` are parsed with :mod:`ast` in
``eval`` mode and evaluated by walking a whitelist of node types.  Nothing is
ever passed to :func:`eval`; attribute access, subscripts, lambdas,
comprehensions and calls to anything but a few math functions are rejected with a
:class:`~dse.errors.SpecError`.

Two entry points:

* :func:`evaluate` - the string *must* be an expression (problem bounds,
  variables, factor capacities); undefined names are errors.
* :func:`evaluate_attribute` - attribute values: a string that is not an
  expression over defined names (``"1ns"``, ``"LPDDR4"``, ``"must_specify"``) is
  kept verbatim.
"""
from __future__ import annotations

import ast
import difflib
import math
import operator
from typing import Any, Callable, Mapping

from dse.errors import SpecError

#: Functions an expression may call, by name.
ALLOWED_FUNCTIONS: Mapping[str, Callable[..., Any]] = {
    "abs": abs,
    "ceil": math.ceil,
    "floor": math.floor,
    "float": float,
    "int": int,
    "log": math.log,
    "log2": math.log2,
    "log10": math.log10,
    "max": max,
    "min": min,
    "pow": pow,
    "round": round,
    "sqrt": math.sqrt,
    "sum": sum,
}

_BINARY: Mapping[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: Mapping[type, Callable[[Any], Any]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
    ast.Not: operator.not_,
}
_COMPARE: Mapping[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}

ACCEPTED = (
    "numbers, strings, True/False, variable names, + - * / // % **, unary -, comparisons, "
    "and/or/not, 'a if c else b', and calls to " + ", ".join(sorted(ALLOWED_FUNCTIONS))
)

_NODE_NAMES = {
    "Attribute": "attribute access",
    "Subscript": "subscript",
    "Lambda": "lambda",
    "ListComp": "comprehension",
    "SetComp": "comprehension",
    "DictComp": "comprehension",
    "GeneratorExp": "comprehension",
    "NamedExpr": "assignment (:=)",
    "Starred": "star-unpacking",
    "JoinedStr": "f-string",
    "Dict": "dict literal",
    "Set": "set literal",
    "Await": "await",
    "Yield": "yield",
}

#: Exponents above this are refused (``2**10**10`` would hang the loader).
_MAX_EXPONENT = 4096


def parse_expression(text: str) -> ast.expr | None:
    """Parse ``text`` as a Python expression; ``None`` when it is not valid syntax."""
    try:
        return ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError):
        return None


def names_in(tree: ast.AST) -> set[str]:
    """Names an expression refers to (excluding called function names)."""
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in called}


def undefined_name_error(name: str, names: Mapping[str, Any], where: str) -> SpecError:
    """A :class:`SpecError` for an undefined variable, listing close matches first."""
    defined = sorted(str(k) for k in names)
    close = difflib.get_close_matches(name, defined, n=5, cutoff=0.6)
    rest = [d for d in defined if d not in close]
    listing = ", ".join(close + rest) if defined else "(no variables are defined)"
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return SpecError(f"undefined variable '{name}'{hint}", where=where, accepted=f"defined variables: {listing}")


def evaluate(expr: str | int | float | bool, names: Mapping[str, Any], where: str) -> Any:
    """Evaluate ``expr`` safely with variables from ``names``.

    Numbers and booleans are returned unchanged.  A string equal to a key of
    ``names`` returns that value (so variables named ``EMBEDDING//HEADS`` work);
    otherwise it is parsed and evaluated.  Raises :class:`SpecError` (naming
    ``where``) for syntax errors, disallowed constructs and undefined names.
    """
    if isinstance(expr, (bool, int, float)):
        return expr
    if not isinstance(expr, str):
        raise SpecError(f"expected an expression, got {type(expr).__name__} {expr!r}", where=where, accepted=ACCEPTED)
    key = expr.strip()
    if key in names:
        return names[key]
    tree = parse_expression(key)
    if tree is None:
        raise SpecError(f"'{expr}' is not a valid expression", where=where, accepted=ACCEPTED)
    return _Evaluator(names, where, expr).visit(tree)


def evaluate_attribute(value: Any, names: Mapping[str, Any], where: str) -> Any:
    """Evaluate an attribute value, keeping non-expression strings verbatim.

    A string is evaluated only if it parses as an expression all of whose names
    are defined; ``"1ns"``, ``"LPDDR4"`` or ``"must_specify"`` stay strings.  A
    string that *is* an expression over defined names but uses a disallowed
    construct (``().__class__``) still raises :class:`SpecError`.
    Lists and mappings are evaluated element-wise.
    """
    if isinstance(value, str):
        key = value.strip()
        if key in names:
            return names[key]
        tree = parse_expression(key)
        if tree is None:
            return value
        if isinstance(tree, ast.Constant) and not isinstance(tree.value, (int, float)):
            return value
        if any(n not in names and n not in ALLOWED_FUNCTIONS for n in names_in(tree)):
            return value
        return _Evaluator(names, where, value).visit(tree)
    if isinstance(value, list):
        return [evaluate_attribute(v, names, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: evaluate_attribute(v, names, f"{where}.{k}") for k, v in value.items()}
    return value


def as_number(value: Any, where: str, what: str = "value") -> int | float:
    """``value`` as an int (when integral) or float; :class:`SpecError` if not numeric."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"{what} must be a number, got {value!r}", where=where, accepted="a number or an expression over defined variables")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class _Evaluator(ast.NodeVisitor):
    """Walks a whitelisted subset of Python expression nodes."""

    def __init__(self, names: Mapping[str, Any], where: str, text: str):
        self.names = names
        self.where = where
        self.text = text

    def _refuse(self, what: str) -> SpecError:
        return SpecError(f"{what} is not allowed in expression '{self.text}'", where=self.where, accepted=ACCEPTED)

    def generic_visit(self, node: ast.AST) -> Any:
        raise self._refuse(_NODE_NAMES.get(type(node).__name__, f"{type(node).__name__} syntax"))

    def visit_Constant(self, node: ast.Constant) -> Any:
        if isinstance(node.value, (int, float, str, bool)):
            return node.value
        raise self._refuse(f"constant {node.value!r}")

    def visit_Name(self, node: ast.Name) -> Any:
        if node.id.startswith("__"):
            raise self._refuse(f"name '{node.id}'")
        if node.id in self.names:
            return self.names[node.id]
        raise undefined_name_error(node.id, self.names, self.where)

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        op = _BINARY.get(type(node.op))
        if op is None:
            raise self._refuse(f"operator {type(node.op).__name__}")
        left, right = self.visit(node.left), self.visit(node.right)
        if isinstance(node.op, ast.Pow) and isinstance(right, (int, float)) and abs(right) > _MAX_EXPONENT:
            raise self._refuse(f"exponent {right}")
        try:
            return op(left, right)
        except (ArithmeticError, TypeError, ValueError) as err:
            raise SpecError(f"cannot evaluate '{self.text}': {err}", where=self.where, accepted=ACCEPTED) from None

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Any:
        op = _UNARY.get(type(node.op))
        if op is None:
            raise self._refuse(f"operator {type(node.op).__name__}")
        try:
            return op(self.visit(node.operand))
        except TypeError as err:
            raise SpecError(f"cannot evaluate '{self.text}': {err}", where=self.where, accepted=ACCEPTED) from None

    def visit_BoolOp(self, node: ast.BoolOp) -> Any:
        if isinstance(node.op, ast.And):
            result: Any = True
            for v in node.values:
                result = self.visit(v)
                if not result:
                    return result
            return result
        result = False
        for v in node.values:
            result = self.visit(v)
            if result:
                return result
        return result

    def visit_Compare(self, node: ast.Compare) -> Any:
        left = self.visit(node.left)
        for op_node, right_node in zip(node.ops, node.comparators):
            op = _COMPARE.get(type(op_node))
            if op is None:
                raise self._refuse(f"comparison {type(op_node).__name__}")
            right = self.visit(right_node)
            try:
                if not op(left, right):
                    return False
            except TypeError as err:
                raise SpecError(f"cannot evaluate '{self.text}': {err}", where=self.where, accepted=ACCEPTED) from None
            left = right
        return True

    def visit_IfExp(self, node: ast.IfExp) -> Any:
        return self.visit(node.body) if self.visit(node.test) else self.visit(node.orelse)

    def visit_Call(self, node: ast.Call) -> Any:
        if not isinstance(node.func, ast.Name) or node.func.id not in ALLOWED_FUNCTIONS:
            name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            raise self._refuse(f"calling '{name}'")
        if node.keywords:
            raise self._refuse("keyword arguments")
        args = [self.visit(a) for a in node.args]
        try:
            return ALLOWED_FUNCTIONS[node.func.id](*args)
        except (ArithmeticError, TypeError, ValueError) as err:
            raise SpecError(f"cannot evaluate '{self.text}': {err}", where=self.where, accepted=ACCEPTED) from None

    def visit_Tuple(self, node: ast.Tuple) -> Any:
        return tuple(self.visit(e) for e in node.elts)

    def visit_List(self, node: ast.List) -> Any:
        return [self.visit(e) for e in node.elts]
