"""Historical recipes shaped like fab logs, for meta-training and the history benchmark.

Real logs are not uniform samples: most runs are DOEs and optimizations around
a working recipe, plus a few exploratory runs. Each generated recipe therefore
gets a *nominal* recipe (the best of a random screen, then perturbed, as an
engineer's working recipe would be), and its runs are drawn as

* 60 % a Gaussian cloud around the nominal recipe (sd 0.1 per unit coordinate),
* 15 % two-level factorial points: four random factors at nominal +- 0.1,
* 25 % uniform exploratory runs,

all feasible, snapped to the step grid, and measured with noise.

A history CSV holds a ``recipe`` column, the parameter columns and the metric
columns, one row per run; that is the format ``history:`` in a campaign reads
(:mod:`recipeopt.history`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from recipeopt.simulate.family import Family

DOE_SD = 0.1
SCREEN = 20_000


def history_runs(family: Family, index: int, runs: int, *, seed: int) -> pd.DataFrame:
    """Return ``runs`` logged runs of history recipe ``index``, fab-log shaped.

    Args:
        family: The family (recipe ``index`` is drawn from it).
        index: History recipe index (below :data:`~recipeopt.simulate.family.TUNING_OFFSET`).
        runs: Number of runs.
        seed: Seeds the DOE and the measurement noise.
    """
    from recipeopt.design import sample_feasible

    space = family.space
    task = family.recipe(index)
    rng = np.random.default_rng([seed, index, 1])
    # A fab's logs of one product use some of the choices (one chemistry, two chambers).
    used_choices = {
        j: rng.choice(len(c), size=rng.integers(1, len(c) + 1), replace=False) / max(len(c) - 1, 1)
        for j, c in space.categorical.items()
    }
    screen = sample_feasible(space, SCREEN, seed=seed * 7919 + index)
    for j, codes in used_choices.items():
        screen[:, j] = rng.choice(codes, size=len(screen))
    scores = family.score(task, space.frame(space.from_cube(screen)))
    nominal = np.clip(screen[int(np.argmax(scores))] + rng.normal(0.0, 0.05, space.dim), 0.0, 1.0)
    chosen: list[np.ndarray] = []
    while len(chosen) < runs:
        kind = rng.random()
        if kind < 0.60:
            x = nominal + rng.normal(0.0, DOE_SD, space.dim)
        elif kind < 0.75:
            x = nominal.copy()
            factors = rng.choice(space.dim, size=min(4, space.dim), replace=False)
            x[factors] += rng.choice([-DOE_SD, DOE_SD], size=len(factors))
        else:
            x = rng.random(space.dim)
        for j, codes in used_choices.items():
            # DOE runs mostly keep the working recipe's choice; others use any logged choice.
            x[j] = nominal[j] if kind < 0.75 and rng.random() < 0.8 else rng.choice(codes)
        values = space.snap_feasible(space.from_cube(np.clip(x, 0.0, 1.0)[None], snap=False))
        if space.feasible(values).all():
            chosen.append(values[0])
    frame = space.frame(np.array(chosen))
    measured = task.measure(frame, rng)
    frame.insert(0, "recipe", f"{family.name}-{family.seed}-{index:03d}")
    return pd.concat([frame, measured[family.objective.names]], axis=1)


def write_history(
    family: Family,
    out: Path,
    *,
    recipes: int,
    runs: int,
    seed: int,
    on_recipe: Callable[[int], None] | None = None,
) -> list[Path]:
    """Write one CSV per history recipe into ``out``; return the paths.

    Side effects:
        Creates ``out`` and writes ``recipe_000.csv``, ``recipe_001.csv``, ...
    """
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(recipes):
        frame = history_runs(family, i, runs, seed=seed)
        path = out / f"recipe_{i:03d}.csv"
        frame.to_csv(path, index=False, float_format="%.6g")
        paths.append(path)
        if on_recipe is not None:
            on_recipe(i)
    return paths
