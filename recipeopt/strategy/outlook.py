"""The stop signal: how much the next batch can still gain, from the current model.

From the model ``suggest`` would adapt, over random feasible new recipes:

* the chance that a batch of the ``q`` most promising of them beats the best run
  by the campaign's practical margin (``objective.margin``): each one beats it
  with probability ``P(f > best + margin)`` under the model (times its chance
  of meeting the outcome constraints), and the batch fails only if all fail
  (treated as independent, so the chance is an upper estimate);
* the expected improvement of the best run left at the most promising recipe;
* the best predicted objective.

:meth:`Outlook.sentence` says it in one line for ``status`` and the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from recipeopt.design import candidate_pool
from recipeopt.objective import Objective
from recipeopt.space import Space
from recipeopt.strategy.steps import predict_at

if TYPE_CHECKING:
    from botorch.models.model import Model

#: Below this chance of a practical gain from the next batch, returns are diminishing.
DIMINISHING = 0.1


@dataclass(frozen=True)
class Outlook:
    """What the next batch can gain.

    Attributes:
        chance: Probability that the next batch beats the best run by ``margin``.
        expected_gain: Expected improvement of the best run at the most promising recipe.
        predicted_best: Highest predicted objective among the candidates.
        best: The best run's objective.
        margin: The practical margin (objective units).
        q: Batch size.
    """

    chance: float
    expected_gain: float
    predicted_best: float
    best: float
    margin: float
    q: int

    @property
    def diminishing(self) -> bool:
        """Whether the chance of a practical gain is below :data:`DIMINISHING`."""
        return self.chance < DIMINISHING

    def sentence(self) -> str:
        """Say in one line whether to keep going."""
        if self.diminishing:
            return (
                f"diminishing returns: {self.chance:.0%} chance that the next batch of "
                f"{self.q} beats the best run by {self.margin:g}"
            )
        return (
            f"likely gains remain: {self.chance:.0%} chance that the next batch of {self.q} "
            f"beats the best run by {self.margin:g}; about +{self.expected_gain:.3f} expected"
        )


def outlook(
    model: Model,
    objective: Objective,
    space: Space,
    best: float,
    *,
    margin: float,
    q: int,
    candidates: int,
    seed: int,
    used: np.ndarray,
) -> Outlook | None:
    """Return the outlook of the next batch of ``q`` (None if no new feasible recipe is left).

    Args:
        model: The model the next batch would come from.
        objective: The weighted objective.
        space: The space.
        best: The best run's objective.
        margin: The practical margin.
        q: Batch size.
        candidates: Random feasible new recipes to look at.
        seed: Seed of the candidates.
        used: ``k x d`` unit-cube points of the recipes already in the campaign.
    """
    pool = candidate_pool(space, candidates, seed=seed, exclude=used)
    if not len(pool):
        return None
    p = predict_at(model, objective, space, pool)
    mean, sd = p.objective_mean.double(), p.objective_std.double().clamp_min(1e-9)
    normal = torch.distributions.Normal(0.0, 1.0)
    beats = (1.0 - normal.cdf((best + margin - mean) / sd)) * p.feasibility
    top = torch.topk(beats, k=min(q, len(beats))).values
    chance = float(1.0 - torch.prod(1.0 - top))
    z = (mean - best) / sd
    gain = sd * (z * normal.cdf(z) + normal.log_prob(z).exp()) * p.feasibility
    return Outlook(
        chance=chance,
        expected_gain=float(gain.max()),
        predicted_best=float(mean.max()),
        best=best,
        margin=margin,
        q=q,
    )
