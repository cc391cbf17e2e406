"""Space-filling and random designs that respect steps, choices, fixed values and constraints.

The initial design is a scrambled Sobol sequence, decoded and snapped to the
step grid (categorical choices equally likely). Points that break a
constraint, or repeat a recipe that is already in the campaign, are skipped,
so successive calls with the same seed continue the same sequence instead of
repeating it. Random search draws i.i.d. uniform points the same way. When the
constraints leave too little of the box for rejection to work, BoTorch's
polytope sampler fills the rest.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from botorch.utils.sampling import get_polytope_samples

from recipeopt.exceptions import (
    InfeasibleConstraintsError,
    NotEnoughPointsLeftError,
    RecipeoptError,
)
from recipeopt.space import Space, same_recipe

#: Points drawn per attempt; rejection sampling keeps the feasible, new ones.
POOL_SIZE = 4096
Kind = Literal["sobol", "random"]


def draw_box(
    space: Space, n: int, *, seed: int, bounds: np.ndarray | None = None, kind: Kind = "sobol"
) -> np.ndarray:
    """Return ``n`` unsnapped cube points spread over a box (Sobol or uniform random).

    Numeric coordinates fill ``bounds``; a categorical coordinate takes each
    choice with equal probability, unless its bounds pin it.
    """
    lower, upper = (np.zeros(space.dim), np.ones(space.dim)) if bounds is None else bounds
    if kind == "sobol":
        U = (
            torch.quasirandom.SobolEngine(space.dim, scramble=True, seed=seed)
            .draw(n, dtype=torch.float64)
            .numpy()
        )
    else:
        U = np.random.default_rng(seed).random((n, space.dim))
    X = lower + U * (upper - lower)
    choices = space.uniform_to_cube(U)
    for j in space.categorical:
        if upper[j] > lower[j]:
            X[:, j] = choices[:, j]
    return X


def new_feasible_points(
    space: Space,
    q: int,
    *,
    seed: int,
    exclude: np.ndarray,
    bounds: np.ndarray | None = None,
    kind: Kind = "sobol",
) -> np.ndarray:
    """Return up to ``q`` distinct feasible recipes (process values) not in ``exclude``.

    Args:
        space: The parameter space.
        q: How many recipes are wanted.
        seed: Seeds the draws (and the polytope sampler).
        exclude: ``k x d`` unit-cube points already used.
        bounds: Optional ``2 x d`` sub-box of the unit cube to draw from.
        kind: ``sobol`` (space-filling) or ``random`` (i.i.d. uniform).

    Returns:
        ``r x d`` process values, ``r <= q``, in draw order.
    """
    raw = draw_box(space, POOL_SIZE, seed=seed, bounds=bounds, kind=kind)
    chosen = _take_new(space, space.from_cube(raw), q, exclude)
    if len(chosen) < q and space.constraints:
        lower, upper = (np.zeros(space.dim), np.ones(space.dim)) if bounds is None else bounds
        samples = _polytope_samples(space, POOL_SIZE, seed=seed, lower=lower, upper=upper)
        more = _take_new(
            space,
            space.snap_feasible(samples),
            q - len(chosen),
            np.concatenate([exclude.reshape(-1, space.dim), space.to_cube(chosen)]),
        )
        chosen = np.concatenate([chosen, more])
    return chosen


def sample_feasible(space: Space, n: int, *, seed: int) -> np.ndarray:
    """Return up to ``n`` random unsnapped cube points that meet the constraints and fixed values.

    Uniform rejection sampling; with equality constraints (a set of measure
    zero), BoTorch's hit-and-run polytope sampler instead. Categorical choices
    are uniform either way.
    """
    if any(c.op == "==" for c in space.constraints):
        X = space.to_cube(
            _polytope_samples(
                space, n, seed=seed, lower=np.zeros(space.dim), upper=np.ones(space.dim)
            )
        )
        U = np.random.default_rng(seed).random((n, space.dim))
        for j in space.categorical:
            X[:, j] = space.uniform_to_cube(U)[:, j]
    else:
        X = draw_box(space, n, seed=seed, kind="random")
    for j, u in space.fixed_cube().items():
        X[:, j] = u
    return X[space.feasible(space.from_cube(X, snap=False))]


def candidate_pool(space: Space, n: int, *, seed: int, exclude: np.ndarray) -> np.ndarray:
    """Return up to ``n`` distinct random feasible new recipes (process values), snapped to steps.

    For ranking many candidates at once (the meta-prior's first batch): uniform
    feasible draws, snapped, with repeats and recipes in ``exclude`` (unit-cube
    points) removed.
    """
    values = space.snap_feasible(space.from_cube(sample_feasible(space, n, seed=seed), snap=False))
    values = values[space.feasible(values)]
    cube = space.to_cube(values)
    _, first = np.unique(np.round(cube, 9), axis=0, return_index=True)
    keep = np.sort(first)
    used = exclude.reshape(-1, space.dim)
    if len(used):
        keep = keep[~same_recipe(cube[keep], used).any(axis=1)]
    return values[keep]


def feasible_cube_points(
    space: Space, n: int, *, seed: int, bounds: np.ndarray
) -> np.ndarray | None:
    """Return ``n`` unsnapped Sobol points of the box that satisfy the constraints, or None.

    Rejection sampling: None when fewer than ``n`` of ``8 n`` Sobol points are feasible.
    """
    draws = 8 * n if space.constraints else n
    X = draw_box(space, draws, seed=seed, bounds=bounds)
    X = X[space.feasible(space.from_cube(X, snap=False))]
    return X[:n] if len(X) >= n else None


def initial_design(
    space: Space, q: int, *, seed: int, exclude: np.ndarray, kind: Kind = "sobol"
) -> np.ndarray:
    """Return ``q`` feasible new recipes of a scrambled-Sobol (or random) design.

    Raises:
        NotEnoughPointsLeftError: If the space has fewer than ``q`` new feasible recipes.
    """
    chosen = new_feasible_points(space, q, seed=seed, exclude=exclude, kind=kind)
    if len(chosen) < q:
        raise shortfall(space, len(chosen), q)
    return chosen


def shortfall(space: Space, found: int, wanted: int) -> RecipeoptError:
    """Return the error for finding ``found`` of ``wanted`` new recipes, naming the cause.

    When rounding to the step grid is what makes an equality constraint
    impossible (say three fractions in steps of 0.3 that must sum to 1), the
    error names that constraint; otherwise the space is simply used up.
    """
    for c in space.constraints:
        if c.op != "==":
            continue
        samples = _polytope_samples(
            space, 256, seed=0, lower=np.zeros(space.dim), upper=np.ones(space.dim)
        )
        if not Space(space.parameters, [c]).feasible(space.snap_feasible(samples)).any():
            return InfeasibleConstraintsError(
                f"constraint {c.text!r} cannot hold on the parameters' step grids: "
                "no rounded recipe meets it; choose steps whose multiples can meet it"
            )
    size = space.grid_size()
    if size <= 10 * wanted:
        scope = f"the space holds {size:.0f} distinct recipes (steps, choices, fixed values)"
    else:
        scope = "the space is larger, but its constraints leave the sampler too few"
    return NotEnoughPointsLeftError(
        f"found only {found} new feasible recipes of the {wanted} asked for: {scope}; "
        "ask for fewer, or relax the bounds, steps, fixed values or constraints"
    )


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


BoTorchConstraint = tuple[torch.Tensor, torch.Tensor, float]


def botorch_constraints(space: Space) -> tuple[list[BoTorchConstraint], list[BoTorchConstraint]]:
    """Return the space's linear constraints as BoTorch ``(indices, coefficients, rhs)`` lists.

    Returns:
        ``(inequality_constraints, equality_constraints)`` on the unit cube, each
        meaning ``sum(coefficients * x[indices]) >= rhs`` (or ``==``).
    """
    inequality: list[BoTorchConstraint] = []
    equality: list[BoTorchConstraint] = []
    for c in space.cube_constraints():
        item = (
            torch.as_tensor(c.indices, dtype=torch.long),
            torch.as_tensor(c.coefficients, dtype=torch.float64),
            float(c.rhs),
        )
        (equality if c.equality else inequality).append(item)
    return inequality, equality


def _polytope_samples(
    space: Space, n: int, *, seed: int, lower: np.ndarray, upper: np.ndarray
) -> np.ndarray:
    """Draw ``n`` process-value points uniformly from the constrained box (hit-and-run)."""
    inequality, equality = botorch_constraints(space)
    X = get_polytope_samples(
        n=n,
        bounds=torch.as_tensor(np.stack([lower, upper])),
        inequality_constraints=inequality or None,
        equality_constraints=equality or None,
        seed=seed,
        n_thinning=4,
    )
    return space.from_cube(X.numpy(), snap=False)
