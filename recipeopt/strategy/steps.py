"""The steps that propose recipes: each has one job and returns recipes in process units.

* :func:`design` — a scrambled-Sobol (or random) design, new recipes only;
* :func:`prior_ranked` — the model's best predicted recipes among random feasible ones;
* :func:`hedge` — qLogNEI on a plain GP over the whole space, the rest of the batch pending;
  (in Pareto mode, every qLogNEI here is qLogNEHVI over the metrics, and the
  prior ranks recipes by the hypervolume their predicted metrics add);
* :func:`untried_choice` — the most promising recipe with a categorical choice no run
  has tried yet, unless the model is confident every such choice is worse;
* :func:`qlognei` — BoTorch's qLogNEI, optimized over the cube or a trust region, with
  rounding repaired: rows that repeat a recipe or break a constraint after snapping
  to the step grid are replaced by the best new feasible recipes
  (``optimize_acqf_discrete`` over Sobol candidates, sequentially greedy).

:func:`predictions` gives each recipe's predicted metrics from the model that chose it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from botorch.optim import optimize_acqf_discrete
from torch import Tensor

from recipeopt.acquisition import (
    HYPERVOLUME_RESTARTS,
    Prediction,
    build_acquisition,
    build_hypervolume_acquisition,
    greedy_batch,
    optimize,
    predict,
)
from recipeopt.design import Kind, candidate_pool, initial_design, new_feasible_points, shortfall
from recipeopt.objective import Objective
from recipeopt.space import Space, same_recipe
from recipeopt.strategy.failures import SuccessModel, SuccessWeighted

if TYPE_CHECKING:
    from botorch.models.model import Model


def design(
    space: Space, q: int, *, kind: Kind, seed: int, used: np.ndarray, runs: int
) -> np.ndarray:
    """Return ``q`` new recipes of a space-filling (``sobol``) or ``random`` design.

    Sobol continues one sequence per seed (repeats of recorded recipes are
    skipped); random search draws afresh for each batch.
    """
    design_seed = seed if kind == "sobol" else seed * 100_003 + runs
    return initial_design(space, q, seed=design_seed, exclude=used, kind=kind)


def prior_ranked(
    model: Model,
    objective: Objective,
    space: Space,
    q: int,
    *,
    candidates: int,
    seed: int,
    used: np.ndarray,
    success: SuccessModel | None = None,
    Y: Tensor | None = None,
) -> np.ndarray:
    """Return the ``q`` recipes ``model`` predicts best of ``candidates`` random feasible ones.

    With a ``success`` model, each candidate's score is weighed by its probability of success.
    In Pareto mode, "best" is the most hypervolume added to the front of the
    complete runs ``Y`` (normalized metrics).
    """
    pool = candidate_pool(space, candidates, seed=seed, exclude=used)
    if len(pool) < q:
        raise shortfall(space, len(pool), q)
    chosen = greedy_batch(
        model,
        torch.as_tensor(objective.weights),
        torch.as_tensor(space.to_cube(pool)),
        q,
        A=torch.as_tensor(objective.constraint_matrix),
        b=torch.as_tensor(objective.constraint_offset),
        success=None if success is None else success.probability,
        front=_front(objective, Y) if objective.pareto else None,
    )
    return pool[chosen]


def _front(objective: Objective, Y: Tensor | None) -> Tensor:
    """Return the rows of ``Y`` (normalized metrics) that meet every outcome constraint."""
    if Y is None or not len(Y):
        return torch.zeros(0, objective.num_metrics, dtype=torch.float64)
    values = objective.denormalize(Y.numpy())
    return Y[torch.as_tensor(objective.feasible(values))]


def acquisition(
    model: Model,
    objective: Objective,
    X: Tensor,
    X_pending: Tensor,
    *,
    seed: int,
    success: SuccessModel | None = None,
) -> Any:
    """Return qLogNEI on the weighted objective, with the outcome constraints and pending runs.

    In Pareto mode, qLogNEHVI over the metrics instead. With a ``success`` model,
    weighed by the batch's probability of success
    (:class:`~recipeopt.strategy.failures.SuccessWeighted`).
    """
    constraints = objective.outcome_callables()
    acqf: Any
    if objective.pareto:
        acqf = build_hypervolume_acquisition(
            model, X, X_pending, seed=seed, constraints=constraints
        )
    else:
        acqf = build_acquisition(
            model, objective.mc_objective(), X, X_pending, seed=seed, constraints=constraints
        )
    return acqf if success is None else SuccessWeighted(acqf, success)


def qlognei(
    acqf: Any,
    space: Space,
    q: int,
    *,
    region: np.ndarray | None,
    used: np.ndarray,
    seed: int,
    restarts: int | None = None,
    pareto: bool = False,
) -> np.ndarray:
    """Optimize ``acqf`` over the cube (or the trust region ``region``); return ``q`` recipes.

    ``restarts`` sets the optimizer's restarts (and 64 raw samples per restart);
    None keeps the optimizer's defaults, or :data:`HYPERVOLUME_RESTARTS` for
    qLogNEHVI (``pareto``), whose every evaluation costs many of qLogNEI's.
    """
    if restarts is None and pareto:
        restarts = HYPERVOLUME_RESTARTS
    bounds = np.stack([np.zeros(space.dim), np.ones(space.dim)]) if region is None else region
    bounds = bounds.copy()
    fixed_cube = space.fixed_cube()
    for j, u in fixed_cube.items():
        bounds[:, j] = u
    effort = {} if restarts is None else {"num_restarts": restarts, "raw_samples": 64 * restarts}
    candidates = optimize(acqf, bounds, q=q, space=space, seed=seed, fixed=fixed_cube, **effort)
    values = space.snap_feasible(space.from_cube(candidates.numpy(), snap=False))
    return _replace_unusable(space, values, used, acqf, bounds, seed)


def hedge(
    gp: Model,
    objective: Objective,
    space: Space,
    X: Tensor,
    X_pending: Tensor,
    chosen: np.ndarray,
    q: int,
    *,
    used: np.ndarray,
    seed: int,
    success: SuccessModel | None = None,
) -> np.ndarray:
    """Return ``q`` recipes of qLogNEI on the plain ``gp`` over the whole space.

    The GP knows nothing of the history, and ``chosen`` (the prior's picks) enters
    as pending runs, so these recipes hedge the batch against a prior that misleads.
    """
    cube = torch.as_tensor(space.to_cube(chosen))
    pending = torch.cat([X_pending.to(cube), cube])
    acqf = acquisition(gp, objective, X, pending, seed=seed, success=success)
    taken = np.concatenate([used.reshape(-1, space.dim), cube.numpy()])
    return qlognei(acqf, space, q, region=None, used=taken, seed=seed, pareto=objective.pareto)


def predict_at(model: Model, objective: Objective, space: Space, values: np.ndarray) -> Prediction:
    """Summarize ``model``'s posterior at recipes ``values`` (process units) for ``objective``."""
    return predict(
        model,
        torch.as_tensor(space.to_cube(values)),
        torch.as_tensor(objective.weights),
        torch.as_tensor(objective.constraint_matrix),
        torch.as_tensor(objective.constraint_offset),
    )


#: An untried choice is explored while its optimistic value (mean + OPTIMISM x sd of the
#: objective) can beat the best run.
OPTIMISM = 2.0


def untried_choice(
    model: Model,
    objective: Objective,
    space: Space,
    tried: np.ndarray,
    incumbent: float,
    *,
    candidates: int,
    seed: int,
    used: np.ndarray,
    success: SuccessModel | None = None,
) -> tuple[np.ndarray, str] | None:
    """Return the most promising recipe with a choice no run has tried, and that choice.

    For each free categorical parameter, each choice that no row of ``tried``
    holds is given to random feasible new recipes, which the model ranks by
    their optimistic objective (mean + :data:`OPTIMISM` standard deviations,
    times the probability of meeting the outcome constraints). A choice whose
    best optimistic value is below ``incumbent`` is one the model is confident
    is worse: it is not tried. Of the rest, the choice with the highest value
    is returned (with its best recipe), or None.

    Args:
        model: The model proposing the batch.
        objective: The weighted objective.
        space: The space (pinned parameters are not explored).
        tried: ``k x d`` process values of the complete and pending runs.
        incumbent: The best run's objective (normalized; ``-inf`` if none).
        candidates: Random feasible recipes per choice.
        seed: Seed of the candidates.
        used: ``u x d`` unit-cube points of every recipe already in the campaign.
        success: Weighs each candidate by its probability of success, if given.
    """
    untried = [
        (j, code)
        for j, labels in sorted(space.categorical.items())
        if space.names[j] not in space.fixed
        for code in range(len(labels))
        if not np.any(np.isclose(tried[:, j], code))
    ]
    if not untried:
        return None
    pool = candidate_pool(space, candidates, seed=seed, exclude=used)
    best: tuple[float, np.ndarray, str] | None = None
    for j, code in untried:
        options = pool.copy()
        options[:, j] = code
        options = options[space.feasible(options)]
        if used.size:
            options = options[~same_recipe(space.to_cube(options), used).any(axis=1)]
        if not len(options):
            continue
        p = predict_at(model, objective, space, options)
        optimistic = (p.objective_mean + OPTIMISM * p.objective_std) * p.feasibility
        if success is not None:
            with torch.no_grad():
                optimistic = optimistic * success.probability(
                    torch.as_tensor(space.to_cube(options))
                )
        i = int(torch.argmax(optimistic))
        value = float(optimistic[i])
        if value >= incumbent and (best is None or value > best[0]):
            best = (value, options[i], f"{space.names[j]} = {space.categorical[j][code]}")
    return None if best is None else (best[1], best[2])


def predictions(
    model: Model,
    objective: Objective,
    space: Space,
    values: np.ndarray,
    success: SuccessModel | None = None,
) -> list[dict[str, list[float | None]]]:
    """Return each recipe's predicted metrics, objective (and feasibility) as ``[mean, std]``.

    Metric means are clipped to their physical limits; the probability of meeting
    every outcome constraint has no spread (``[p, None]``), nor has the
    probability that the run succeeds (``success``, with a success model).
    """
    p = predict_at(model, objective, space, values)
    # NOTE: a model may predict past what is physically possible (yield 100.1 %); the
    # mean is clipped to the metric's limits, the spread is the model's.
    chance = None
    if success is not None:
        with torch.no_grad():
            chance = success.probability(torch.as_tensor(space.to_cube(values))).numpy()
    mean_u = objective.clip(objective.denormalize(p.mean.numpy()))
    std_u = objective.denormalize_std(p.std.numpy())
    out = []
    for i in range(len(values)):
        predicted: dict[str, list[float | None]] = {
            m: [float(mean_u[i, j]), float(std_u[i, j])] for j, m in enumerate(objective.names)
        }
        predicted["objective"] = [float(p.objective_mean[i]), float(p.objective_std[i])]
        if objective.constraints:  # a probability: no spread
            predicted["feasibility"] = [float(p.feasibility[i]), None]
        if chance is not None:
            predicted["success"] = [float(chance[i]), None]
        out.append(predicted)
    return out


def _replace_unusable(
    space: Space,
    values: np.ndarray,
    used: np.ndarray,
    acqf: Any,
    bounds: np.ndarray,
    seed: int,
) -> np.ndarray:
    """Replace rows that repeat a recipe or break a constraint after rounding.

    The kept rows join the pending runs; the replacements are the best new
    feasible recipes, by the acquisition, among Sobol candidates in the search
    box (the whole space if the box has too few), chosen one at a time with the
    ones before pending (BoTorch's ``optimize_acqf_discrete``).
    """
    kept: list[np.ndarray] = []
    taken = used.reshape(-1, space.dim)
    feasible = space.feasible(values)
    for i, row in enumerate(values):
        cube = space.to_cube(row)
        if feasible[i] and not same_recipe(cube, taken).any():
            kept.append(row)
            taken = np.concatenate([taken, cube])
    missing = len(values) - len(kept)
    if missing == 0:
        return values
    pool = new_feasible_points(space, 256, seed=seed + 1, exclude=taken, bounds=bounds)
    if len(pool) < missing:
        pool = new_feasible_points(space, 256, seed=seed + 1, exclude=taken)
    if len(pool) < missing:
        raise shortfall(space, len(kept) + len(pool), len(values))
    base_pending = acqf.X_pending
    pending = [t for t in (base_pending, _cube(space, kept)) if t is not None]
    acqf.set_X_pending(torch.cat(pending) if pending else None)
    try:
        chosen, _ = optimize_acqf_discrete(
            acqf, q=missing, choices=torch.as_tensor(space.to_cube(pool)), unique=True
        )
    finally:
        acqf.set_X_pending(base_pending)
    return np.concatenate([np.array(kept).reshape(-1, space.dim), _decode(space, pool, chosen)])


def _cube(space: Space, rows: list[np.ndarray]) -> Tensor | None:
    return torch.as_tensor(space.to_cube(np.array(rows))) if rows else None


def _decode(space: Space, pool: np.ndarray, chosen: Tensor) -> np.ndarray:
    """Return the rows of ``pool`` (process values) whose cube points are ``chosen``."""
    cube = space.to_cube(pool)
    index = [int(np.argmin(np.abs(cube - c).max(axis=1))) for c in chosen.numpy()]
    return pool[index]
