"""Transformer workloads: the model catalog and the layer -> Timeloop problem generator.

>>> from dse.workloads import make_layer
>>> make_layer("bert-large", "KQV", seq_len=4096).macs_per_instance
12884901888
"""
from dse.workloads.catalog import (
    DEFAULT_CATALOG,
    WORKLOADS_DIR,
    TransformerModel,
    get_model,
    list_models,
    load_catalog,
)
from dse.workloads.layers import (
    LAYER_NAMES,
    LAYERNORM_SWEEPS,
    LAYERNORMS_PER_BLOCK,
    LAYERS_DIR,
    MATMUL_LAYERS,
    PER_HEAD_LAYERS,
    SOFTMAX_SWEEPS,
    LayerProblem,
    layer_names,
    layer_variables,
    make_layer,
    model_layers,
    problem_document,
    write_problem_yaml,
)

__all__ = [
    "DEFAULT_CATALOG",
    "WORKLOADS_DIR",
    "LAYERS_DIR",
    "LAYER_NAMES",
    "MATMUL_LAYERS",
    "PER_HEAD_LAYERS",
    "SOFTMAX_SWEEPS",
    "LAYERNORM_SWEEPS",
    "LAYERNORMS_PER_BLOCK",
    "TransformerModel",
    "LayerProblem",
    "get_model",
    "list_models",
    "load_catalog",
    "layer_names",
    "layer_variables",
    "make_layer",
    "model_layers",
    "problem_document",
    "write_problem_yaml",
]
