"""BoTorch GPs: the no-transfer baseline, and the residual GP over the adapted ensemble.

The benchmark's ``gp`` method is what a user would otherwise reach for, so it
uses BoTorch's ``SingleTaskGP`` unchanged: default priors, standardized
outputs, and ``fit_gpytorch_mll`` for the hyperparameters.

The same GP with another model's posterior mean as its prior mean
(:class:`PriorMean`) is the residual GP that ``maml-ensemble`` optimizes
qLogNEI on once the campaign has ``greedy_runs`` runs (a strategy setting): the adapted
ensemble says where the family's optima lie, and the GP fits, with its own
calibrated spread, what the recipe's runs say on top of it.

Example:
    >>> prior = adapted.model  # an adapted DeepEnsemble  # doctest: +SKIP
    >>> gp = fit_gp(X, Y, prior=prior)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from botorch.fit import fit_gpytorch_mll
from botorch.models import MixedSingleTaskGP, SingleTaskGP
from botorch.models.model import Model
from botorch.models.transforms.outcome import Standardize
from gpytorch.means import Mean
from gpytorch.mlls import ExactMarginalLogLikelihood
from torch import Tensor


class PriorMean(Mean):
    """A GP mean function: another model's posterior mean, in the GP's standardized units.

    The prior's mean is kept at full weight. Fitting a weight and an offset per
    output by marginal likelihood (so that runs which contradict the prior scale
    it down) was measured and not adopted: see docs/decisions/0004-residual-gp.md.

    Args:
        prior: A fitted BoTorch model over the same ``m`` outputs. Its weights
            stay fixed: it is held outside the module tree, so fitting the GP's
            hyperparameters cannot change it.
        transform: The GP's fitted ``Standardize`` outcome transform.
    """

    def __init__(self, prior: Model, transform: Standardize) -> None:
        super().__init__()
        self._prior = (prior,)
        self.transform = transform

    def forward(self, x: Tensor) -> Tensor:
        """Return the standardized prior mean at ``x``.

        For ``m > 1`` outputs the GP is batched over them: the inputs are
        ``... x m x n x d`` (each output has its own copy, or a broadcast dimension
        of size 1, so the first copy is used) and the mean is ``... x m x n``. For
        one output the inputs are ``... x n x d`` and the mean is ``... x n``.
        """
        multi = self.transform.means.shape[-1] > 1
        posterior: Any = self._prior[0].posterior(x[..., 0, :, :] if multi else x)
        mean = (posterior.mean - self.transform.means) / self.transform.stdvs
        return mean.transpose(-1, -2) if multi else mean[..., 0]


def fit_gp(
    X: Tensor, Y: Tensor, cat_dims: list[int] | None = None, *, prior: Model | None = None
) -> SingleTaskGP:
    """Fit a GP with standardized outcomes to ``n x d`` ``X`` and ``n x m`` ``Y``.

    With categorical inputs (``cat_dims``), BoTorch's ``MixedSingleTaskGP``: a
    categorical kernel on those inputs combined with the continuous kernel.
    With a ``prior`` model, its posterior mean replaces the GP's constant mean,
    so the GP models the runs' residuals from it.
    """
    transform = Standardize(m=Y.shape[-1])  # the constructor fits it to Y
    if cat_dims:
        model: SingleTaskGP = MixedSingleTaskGP(
            X, Y, cat_dims=cat_dims, outcome_transform=transform
        )
    else:
        model = SingleTaskGP(X, Y, outcome_transform=transform)
    if prior is not None:
        model.mean_module = PriorMean(prior, transform)
    fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    return model.eval()
