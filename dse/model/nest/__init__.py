"""Timeloop-faithful analytical cost model, vectorized over a batch of mappings.

The semantics follow Timeloop's uber map-space nest analysis (legacy access counting,
first-read elision on, perfect and imperfect factorization).  The modules follow the
analysis' phases; :class:`~dse.model.nest.counts.AccessCounts` is the contract between
counting and costing:

* :mod:`.context` -- what is the same for every mapping (:func:`make_context`);
* :mod:`.batch` -- mappings as arrays (:class:`MappingBatch`);
* :mod:`.tiles` -- tile sizes (the one projection, also used by the mapper), spatial products;
* :mod:`.counts` -- reads/fills/updates of perfect batches and the rules both paths share;
  :mod:`.imperfect` -- batches with residual loops;
* :mod:`.networks` -- explicit network transfers and energy;
* :mod:`.costs` -- validity, cycles, energy;
* :mod:`.result` -- :class:`BatchResult`, :class:`ModelResult` and its per-level stats;
* :mod:`.analysis` -- :func:`evaluate_batch`, :func:`evaluate`.

All counts are computed for every mapping of a batch at once with numpy.
"""
from dse.model.nest.analysis import access_counts, evaluate, evaluate_batch
from dse.model.nest.batch import MappingBatch, batch_from_mappings
from dse.model.nest.context import ModelContext, NetworkConnection, make_context
from dse.model.nest.counts import AccessCounts
from dse.model.nest.result import (BatchResult, DataSpaceStats, LevelStats, ModelResult, NetworkDataSpaceStats,
                                   NetworkStats, result_at)
from dse.model.nest.tiles import tile_sizes

__all__ = [
    "ModelContext", "make_context", "MappingBatch", "batch_from_mappings", "BatchResult", "evaluate_batch",
    "ModelResult", "LevelStats", "DataSpaceStats", "NetworkStats", "NetworkDataSpaceStats", "NetworkConnection",
    "evaluate", "result_at", "AccessCounts", "access_counts", "tile_sizes",
]
