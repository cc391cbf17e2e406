"""Few-step adaptation as a pure function of a parameter dict (MAML's inner loop).

``adapt`` never touches the parameters it is given: it returns new tensors.
With ``create_graph=True`` the returned parameters stay differentiable
functions of the starting ones, so a loss on them back-propagates the
second-order MAML meta-gradient; with ``create_graph=False`` the inner
gradients are treated as constants (first-order MAML).

The gradients come from :func:`torch.func.grad_and_value`, so ``adapt`` also
runs under :func:`torch.func.vmap` (over ensemble members, tasks or
cross-validation folds) when called with ``check=False``: a data-dependent
check cannot run under ``vmap``, so the caller checks the result instead.

Example:
    >>> fast = adapt(net, meta_params, X_support, Y_support, lr=0.05, steps=5)  # doctest: +SKIP
    >>> query_loss = mse(net, fast, X_query, Y_query)  # doctest: +SKIP
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def mse(
    net: nn.Module, params: dict[str, Tensor], X: Tensor, Y: Tensor, weights: Tensor | None = None
) -> Tensor:
    """Return the (optionally weighted) mean squared error of ``net`` with ``params`` on ``(X, Y)``.

    Args:
        net: The architecture.
        params: Its parameters.
        X: ``n x d`` inputs.
        Y: ``n x m`` targets.
        weights: Optional ``n`` non-negative weights of the points (normalized here).
    """
    err = ((torch.func.functional_call(net, params, (X,)) - Y) ** 2).mean(dim=-1)
    if weights is None:
        return err.mean()
    return (err * weights).sum() / weights.sum().clamp_min(1e-12)


def adapt(
    net: nn.Module,
    params: dict[str, Tensor],
    X: Tensor,
    Y: Tensor,
    *,
    lr: float,
    steps: int,
    create_graph: bool = False,
    weights: Tensor | None = None,
    gains: dict[str, Tensor] | None = None,
    check: bool = True,
) -> dict[str, Tensor]:
    """Take ``steps`` plain gradient steps on the squared error of ``(X, Y)``.

    Each parameter tensor steps at ``lr`` times its gain (Meta-SGD-style
    per-layer rates when the gains are meta-learned; 1 without gains).

    Args:
        net: The architecture, run with :func:`torch.func.functional_call`.
        params: Starting parameters (e.g. the meta-learned ones); not modified.
        X: ``n x d`` support inputs.
        Y: ``n x m`` support targets.
        lr: Inner learning rate.
        steps: Number of gradient steps (0 returns the starting parameters).
        create_graph: Keep the graph of the inner gradients (second-order MAML).
        weights: Optional ``n`` point weights (bootstrap weights, zero for held-out points).
        gains: Optional positive multiplier of ``lr`` per parameter tensor (same keys).
        check: Raise on a non-finite loss; pass False under :func:`torch.func.vmap`.

    Returns:
        The adapted parameters, as new tensors.

    Raises:
        ValueError: If ``steps`` is negative or (with ``check``) the loss is not finite.
    """
    if steps < 0:
        raise ValueError(f"steps must be zero or more, got {steps}")
    step = torch.func.grad_and_value(lambda p: mse(net, p, X, Y, weights))
    fast = dict(params)
    for _ in range(steps):
        grads, loss = step(fast)
        if check and not torch.isfinite(loss):
            raise ValueError(
                f"the inner loss is not finite ({loss.item()}); lower the inner learning rate"
            )
        if not create_graph:
            grads = {k: g.detach() for k, g in grads.items()}
        fast = {
            k: p - lr * (1.0 if gains is None else gains[k]) * grads[k] for k, p in fast.items()
        }
    return fast
