"""The deep ensemble as a BoTorch ``EnsembleModel``, and how its members are fitted.

All members share one architecture (:class:`~recipeopt.models.network.MLP`) and
are trained together: their parameters are stacked on a leading member
dimension and run with :func:`torch.func.vmap`, so eight members cost little more
than one. Each member sees the data through its own Bayesian-bootstrap weights
and starts from its own seed.

The raw spread of members is not trusted: it is known to collapse (see
docs/design.md). :func:`cross_validate` refits the ensemble with k folds held
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

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from botorch.models.ensemble import EnsembleModel
from botorch.models.transforms.outcome import Standardize
from torch import Tensor

from recipeopt.meta.maml import adapt
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
        steps: Adaptation steps chosen on held-out runs (adapted ensembles only).
        lr: Inner learning rate of those steps (adapted ensembles only; below the
            checkpoint's when its own diverged on these runs).
        fold_of: ``n`` fold of each run in the cross-validation (or None), so
            another model can be cross-validated on the same folds.
    """

    model: DeepEnsemble
    cv_mean: Tensor | None = None
    cv_std: Tensor | None = None
    steps: int | None = None
    lr: float | None = None
    fold_of: Tensor | None = None

    def cv_error(self, Y: Tensor, weights: Tensor) -> float:
        """Return the held-out mean squared error of the weighted objective ``Y @ weights``."""
        assert self.cv_mean is not None
        return float((((self.cv_mean - Y) @ weights) ** 2).mean())


def mean_cv_error(f: Tensor) -> float:
    """Return the leave-one-out mean squared error of predicting each of ``f`` by the others' mean.

    The no-skill baseline that a model's held-out error must beat.
    """
    n = len(f)
    others = (f.sum() - f) / (n - 1)
    return float(((others - f) ** 2).mean())


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


def cv_weights(n: int, s: int, folds: int, seed: int) -> tuple[Tensor, Tensor, int]:
    """Return member weights for a final fit plus k-fold cross-validation fits.

    Each of the ``s`` members gets Bayesian-bootstrap weights (``Exp(1)`` draws,
    so every point keeps some weight); fold ``k``'s copies of them zero the
    points of fold ``k``.

    Returns:
        ``((1 + folds) * s) x n`` weights (final members first, then fold by
        fold), the ``n`` fold of each point, and the number of folds (0 with
        fewer than 4 points).
    """
    generator = torch.Generator().manual_seed(seed)
    boot = -torch.log(torch.rand(s, n, generator=generator).clamp_min(1e-12))
    folds = min(folds, n) if n >= 4 else 0
    fold_of = torch.randperm(n, generator=generator) % max(folds, 1)
    weights = [boot] + [boot * (fold_of != k).to(boot) for k in range(folds)]
    return torch.cat(weights), fold_of, folds


def held_out(
    pred: Tensor, fold_of: Tensor, s: int, transform: Standardize
) -> tuple[Tensor, Tensor]:
    """Return each point's prediction by the members that did not see it.

    Args:
        pred: ``(folds * s) x n x m`` predictions of the cross-validation members
            (in the transformed space), fold by fold.
        fold_of: ``n`` fold of each point.
        s: Members per fold.
        transform: The fitted outcome transform (predictions are untransformed).

    Returns:
        ``n x m`` held-out means and raw member standard deviations, in ``Y``'s units.
    """
    n, m = pred.shape[-2:]
    own = pred.reshape(-1, s, n, m)[fold_of, :, torch.arange(n)]  # n x s x m
    scale = transform.stdvs.squeeze(0)
    return own.mean(dim=1) * scale + transform.means.squeeze(0), own.std(dim=1) * scale


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
    weights, fold_of, folds = cv_weights(n, s, config.folds, seed)
    seeds = [seed * 7919 + j for j in range(s * (1 + folds))]
    X32, Y32 = X.float(), Y_tf.float()
    net, params = train_members(X32, Y32, weights, config, seeds)
    final = {k: v[:s].to(X) for k, v in params.items()}
    net = net.to(X)
    if folds < 2:
        return EnsembleFit(DeepEnsemble(net, final, torch.ones(m).to(X), standardize))
    with torch.no_grad():
        cv_members = {k: v[s:] for k, v in params.items()}
        pred = predict_members(net.float(), cv_members, X32)
        net = net.to(X)
    cv_mean, cv_std = held_out(pred.to(X), fold_of, s, standardize)
    spread = spread_factor(Y, cv_mean, cv_std)
    return EnsembleFit(
        DeepEnsemble(net, final, spread, standardize),
        cv_mean=cv_mean,
        cv_std=cv_std,
        fold_of=fold_of,
    )


