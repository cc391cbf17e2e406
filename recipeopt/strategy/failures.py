"""Failed runs inform the next batch: the probability that a recipe runs at all.

A run recorded as ``failed`` (an arc fault, a broken wafer) says nothing about
the metrics but much about where the tool misbehaves. From the failed and the
complete runs a BoTorch GP learns the probability of success over the space
(GP regression on 0/1 outcomes, clipped to a probability: a least-squares
classifier, smooth and differentiable, so the acquisition's optimizer follows
its gradient). Every step then weighs its choice by it:

* qLogNEI (and the hedge) by :class:`SuccessWeighted`: the log of each batch
  run's probability of success is added to the batch's log expected
  improvement, so a recipe beside a failure cluster needs a large expected gain;
* a ranked batch by multiplying each candidate's score by it.

Each suggestion shows its probability of success (``pred_success``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from botorch.acquisition import AcquisitionFunction
from torch import Tensor

from recipeopt.models.gp import fit_gp

if TYPE_CHECKING:
    from botorch.models import SingleTaskGP

#: A probability of success is never taken below this (its log must stay finite).
FLOOR = 1e-3


class SuccessModel:
    """The probability of success over the unit cube, from 0/1 outcomes of runs.

    Args:
        X: ``n x d`` runs on the unit cube (complete and failed).
        succeeded: ``n`` 1 for a complete run, 0 for a failed one.
        cat_dims: Categorical input dimensions.
    """

    def __init__(self, X: Tensor, succeeded: Tensor, cat_dims: list[int]) -> None:
        self.gp: SingleTaskGP = fit_gp(X, succeeded.reshape(-1, 1).to(X), cat_dims)

    def probability(self, X: Tensor) -> Tensor:
        """Return the probability of success at ``... x d`` points (differentiable)."""
        mean = self.gp.posterior(X).mean[..., 0]
        return mean.clamp(FLOOR, 1.0)


def success_model(X: Tensor, succeeded: Tensor, cat_dims: list[int]) -> SuccessModel | None:
    """Return the success model, or None when no run failed (or none succeeded)."""
    if len(succeeded) < 2 or bool(succeeded.all()) or not bool(succeeded.any()):
        return None
    return SuccessModel(X, succeeded, cat_dims)


class SuccessWeighted(AcquisitionFunction):
    """A log-valued acquisition weighed by the batch's probability of success.

    ``forward`` returns ``base(X) + sum_i log P(success at x_i)`` for ``b x q x d``
    batches. Pending runs are the base acquisition's.
    """

    def __init__(self, base: Any, success: SuccessModel) -> None:
        super().__init__(model=base.model)
        self.base = base
        self.success = success

    def forward(self, X: Tensor) -> Tensor:
        """Return the weighted log acquisition of each ``q``-batch in ``X``."""
        return self.base(X) + torch.log(self.success.probability(X)).sum(dim=-1)

    @property  # type: ignore[override]
    def X_pending(self) -> Tensor | None:
        """The base acquisition's pending runs."""
        return self.base.X_pending

    @X_pending.setter
    def X_pending(self, value: Tensor | None) -> None:
        self.base.set_X_pending(value)  # the base keeps the pending runs

    def set_X_pending(self, X_pending: Tensor | None = None) -> None:
        """Set the base acquisition's pending runs."""
        self.base.set_X_pending(X_pending)
