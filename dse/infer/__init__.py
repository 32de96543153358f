"""LLM inference on one accelerator: causal prefill, then KV-cached decode steps.

>>> from dse.infer import infer
>>> steps = infer("gpt2", prompt=64, generate=4, batch=1)      # doctest: +SKIP
>>> steps[["phase", "context", "cycles", "energy_pj"]]          # doctest: +SKIP

Placed after the mapper and model in the one-way flow: it builds the decoder problems
(``dse.workloads``), maps each distinct shape once (``dse.mapper``) and combines the
costs per step.  ``simulate`` returns the per-step and per-layer tables and a summary.
"""
from dse.infer.costs import LayerCost, Target
from dse.infer.engine import DEFAULT_TOLERANCE, Inference, InferRequest, Summary, infer, simulate

__all__ = ["DEFAULT_TOLERANCE", "Inference", "InferRequest", "LayerCost", "Summary", "Target", "infer", "simulate"]