def spread_factor(Y: Tensor, mean: Tensor, std: Tensor, *, coverage: float | None = None) -> Tensor:
    """Return per-metric factors ``c`` that calibrate ``mean +- c * std`` on held-out points.

    By default ``(Y - mean) / (c * std)`` gets unit RMS: stable on a few points,
    but it matches the variance, so heavy-tailed errors over-cover. With many
    points, ``coverage`` matches that central interval instead: ``c`` is the
    ``coverage`` quantile of ``|z|`` over the normal quantile of that interval.

    Args:
        Y: ``n x m`` held-out targets.
        mean: ``n x m`` held-out predictions.
        std: ``n x m`` raw member standard deviations at those points.
        coverage: Central interval to match (for example 0.9), or None for unit RMS.
    """
    z = (Y - mean) / std.clamp_min(1e-6)
    if coverage is None:
        factor = (z**2).mean(dim=0).sqrt()
    else:
        normal = torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor((1 + coverage) / 2))
        factor = z.abs().quantile(coverage, dim=0) / normal.to(z)
    return factor.clamp(*SPREAD_LIMITS)


#: From this many runs, the adaptation length and the spread are chosen on held-out runs.
CV_MIN_RUNS = 20
#: Adaptation lengths tried on held-out runs, in SGD steps from the meta-learned weights.
STEP_GRID = (0, 1, 2, 3, 5, 8, 12, 20, 30, 50, 80, 120, 200, 300, 500)
#: Times the inner learning rate is halved when the inner loop diverges on a recipe's runs.
LR_HALVINGS = 3


State = TypeVar("State")


def walk_steps(
    start: State,
    advance: Callable[[State, int], State],
    evaluate: Callable[[State], tuple[float, Any] | None],
    grid: Sequence[int] = STEP_GRID,
    *,
    keep_last: bool = False,
) -> tuple[tuple[float, int, State, Any], bool]:
    """Adapt along ``grid`` (total steps) and keep the length with the lowest held-out error.

    Args:
        start: The parameters before any step.
        advance: ``advance(state, k)`` takes ``k`` more steps (functionally).
        evaluate: Held-out ``(error, extra)`` of a state, or None once it diverged.
        grid: Increasing adaptation lengths, the first of them 0.
        keep_last: Keep the last length whatever its error (a fixed length, not a search).

    Returns:
        ``(error, steps, state, extra)`` of the length kept, and whether the walk diverged
        (then the length kept is the best before the divergence).
    """
    best: tuple[float, int, State, Any] | None = None
    current, done, worse = start, 0, 0
    for steps in grid:
        current = advance(current, steps - done)
        done = steps
        result = evaluate(current)
        if result is None:
            assert best is not None, "zero steps cannot diverge"
            return best, True
        error, extra = result
        if best is None or error < best[0] or keep_last:
            best, worse = (error, steps, current, extra), 0
        else:
            worse += 1
            # NOTE: the first few steps move little and the held-out error is noisy, so
            # only a rise that lasts past 30 steps ends the search (longer adaptation
            # overfits).
            if worse >= 3 and steps >= 30:
                break
    assert best is not None
    return best, False


def fixed_standardize(mean: Tensor, std: Tensor) -> Standardize:
    """Return BoTorch's ``Standardize`` with given (not fitted) means and deviations (eval)."""
    transform = Standardize(m=mean.shape[-1]).to(mean)
    transform.means = mean.reshape(1, -1).clone()
    transform.stdvs = std.reshape(1, -1).clone()
    transform._stdvs_sq = transform.stdvs**2
    transform._is_trained = torch.tensor(True)
    return transform.eval()


