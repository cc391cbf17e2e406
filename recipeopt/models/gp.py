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

import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import MixedSingleTaskGP, SingleTaskGP
from botorch.models.model import Model
from botorch.models.transforms.outcome import Standardize
from gpytorch.means import Mean
from gpytorch.mlls import ExactMarginalLogLikelihood
from linear_operator.utils.cholesky import psd_safe_cholesky
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

    def __init__(self, prior: Model, transform: Standardize, known: Tensor | None = None) -> None:
        super().__init__()
        self._prior = (prior,)
        self.transform = transform
        self._known: tuple[Tensor, Tensor] | None = None
        if known is not None and len(known):
            with torch.no_grad():
                self._known = (known, self._evaluate(known))

    def _evaluate(self, x: Tensor) -> Tensor:
        """Return the prior's posterior mean at ``... x n x d`` inputs as ``... x n x m``."""
        posterior: Any = self._prior[0].posterior(x)
        return posterior.mean

    def _prior_mean(self, x: Tensor) -> Tensor:
        """Return the prior's mean at ``x``, looked up for the recorded runs.

        Fitting the GP and evaluating qLogNEI (whose joint posterior always spans
        the recorded runs) ask for the prior's mean at those runs on every call.
        Their means are computed once, so each call runs the prior only on the
        new points: the values are the same, the time is not.
        """
        if self._known is None:
            return self._evaluate(x)
        known_x, known_mean = self._known
        flat = x.reshape(-1, x.shape[-1])
        with torch.no_grad():  # exact matches: distances without the matmul shortcut
            distance = torch.cdist(
                flat.detach(), known_x, compute_mode="donot_use_mm_for_euclid_dist"
            )
            hit = distance == 0
            found = hit.any(dim=-1)
        mean = known_mean[hit.to(torch.int8).argmax(dim=-1)]
        if not found.all():
            missing = (~found).nonzero().squeeze(-1)
            mean = mean.index_put((missing,), self._evaluate(flat[missing]))
        return mean.reshape(*x.shape[:-1], mean.shape[-1])

    def forward(self, x: Tensor) -> Tensor:
        """Return the standardized prior mean at ``x``.

        For ``m > 1`` outputs the GP is batched over them: the inputs are
        ``... x m x n x d`` (each output has its own copy, or a broadcast dimension
        of size 1, so the first copy is used) and the mean is ``... x m x n``. For
        one output the inputs are ``... x n x d`` and the mean is ``... x n``.
        """
        multi = self.transform.means.shape[-1] > 1
        prior_mean = self._prior_mean(x[..., 0, :, :] if multi else x)
        mean = (prior_mean - self.transform.means) / self.transform.stdvs
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
        model.mean_module = PriorMean(prior, transform, known=X)
    fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    return model.eval()


def held_out_means(model: SingleTaskGP, fold_of: Tensor) -> Tensor:
    """Return the fitted GP's k-fold held-out posterior means at its own runs.

    Each fold is predicted from the other runs with the hyperparameters fitted
    on all of them, in closed form (Rasmussen & Williams 2006, sec. 5.4.2,
    extended to blocks): with ``K`` the runs' covariance (noise included) and
    ``a = K^-1 (y - mean)``, the held-out mean of fold ``S`` is
    ``y_S - (K^-1)_SS^-1 a_S``. No refit, so it costs one inverse.

    Args:
        model: A GP from :func:`fit_gp` (one output, or a batch over the outputs).
        fold_of: ``n`` fold of each run.

    Returns:
        ``n x m`` held-out means in the units the GP was fitted in.
    """
    x = model.train_inputs[0]
    targets = model.train_targets
    with torch.no_grad():
        prior = model.likelihood(model.forward(x), x)
        inverse = torch.cholesky_inverse(psd_safe_cholesky(prior.covariance_matrix))
        alpha = (inverse @ (targets - prior.mean).unsqueeze(-1)).squeeze(-1)
        held_out = targets.clone()
        for k in fold_of.unique():
            rows = (fold_of == k).nonzero().squeeze(-1)
            block = inverse[..., rows[:, None], rows]
            held_out[..., rows] -= torch.linalg.solve(block, alpha[..., rows].unsqueeze(-1))[..., 0]
        standardized = held_out.transpose(-1, -2) if held_out.dim() > 1 else held_out[:, None]
        transform: Any = model.outcome_transform
        return transform.untransform(standardized)[0]
