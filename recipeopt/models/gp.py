"""The no-transfer baseline: BoTorch's ``SingleTaskGP``, one independent GP per metric.

This is what a user would otherwise reach for, so the benchmark's ``gp`` method
uses it unchanged: default priors, standardized outputs, and
``fit_gpytorch_mll`` for the hyperparameters.
"""

from __future__ import annotations

from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms.outcome import Standardize
from gpytorch.mlls import ExactMarginalLogLikelihood
from torch import Tensor


def fit_gp(X: Tensor, Y: Tensor) -> SingleTaskGP:
    """Fit a ``SingleTaskGP`` with standardized outcomes to ``n x d`` ``X`` and ``n x m`` ``Y``."""
    model = SingleTaskGP(X, Y, outcome_transform=Standardize(m=Y.shape[-1]))
    fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    return model.eval()
