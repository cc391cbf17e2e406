"""The deep ensemble through BoTorch: shapes, MC acquisition, calibration, determinism."""

from __future__ import annotations

import pytest
import torch
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.posteriors.ensemble import EnsemblePosterior
from botorch.sampling.index_sampler import IndexSampler

from recipeopt.acquisition import build_acquisition
from recipeopt.models.ensemble import (
    DeepEnsemble,
    EnsembleConfig,
    EnsembleFit,
    adapt_ensemble,
    fit_ensemble,
    fixed_standardize,
    spread_factor,
    walk_steps,
)
from recipeopt.models.network import MLP, init_member_params
from recipeopt.strategy import guard
from recipeopt.strategy.guard import SKILL_RESOLUTION, lacks_skill

FAST = EnsembleConfig(members=4, hidden=16, epochs=60, folds=3)


def data(n=24, d=5, m=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, d, generator=g, dtype=torch.float64)
    Y = torch.stack([X[:, 0] ** 2, torch.sin(3 * X[:, 1]), X[:, 2] * X[:, 3]], -1)[:, :m]
    return X, Y + 0.01 * torch.randn(n, m, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("batch_shape", [(), (2,), (3, 2)])
@pytest.mark.parametrize("m", [1, 3])
def test_posterior_shapes(batch_shape, m):
    X, Y = data(m=m)
    model = fit_ensemble(X, Y, FAST, seed=0).model
    Xq = torch.rand(*batch_shape, 7, X.shape[-1], dtype=torch.float64)
    values = model(Xq)
    assert values.shape == (*batch_shape, FAST.members, 7, m)
    posterior = model.posterior(Xq)
    assert isinstance(posterior, EnsemblePosterior)
    assert posterior.mean.shape == (*batch_shape, 7, m)
    assert posterior.variance.shape == (*batch_shape, 7, m)
    samples = IndexSampler(torch.Size([5]), seed=0)(posterior)
    assert samples.shape == (5, *batch_shape, 7, m)


def test_standardized_outputs_are_untransformed():
    X, Y = data()
    Y = 100.0 + 10.0 * Y  # far from zero mean, unit variance
    model = fit_ensemble(
        X, Y, EnsembleConfig(members=4, hidden=32, epochs=300, folds=0), seed=0
    ).model
    mean = model.posterior(X).mean
    assert (mean - Y).abs().mean() < 0.3 * Y.std(0).mean()


def test_qlognei_runs_with_pending_points():
    X, Y = data()
    model = fit_ensemble(X, Y, FAST, seed=0).model
    from botorch.acquisition.objective import LinearMCObjective

    objective = LinearMCObjective(torch.tensor([0.6, 0.3, 0.1], dtype=torch.float64))
    acqf = build_acquisition(model, objective, X, None, seed=0)
    assert isinstance(acqf, qLogNoisyExpectedImprovement)
    values = acqf(torch.rand(64, 4, X.shape[-1], dtype=torch.float64))
    assert values.shape == (64,) and torch.isfinite(values).all()
    candidates = torch.rand(64, 1, X.shape[-1], dtype=torch.float64)
    best = candidates[acqf(candidates).argmax()]
    # Once the best candidate is pending, proposing it again adds (almost) nothing.
    with_pending = build_acquisition(model, objective, X, best, seed=0)
    assert with_pending(best.unsqueeze(0)) < acqf(best.unsqueeze(0)) - 1.0


def test_same_seed_same_fit_different_seed_different_fit():
    X, Y = data()
    Xq = torch.rand(9, X.shape[-1], dtype=torch.float64)
    a = fit_ensemble(X, Y, FAST, seed=1).model(Xq)
    b = fit_ensemble(X, Y, FAST, seed=1).model(Xq)
    c = fit_ensemble(X, Y, FAST, seed=2).model(Xq)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_members_differ():
    X, Y = data()
    values = fit_ensemble(X, Y, FAST, seed=0).model(torch.rand(5, X.shape[-1], dtype=torch.float64))
    assert values.std(dim=-3).min() > 0


def test_spread_factor_scales_deviation_not_mean():
    net = MLP(3, 2, 8, 1).double()
    params = {k: v.double() for k, v in init_member_params(net, [0, 1, 2]).items()}
    X = torch.rand(4, 3, dtype=torch.float64)
    raw = DeepEnsemble(net, params, torch.ones(2, dtype=torch.float64)).posterior(X)
    wide = DeepEnsemble(net, params, torch.tensor([3.0, 1.0], dtype=torch.float64)).posterior(X)
    torch.testing.assert_close(wide.mean, raw.mean)
    torch.testing.assert_close(wide.variance[:, 0], 9 * raw.variance[:, 0])
    torch.testing.assert_close(wide.variance[:, 1], raw.variance[:, 1])


def test_spread_factor_from_z_scores():
    Y = torch.tensor([[0.0], [0.0], [0.0], [0.0]], dtype=torch.float64)
    mean = torch.tensor([[2.0], [-2.0], [2.0], [-2.0]], dtype=torch.float64)
    std = torch.ones(4, 1, dtype=torch.float64)
    assert spread_factor(Y, mean, std).item() == pytest.approx(2.0)
    assert spread_factor(Y, mean, 100 * std).item() == pytest.approx(0.5)  # clamped below


def test_cross_validation_predicts_every_point_out_of_fold():
    X, Y = data(n=20)
    fit = fit_ensemble(X, Y, FAST, seed=0)
    assert fit.cv_mean is not None and fit.cv_mean.shape == Y.shape
    in_sample = (fit.model.posterior(X).mean - Y).pow(2).mean()
    held_out = (fit.cv_mean - Y).pow(2).mean()
    assert held_out > in_sample  # out-of-fold error is the honest, larger one


def test_spread_factor_matches_a_coverage_on_heavy_tailed_errors():
    # 95 % small errors and 5 % large ones: unit RMS over-covers the 90 % interval; the
    # quantile rule covers 90 % of the same points.
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(20_000, 1, generator=generator)
    z[::20] *= 10.0
    Y, mean, std = z, torch.zeros_like(z), torch.ones_like(z)
    rms, matched = spread_factor(Y, mean, std), spread_factor(Y, mean, std, coverage=0.9)
    inside = lambda c: float((z.abs() <= 1.6448536 * c).double().mean())  # noqa: E731
    assert inside(rms) > 0.95
    assert inside(matched) == pytest.approx(0.9, abs=0.005)


@pytest.mark.parametrize("n", [3, 8])
def test_adaptation_halves_an_inner_rate_that_diverges(n):
    # Targets 20x their standardized scale make a rate of 0.5 blow up in a few steps: the
    # adaptation must still take its 5 steps, at a lower rate, and improve on the prior.
    X, Y = data(n=n)
    net = MLP(5, 3, hidden=16, layers=2)
    params = init_member_params(net, [0, 1, 2])
    scale = fixed_standardize(torch.zeros(3, dtype=torch.float64), torch.full((3,), 0.05))
    spread = torch.ones(3)
    fit = adapt_ensemble(
        net, params, X, Y, scale, lr=0.5, default_steps=5, default_spread=spread, seed=0
    )
    prior = adapt_ensemble(
        net, params, X, Y, scale, lr=0.0, default_steps=5, default_spread=spread, seed=0
    )
    assert fit.lr is not None and fit.lr < 0.5 and fit.steps == 5
    error = lambda f: float((f.model.posterior(X).mean - Y).pow(2).mean())  # noqa: E731
    assert error(fit) < 0.5 * error(prior)
    stable = adapt_ensemble(
        net, params, X, Y, scale, lr=0.01, default_steps=5, default_spread=spread, seed=0
    )
    assert stable.lr == 0.01


def test_first_guard_floors_the_mean_baseline_when_runs_tie():
    tied = torch.tensor([0.50, 0.50, 0.51, 0.50], dtype=torch.float64)
    spread = torch.tensor([0.1, 0.5, 0.9, 0.3], dtype=torch.float64)
    # A model within the resolution of tied runs passes; the mean alone would fail it.
    assert lacks_skill(0.5 * SKILL_RESOLUTION**2, tied) is None
    assert lacks_skill(3 * SKILL_RESOLUTION**2, tied) is not None
    # Runs that differ keep their own baseline: 2x the mean's error fails.
    assert lacks_skill(0.1, spread) is None
    assert "objective cv mse" in (lacks_skill(0.4, spread) or "")


def test_second_guard_hands_over_to_a_reference_that_predicts_held_out_runs_better():
    Y = torch.linspace(0, 1, 10, dtype=torch.float64).reshape(-1, 1)
    weights = torch.ones(1, dtype=torch.float64)
    prior, gp = object(), object()
    close, far = Y + 0.01, Y + 0.1

    def choose(prior_cv: torch.Tensor, gp_cv: torch.Tensor, n: int = 10) -> guard.Choice:
        asked.clear()
        fit = EnsembleFit(prior, cv_mean=prior_cv[:n])  # type: ignore[arg-type]
        return guard.choose(
            fit,
            Y[:n],
            weights,
            enabled=True,
            start_up=False,
            reference=lambda: asked.append(1) or (gp, gp_cv[:n]),
            reference_kind="gp",
        )

    asked: list[int] = []
    kept = choose(close, far)
    assert (kept.model, kept.kind, kept.guard) == (prior, "adapted-prior", "kept")
    handed = choose(far, close)
    assert (handed.model, handed.kind, handed.guard) == (gp, "gp", "set-aside")
    assert "plain GP fit held-out runs better" in (handed.reason or "")
    # Below GUARD_MIN_RUNS runs the GP is not fitted at all.
    early = choose(far, close, n=guard.GUARD_MIN_RUNS - 1)
    assert early.kind == "adapted-prior" and not asked


def test_walk_steps_keeps_the_lowest_error_and_stops_after_a_lasting_rise():
    visited: list[int] = []

    def evaluate(steps: int) -> tuple[float, str]:
        visited.append(steps)
        return (steps - 12) ** 2, f"at {steps}"

    (error, steps, state, extra), diverged = walk_steps(0, lambda s, k: s + k, evaluate)
    assert (error, steps, state, extra, diverged) == (0, 12, 12, "at 12", False)
    assert visited == [0, 1, 2, 3, 5, 8, 12, 20, 30, 50]  # three rises, the last past 30 steps
    # A fixed length keeps the last one whatever its error.
    (_, steps, _, _), _ = walk_steps(0, lambda s, k: s + k, evaluate, (0, 20), keep_last=True)
    assert steps == 20


def test_walk_steps_keeps_the_best_length_before_a_divergence():
    def evaluate(steps: int) -> tuple[float, None] | None:
        return None if steps >= 8 else (1.0 / (1 + steps), None)

    (_, steps, _, _), diverged = walk_steps(0, lambda s, k: s + k, evaluate)
    assert steps == 5 and diverged
