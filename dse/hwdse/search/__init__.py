"""Hardware search with Optuna (``hwdse_run.py LAYERS --search tpe|nsga2|random|grid --trials N``).

``space`` (the knob space: knobs.yaml ``search_space`` or ``--space``) -> ``samplers`` (the
registry of Optuna samplers) -> ``study`` (``OUT/study.db``, checked before use) -> ``runner``
(ask configs, run their layer jobs with the sweep's executors, tell the totals).
"""