def adapt_ensemble(
    net: MLP,
    params: dict[str, Tensor],
    X: Tensor,
    Y: Tensor,
    transform: Standardize,
    *,
    lr: float,
    default_steps: int,
    default_spread: Tensor,
    seed: int,
    gains: dict[str, Tensor] | None = None,
    folds: int = 5,
) -> EnsembleFit:
    """Adapt meta-learned members to ``(X, Y)``; choose the steps and the spread on held-out runs.

    Every member starts from its meta-learned weights (never changed: the
    adaptation is functional) and takes SGD steps on its own Bayesian-bootstrap
    weighting of the runs. With 4 or more runs, k-fold copies of the members
    adapt with one fold held out, all in one vectorized run; after each length
    in :data:`STEP_GRID` the held-out error is measured, and the length with
    the lowest error is kept. The same held-out predictions calibrate the spread
    (:func:`spread_factor`). With fewer than :data:`CV_MIN_RUNS` runs,
    ``default_steps`` and ``default_spread`` (chosen for this many runs on the
    meta-training's held-out recipes) are used, and the held-out predictions
    (from 4 runs on) only serve the comparison with the scratch ensemble.

    Args:
        net: The member architecture.
        params: Meta-learned member parameters, ``s x ...``.
        X: ``n x d`` inputs on the unit cube.
        Y: ``n x m`` normalized outputs.
        transform: The checkpoint's fixed output standardization.
        lr: Inner learning rate.
        default_steps: Steps used without cross-validation.
        default_spread: ``m`` spread factors used without cross-validation.
        seed: Seeds bootstraps and folds.
        gains: Meta-learned ``s`` gains on ``lr`` per parameter tensor (default: none).
        folds: Folds of the cross-validation.

    Returns:
        The adapted ensemble (in ``X``'s dtype), with held-out predictions and the chosen steps.
    """
    n = len(Y)
    s = next(iter(params.values())).shape[0]
    net32 = copy.deepcopy(net).float()
    X32 = X.float()
    Y32 = transform(Y)[0].float()
    weights, fold_of, folds = cv_weights(n, s, folds, seed)
    copies = 1 + folds

    # One gain per tensor for every copy of a member (``weights`` has ``copies x s`` rows).
    copy_gains = {
        k: torch.cat([(torch.ones(s) if gains is None else gains[k]).float()] * copies)
        for k in params
    }

    def advance(p: dict[str, Tensor], steps: int, rate: float) -> dict[str, Tensor]:
        def one(q: dict[str, Tensor], w: Tensor, g: dict[str, Tensor]) -> dict[str, Tensor]:
            return adapt(net32, q, X32, Y32, lr=rate, steps=steps, weights=w, gains=g, check=False)

        with torch.no_grad():
            return torch.func.vmap(one)(p, weights, copy_gains)

    def model(p: dict[str, Tensor], spread: Tensor) -> DeepEnsemble:
        final = {k: v[:s].to(X) for k, v in p.items()}
        return DeepEnsemble(copy.deepcopy(net).to(X), final, spread.to(X), transform)

    def fit_error(p: dict[str, Tensor]) -> float:
        """Training error of the final members (NaN once the parameters overflow)."""
        with torch.no_grad():
            pred = predict_members(net32, {k: v[:s] for k, v in p.items()}, X32)
        return float(((pred - Y32) ** 2).mean())

    prior_error = fit_error({k: v.float() for k, v in params.items()})

    def blew_up(p: dict[str, Tensor]) -> bool:
        """Whether the steps diverged: a training error well above the prior's, or overflow.

        (Members step on bootstrap-weighted errors, so the plain one may rise a little.)
        """
        return not fit_error(p) <= 2.0 * prior_error

    # Data unlike the history can make the meta-learned rate diverge within the first steps
    # (0 steps would leave the raw prior): then the rate is halved, up to LR_HALVINGS times.
    rates = [lr / 2**k for k in range(LR_HALVINGS + 1)]
    if folds < 2:  # too few runs to hold any out: the default steps, at the first stable rate
        start = {k: v.float() for k, v in params.items()}
        for rate in rates:
            adapted = advance(start, default_steps, rate)
            if not blew_up(adapted):
                return EnsembleFit(model(adapted, default_spread), steps=default_steps, lr=rate)
        return EnsembleFit(model(start, default_spread), steps=0, lr=lr)
    # NOTE: meta-training optimized the prior for ``default_steps`` on 5-40 runs; the
    # held-out error of a handful of runs is too noisy to overrule that, so the grid is
    # searched (and the spread recalibrated) only from CV_MIN_RUNS runs on.
    searched = n >= CV_MIN_RUNS
    grid = STEP_GRID if searched else (0, default_steps)

    def search(rate: float) -> tuple[tuple[float, int, dict[str, Tensor], Any], bool]:
        """Adapt along the grid at ``rate``; return the best length and whether it diverged."""

        def evaluate(p: dict[str, Tensor]) -> tuple[float, Any] | None:
            if blew_up(p):
                return None
            with torch.no_grad():
                pred = predict_members(net32, {k: v[s:] for k, v in p.items()}, X32).to(X)
            cv_mean, cv_std = held_out(pred, fold_of, s, transform)
            return float((((cv_mean - Y) / transform.stdvs) ** 2).mean()), (cv_mean, cv_std)

        start = {k: torch.cat([v.float()] * copies) for k, v in params.items()}
        return walk_steps(
            start, lambda p, k: advance(p, k, rate), evaluate, grid, keep_last=not searched
        )

    # After a divergence, keep the rate with the lower held-out error (without the search,
    # the first rate that completes the default steps).
    best, diverged = search(rates[0])
    chosen = rates[0]
    for rate in rates[1:]:
        if not diverged:
            break
        found, diverged = search(rate)
        if (found[0] < best[0]) if searched else not diverged:
            best, chosen = found, rate
    _, steps, adapted, (cv_mean, cv_std) = best
    spread = spread_factor(Y, cv_mean, cv_std) if searched else default_spread
    return EnsembleFit(
        model(adapted, spread),
        cv_mean=cv_mean,
        cv_std=cv_std,
        steps=steps,
        lr=chosen,
        fold_of=fold_of,
    )
