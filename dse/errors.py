"""User-facing errors.

Every error caused by bad input is a :class:`DseError`: it names *what* was wrong,
*where* (file, key path or CLI argument) and *what would be accepted*.  The CLI turns
it into a one-paragraph message and exit code 2, never a traceback.
"""
from __future__ import annotations


class DseError(Exception):
    """An error in the user's input (files, arguments, mappings).

    ``where`` is a file path and/or key path such as ``arch.yaml: architecture.nodes[3].attributes.depth``;
    ``accepted`` says what would be accepted.
    """

    exit_code = 2

    def __init__(self, message: str, where: str | None = None, accepted: str | None = None):
        self.message = message
        self.where = where
        self.accepted = accepted
        super().__init__(self.format())

    def format(self) -> str:
        text = self.message.rstrip(".")
        if self.where:
            text = f"{self.where}: {text}"
        text += "."
        if self.accepted:
            text += f" Accepted: {self.accepted.rstrip('.')}."
        return text


class SpecError(DseError):
    """Malformed or inconsistent specification YAML."""


class UnsatisfiableConstraintError(SpecError):
    """A constraint no mapping of this workload can meet (e.g. a factor that does not divide
    the dimension under perfect factorization).  Bad input for one run; in a sweep it makes
    that configuration infeasible instead of stopping everything."""


class MappingError(DseError):
    """A mapping that is inconsistent with the workload or architecture."""


class EstimationError(DseError):
    """An energy/area estimation failure (missing table row, unknown class)."""


class OutOfRangeError(EstimationError):
    """An attribute outside the range a component model (or its shipped table) covers: the message
    names the component, the attribute, the range and the nearest valid value."""


class NoValidMappingError(DseError):
    """The map-space (after constraints) holds no mapping that fits."""

    exit_code = 3


class ResultGuardError(DseError):
    """A NaN, infinite or negative energy, cycle count or access count in a model result.

    Input validation should make this impossible: it is a bug report (naming the level
    and quantity), raised before anything is written, never a silent number.
    """

    exit_code = 4
