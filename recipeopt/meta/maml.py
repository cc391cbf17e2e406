"""Few-step adaptation as a pure function of a parameter dict (MAML's inner loop).

``adapt`` never touches the parameters it is given: it returns new tensors.
With ``create_graph=True`` the returned parameters stay differentiable
functions of the starting ones, so a loss on them back-propagates the
second-order MAML meta-gradient; with ``create_graph=False`` the inner
gradients are treated as constants (first-order MAML).

Example:
    >>> fast = adapt(net, meta_params, X_support, Y_support, lr=0.05, steps=5)  # doctest: +SKIP
    >>> query_loss = mse(net, fast, X_query, Y_query)  # doctest: +SKIP
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def mse(net: nn.Module, params: dict[str, Tensor], X: Tensor, Y: Tensor) -> Tensor:
    """Return the mean squared error of ``net`` run with ``params`` on ``(X, Y)``."""
    return ((torch.func.functional_call(net, params, (X,)) - Y) ** 2).mean()


def adapt(
    net: nn.Module,
    params: dict[str, Tensor],
    X: Tensor,
    Y: Tensor,
    *,
    lr: float,
    steps: int,
    create_graph: bool = False,
) -> dict[str, Tensor]:
    """Take ``steps`` plain gradient steps on the squared error of ``(X, Y)``.

    Args:
        net: The architecture, run with :func:`torch.func.functional_call`.
        params: Starting parameters (e.g. the meta-learned ones); not modified.
        X: ``n x d`` support inputs.
        Y: ``n x m`` support targets.
        lr: Inner learning rate.
        steps: Number of gradient steps (0 returns the starting parameters).
        create_graph: Keep the graph of the inner gradients (second-order MAML).

    Returns:
        The adapted parameters, as new tensors.

    Raises:
        ValueError: If ``steps`` is negative or the loss is not finite.
    """
    if steps < 0:
        raise ValueError(f"steps must be zero or more, got {steps}")
    fast = {k: v if v.requires_grad else v.detach().requires_grad_() for k, v in params.items()}
    for _ in range(steps):
        loss = mse(net, fast, X, Y)
        if not torch.isfinite(loss):
            raise ValueError(
                f"the inner loss is not finite ({loss.item()}); lower the inner learning rate"
            )
        grads = torch.autograd.grad(loss, list(fast.values()), create_graph=create_graph)
        fast = {k: p - lr * g for (k, p), g in zip(fast.items(), grads, strict=True)}
    return fast
