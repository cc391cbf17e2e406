"""The functional inner loop: a hand-computed step, no in-place change, second-order gradients."""

from __future__ import annotations

import pytest
import torch

from recipeopt.meta.maml import adapt, mse
from recipeopt.models.network import MLP


@pytest.fixture
def setup():
    torch.manual_seed(0)
    net = MLP(3, 2, hidden=5, layers=1).double()
    params = {k: v.detach().clone() for k, v in net.named_parameters()}
    X, Y = torch.rand(7, 3, dtype=torch.float64), torch.rand(7, 2, dtype=torch.float64)
    return net, params, X, Y


def test_one_step_matches_a_hand_computed_gradient_step(setup):
    net, params, X, Y = setup
    before = {k: v.clone() for k, v in params.items()}
    fast = adapt(net, params, X, Y, lr=0.1, steps=1)
    leaf = {k: v.clone().requires_grad_() for k, v in params.items()}
    loss = ((torch.func.functional_call(net, leaf, (X,)) - Y) ** 2).mean()
    grads = torch.autograd.grad(loss, list(leaf.values()))
    for (k, p), g in zip(before.items(), grads, strict=True):
        torch.testing.assert_close(fast[k], p - 0.1 * g)
        torch.testing.assert_close(params[k], p)  # the starting parameters are untouched
    assert mse(net, fast, X, Y) < mse(net, params, X, Y)


def test_zero_steps_and_bad_arguments(setup):
    net, params, X, Y = setup
    same = adapt(net, params, X, Y, lr=0.1, steps=0)
    assert all(torch.equal(same[k], params[k]) for k in params)
    with pytest.raises(ValueError, match="steps must be zero or more"):
        adapt(net, params, X, Y, lr=0.1, steps=-1)
    with pytest.raises(ValueError, match="lower the inner learning rate"):
        adapt(net, params, X, Y * 1e200, lr=1e200, steps=3)


def test_second_order_meta_gradient_matches_finite_differences(setup):
    net, params, X, Y = setup
    Xq, Yq = torch.rand(5, 3, dtype=torch.float64), torch.rand(5, 2, dtype=torch.float64)
    meta = {k: v.clone().requires_grad_() for k, v in params.items()}

    def meta_loss(p: dict, create_graph: bool) -> torch.Tensor:
        return mse(net, adapt(net, p, X, Y, lr=0.3, steps=2, create_graph=create_graph), Xq, Yq)

    second = torch.autograd.grad(meta_loss(meta, True), list(meta.values()))
    first = torch.autograd.grad(meta_loss(meta, False), list(meta.values()))
    direction = {k: torch.randn_like(v) for k, v in params.items()}
    eps = 1e-6
    plus = {k: params[k] + eps * direction[k] for k in params}
    minus = {k: params[k] - eps * direction[k] for k in params}
    numeric = (meta_loss(plus, True) - meta_loss(minus, True)).item() / (2 * eps)
    analytic_second = sum(
        (g * direction[k]).sum() for k, g in zip(params, second, strict=True)
    ).item()
    analytic_first = sum(
        (g * direction[k]).sum() for k, g in zip(params, first, strict=True)
    ).item()
    assert analytic_second == pytest.approx(numeric, rel=1e-4, abs=1e-8)
    assert abs(analytic_first - numeric) > 1e-3 * abs(numeric)  # first order drops a real term


def test_gains_scale_each_tensors_step(setup):
    net, params, X, Y = setup
    names = list(params)
    gains = {k: torch.tensor(2.0, dtype=torch.float64) for k in names}
    gains[names[0]] = torch.tensor(0.0, dtype=torch.float64)  # this tensor stays put
    fast = adapt(net, params, X, Y, lr=0.1, steps=1, gains=gains)
    doubled = adapt(net, params, X, Y, lr=0.2, steps=1)
    torch.testing.assert_close(fast[names[0]], params[names[0]])
    for k in names[1:]:
        torch.testing.assert_close(fast[k], doubled[k])
        assert not torch.equal(fast[k], params[k])


def test_the_meta_gradient_reaches_the_gains(setup):
    net, params, X, Y = setup
    Xq, Yq = torch.rand(5, 3, dtype=torch.float64), torch.rand(5, 2, dtype=torch.float64)
    for create_graph in (True, False):  # first-order MAML still learns the gains
        log_gains = {k: torch.zeros((), dtype=torch.float64, requires_grad=True) for k in params}
        gains = {k: v.exp() for k, v in log_gains.items()}
        fast = adapt(net, params, X, Y, lr=0.3, steps=2, gains=gains, create_graph=create_graph)
        grads = torch.autograd.grad(mse(net, fast, Xq, Yq), list(log_gains.values()))
        assert all(torch.isfinite(g) for g in grads) and any(g.abs() > 0 for g in grads)
