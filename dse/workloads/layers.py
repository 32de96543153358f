"""Transformer block layers as Timeloop problems, with explicit multiplicities.

Dimension names follow the seed templates (``workloads/layers/*.yaml``):

* ``E`` — inner (reduction) dimension of the matmul,
* ``D`` — rows of the "Weights" operand and of the Outputs,
* ``L`` — columns of Inputs and Outputs (the sequence),
* ``N`` — batch (sequences sharing the weights), ``G`` — independent groups,
* ``R``, ``S``, ``Q`` — convolution leftovers, always 1.

One block of a transformer consists of:

=========  ===================  ==================  ==========  ==============
layer      E                    D                   L           per block
=========  ===================  ==================  ==========  ==============
KQV        embedding            3 * embedding       seq_len     1
KTQ        embedding // heads   seq_len             seq_len     heads
VScores    seq_len              embedding // heads  seq_len     heads
Out        embedding            embedding           seq_len     1
FF1        embedding            ff_dim              seq_len     1
FF2        ff_dim               embedding           seq_len     1
softmax    seq_len              2 (sweeps)          seq_len     heads
layernorm  embedding            3 (sweeps)          seq_len     2
=========  ===================  ==================  ==========  ==============

The batch multiplies ``N`` for the weight-bearing matmuls and point-wise ops, and ``G``
for KTQ / VScores, whose "Weights" (K, V) are activations that differ per sequence.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dse.files import write_atomic
from dse.errors import DseError
from dse.spec.types import DataSpace, Workload
from dse.workloads.catalog import WORKLOADS_DIR, TransformerModel, get_model

#: Layers of one block, in execution order.
LAYER_NAMES: tuple[str, ...] = ("KQV", "KTQ", "VScores", "Out", "FF1", "FF2", "softmax", "layernorm")
#: Matmul layers (multiply-accumulates); the others are point-wise "sweep" ops.
MATMUL_LAYERS: tuple[str, ...] = ("KQV", "KTQ", "VScores", "Out", "FF1", "FF2")
#: Layers executed once per attention head.
PER_HEAD_LAYERS: tuple[str, ...] = ("KTQ", "VScores", "softmax")
#: Sweeps over the score matrix of a softmax (exp + sum, divide); 3 with max subtraction.
SOFTMAX_SWEEPS: int = 2
#: Sweeps over the activations of a layernorm (mean, variance, normalize).
LAYERNORM_SWEEPS: int = 3
#: Layernorms per block (after attention and after the feed-forward network).
LAYERNORMS_PER_BLOCK: int = 2
#: Folder of the Timeloop problem templates.
LAYERS_DIR: Path = WORKLOADS_DIR / "layers"

_MATMUL_DIMS = ("E", "D", "R", "S", "N", "L", "Q", "G")
_POINTWISE_DIMS = ("L", "E", "D", "N")
_MATMUL_COEFFICIENTS = {"Wstride": 1, "Hstride": 1, "Wdilation": 1, "Hdilation": 1}
_SHAPE_NAMES = {name: f"{name}_matmul_encoder" for name in MATMUL_LAYERS} | {
    "softmax": "SM_matmul_encoder",
    "layernorm": "LN_matmul_encoder",
}


def _rank(*terms: str | tuple[str, str]) -> tuple[tuple[str, str | None], ...]:
    return tuple((t, None) if isinstance(t, str) else t for t in terms)


_MATMUL_DATA_SPACES = (
    DataSpace("Weights", (_rank("E"), _rank("D"), _rank("R"), _rank("S"), _rank("G"))),
    DataSpace(
        "Inputs",
        (
            _rank("N"),
            _rank("E"),
            _rank(("R", "Wdilation"), ("L", "Wstride")),
            _rank(("S", "Hdilation"), ("Q", "Hstride")),
            _rank("G"),
        ),
    ),
    DataSpace("Outputs", (_rank("N"), _rank("D"), _rank("Q"), _rank("L"), _rank("G")), read_write=True),
)
_POINTWISE_DATA_SPACES = (
    DataSpace("Weights", (_rank("D"),)),
    DataSpace("Inputs", (_rank("N"), _rank("E"), _rank("L"))),
    DataSpace("Outputs", (_rank("N"), _rank("E"), _rank("L")), read_write=True),
)


class LayerCounts:
    """Operation counts shared by a layer problem of an encoder run and of a decoder phase.

    Needs ``model``, ``layer``, ``workload`` and ``multiplicity_per_block`` on the class.
    """

    model: TransformerModel
    layer: str
    workload: Workload
    multiplicity_per_block: int

    @property
    def blocks(self) -> int:
        """Transformer blocks of the model."""
        return self.model.blocks

    @property
    def is_matmul(self) -> bool:
        """True for the six matmuls, False for the point-wise softmax / layernorm."""
        return self.layer in MATMUL_LAYERS

    @property
    def instances_per_model(self) -> int:
        """How many times ``workload`` runs in the whole model."""
        return self.multiplicity_per_block * self.blocks

    @property
    def macs_per_instance(self) -> int:
        """Operations of one run of ``workload`` (product of its bounds)."""
        return self.workload.macs

    @property
    def macs_per_block(self) -> int:
        """Operations of this layer in one block (all heads / all occurrences)."""
        return self.macs_per_instance * self.multiplicity_per_block

    @property
    def macs_per_model(self) -> int:
        """Operations of this layer over all blocks of the model."""
        return self.macs_per_block * self.blocks


@dataclass(frozen=True)
class LayerProblem(LayerCounts):
    """One layer of a model as a Timeloop problem, with how often it runs.

    ``workload`` is one instance (for per-head layers: one head); it runs
    ``multiplicity_per_block`` times per block and the model has ``blocks`` blocks.
    For point-wise layers (softmax, layernorm) "MACs" are element operations: one
    per element per sweep, exactly what the problem's bounds multiply to.
    """

    model: TransformerModel
    layer: str
    seq_len: int
    batch: int
    workload: Workload
    multiplicity_per_block: int

    def bound(self, dim: str) -> int:
        """Size of problem dimension ``dim`` (``E``, ``D``, ``L``, ``N``...)."""
        return self.workload.bounds[dim]

    @property
    def template_path(self) -> Path:
        """The variable-based YAML template this problem instantiates."""
        return LAYERS_DIR / f"{self.layer}_layer.yaml"


def layer_names() -> list[str]:
    """Names of the layers of one block, in execution order."""
    return list(LAYER_NAMES)


def _canonical_layer(layer: str) -> str:
    wanted = str(layer).strip().lower()
    for name in LAYER_NAMES:
        if name.lower() == wanted:
            return name
    raise DseError(f"unknown layer {layer!r}", where="layer", accepted=", ".join(LAYER_NAMES))


def _check_positive(value: Any, argument: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DseError(f"{argument} must be a positive integer, got {value!r}", where=argument,
                       accepted="an integer >= 1")
    return value


def layer_variables(model: str | TransformerModel, seq_len: int, batch: int = 1) -> dict[str, int]:
    """Values of the variables the layer templates use.

    Includes the gemmini-style names (``EMBEDDING_HEADS``, ``EMBEDDING_3``) and the
    PIM/AIMC-style names (``EMBEDDING//HEADS``, ``EMBEDDING*3``), plus ``BATCH``.
    """
    m = get_model(model)
    seq_len = _check_positive(seq_len, "seq_len")
    batch = _check_positive(batch, "batch")
    return {
        "EMBEDDING": m.embedding,
        "SEQ_LENGTH": seq_len,
        "HEADS": m.heads,
        "FF_DIM": m.ff_dim,
        "EMBEDDING_HEADS": m.head_dim,
        "EMBEDDING_3": 3 * m.embedding,
        "EMBEDDING//HEADS": m.head_dim,
        "EMBEDDING*3": 3 * m.embedding,
        "BATCH": batch,
    }


def _matmul(name: str, e: int, d: int, l: int, n: int, g: int) -> Workload:
    bounds = {"E": e, "D": d, "R": 1, "S": 1, "N": n, "L": l, "Q": 1, "G": g}
    return Workload(_SHAPE_NAMES[name], _MATMUL_DIMS, bounds, dict(_MATMUL_COEFFICIENTS), _MATMUL_DATA_SPACES)


def _pointwise(name: str, e: int, sweeps: int, l: int, n: int) -> Workload:
    bounds = {"L": l, "E": e, "D": sweeps, "N": n}
    return Workload(_SHAPE_NAMES[name], _POINTWISE_DIMS, bounds, {}, _POINTWISE_DATA_SPACES)


def make_layer(model: str | TransformerModel, layer: str, seq_len: int, batch: int = 1) -> LayerProblem:
    """The problem of ``layer`` (case-insensitive) for ``model`` at ``seq_len`` and ``batch``.

    Raises :class:`DseError` for an unknown model or layer and for a non-positive
    ``seq_len`` / ``batch``.
    """
    m = get_model(model)
    name = _canonical_layer(layer)
    s = _check_positive(seq_len, "seq_len")
    b = _check_positive(batch, "batch")
    emb, dh, ff = m.embedding, m.head_dim, m.ff_dim
    if name == "KQV":
        wl = _matmul(name, e=emb, d=3 * emb, l=s, n=b, g=1)
    elif name == "KTQ":
        wl = _matmul(name, e=dh, d=s, l=s, n=1, g=b)
    elif name == "VScores":
        wl = _matmul(name, e=s, d=dh, l=s, n=1, g=b)
    elif name == "Out":
        wl = _matmul(name, e=emb, d=emb, l=s, n=b, g=1)
    elif name == "FF1":
        wl = _matmul(name, e=emb, d=ff, l=s, n=b, g=1)
    elif name == "FF2":
        wl = _matmul(name, e=ff, d=emb, l=s, n=b, g=1)
    elif name == "softmax":
        wl = _pointwise(name, e=s, sweeps=SOFTMAX_SWEEPS, l=s, n=b)
    else:  # layernorm
        wl = _pointwise(name, e=emb, sweeps=LAYERNORM_SWEEPS, l=s, n=b)
    return LayerProblem(model=m, layer=name, seq_len=s, batch=b, workload=wl,
                        multiplicity_per_block=multiplicity_per_block(m, name))


def multiplicity_per_block(model: TransformerModel, layer: str) -> int:
    """How many times one instance of ``layer`` runs in a block: once per head for the
    per-head layers, twice for layernorm, once otherwise."""
    if layer in PER_HEAD_LAYERS:
        return model.heads
    if layer == "layernorm":
        return LAYERNORMS_PER_BLOCK
    return 1


def model_layers(model: str | TransformerModel, seq_len: int, batch: int = 1) -> list[LayerProblem]:
    """All layers of one block of ``model``, in execution order."""
    m = get_model(model)
    return [make_layer(m, name, seq_len, batch) for name in LAYER_NAMES]


def problem_document(layer_problem: LayerProblem) -> dict[str, Any]:
    """The Timeloop v0.4 ``problem:`` document of ``layer_problem`` with numeric instance values."""
    wl = layer_problem.workload
    instance: dict[str, int] = {d: int(wl.bounds[d]) for d in wl.dimensions}
    instance.update({c: int(v) for c, v in wl.coefficients.items()})
    shape: dict[str, Any] = {"name": wl.name}
    if wl.coefficients:
        shape["coefficients"] = [{"name": c, "default": 1} for c in wl.coefficients]
    data_spaces = []
    for ds in wl.data_spaces:
        entry: dict[str, Any] = {
            "name": ds.name,
            "projection": [[[d] if c is None else [d, c] for d, c in rank] for rank in ds.projection],
        }
        if ds.read_write:
            entry["read_write"] = True
        data_spaces.append(entry)
    shape["data_spaces"] = data_spaces
    shape["dimensions"] = list(wl.dimensions)
    return {"problem": {"version": 0.4, "instance": instance, "shape": shape}}


def write_problem_yaml(layer_problem: LayerProblem, path: str | Path) -> Path:
    """Write ``layer_problem`` as a Timeloop v0.4 problem YAML (atomically); return the path."""
    lp = layer_problem
    target = Path(path)
    header = (
        f"# {lp.layer} layer of {lp.model.name}: seq_len {lp.seq_len}, batch {lp.batch}.\n"
        f"# One instance; runs {lp.multiplicity_per_block} time(s) per block x {lp.blocks} blocks "
        f"= {lp.instances_per_model} per model.\n"
        f"# Operations per instance {lp.macs_per_instance}, per model {lp.macs_per_model}.\n"
    )
    text = header + yaml.safe_dump(problem_document(lp), sort_keys=False, default_flow_style=None)
    return write_atomic(target, text)
