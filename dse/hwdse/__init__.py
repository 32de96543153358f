"""Hardware design-space sweeps: configs x layers, aggregation, resumable results, views.

Modules (one direction): ``configs`` (load, mix-up, validate) -> ``plan`` (which
architecture runs which layer, the jobs) -> ``execution`` (local process pool or a Dask
cluster, running ``worker.execute``) -> ``store`` (the results folder) ->
``aggregate`` (per-config totals) -> ``view`` / ``plot``.  ``sweep`` ties them together
for ``hwdse_run.py``.
"""
