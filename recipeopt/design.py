"""Space-filling designs that respect steps, fixed values and linear constraints.

The initial design is a scrambled Sobol sequence on the unit cube, decoded and
snapped to the step grid. Points that break a constraint, or repeat a recipe
that is already in the campaign, are skipped, so successive calls with the
same seed continue the same sequence instead of repeating it. When the
constraints leave too little of the box for rejection to work, BoTorch's
polytope sampler fills the rest.
"""

from __future__ import annotations

import numpy as np
import torch
from botorch.utils.sampling import get_polytope_samples

from recipeopt.exceptions import NotEnoughPointsLeftError
from recipeopt.space import Space, same_recipe

#: Sobol points drawn per attempt; rejection sampling keeps the feasible, new ones.
POOL_SIZE = 4096


def new_feasible_points(
    space: Space, q: int, *, seed: int, exclude: np.ndarray, bounds: np.ndarray | None = None
) -> np.ndarray:
    """Return up to ``q`` distinct feasible recipes (process units) not in ``exclude``.

    Args:
        space: The parameter space.
        q: How many recipes are wanted.
        seed: Seeds the Sobol scrambling (and the polytope sampler).
        exclude: ``k x d`` unit-cube points already used.
        bounds: Optional ``2 x d`` sub-box of the unit cube to draw from.

    Returns:
        ``r x d`` process values, ``r <= q``, in sequence order.
    """
    lower, upper = (np.zeros(space.dim), np.ones(space.dim)) if bounds is None else bounds
    engine = torch.quasirandom.SobolEngine(space.dim, scramble=True, seed=seed)
    raw = lower + engine.draw(POOL_SIZE, dtype=torch.float64).numpy() * (upper - lower)
    chosen = _take_new(space, space.from_cube(raw), q, exclude)
    if len(chosen) < q and space.constraints:
        samples = _polytope_samples(space, POOL_SIZE, seed=seed, lower=lower, upper=upper)
        more = _take_new(
            space,
            space.snap_feasible(samples),
            q - len(chosen),
            np.concatenate([exclude.reshape(-1, space.dim), space.to_cube(chosen)]),
        )
        chosen = np.concatenate([chosen, more])
    return chosen


def feasible_cube_points(
    space: Space, n: int, *, seed: int, bounds: np.ndarray
) -> np.ndarray | None:
    """Return ``n`` unsnapped Sobol points of the box that satisfy the constraints, or None.

    Rejection sampling: None when fewer than ``n`` of ``8 n`` Sobol points are feasible.
    """
    lower, upper = bounds
    engine = torch.quasirandom.SobolEngine(space.dim, scramble=True, seed=seed)
    draws = 8 * n if space.constraints else n
    X = lower + engine.draw(draws, dtype=torch.float64).numpy() * (upper - lower)
    X = X[space.feasible(space.from_cube(X, snap=False))]
    return X[:n] if len(X) >= n else None


def initial_design(space: Space, q: int, *, seed: int, exclude: np.ndarray) -> np.ndarray:
    """Return ``q`` feasible recipes of a scrambled-Sobol design, skipping used ones.

    Raises:
        NotEnoughPointsLeftError: If the space has fewer than ``q`` new feasible recipes.
    """
    chosen = new_feasible_points(space, q, seed=seed, exclude=exclude)
    if len(chosen) < q:
        raise NotEnoughPointsLeftError(
            f"only {len(chosen)} new recipes satisfy the bounds, steps, fixed values and "
            f"constraints, but {q} were asked for; ask for fewer or relax the space"
        )
    return chosen


def _take_new(space: Space, values: np.ndarray, q: int, exclude: np.ndarray) -> np.ndarray:
    """Keep feasible rows of ``values`` that are new and distinct, in order, up to ``q``."""
    values = values[space.feasible(values)]
    taken: list[np.ndarray] = []
    used = exclude.reshape(-1, space.dim)
    for row in values:
        cube = space.to_cube(row)
        if same_recipe(cube, used).any():
            continue
        taken.append(row)
        used = np.concatenate([used, cube])
        if len(taken) == q:
            break
    return np.array(taken).reshape(-1, space.dim)


def _polytope_samples(
    space: Space, n: int, *, seed: int, lower: np.ndarray, upper: np.ndarray
) -> np.ndarray:
    """Draw ``n`` process-unit points uniformly from the constrained box (hit-and-run)."""
    from recipeopt.acquisition import botorch_constraints

    inequality, equality = botorch_constraints(space)
    bounds = torch.as_tensor(np.stack([lower, upper]))
    X = get_polytope_samples(
        n=n,
        bounds=bounds,
        inequality_constraints=inequality or None,
        equality_constraints=equality or None,
        seed=seed,
        n_thinning=4,
    )
    return space.from_cube(X.numpy(), snap=False)
