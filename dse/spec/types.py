"""Typed, immutable objects a loaded specification is made of.

This module is the contract between ``dse.spec`` (which builds these objects from
Timeloop v0.3 / v0.4 YAML) and every later stage (energy, model, mapper, hwdse).
Numbers carry their unit in the name; word counts are in words of the level's
``word_bits``.

Architecture levels are kept in a single tuple ``Architecture.nodes`` ordered
outermost first (DRAM) to innermost last (the compute unit).  Between two
storage levels there may be zero or more :class:`SpatialLevel` fan-outs (a v0.4
``!Container`` with ``spatial: {meshX, meshY}``, or an implicit fan-out inserted
where a v0.3 instance count grows without a container).
"""
from __future__ import annotations

import re

from dataclasses import dataclass, field
from math import prod
from typing import Any, Mapping, Union


#: timeloopfe's name for the dummy buffer level it places for a spatial container ``C``
DUMMY_NAME = re.compile(r"^inter_(.+)_spatial$")
DUMMY_CLASS = "dummy_storage"


# --------------------------------------------------------------------------- workload
@dataclass(frozen=True)
class DataSpace:
    """A tensor of the problem.

    ``projection`` has one entry per tensor rank; each rank is a sum of terms
    ``(dimension, coefficient_name_or_None)`` — e.g. the Timeloop projection
    ``[[R, Wdilation], [L, Wstride]]`` becomes ``(("R", "Wdilation"), ("L", "Wstride"))``.
    """

    name: str
    projection: tuple[tuple[tuple[str, str | None], ...], ...]
    read_write: bool = False

    @property
    def dims(self) -> frozenset[str]:
        """Problem dimensions this data space depends on (its *relevant* dimensions)."""
        return frozenset(d for rank in self.projection for d, _ in rank)


@dataclass(frozen=True)
class Workload:
    """One problem instance (a Timeloop ``problem:`` with ``shape`` and ``instance``)."""

    name: str
    dimensions: tuple[str, ...]
    bounds: Mapping[str, int]
    coefficients: Mapping[str, int]
    data_spaces: tuple[DataSpace, ...]

    @property
    def macs(self) -> int:
        """Number of operations (multiply-accumulates for a GEMM) = product of all bounds."""
        return prod(self.bounds[d] for d in self.dimensions)

    def data_space(self, name: str) -> DataSpace:
        for ds in self.data_spaces:
            if ds.name == name:
                return ds
        raise KeyError(name)

    def data_space_size(self, name: str) -> int:
        """Number of distinct elements of a data space (sliding-window aware)."""
        ds = self.data_space(name)
        size = 1
        for rank in ds.projection:
            size *= sum((self.bounds[d] - 1) * (self.coefficients.get(c, 1) if c else 1) for d, c in rank) + 1
        return size


# --------------------------------------------------------------------------- architecture
@dataclass(frozen=True)
class StorageLevel:
    """A buffer level (DRAM, SRAM, register file...).

    ``attributes`` are the evaluated attributes, including those inherited from
    enclosing containers (e.g. ``technology``) — the energy estimator reads them.
    ``instances`` is the total number of instances in the system; ``mesh_x`` and
    ``mesh_y`` their arrangement (``instances == mesh_x * mesh_y``).
    ``size_words`` is ``None`` for an unbounded level (DRAM).
    Bandwidths are in words/cycle per instance; ``None`` means unlimited.
    """

    name: str
    component_class: str
    attributes: Mapping[str, Any]
    instances: int
    mesh_x: int
    mesh_y: int
    size_words: int | None
    word_bits: int
    block_size: int = 1
    read_bandwidth: float | None = None
    write_bandwidth: float | None = None
    shared_bandwidth: float | None = None
    multiple_buffering: float = 1.0
    min_utilization: float = 0.0
    subclass: str | None = None  # Accelergy class when the YAML gives ``subclass`` (energy uses it over component_class)
    #: instances sharing one wide physical array (Timeloop ``cluster_size``; width = block x word bits x cluster)
    cluster_size: int = 1
    #: Timeloop's user overrides: ``vector_access_energy`` (the ERT is then ignored for this level: read, fill
    #: and update cost this per vector access, every other action 0), ``addr_gen_energy`` (per address
    #: generation, charged per utilized cluster) and ``cluster_area`` (area of a cluster of instances)
    vector_access_energy_pj: float | None = None
    addr_gen_energy_pj: float | None = None
    cluster_area_um2: float | None = None

    kind = "storage"

    # Network wiring, typed (Timeloop storage attributes; the loader validated them).
    @property
    def network_read(self) -> str | None:
        """Name of the network component that carries this level's reads to its inner neighbour."""
        return _name_attribute(self.attributes, "network_read")

    @property
    def network_update(self) -> str | None:
        """Name of the network component that carries updates from the inner neighbour."""
        return _name_attribute(self.attributes, "network_update")

    @property
    def network_fill_latency(self) -> int:
        """Cycles added to the run for filling through the level's (implicit) read network."""
        return _int_attribute(self.attributes, "network_fill_latency")

    @property
    def network_drain_latency(self) -> int:
        return _int_attribute(self.attributes, "network_drain_latency")


