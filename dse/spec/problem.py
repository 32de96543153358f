"""Building a :class:`~dse.spec.types.Workload` from a ``problem:`` section.

``shape`` gives dimensions, coefficients (with defaults) and data spaces;
``instance`` gives dimension bounds and coefficient values, as numbers or
expressions over variables.  Projections are accepted in Timeloop's nested-list
form (``[[[E]], [[R, Wdilation], [L, Wstride]]]``), as a flat list of dimension
names (``[E, L]``), or with ranks written as strings (``"R*Wdilation + L*Wstride"``).
"""
from __future__ import annotations

import math

from typing import Any, Mapping

from dse.errors import SpecError
from dse.spec.common import at, expect_list, expect_mapping, expect_name, require
from dse.spec.expressions import as_number, evaluate
from dse.spec.types import DataSpace, Workload

Term = tuple[str, "str | None"]


def build_workload(raw: Any, file: str, variables: Mapping[str, Any]) -> tuple[Workload, list[str]]:
    """Build the workload from the ``problem:`` value read from ``file``; also returns warnings."""
    problem = expect_mapping(raw, file, "problem")
    shape = expect_mapping(
        require(problem, "shape", file, "problem", "'shape: {name, dimensions, data_spaces}' and 'instance: {...}'"),
        file,
        "problem.shape",
    )
    name = shape.get("name")
    name = expect_name(name, file, "problem.shape.name") if name is not None else "problem"
    dims_raw = expect_list(require(shape, "dimensions", file, "problem.shape", "a list of dimension names"), file, "problem.shape.dimensions")
    dimensions: list[str] = []
    for i, d in enumerate(dims_raw):
        d = expect_name(d, file, f"problem.shape.dimensions[{i}]")
        if d in dimensions:
            raise SpecError(f"dimension '{d}' is listed twice", where=at(file, f"problem.shape.dimensions[{i}]"), accepted="unique dimension names")
        dimensions.append(d)
    if not dimensions:
        raise SpecError("no dimensions", where=at(file, "problem.shape.dimensions"), accepted="a non-empty list of dimension names")

    coefficients: dict[str, int] = {}
    for i, c in enumerate(expect_list(shape.get("coefficients"), file, "problem.shape.coefficients")):
        cp = f"problem.shape.coefficients[{i}]"
        c = expect_mapping(c, file, cp, "a mapping {name, default}")
        cname = expect_name(require(c, "name", file, cp, "'name' and optional 'default'"), file, f"{cp}.name")
        coefficients[cname] = _integer(c.get("default", 1), variables, file, f"{cp}.default", positive=False)

    instance = expect_mapping(problem.get("instance"), file, "problem.instance")
    warnings: list[str] = []
    bounds: dict[str, int] = {}
    for d in dimensions:
        bounds[d] = _integer(instance[d], variables, file, f"problem.instance.{d}", positive=True) if d in instance else 1
    for key, value in instance.items():
        if key in dimensions:
            continue
        if key in coefficients:
            coefficients[key] = _integer(value, variables, file, f"problem.instance.{key}", positive=False)
        elif key != "densities":
            warnings.append(
                f"{at(file, f'problem.instance.{key}')}: '{key}' is neither a dimension ({', '.join(dimensions)}) "
                f"nor a coefficient ({', '.join(coefficients) or 'none'}); ignored"
            )

    data_spaces: list[DataSpace] = []
    for i, ds in enumerate(expect_list(require(shape, "data_spaces", file, "problem.shape", "a list of data spaces"), file, "problem.shape.data_spaces")):
        dp = f"problem.shape.data_spaces[{i}]"
        ds = expect_mapping(ds, file, dp, "a mapping {name, projection, read_write}")
        dsname = expect_name(require(ds, "name", file, dp, "'name', 'projection' and optional 'read_write'"), file, f"{dp}.name")
        if any(x.name == dsname for x in data_spaces):
            raise SpecError(f"data space '{dsname}' is defined twice", where=at(file, f"{dp}.name"), accepted="unique data space names")
        projection = _projection(require(ds, "projection", file, dp, "a projection list, e.g. [[[E]], [[L]]]"), dimensions, coefficients, file, f"{dp}.projection")
        rw = ds.get("read_write", False)
        if not isinstance(rw, bool):
            raise SpecError(f"read_write must be true or false, got {rw!r}", where=at(file, f"{dp}.read_write"), accepted="true or false")
        data_spaces.append(DataSpace(name=dsname, projection=projection, read_write=rw))
    if not data_spaces:
        raise SpecError("no data spaces", where=at(file, "problem.shape.data_spaces"), accepted="at least one data space")
    workload = Workload(name, tuple(dimensions), bounds, coefficients, tuple(data_spaces))
    check_workload_size(workload, at(file, "problem.instance"))
    return workload, warnings


