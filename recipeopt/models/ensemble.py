"""The deep ensemble as a BoTorch ``EnsembleModel``, and how its members are fitted.

All members share one architecture (:class:`~recipeopt.models.network.MLP`) and
are trained together: their parameters are stacked on a leading member
dimension and run with :func:`torch.func.vmap`, so eight members cost little more
than one. Each member sees the data through its own Bayesian-bootstrap weights
and starts from its own seed.

The raw spread of members is not trusted: it is known to collapse (see
shared/DESIGN.md). :func:`cross_validate` refits the ensemble with k folds held
out; the held-out z-scores give a per-metric ``spread`` factor by which member
deviations from the ensemble mean are scaled, so that the model's predictive
spread matches its held-out error. The same held-out predictions give the
cross-validated RMSE that ``recipeopt status`` reports.

Example:
    >>> fit = fit_ensemble(X, Y, EnsembleConfig(), seed=0)  # doctest: +SKIP
    >>> posterior = fit.model.posterior(X_test)  # doctest: +SKIP
    >>> posterior.mean.shape  # n x m  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from botorch.models.ensemble import EnsembleModel
from botorch.models.transforms.outcome import Standardize
from torch import Tensor

from recipeopt.models.network import MLP, init_member_params, predict_members

#: The spread factor is clamped to this range: fewer than ~10 held-out points
#: cannot support a larger correction, and a smaller one would be overconfident.
SPREAD_LIMITS = (0.5, 10.0)


@dataclass(frozen=True)
class EnsembleConfig:
    """Architecture and training of the ensemble.

    Attributes:
        members: Number of members ``s``.
        hidden: Hidden-layer width.
        layers: Number of hidden layers.
        categorical: ``{input index: number of choices}`` of categorical inputs.
        epochs: Full-batch Adam steps.
        lr: Adam learning rate.
        weight_decay: Decoupled weight decay (AdamW).
        folds: Folds used to calibrate the spread (0 disables calibration).
    """

    members: int = 8
    hidden: int = 64
    layers: int = 2
    categorical: tuple[tuple[int, int], ...] = ()
    epochs: int = 400
    lr: float = 5e-3
    weight_decay: float = 1e-3
    folds: int = 5


class DeepEnsemble(EnsembleModel):
    """A deep ensemble whose members' outputs are the posterior samples.

    Args:
        net: The member architecture.
        params: Member parameters stacked on dim 0 (``s x ...``).
        spread: ``m`` factors applied to member deviations from the ensemble
            mean, from cross-validation; ones for the raw spread.
        outcome_transform: Optional fitted BoTorch outcome transform; members
            predict in its transformed space and the posterior untransforms.
    """

    def __init__(
        self,
        net: MLP,
        params: dict[str, Tensor],
        spread: Tensor,
        outcome_transform: Standardize | None = None,
    ) -> None:
        super().__init__()
        self.net = net
        self.member_params = {k: v.detach() for k, v in params.items()}
        self.spread = spread.detach()
        self._num_outputs = int(spread.shape[-1])
        if outcome_transform is not None:
            self.outcome_transform = outcome_transform.eval()

    @property
    def size(self) -> int:
        """Number of members."""
        return int(next(iter(self.member_params.values())).shape[0])

    def forward(self, X: Tensor) -> Tensor:
        """Return member predictions at ``X`` (``batch x n x d``) as ``batch x s x n x m``."""
        values = predict_members(self.net, self.member_params, X)
        mean = values.mean(dim=0, keepdim=True)
        values = mean + self.spread * (values - mean)
        return values.movedim(0, -3)


@dataclass
class EnsembleFit:
    """A fitted ensemble and what cross-validation said about it.

    Attributes:
        model: The BoTorch model.
        cv_mean: ``n x m`` held-out predictions of each training point (or None).
        cv_std: ``n x m`` raw held-out member standard deviations (or None).
    """

    model: DeepEnsemble
    cv_mean: Tensor | None = None
    cv_std: Tensor | None = None


def train_members(
    X: Tensor, Y: Tensor, weights: Tensor, config: EnsembleConfig, seeds: list[int]
) -> tuple[MLP, dict[str, Tensor]]:
    """Train one member per row of ``weights`` on weighted squared error.

    Args:
        X: ``n x d`` training inputs on the unit cube.
        Y: ``n x m`` normalized training outputs.
        weights: ``s x n`` non-negative sample weights, one row per member
            (bootstrap weights, zero for held-out points).
        config: Architecture and optimizer settings.
        seeds: ``s`` initialization seeds.

    Returns:
        The architecture and the trained parameters stacked as ``s x ...``.
    """
    net = MLP(X.shape[-1], Y.shape[-1], config.hidden, config.layers, dict(config.categorical)).to(
        X
    )
    params = {k: v.to(X).requires_grad_() for k, v in init_member_params(net, seeds).items()}
    optimizer = torch.optim.AdamW(params.values(), lr=config.lr, weight_decay=config.weight_decay)
    norm = weights / weights.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    for _ in range(config.epochs):
        optimizer.zero_grad(set_to_none=True)
        pred = predict_members(net, params, X)  # s x n x m
        loss = (((pred - Y) ** 2).mean(dim=-1) * norm).sum()
        loss.backward()
        optimizer.step()
    return net, {k: v.detach() for k, v in params.items()}


def _bootstrap_weights(s: int, n: int, generator: torch.Generator, dtype: torch.dtype) -> Tensor:
    """Bayesian-bootstrap weights: ``s x n`` Exp(1) draws (every point keeps some weight)."""
    return -torch.log(torch.rand(s, n, generator=generator, dtype=dtype).clamp_min(1e-12))


def fit_ensemble(X: Tensor, Y: Tensor, config: EnsembleConfig, seed: int) -> EnsembleFit:
    """Fit the ensemble on ``(X, Y)`` and calibrate its spread by k-fold cross-validation.

    Outputs are standardized with BoTorch's ``Standardize`` (the posterior
    untransforms them). Members train in float32; the returned model runs in the
    dtype of ``X``. The final members and the ``folds x members``
    cross-validation members are trained in one vectorized run.

    Args:
        X: ``n x d`` inputs on the unit cube.
        Y: ``n x m`` normalized outputs.
        config: Ensemble settings.
        seed: Seeds initialization, bootstraps and fold assignment.

    Returns:
        The fitted ensemble, with held-out predictions when ``folds >= 2`` and ``n >= 4``.
    """
    n, m = Y.shape
    s = config.members
    standardize = Standardize(m=m).to(Y)
    Y_tf, _ = standardize(Y)
    standardize.eval()
    generator = torch.Generator().manual_seed(seed)
    boot = _bootstrap_weights(s, n, generator, torch.float32)
    folds = min(config.folds, n) if n >= 4 else 0
    fold_of = torch.randperm(n, generator=generator) % max(folds, 1)
    weights = [boot]
    for k in range(folds):
        weights.append(boot * (fold_of != k).to(boot))
    seeds = [seed * 7919 + j for j in range(s * (1 + folds))]
    X32, Y32 = X.float(), Y_tf.float()
    net, params = train_members(X32, Y32, torch.cat(weights), config, seeds)
    final = {k: v[:s].to(X) for k, v in params.items()}
    net = net.to(X)
    if folds < 2:
        return EnsembleFit(DeepEnsemble(net, final, torch.ones(m).to(X), standardize))
    with torch.no_grad():
        cv_members = {k: v[s:] for k, v in params.items()}
        pred = predict_members(net.float(), cv_members, X32).reshape(folds, s, n, m)
        net = net.to(X)
        own = pred[fold_of, :, torch.arange(n)].to(X)  # n x s x m: each point by its held-out fold
        scale = standardize.stdvs.squeeze(0)
        cv_mean = own.mean(dim=1) * scale + standardize.means.squeeze(0)
        cv_std = own.std(dim=1) * scale
    spread = spread_factor(Y, cv_mean, cv_std)
    return EnsembleFit(
        DeepEnsemble(net, final, spread, standardize), cv_mean=cv_mean, cv_std=cv_std
    )


def spread_factor(Y: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """Return per-metric factors ``c`` so that ``(Y - mean) / (c * std)`` has unit RMS.

    Args:
        Y: ``n x m`` held-out targets.
        mean: ``n x m`` held-out predictions.
        std: ``n x m`` raw member standard deviations at those points.
    """
    z2 = ((Y - mean) / std.clamp_min(1e-6)) ** 2
    return z2.mean(dim=0).sqrt().clamp(*SPREAD_LIMITS)