@dataclass(frozen=True)
class SpatialLevel:
    """A fan-out: each parent instance feeds ``fanout_x * fanout_y`` children."""

    name: str
    fanout_x: int
    fanout_y: int
    implicit: bool = False  # True when inserted for a v0.3 instance-count change
    # timeloopfe's stand-in for a spatial container: a level ``inter_<C>_spatial`` of class ``dummy_storage``
    # (Timeloop sees a buffer that bypasses everything; dse reads it as this fan-out, named as in the file)
    dummy: bool = False

    kind = "spatial"

    @property
    def container(self) -> str:
        """The container a timeloopfe dummy level stands for (``PECols`` for ``inter_PECols_spatial``)."""
        m = DUMMY_NAME.match(self.name) if self.dummy else None
        return m.group(1) if m else self.name

    @property
    def fanout(self) -> int:
        return self.fanout_x * self.fanout_y


@dataclass(frozen=True)
class ComputeLevel:
    """The arithmetic unit (innermost level)."""

    name: str
    component_class: str
    attributes: Mapping[str, Any]
    instances: int
    mesh_x: int
    mesh_y: int
    subclass: str | None = None  # Accelergy class when the YAML gives ``subclass``

    kind = "compute"

    @property
    def word_bits(self) -> int:
        """Operand width as Timeloop reads it (``word_bits`` or ``datawidth``, default 16)."""
        for key in ("word_bits", "datawidth"):
            v = self.attributes.get(key)
            if isinstance(v, (int, float)) and v >= 1:
                return int(v)
        return 16


@dataclass(frozen=True)
class NetworkComponent:
    """A network component (class ``SimpleMulticast``, ``Legacy``, ``XY_NoC``, ``ReductionTree``).

    Networks are not levels of ``Architecture.nodes``; storage levels name them in
    their ``network_read`` / ``network_fill`` / ``network_update`` / ``network_drain``
    attributes.  ``attributes`` are evaluated and include inherited ones.
    """

    name: str
    component_class: str
    attributes: Mapping[str, Any]
    instances: int
    subclass: str | None = None

    @property
    def fill_latency(self) -> int:
        return _int_attribute(self.attributes, "fill_latency")

    # Timeloop Legacy network energies (attributes; Timeloop reads no ERT for this class)
    @property
    def word_bits(self) -> int:
        for key in ("network_word_bits", "word_bits", "word_width", "datawidth"):
            if isinstance(self.attributes.get(key), (int, float)):
                return int(self.attributes[key])
        return 16

    @property
    def router_energy_pj(self) -> float:
        return _float_attribute(self.attributes, "router_energy")

    @property
    def ingress_energy_pj(self) -> float:
        return _float_attribute(self.attributes, "energy-per-ingress")

    @property
    def energy_per_hop_pj(self) -> float:
        """``energy_per_hop``, else word bits x ``tile_width`` (um) / 1000 x ``wire_energy`` (pJ/b/mm)."""
        if self.attributes.get("energy_per_hop") is not None:
            return _float_attribute(self.attributes, "energy_per_hop")
        return self.word_bits * _float_attribute(self.attributes, "tile_width") / 1000 * \
            _float_attribute(self.attributes, "wire_energy")

    @property
    def drain_latency(self) -> int:
        return _int_attribute(self.attributes, "drain_latency")


def _name_attribute(attributes: Mapping[str, Any], key: str) -> str | None:
    v = attributes.get(key)
    return None if v is None or v == "" else str(v)


def _float_attribute(attributes: Mapping[str, Any], key: str) -> float:
    return float(attributes.get(key, 0) or 0)


def _int_attribute(attributes: Mapping[str, Any], key: str) -> int:
    return int(attributes.get(key, 0) or 0)


