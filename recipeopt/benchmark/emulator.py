"""Historical recipes as benchmark tasks: each one emulated by a GP fitted to its own runs.

``recipeopt benchmark --family history:CAMPAIGN.yaml`` runs leave-one-recipe-out
over the CSVs in the campaign's ``history:``. A held-out recipe answers with
the posterior mean of a ``SingleTaskGP`` fitted to its logged runs, plus
Gaussian noise at the GP's fitted noise level, so a user can ask "would this
have helped on our past recipes?" without running a wafer.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recipeopt.exceptions import RecipeoptError
from recipeopt.history import history_paths, read_history
from recipeopt.objective import Objective
from recipeopt.simulate.family import Family, Task
from recipeopt.space import Space
from recipeopt.spec import CampaignSpec, load_spec

#: A recipe needs at least this many logged runs to be emulated.
MIN_RUNS = 20


@dataclass
class EmulatedRecipe:
    """A recipe answered by a GP fitted to its logged runs (mixed with categorical inputs)."""

    runs: pd.DataFrame
    space: Space
    objective: Objective

    @cached_property
    def _model(self) -> Any:
        import torch

        from recipeopt.models.gp import fit_gp

        X = torch.as_tensor(self.space.to_cube(self.space.values(self.runs)))
        Y = torch.as_tensor(
            self.objective.normalize(self.runs[self.objective.names].to_numpy(dtype=float))
        )
        return fit_gp(X, Y, sorted(self.space.categorical))

    @cached_property
    def noise_sd(self) -> np.ndarray:
        """Fitted measurement noise per metric, in metric units."""
        model = self._model
        noise = model.likelihood.noise.detach().reshape(-1).numpy()
        scale = model.outcome_transform.stdvs.detach().reshape(-1).numpy()
        return self.objective.denormalize_std(np.sqrt(noise) * scale)

    def responses(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Return the GP posterior mean of each metric (noiseless)."""
        import torch

        X = torch.as_tensor(self.space.to_cube(self.space.values(frame)))
        model = self._model  # fitted on first use, which needs gradients
        # NOTE: in chunks: a mixed GP's posterior builds the chunk's joint covariance, and the
        # landscape search asks for 100,000 recipes at once.
        with torch.no_grad():
            mean = (
                np.concatenate([model.posterior(chunk).mean.numpy() for chunk in X.split(1024)])
                if len(X)
                else np.zeros((0, self.objective.num_metrics))
            )
        return pd.DataFrame(
            self.objective.denormalize(mean), columns=self.objective.names, index=frame.index
        )

    def measure(self, frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        """Return the posterior mean plus Gaussian noise at the fitted noise level.

        A measurement never leaves its metric's physical limits (a yield is not
        below 0 %): noisy values beyond them read as the limit.
        """
        out = self.responses(frame)
        noisy = out + rng.normal(0.0, 1.0, out.shape) * self.noise_sd
        return pd.DataFrame(
            self.objective.clip(noisy.to_numpy()), columns=out.columns, index=out.index
        )


class HistoryFamily(Family):
    """The recipes of a campaign's history, each a task; test recipes are all of them."""

    def __init__(self, spec: CampaignSpec, history: pd.DataFrame) -> None:
        super().__init__("history", spec, draw=lambda rng: None)  # type: ignore[arg-type,return-value]
        counts = history.groupby("recipe", sort=True).size()
        self.names = [str(n) for n in counts.index[counts >= MIN_RUNS]]
        if len(self.names) < 2:
            raise RecipeoptError(
                f"history: needs at least 2 recipes with {MIN_RUNS}+ runs to hold one out, "
                f"found {len(self.names)}"
            )
        self.history = history
        self._tasks: dict[int, EmulatedRecipe] = {}

    def recipe(self, index: int) -> Task:
        """Return the emulator of history recipe ``index`` (in sorted-name order)."""
        if index not in self._tasks:
            runs = self.history[self.history["recipe"].astype(str) == self.names[index]]
            self._tasks[index] = EmulatedRecipe(
                runs.reset_index(drop=True), self.space, self.objective
            )
        return self._tasks[index]

    def held_out(self, count: int, split: str = "tuning") -> list[int]:
        """Return the first ``count`` recipes (each is held out in turn, whatever the split)."""
        return list(range(min(count, len(self.names))))

    def others(self, index: int) -> pd.DataFrame:
        """Return the history without recipe ``index`` (for methods that learn from history)."""
        return self.history[self.history["recipe"].astype(str) != self.names[index]]


def history_family(campaign: Path) -> HistoryFamily:
    """Build the leave-one-recipe-out family of a campaign's history files.

    Raises:
        RecipeoptError: If the campaign has no history or too few recipes.
    """
    spec = load_spec(campaign)
    paths = history_paths(spec, campaign.parent)
    if not paths:
        raise RecipeoptError(
            f"{campaign}: history: lists no files; add history CSVs to benchmark on them"
        )
    history = read_history(paths, spec.parameter_names, spec.metric_names)
    return HistoryFamily(spec, history)
