"""The residual GP: a BoTorch GP whose prior mean is another model's posterior mean."""

from __future__ import annotations

import copy

import torch
from botorch.models import MixedSingleTaskGP, SingleTaskGP
from botorch.models.deterministic import GenericDeterministicModel

from recipeopt.models.gp import PriorMean, fit_gp, held_out_means


def _wavy(X: torch.Tensor) -> torch.Tensor:
    """Two outputs no constant-mean GP can extrapolate from a corner of the cube."""
    return torch.stack([torch.sin(6 * X[..., 0]) + X[..., 1], torch.cos(5 * X[..., 1])], dim=-1)


def _data(n: int = 12, d: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    X = 0.4 * torch.rand(n, d, generator=generator, dtype=torch.float64)  # a corner only
    return X, _wavy(X)


def test_residual_gp_follows_the_prior_mean_where_the_runs_agree_with_it():
    X, Y = _data()
    prior = GenericDeterministicModel(_wavy, num_outputs=2)
    far = 0.6 + 0.4 * torch.rand(20, 3, generator=torch.Generator().manual_seed(1)).double()
    residual = fit_gp(X, Y, prior=prior)
    assert isinstance(residual, SingleTaskGP)
    mean = residual.posterior(far).mean
    assert torch.allclose(mean, _wavy(far), atol=0.05)
    # A constant-mean GP on the same runs cannot know the prior's shape far from them.
    plain = fit_gp(X, Y).posterior(far).mean
    assert (plain - _wavy(far)).abs().max() > 0.3


def test_residual_gp_fits_the_runs_where_they_disagree_with_the_prior():
    X, Y = _data(n=30)
    prior = GenericDeterministicModel(lambda Z: _wavy(Z) + 0.5, num_outputs=2)  # biased
    residual = fit_gp(X, Y, prior=prior)
    error = (residual.posterior(X).mean - Y).abs().max()
    assert error < 0.1  # the constant offset is learned from the runs, not kept


def test_residual_gp_with_categorical_inputs_and_gradients():
    X, Y = _data()
    X[:, 2] = torch.tensor([0.0, 0.5, 1.0]).repeat(4)  # a three-way choice on the cube
    prior = GenericDeterministicModel(_wavy, num_outputs=2)
    residual = fit_gp(X, Y, [2], prior=prior)
    assert isinstance(residual, MixedSingleTaskGP)
    batch = torch.rand(5, 4, 3, dtype=torch.float64, requires_grad=True)  # b x q x d
    residual.posterior(batch).mean.sum().backward()  # what qLogNEI's optimizer needs
    assert batch.grad is not None and batch.grad.abs().sum() > 0


def _first(X: torch.Tensor) -> torch.Tensor:
    return _wavy(X)[..., :1]


def test_residual_gp_with_one_output():
    X, Y = _data()
    residual = fit_gp(X, Y[:, :1], prior=GenericDeterministicModel(_first, num_outputs=1))
    far = 0.6 + 0.4 * torch.rand(6, 3, generator=torch.Generator().manual_seed(2)).double()
    mean = residual.posterior(far.unsqueeze(0)).mean
    assert mean.shape == (1, 6, 1)
    assert torch.allclose(mean[0], _first(far), atol=0.05)


def test_prior_mean_looks_up_the_runs_without_changing_values_or_gradients():
    X, Y = _data()
    calls: list[int] = []

    def counted(Z: torch.Tensor) -> torch.Tensor:
        calls.append(Z.shape[-2])
        return _wavy(Z)

    residual = fit_gp(X, Y, prior=GenericDeterministicModel(counted, num_outputs=2))
    mean = residual.mean_module
    assert isinstance(mean, PriorMean)
    # qLogNEI asks for the runs and the candidates together: only the candidates are new.
    new = torch.rand(3, 2, 3, dtype=torch.float64, requires_grad=True)
    joint = torch.cat([X.expand(3, -1, -1), new], dim=-2).unsqueeze(-3).expand(-1, 2, -1, -1)
    calls.clear()
    looked_up = mean(joint)
    assert calls == [6]  # 3 x 2 new points, the 12 runs looked up
    direct = PriorMean(GenericDeterministicModel(_wavy, num_outputs=2), mean.transform)(joint)
    assert torch.allclose(looked_up, direct)
    (grad_lookup,) = torch.autograd.grad(looked_up.sum(), new)
    (grad_direct,) = torch.autograd.grad(direct.sum(), new)
    assert torch.allclose(grad_lookup, grad_direct) and grad_lookup.abs().sum() > 0


def test_held_out_means_equal_refitting_each_fold_with_the_same_hyperparameters():
    X, Y = _data(n=30)
    Y = Y + 0.05 * torch.randn(Y.shape, generator=torch.Generator().manual_seed(3)).double()
    gp = fit_gp(X, Y)
    fold_of = torch.arange(30) % 5
    held_out = held_out_means(gp, fold_of)
    assert held_out.shape == (30, 2)
    standardized = gp.outcome_transform(Y)[0]
    for k in range(5):
        train = fold_of != k
        other = copy.deepcopy(gp)
        other.set_train_data(X[train].expand(2, -1, -1), standardized[train].T, strict=False)
        with torch.no_grad():
            expected = other.posterior(X[~train]).mean
        assert torch.allclose(held_out[~train], expected, atol=1e-9)
    # and they are predictions, not the runs themselves
    assert (held_out - Y).abs().max() > 1e-3