ArchNode = Union[StorageLevel, SpatialLevel, ComputeLevel]


@dataclass(frozen=True)
class ParallelBranch:
    """One branch of a v0.4 ``!Parallel`` node: the components in it (any depth) and the ``keep``
    lists of its ``!Nothing`` placeholders (timeloopfe's way to let a data space skip every branch)."""

    components: tuple[str, ...]
    nothing_keeps: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParallelGroup:
    """A v0.4 ``!Parallel`` node.  timeloopfe gives every component of a branch an implied ``bypass``
    of the data spaces no component of that branch keeps; each data space must be kept by exactly one
    branch.  ``parent`` is (group index, branch index) of an enclosing ``!Parallel`` branch, if any."""

    branches: tuple[ParallelBranch, ...]
    source: str
    parent: tuple[int, int] | None = None


@dataclass(frozen=True)
class Architecture:
    """A flattened architecture, outermost node first, compute last."""

    name: str
    nodes: tuple[ArchNode, ...]
    attributes: Mapping[str, Any] = field(default_factory=dict)  # top-level / system attributes
    networks: tuple[NetworkComponent, ...] = ()  # network components, in file order
    parallel: tuple[ParallelGroup, ...] = ()  # v0.4 !Parallel nodes, outermost first

    @property
    def storage_levels(self) -> tuple[StorageLevel, ...]:
        """Storage levels, outermost first."""
        return tuple(n for n in self.nodes if isinstance(n, StorageLevel))

    @property
    def spatial_levels(self) -> tuple[SpatialLevel, ...]:
        return tuple(n for n in self.nodes if isinstance(n, SpatialLevel))

    @property
    def compute(self) -> ComputeLevel:
        last = self.nodes[-1]
        assert isinstance(last, ComputeLevel)
        return last

    def node(self, name: str) -> ArchNode:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    @property
    def node_names(self) -> tuple[str, ...]:
        return tuple(n.name for n in self.nodes)


# --------------------------------------------------------------------------- constraints
@dataclass(frozen=True)
class FactorConstraint:
    """``D=4``, ``E<=8``, ``L>=2``; ``op`` is one of ``=``, ``<=``, ``>=``.

    ``D=0`` (``op='='``, ``value=0``) means "all of what remains of D".
    """

    dim: str
    op: str
    value: int


@dataclass(frozen=True)
class Constraint:
    """One Timeloop constraint target.

    ``type`` is ``temporal``, ``spatial``, ``dataspace`` (keep/bypass),
    ``utilization`` (``min_utilization``) or ``max_overbooked_proportion``.
    ``source`` names where it came from (``file: key.path``) for error messages.
    A v0.3-style ``spatial`` constraint on a storage level has already been
    re-targeted by the loader to the first :class:`SpatialLevel` below that level.
    """

    target: str
    type: str
    factors: tuple[FactorConstraint, ...] = ()
    permutation: tuple[str, ...] | None = None
    split: int | None = None
    keep: tuple[str, ...] | None = None
    bypass: tuple[str, ...] | None = None
    min_utilization: float | None = None
    max_overbooked_proportion: float | None = None
    maximize_dims: tuple[tuple[str, ...], ...] | None = None
    source: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)  # other accepted keys (maximize_dims_capacity, no_coalesce...)


# --------------------------------------------------------------------------- mapper options
@dataclass(frozen=True)
class MapperOptions:
    """The ``mapper:`` section.  ``algorithm='dse'`` is our own default search."""

    algorithm: str = "dse"
    optimization_metrics: tuple[str, ...] = ("edp",)
    num_threads: int = 1
    victory_condition: int | None = None
    timeout: int | None = None
    search_size: int | None = None
    live_status: bool = False
    seed: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)  # other keys, kept verbatim


# --------------------------------------------------------------------------- whole spec
@dataclass(frozen=True)
class Spec:
    """Everything loaded from a set of YAML files.

    ``components`` maps a compound-component class name to its raw (unevaluated)
    YAML definition; ``dse.energy`` interprets it.
    ``mapspace_template`` is ``uber`` (perfect factorization) or ``ruby`` (imperfect).
    """

    architecture: Architecture | None
    workload: Workload | None
    constraints: tuple[Constraint, ...] = ()
    mapper: MapperOptions = field(default_factory=MapperOptions)
    variables: Mapping[str, Any] = field(default_factory=dict)
    components: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    mapspace_template: str = "uber"
    sources: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()  # things the loader accepted but the user should know (ignored keys, re-targeted constraints)
