"""The no-transfer baseline: BoTorch's ``SingleTaskGP``, one independent GP per metric.

This is what a user would otherwise reach for, so the benchmark's ``gp`` method
uses it unchanged: default priors, standardized outputs, and
``fit_gpytorch_mll`` for the hyperparameters.
"""

from __future__ import annotations

from botorch.fit import fit_gpytorch_mll
from botorch.models import MixedSingleTaskGP, SingleTaskGP
from botorch.models.transforms.outcome import Standardize
from gpytorch.mlls import ExactMarginalLogLikelihood
from torch import Tensor


def fit_gp(X: Tensor, Y: Tensor, cat_dims: list[int] | None = None) -> SingleTaskGP:
    """Fit a GP with standardized outcomes to ``n x d`` ``X`` and ``n x m`` ``Y``.

    With categorical inputs (``cat_dims``), BoTorch's ``MixedSingleTaskGP``: a
    categorical kernel on those inputs combined with the continuous kernel.
    """
    if cat_dims:
        model: SingleTaskGP = MixedSingleTaskGP(
            X, Y, cat_dims=cat_dims, outcome_transform=Standardize(m=Y.shape[-1])
        )
    else:
        model = SingleTaskGP(X, Y, outcome_transform=Standardize(m=Y.shape[-1]))
    fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    return model.eval()
