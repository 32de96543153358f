"""The samplers ``--search`` accepts: a small registry of Optuna sampler factories.

A sampler is made afresh for every trial with the seed ``seed + trial number``, so the
trials a seed gives do not depend on when the search was interrupted and resumed (a
sampler's random state is not kept in the study database).
"""
from __future__ import annotations

import enum
import warnings
from typing import Any

from dse.hwdse.search.space import SearchSpace


class SearchKind(enum.Enum):
    TPE = "tpe"
    NSGA2 = "nsga2"
    RANDOM = "random"
    GRID = "grid"


def make_sampler(kind: SearchKind, space: SearchSpace, seed: int, trial_number: int, n_objectives: int) -> Any:
    """The Optuna sampler that draws trial ``trial_number``."""
    import optuna

    s = seed * 1_000_003 + trial_number  # distinct per (seed, trial); the same after a resume
    if kind is SearchKind.RANDOM:
        return optuna.samplers.RandomSampler(seed=s)
    if kind is SearchKind.GRID:
        return _Grid(space.grid("--search grid"), seed=seed)  # one shuffled order of the grid per seed
    if kind is SearchKind.NSGA2:
        return optuna.samplers.NSGAIISampler(seed=s, population_size=_population(space))
    with warnings.catch_warnings():  # multivariate TPE is "experimental" in Optuna; it models knob interactions
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=s, multivariate=True, n_startup_trials=min(10, _startup(space)))


def _startup(space: SearchSpace) -> int:
    """Random trials before TPE models the space: at least one per searched knob, 10 at most."""
    return max(4, sum(1 for p in space.params if p.values() is None or len(p.values() or []) > 1))


def _population(space: SearchSpace) -> int:
    """NSGA-II generation size: Optuna's 50, smaller for small spaces (a generation should not be the space)."""
    size = space.size()
    return int(max(8, min(50, size // 8))) if size != float("inf") else 50


def _grid_class() -> type:
    import optuna

    class Grid(optuna.samplers.GridSampler):
        """Optuna's grid sampler without its ``study.stop()`` (ask/tell has no loop to stop; the search
        ends when every grid point was evaluated)."""

        def after_trial(self, study, trial, state, values) -> None:  # noqa: D102 - see the class docstring
            return None

    return Grid


def _Grid(search_space: dict, seed: int) -> Any:
    return _grid_class()(search_space, seed=seed)
