"""Recipe families: a campaign spec plus a way to draw recipes (tasks) that respond to it.

A :class:`Family` is what the demo, the history generator and the benchmark
run against. Recipe ``i`` of a family with seed ``s`` is drawn from
``numpy.random.default_rng([s, i])``, so it is the same everywhere. History
recipes use indices ``0, 1, 2, ...``. Held-out recipes come in two splits that
never overlap with the history or each other: the *tuning* split from
:data:`TUNING_OFFSET` on (what defaults are chosen on) and the *test* split from
:data:`TEST_OFFSET` on (what a release reports, and no choice has touched).

Example:
    >>> family = get_family("etch")  # doctest: +SKIP
    >>> task = family.recipe(TEST_OFFSET)  # doctest: +SKIP
    >>> f_star, f_median = family.landscape(task)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from recipeopt.exceptions import RecipeoptError
from recipeopt.objective import Objective
from recipeopt.simulate import FAMILIES
from recipeopt.space import Space
from recipeopt.spec import CampaignSpec, load_spec

#: Recipe indices from here on are the tuning split's held-out recipes, never history.
TUNING_OFFSET = 100_000
#: Recipe indices from here on are the test split's: no default was chosen on them.
TEST_OFFSET = 200_000
#: The held-out splits and where each starts.
SPLITS = {"tuning": TUNING_OFFSET, "test": TEST_OFFSET}
CAMPAIGNS = Path(__file__).resolve().parents[2] / "campaigns"


class Task(Protocol):
    """One recipe: noiseless responses, and noisy measurements."""

    def responses(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Return noiseless metrics for each row of setpoints."""
        ...

    def measure(self, frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        """Return noisy metrics for each row of setpoints."""
        ...


@dataclass
class Family:
    """A campaign spec and a prior over recipes that respond to its parameters.

    Attributes:
        name: Family name (``etch``).
        spec: The campaign spec whose parameters and objective the recipes use.
        draw: Draws one recipe from a generator.
        seed: Family seed; recipe ``i`` is drawn from ``default_rng([seed, i])``.
    """

    name: str
    spec: CampaignSpec
    draw: Callable[[np.random.Generator], Task]
    seed: int = 0

    def __post_init__(self) -> None:
        self.space = Space.from_spec(self.spec)
        self.objective = Objective.from_spec(self.spec)

    def recipe(self, index: int) -> Task:
        """Return recipe ``index`` of the family (deterministic)."""
        return self.draw(np.random.default_rng([self.seed, index]))

    def held_out(self, count: int, split: str = "tuning") -> list[int]:
        """Return the indices of ``count`` held-out recipes of ``split`` (``tuning`` or ``test``).

        Raises:
            RecipeoptError: If the split is unknown.
        """
        if split not in SPLITS:
            raise RecipeoptError(f"unknown split {split!r}; choose tuning or test")
        return [SPLITS[split] + i for i in range(count)]

    def score(self, task: Task, frame: pd.DataFrame) -> np.ndarray:
        """Return the noiseless weighted objective of each row of setpoints.

        A run the task's tool fails (``task.fails``, where the task has it) scores
        ``-inf``: it made no product, so it is never the best run.
        """
        responses = task.responses(frame)
        scores = self.objective.score_values(responses[self.objective.names].to_numpy(dtype=float))
        fails = getattr(task, "fails", None)
        return scores if fails is None else np.where(fails(frame), -np.inf, scores)

    def landscape(
        self, task: Task, *, samples: int = 100_000, polish: int = 16, seed: int = 0
    ) -> tuple[float, float]:
        """Estimate the best and the median noiseless objective over the feasible space.

        The best is the largest of ``samples`` random feasible recipes, each of
        the top ``polish`` of them refined by SLSQP under the linear
        constraints, then snapped to the step grid (so it is a recipe the tool
        accepts).

        Returns:
            ``(f_star, f_median)``.
        """
        from scipy.optimize import minimize

        from recipeopt.design import sample_feasible

        X = sample_feasible(self.space, samples, seed=seed)
        values = self.space.from_cube(X, snap=False)
        f = self.score(task, self.space.frame(values))
        f_median = float(np.median(f))
        constraints = [
            {
                "type": "eq" if c.equality else "ineq",
                "fun": (lambda x, c=c: x[c.indices] @ c.coefficients - c.rhs),
            }
            for c in self.space.cube_constraints()
        ]

        def negative(x: np.ndarray) -> float:
            return -float(
                self.score(task, self.space.frame(self.space.from_cube(x[None], snap=False)))[0]
            )

        best = float(f.max())
        for start in X[np.argsort(f)[::-1][:polish]]:
            result = minimize(
                negative,
                start,
                method="SLSQP",
                bounds=[(0.0, 1.0)] * self.space.dim,
                constraints=constraints,
                options={"maxiter": 200},
            )
            snapped = self.space.snap_feasible(self.space.from_cube(result.x[None], snap=False))
            if self.space.feasible(snapped).all():
                best = max(best, float(self.score(task, self.space.frame(snapped))[0]))
        return best, f_median


def get_family(name: str, *, seed: int = 0) -> Family:
    """Return a bundled family by name.

    Raises:
        RecipeoptError: If the name is unknown.
    """
    if name in FAMILIES:
        from recipeopt.simulate.dep import DepRecipe
        from recipeopt.simulate.etch import EtchRecipe
        from recipeopt.simulate.faults import FaultyEtchRecipe

        draws: dict[str, tuple[str, Callable[[np.random.Generator], Task]]] = {
            "etch": ("etch42.yaml", EtchRecipe.draw),
            "etch-unlike": ("etch42.yaml", EtchRecipe.draw_unlike),
            "etch-faults": ("etch42.yaml", FaultyEtchRecipe.draw),
            "dep": ("dep7.yaml", DepRecipe.draw),
        }
        campaign, draw = draws[name]
        return Family(name, load_spec(CAMPAIGNS / campaign, check_history=False), draw, seed)
    raise RecipeoptError(
        f"unknown family {name!r}; choose one of: {', '.join(FAMILIES)} or history:CAMPAIGN.yaml"
    )
