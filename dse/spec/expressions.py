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

# Bounds on what one expression may cost.  Spec values are sizes, counts and energies:
# nothing real needs more than a float's range, a few hundred characters or a few levels
# of nesting, while ``9**9**9``, ``'a'*10**10`` or 100k nested ``not`` would hang the
# loader, exhaust memory or overflow the interpreter's stack.
#: Longest expression text accepted (characters).
MAX_EXPRESSION_CHARS = 10_000
#: Deepest expression tree accepted (nodes from root to leaf).
MAX_EXPRESSION_DEPTH = 100
#: Most nodes one evaluation may visit.
MAX_EVALUATION_STEPS = 100_000
#: Largest integer magnitude, in bits (a float's range: larger values cannot become floats).
MAX_INT_BITS = 1024
#: Longest string, list or tuple an expression may build.
MAX_SEQUENCE_LENGTH = 10_000
#: Largest ``round(x, n)`` digit count (``round(x, -10**9)`` computes ``10**10**9``).
MAX_ROUND_DIGITS = 400
#: Exponents above this are refused (``2**10**10`` would hang the loader).
_MAX_EXPONENT = 4096

LIMITS = (
    f"at most {MAX_EXPRESSION_CHARS} characters, {MAX_EXPRESSION_DEPTH} levels of nesting and "
    f"{MAX_EVALUATION_STEPS} evaluation steps; integers below 2**{MAX_INT_BITS}, finite floats, exponents up to "
    f"{_MAX_EXPONENT}, strings/lists up to {MAX_SEQUENCE_LENGTH} items"
)


class ExpressionTooLarge(ValueError):
    """An expression beyond the bounds above (text, nesting); carries the reason."""


def _depth(tree: ast.AST) -> int:
    """Depth of ``tree`` without recursion (a deep tree must not overflow our own stack)."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        if d > MAX_EXPRESSION_DEPTH:
            return d
        stack.extend((child, d + 1) for child in ast.iter_child_nodes(node))
    return deepest


def parse_expression(text: str) -> ast.expr | None:
    """Parse ``text`` as a Python expression; ``None`` when it is not valid syntax.

    Raises :class:`ExpressionTooLarge` when the text is longer or nested deeper than the
    bounds (:data:`MAX_EXPRESSION_CHARS`, :data:`MAX_EXPRESSION_DEPTH`).
    """
    text = text.strip()
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ExpressionTooLarge(f"expression is {len(text)} characters long")
    try:
        tree = ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError):
        # ValueError: null bytes, or an integer literal over Python's digit limit.
        if any(c.isdigit() for c in text) and _has_long_digit_run(text):
            raise ExpressionTooLarge("integer literal is too long") from None
        return None
    except (RecursionError, MemoryError):
        raise ExpressionTooLarge("expression is nested too deeply") from None
    if _depth(tree) > MAX_EXPRESSION_DEPTH:
        raise ExpressionTooLarge(f"expression is nested more than {MAX_EXPRESSION_DEPTH} levels deep")
    return tree


def _has_long_digit_run(text: str) -> bool:
    run = 0
    for c in text:
        run = run + 1 if c.isdigit() else 0
        if run > 300:
            return True
    return False


def _parse(text: str, where: str, shown: Any) -> ast.expr | None:
    try:
        return parse_expression(text)
    except ExpressionTooLarge as err:
        raise SpecError(f"{err} in '{_clip(shown)}'", where=where, accepted=f"expressions of {LIMITS}") from None


def _clip(text: Any, limit: int = 80) -> str:
    """``text`` shortened for an error message (a 10k-character expression must not fill the screen)."""
    text = str(text)
    return text if len(text) <= limit else f"{text[:limit // 2]} ... {text[-limit // 4:]}"


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
    tree = _parse(key, where, expr)
    if tree is None:
        raise SpecError(f"'{_clip(expr)}' is not a valid expression", where=where, accepted=ACCEPTED)
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
        tree = _parse(key, where, value)
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
        self.steps = 0

    def _refuse(self, what: str) -> SpecError:
        return SpecError(f"{what} is not allowed in expression '{_clip(self.text)}'", where=self.where, accepted=ACCEPTED)

    def _too_large(self, what: str) -> SpecError:
        return SpecError(f"{what} in expression '{_clip(self.text)}'", where=self.where, accepted=f"expressions of {LIMITS}")

    def _cannot(self, err: Exception) -> SpecError:
        return SpecError(f"cannot evaluate '{_clip(self.text)}': {_clip(err, 120)}", where=self.where, accepted=ACCEPTED)

    def visit(self, node: ast.AST) -> Any:
        self.steps += 1
        if self.steps > MAX_EVALUATION_STEPS:
            raise self._too_large(f"more than {MAX_EVALUATION_STEPS} evaluation steps")
        return self._bounded(super().visit(node))

    def _bounded(self, value: Any) -> Any:
        """``value`` unchanged when within the bounds; a :class:`SpecError` otherwise."""
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            if value.bit_length() > MAX_INT_BITS:
                raise self._too_large(f"an integer above 2**{MAX_INT_BITS}")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise self._too_large(f"a non-finite number ({value})")
        elif isinstance(value, (str, list, tuple)) and len(value) > MAX_SEQUENCE_LENGTH:
            raise self._too_large(f"a {type(value).__name__} of {len(value)} items")
        return value

    def _check_operands(self, op: type, left: Any, right: Any) -> None:
        """Refuse before computing what would be too large to compute at all."""
        if op is ast.Pow:
            self._check_power(left, right)
        elif op is ast.Mult:
            for seq, count in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(count, int) and len(seq) * max(count, 0) > MAX_SEQUENCE_LENGTH:
                    raise self._too_large(f"a {type(seq).__name__} repeated {count} times")
        elif op is ast.Mod and isinstance(left, str):
            raise self._refuse("string formatting (%)")

    def _check_power(self, base: Any, exponent: Any) -> None:
        if isinstance(exponent, (int, float)) and not isinstance(exponent, bool) and abs(exponent) > _MAX_EXPONENT:
            raise self._refuse(f"exponent {_clip(exponent, 40)}")
        if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
            if (abs(base).bit_length() - 1) * exponent > MAX_INT_BITS:
                raise self._too_large(f"an integer above 2**{MAX_INT_BITS}")

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
        self._check_operands(type(node.op), left, right)
        try:
            return op(left, right)
        except (ArithmeticError, TypeError, ValueError) as err:
            raise self._cannot(err) from None

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Any:
        op = _UNARY.get(type(node.op))
        if op is None:
            raise self._refuse(f"operator {type(node.op).__name__}")
        try:
            return op(self.visit(node.operand))
        except TypeError as err:
            raise self._cannot(err) from None

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
                raise self._cannot(err) from None
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
        if node.func.id == "pow" and len(args) == 2:
            self._check_power(args[0], args[1])
        if node.func.id == "round" and len(args) == 2 and isinstance(args[1], int) and abs(args[1]) > MAX_ROUND_DIGITS:
            raise self._too_large(f"round() to {_clip(args[1], 40)} digits")
        try:
            return ALLOWED_FUNCTIONS[node.func.id](*args)
        except (ArithmeticError, TypeError, ValueError) as err:
            raise self._cannot(err) from None

    def visit_Tuple(self, node: ast.Tuple) -> Any:
        return tuple(self.visit(e) for e in node.elts)

    def visit_List(self, node: ast.List) -> Any:
        return [self.visit(e) for e in node.elts]
