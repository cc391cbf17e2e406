"""Build and optimize the batch acquisition with BoTorch.

The acquisition is BoTorch's ``qLogNoisyExpectedImprovement`` on the weighted
objective (a ``LinearMCObjective`` over the normalized metrics), with the
campaign's pending runs as ``X_pending``. It is optimized by
``botorch.optim.optimize_acqf`` over the unit cube, or a trust region inside it,
with the campaign's linear constraints and fixed values.

The box it searches (the whole cube, or a trust region from
:mod:`recipeopt.strategy.trust_region`) is the caller's.

Example:
    >>> acqf = build_acquisition(model, objective, X, X_pending, seed=0)  # doctest: +SKIP
    >>> X_new = optimize(acqf, bounds, q=4, space=space, seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from botorch.acquisition.acquisition import AcquisitionFunction
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
from botorch.acquisition.objective import LinearMCObjective
from botorch.exceptions.warnings import OptimizationWarning
from botorch.models.model import Model
from botorch.optim import optimize_acqf, optimize_acqf_mixed
from botorch.optim.initializers import initialize_q_batch
from botorch.optim.optimize_mixed import optimize_acqf_mixed_alternating
from botorch.posteriors.ensemble import EnsemblePosterior
from botorch.sampling.get_sampler import get_sampler
from botorch.utils.multi_objective.box_decompositions.non_dominated import (
    NondominatedPartitioning,
)
from linear_operator.utils.warnings import NumericalWarning
from scipy.optimize import OptimizeWarning
from torch import Tensor

from recipeopt.design import botorch_constraints, feasible_cube_points
from recipeopt.space import Space

#: Monte Carlo samples of the posterior per acquisition evaluation.
MC_SAMPLES = 256
#: Monte Carlo samples of qLogNEHVI (each sample keeps its own box decomposition of the
#: front, and the gradient runs through all of them), and its optimizer restarts: decision 0015.
HYPERVOLUME_SAMPLES = 32
HYPERVOLUME_RESTARTS = 4
#: Up to this many combinations of categorical choices are optimized one by one.
MAX_ENUMERATED = 4


def build_acquisition(
    model: Model,
    objective: LinearMCObjective,
    X_baseline: Tensor,
    X_pending: Tensor | None,
    *,
    seed: int,
    constraints: list[Callable[[Tensor], Tensor]] | None = None,
    cache_root: bool = False,
) -> qLogNoisyExpectedImprovement:
    """Return qLogNEI on the weighted objective, aware of pending runs.

    Args:
        model: A fitted BoTorch model over normalized metrics.
        objective: The weighted objective.
        X_baseline: ``n x d`` complete runs.
        X_pending: ``p x d`` pending runs, or None.
        seed: Seed of the MC sampler.
        constraints: Outcome constraints on posterior samples, feasible at ``<= 0``
            (BoTorch's constrained qLogNEI weighs improvement by feasibility).
    """
    with torch.no_grad():
        posterior: Any = model.posterior(X_baseline[:1])
    sampler = get_sampler(posterior, sample_shape=torch.Size([MC_SAMPLES]), seed=seed)
    return qLogNoisyExpectedImprovement(
        model=model,
        X_baseline=X_baseline,
        sampler=sampler,
        objective=objective,
        X_pending=X_pending if X_pending is not None and len(X_pending) else None,
        prune_baseline=True,
        constraints=constraints or None,
        cache_root=cache_root,
    )


def build_hypervolume_acquisition(
    model: Model,
    X_baseline: Tensor,
    X_pending: Tensor | None,
    *,
    seed: int,
    constraints: list[Callable[[Tensor], Tensor]] | None = None,
) -> qLogNoisyExpectedHypervolumeImprovement:
    """Return qLogNEHVI over the normalized metrics, aware of pending runs (Pareto mode).

    The reference point is every metric's worst value (0 on the normalized
    scale), so the hypervolume counts what the spec's ranges call progress.

    Args:
        model: A fitted BoTorch model over normalized metrics.
        X_baseline: ``n x d`` complete runs.
        X_pending: ``p x d`` pending runs, or None.
        seed: Seed of the MC sampler.
        constraints: Outcome constraints on posterior samples, feasible at ``<= 0``.
    """
    with torch.no_grad():
        posterior: Any = model.posterior(X_baseline[:1])
    sampler = get_sampler(posterior, sample_shape=torch.Size([HYPERVOLUME_SAMPLES]), seed=seed)
    return qLogNoisyExpectedHypervolumeImprovement(
        model=model,
        ref_point=torch.zeros(posterior.mean.shape[-1]).to(X_baseline),
        X_baseline=X_baseline,
        sampler=sampler,
        constraints=constraints or None,
        X_pending=X_pending if X_pending is not None and len(X_pending) else None,
        prune_baseline=True,
        cache_root=False,
    )


def greedy_batch(
    model: Model,
    weights: Tensor,
    choices: Tensor,
    q: int,
    *,
    A: Tensor,
    b: Tensor,
    success: Callable[[Tensor], Tensor] | None = None,
    front: Tensor | None = None,
) -> np.ndarray:
    """Choose the ``q`` of ``choices`` the model predicts best: a greedy batch.

    The candidates are ranked by the predicted weighted objective, times the
    predicted probability of meeting the outcome constraints, and the top
    ``q`` are taken. It is how the meta-prior proposes a campaign's first
    batch, and how the adapted prior proposes the batches before
    ``greedy_runs`` complete runs (a strategy setting).

    NOTE: for the first batch, ranking by the mean was measured against the
    alternatives on held-out simulated recipes (median best-of-8 normalized
    regret 0.51 against 0.76 for sequential qLogEI and 0.71 for sequential
    qSimpleRegret over the same 20,000 candidates; random 8 gave 0.79): with
    no run on the recipe yet, the prior's spread says little, and EI spends
    the batch on it. With a few runs the adapted prior still knows more about
    where the family's optima lie than its spread says (see
    ``docs/decisions/0002-greedy-batches-until-20-runs.md`` for the benchmark).

    Args:
        model: A BoTorch model over normalized metrics.
        weights: ``m`` objective weights.
        choices: ``N x d`` feasible new candidate recipes on the unit cube.
        q: Batch size.
        A: ``k x m`` outcome-constraint rows (see :func:`predict`).
        b: ``k`` outcome-constraint offsets.
        success: The probability that a run at each choice succeeds (scores are
            weighed by it), or None.
        front: In Pareto mode, ``k x m`` normalized metrics of the runs that meet
            every outcome constraint: the choices are then scored by how much
            hypervolume their predicted metrics add to this front, one at a time
            (each pick joins the front before the next), instead of by the
            weighted objective.

    Returns:
        The ``q`` row indices into ``choices``, best first.
    """
    p = predict(model, choices, weights, A, b)
    weight = p.feasibility if len(b) else torch.ones_like(p.objective_mean)
    if success is not None:
        with torch.no_grad():
            weight = weight * success(choices)
    if front is None:
        return torch.topk(p.objective_mean * weight, k=min(q, len(choices))).indices.numpy()
    picked: list[int] = []
    for _ in range(min(q, len(choices))):
        gain = hypervolume_gain(p.mean, front) * weight
        # NOTE: once no choice adds hypervolume, the best weighted objective breaks the tie.
        score = gain if float(gain.max()) > 0 else p.objective_mean * weight
        score[picked] = -math.inf
        i = int(torch.argmax(score))
        picked.append(i)
        front = torch.cat([front.to(p.mean), p.mean[i : i + 1]])
    return np.array(picked)


def hypervolume_gain(points: Tensor, front: Tensor) -> Tensor:
    """Return the hypervolume each of ``n x m`` points would add to ``k x m`` ``front``.

    On normalized metrics, from the reference point 0: the sum, over the cells of
    the region the front does not dominate (BoTorch's box decomposition), of the
    part of each cell the point dominates.
    """
    ref = torch.zeros(points.shape[-1]).to(points)
    kept = front.to(points)
    kept = kept[(kept > ref).all(dim=-1)]
    cells = NondominatedPartitioning(ref_point=ref, Y=kept).get_hypercell_bounds()
    lower, upper = cells[0], cells[1]  # c x m
    sides = (torch.minimum(points[:, None, :], upper) - lower).clamp_min(0)
    return sides.prod(dim=-1).sum(dim=-1)


def optimize(
    acq_function: AcquisitionFunction,
    bounds: np.ndarray,
    **kwargs: Any,
) -> Tensor:
    """Run :func:`_optimize` with BoTorch's optimizer warnings handled here.

    When L-BFGS-B or SLSQP stops early, BoTorch warns and retries from new
    starting points by itself; the result is still a valid batch, so the
    warning is not passed on to the engineer. Nor is linear_operator's note
    that it added jitter to a GP's joint covariance of the runs and a batch
    whose candidates nearly coincide: the samples drawn with it are valid.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Optimization failed", category=RuntimeWarning)
        warnings.filterwarnings("ignore", category=OptimizationWarning)
        warnings.filterwarnings(
            "ignore", category=OptimizeWarning
        )  # scipy's, e.g. clipping to bounds
        warnings.filterwarnings("ignore", message="A not p.d.", category=NumericalWarning)
        return _optimize(acq_function, bounds, **kwargs)


def _optimize(
    acq_function: AcquisitionFunction,
    bounds: np.ndarray,
    *,
    q: int,
    space: Space,
    seed: int,
    fixed: Mapping[int, float] | None = None,
    num_restarts: int = 8,
    raw_samples: int = 512,
) -> Tensor:
    """Optimize the acquisition over ``q`` points with BoTorch's optimizers.

    A space without free categorical parameters uses ``optimize_acqf`` (joint
    over the batch). With categorical choices it uses ``optimize_acqf_mixed``,
    which optimizes each combination of choices, when there are at most
    :data:`MAX_ENUMERATED` combinations, and ``optimize_acqf_mixed_alternating``
    (discrete local search alternating with continuous steps) beyond that,
    so a large product of choices is never enumerated.

    Args:
        acq_function: The acquisition.
        bounds: ``2 x d`` box on the unit cube (the whole cube or a trust region).
        q: Batch size.
        space: Supplies the linear constraints.
        seed: Seeds raw samples and restarts.
        fixed: Unit-cube values of pinned parameters, by index.
        num_restarts: Restarts of L-BFGS-B.
        raw_samples: Sobol samples used to pick the restarts.

    Returns:
        ``q x d`` candidates on the unit cube (not yet snapped to steps).
    """
    bounds_t = torch.as_tensor(bounds, dtype=torch.float64)
    inequality, equality = botorch_constraints(space)
    fixed = dict(fixed or {})
    choices = {
        j: [i / max(len(c) - 1, 1) for i in range(len(c))]
        for j, c in space.categorical.items()
        if j not in fixed
    }
    linear: dict[str, Any] = {
        "inequality_constraints": inequality or None,
        "equality_constraints": equality or None,
    }
    options: dict[str, bool | float | int | str] = {"seed": seed, "maxiter": 200, "batch_limit": 4}
    if choices:
        combinations = math.prod(len(v) for v in choices.values())
        if combinations <= MAX_ENUMERATED:
            fixed_features_list = [
                {**fixed, **dict(zip(choices, combo, strict=True))}
                for combo in itertools.product(*choices.values())
            ]
            candidates, _ = optimize_acqf_mixed(
                acq_function,
                bounds=bounds_t,
                q=q,
                num_restarts=num_restarts,
                fixed_features_list=fixed_features_list,
                raw_samples=raw_samples,
                options=options,
                **linear,
            )
        else:
            # NOTE: each alternating restart runs many continuous and discrete steps, so half
            # the restarts and raw samples keep it near the cost of a continuous batch.
            candidates, _ = optimize_acqf_mixed_alternating(
                acq_function,
                bounds=bounds_t,
                cat_dims=choices,
                q=q,
                num_restarts=max(2, num_restarts // 2),
                raw_samples=raw_samples // 2,
                options={"maxiter_alternating": 16},
                fixed_features=fixed or None,
                **linear,
            )
        return candidates.detach()
    initial = _initial_conditions(
        acq_function, space, bounds, q=q, n=num_restarts, raw_samples=raw_samples, seed=seed
    )
    candidates, _ = optimize_acqf(
        acq_function,
        bounds=bounds_t,
        q=q,
        num_restarts=num_restarts,
        raw_samples=raw_samples,
        fixed_features=fixed or None,
        batch_initial_conditions=initial,
        options=options,
        **linear,
    )
    return candidates.detach()


def _initial_conditions(
    acq_function: AcquisitionFunction,
    space: Space,
    bounds: np.ndarray,
    *,
    q: int,
    n: int,
    raw_samples: int,
    seed: int,
) -> Tensor | None:
    """Pick ``n`` starting q-batches among feasible Sobol points with ``initialize_q_batch``.

    With only inequality constraints, rejection sampling from a Sobol sequence
    is far cheaper than the hit-and-run sampler BoTorch falls back to. Returns
    None (let BoTorch choose) when too few Sobol points are feasible, as with
    equality constraints.
    """
    pool = feasible_cube_points(space, raw_samples * q, seed=seed, bounds=bounds)
    if pool is None:
        return None
    X_raw = torch.as_tensor(pool).reshape(raw_samples, q, space.dim)
    with torch.no_grad():
        values = torch.cat([acq_function(chunk) for chunk in X_raw.split(128)])
    return initialize_q_batch(X_raw, values, n=n)[0]


@dataclass
class Prediction:
    """Posterior summaries at a set of points (normalized metric units).

    Attributes:
        mean: ``n x m`` posterior mean of each metric.
        std: ``n x m`` posterior standard deviation of each metric.
        objective_mean: ``n`` mean of the weighted objective.
        objective_std: ``n`` standard deviation of the weighted objective.
        feasibility: ``n`` probability of meeting every outcome constraint (1 without any).
    """

    mean: Tensor
    std: Tensor
    objective_mean: Tensor
    objective_std: Tensor
    feasibility: Tensor


def predict(model: Model, X: Tensor, weights: Tensor, A: Tensor, b: Tensor) -> Prediction:
    """Summarize the posterior at ``X``: metrics, weighted objective, probability of feasibility.

    Args:
        model: A fitted model over normalized metrics.
        X: ``n x d`` points.
        weights: ``m`` objective weights.
        A: ``k x m`` outcome-constraint rows, feasible where ``Y @ A.T + b <= 0``.
        b: ``k`` outcome-constraint offsets.
    """
    with torch.no_grad():
        posterior: Any = model.posterior(X)
        mean, std = posterior.mean, posterior.variance.clamp_min(0).sqrt()
        if isinstance(posterior, EnsemblePosterior):
            values = posterior.values  # s x n x m: each member is a sample
            scores = values @ weights
            ok = (
                (values @ A.T + b <= 0).all(dim=-1)
                if len(b)
                else torch.ones_like(scores, dtype=torch.bool)
            )
            spread = scores.std(dim=0) if len(scores) > 1 else torch.zeros_like(scores[0])
            return Prediction(mean, std, scores.mean(dim=0), spread, ok.to(mean).mean(dim=0))
        # Independent outputs (a batched multi-output GP): variances add.
        normal = torch.distributions.Normal(0.0, 1.0)
        g_mean, g_std = mean @ A.T + b, ((std**2) @ (A.T**2)).sqrt().clamp_min(1e-12)
        feasibility = (
            normal.cdf(-g_mean / g_std).prod(dim=-1) if len(b) else torch.ones(len(X)).to(mean)
        )
        return Prediction(mean, std, mean @ weights, (std**2 @ weights**2).sqrt(), feasibility)