def check_workload_size(workload: Workload, where: str) -> None:
    """Refuse a workload whose dimensions exceed :data:`MAX_DIMENSION` or multiply to more than
    :data:`MAX_OPERATIONS` (the model's 64-bit counts would overflow)."""
    for d, n in workload.bounds.items():
        if n > MAX_DIMENSION:
            raise SpecError(f"dimension {d} = {n} is too large", where=where,
                            accepted=f"dimension sizes up to {MAX_DIMENSION} (2**31)")
    total = math.prod(workload.bounds.values())
    if total > MAX_OPERATIONS:
        raise SpecError(f"the dimensions multiply to {total:.3g} operations", where=where,
                        accepted=f"at most {MAX_OPERATIONS:.3g} (2**53: counts stay exact in 64-bit integers and floats)")


#: Largest dimension size or coefficient (a 2**70 sequence length only overflows the model's counts).
MAX_DIMENSION = 2**31
#: Largest product of the dimension sizes (operations): counts must stay exact in int64 and float64.
MAX_OPERATIONS = 2**53


def _integer(value: Any, variables: Mapping[str, Any], file: str, path: str, positive: bool) -> int:
    where = at(file, path)
    number = as_number(evaluate(value, variables, where), where, path.rsplit(".", 1)[-1])
    if not isinstance(number, int):
        raise SpecError(f"expected an integer, got {number!r}", where=where, accepted="an integer (or an expression giving one)")
    if positive and number < 1:
        raise SpecError(f"dimension size must be positive, got {number}", where=where, accepted="an integer >= 1")
    if abs(number) > MAX_DIMENSION:
        raise SpecError(f"{number} is too large", where=where, accepted=f"integers up to {MAX_DIMENSION} (2**31)")
    return number


def _projection(
    raw: Any, dims: list[str], coefs: Mapping[str, int], file: str, path: str
) -> tuple[tuple[Term, ...], ...]:
    ranks = expect_list(raw, file, path, "a list of ranks")
    out = []
    for r, rank in enumerate(ranks):
        rp = f"{path}[{r}]"
        if isinstance(rank, str):
            terms = [t.split("*") for t in rank.split("+")]
        elif isinstance(rank, list):
            terms = [t if isinstance(t, list) else [t] for t in rank]
        else:
            raise SpecError(f"bad projection rank {rank!r}", where=at(file, rp), accepted="a dimension name, a list of terms like [[R, Wdilation], [L, Wstride]], or 'R*Wdilation + L*Wstride'")
        out.append(tuple(_term(t, dims, coefs, file, f"{rp}[{k}]") for k, t in enumerate(terms)))
    if not out:
        raise SpecError("empty projection", where=at(file, path), accepted="at least one rank")
    return tuple(out)


def _term(items: list, dims: list[str], coefs: Mapping[str, int], file: str, path: str) -> Term:
    names = [str(x).strip() for x in items]
    dim = [n for n in names if n in dims]
    coef = [n for n in names if n in coefs]
    unknown = [n for n in names if n not in dims and n not in coefs]
    if unknown:
        raise SpecError(
            f"projection names unknown dimension '{unknown[0]}'",
            where=at(file, path),
            accepted=f"dimensions {', '.join(dims)}" + (f"; coefficients {', '.join(coefs)}" if coefs else ""),
        )
    if len(dim) != 1 or len(names) > 2 or len(coef) > 1:
        raise SpecError(
            f"projection term {names} must be one dimension, optionally with one coefficient",
            where=at(file, path),
            accepted="[D] or [D, coefficient]",
        )
    return (dim[0], coef[0] if coef else None)
