"""The trust region (TuRBO, Eriksson et al. 2019): a box around the best run, replayed.

The box's side is not stored anywhere: it is replayed from the campaign's own
model-proposed batches (a streak of successes doubles it, a streak of failures
halves it), so the same runs always give the same box. Categorical choices
are not local: the box always spans all of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recipeopt.space import Space
from recipeopt.strategy.config import DESIGN_METHODS, MODEL_METHODS


@dataclass(frozen=True)
class TrustRegionConfig:
    """TuRBO's schedule for the trust-region side length (on the unit cube).

    ``failure_tolerance`` is how many batches in a row without improvement halve
    the side; None is TuRBO's ``ceil(max(4 / q, d / q))``. The first ``warmup_batches``
    batches of the schedule keep TuRBO's tolerance whatever ``failure_tolerance`` says.
    """

    length_init: float = 0.8
    length_min: float = 0.5**7
    length_max: float = 1.6
    success_tolerance: int = 3
    failure_tolerance: int | None = None
    warmup_batches: int = 0
    improvement: float = 1e-3


def trust_region_length(
    batch_bests: Sequence[float], incumbent: float, *, dim: int, q: int, config: TrustRegionConfig
) -> float:
    """Replay TuRBO's side-length schedule over the model-proposed batches so far.

    Args:
        batch_bests: Best objective of each model-proposed batch, in order
            (``-inf`` for a batch with no complete run).
        incumbent: Best objective before the first of those batches.
        dim: Number of parameters.
        q: Batch size.
        config: The schedule.

    Returns:
        The side length for the next batch.
    """
    turbo_tolerance = math.ceil(max(4.0 / q, dim / q))
    length, successes, failures = config.length_init, 0, 0
    for i, best in enumerate(batch_bests):
        failure_tolerance = (
            config.failure_tolerance
            if config.failure_tolerance and i >= config.warmup_batches
            else turbo_tolerance
        )
        if best > incumbent + config.improvement * max(1.0, abs(incumbent)):
            successes, failures = successes + 1, 0
        else:
            successes, failures = 0, failures + 1
        incumbent = max(incumbent, best)
        if successes == config.success_tolerance:
            length, successes = min(2.0 * length, config.length_max), 0
        elif failures >= failure_tolerance:
            length, failures = length / 2.0, 0
        if length < config.length_min:
            length = config.length_init  # restart, as TuRBO does
    return length


def trust_region_bounds(center: np.ndarray, length: float) -> np.ndarray:
    """Return the ``2 x d`` box of side ``length`` around ``center``, clipped to the cube."""
    lower = np.clip(center - length / 2.0, 0.0, 1.0)
    upper = np.clip(center + length / 2.0, 0.0, 1.0)
    return np.stack([lower, upper])


@dataclass(frozen=True)
class Box:
    """A trust region for the next batch.

    Attributes:
        bounds: ``2 x d`` box on the unit cube (categorical dimensions span all choices).
        center: Run id of the best run it is centred on.
        side: Side length on the unit cube.
    """

    bounds: np.ndarray
    center: str
    side: float


def search_box(
    space: Space,
    runs: pd.DataFrame,
    complete: pd.DataFrame,
    scores_of: Callable[[pd.DataFrame], np.ndarray],
    *,
    q: int,
    patience: int | None,
    patience_runs: int,
) -> Box | None:
    """Return the trust region around the best complete run, or None if it is unusable.

    Args:
        space: The space (with any pinned values of this batch).
        runs: Every run, oldest first.
        complete: The runs the model learns from (complete, none excluded).
        scores_of: Weighted objective of the usable complete runs of a table (NaN if infeasible).
        q: Batch size.
        patience: Failed batches that halve the box (None: TuRBO's), from ``patience_runs``
            complete runs on.
        patience_runs: See ``patience``.
    """
    scores = scores_of(runs)
    if not np.isfinite(scores).any():
        return None  # nothing feasible yet: search globally
    best = int(np.nanargmax(scores))
    center_values = space.values(complete.iloc[[best]])
    if not space.feasible(center_values).all():
        return None
    # The schedule starts after the last design batch (as TuRBO's does after its design),
    # so a prior batch the guard rejected, and the design after it, do not count.
    designed = runs.index[runs["method"].isin(DESIGN_METHODS)]
    since = runs.loc[designed[-1] + 1 :] if len(designed) else runs
    model_batches = since[since["method"].isin(MODEL_METHODS)]["batch_id"].unique().tolist()
    first = runs.index[runs["batch_id"] == model_batches[0]][0] if model_batches else len(runs)
    before = scores_of(runs.loc[: first - 1]) if first else np.array([])
    incumbent = float(np.nanmax(before)) if np.isfinite(before).any() else -np.inf
    bests, warmup = [], 0
    usable = pd.Series(runs.index.isin(complete.index), index=runs.index)
    complete_before = usable.cumsum().shift(fill_value=0)
    for batch_id in model_batches:
        rows = runs["batch_id"] == batch_id
        batch_scores = scores_of(runs[rows])
        bests.append(float(np.nanmax(batch_scores)) if np.isfinite(batch_scores).any() else -np.inf)
        warmup += int(complete_before[rows].iloc[0] < patience_runs)
    length = trust_region_length(
        bests,
        incumbent,
        dim=space.dim,
        q=q,
        config=TrustRegionConfig(failure_tolerance=patience, warmup_batches=warmup),
    )
    bounds = trust_region_bounds(space.to_cube(center_values)[0], length)
    for j in space.categorical:  # choices are not local: the region spans all of them
        bounds[:, j] = (0.0, 1.0)
    return Box(bounds, str(complete.iloc[best]["run_id"]), length)
