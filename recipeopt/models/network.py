"""One ensemble member: an MLP from the unit cube to the normalized metrics.

The module holds no state beyond its parameters, so :func:`torch.func.functional_call`
can run it with any parameter dict: a member's own weights, a stack of members'
weights under :func:`torch.func.vmap`, or weights adapted by MAML.
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor, nn


class MLP(nn.Module):
    """``d -> hidden -> ... -> m`` with SiLU activations (smooth, so acquisition gradients are too).

    Args:
        d: Input dimension (parameters on the unit cube).
        m: Output dimension (metrics).
        hidden: Width of each hidden layer.
        layers: Number of hidden layers.
        categorical: ``{input index: number of choices}``; those inputs hold
            ``code / (k - 1)`` and enter the network one-hot.
    """

    def __init__(
        self,
        d: int,
        m: int,
        hidden: int = 64,
        layers: int = 2,
        categorical: dict[int, int] | None = None,
    ) -> None:
        super().__init__()
        self.categorical = dict(sorted((categorical or {}).items()))
        self.numeric = [j for j in range(d) if j not in self.categorical]
        width = len(self.numeric) + sum(self.categorical.values())
        sizes = [width] + [hidden] * layers
        blocks: list[nn.Module] = []
        for a, b in itertools.pairwise(sizes):
            blocks += [nn.Linear(a, b), nn.SiLU()]
        blocks.append(nn.Linear(sizes[-1], m))
        self.body = nn.Sequential(*blocks)

    def forward(self, X: Tensor) -> Tensor:
        """Map ``... x d`` unit-cube inputs to ``... x m`` outputs."""
        # NOTE: centring the cube at 0 keeps SiLU units in their curved range at init.
        features = [2.0 * X[..., self.numeric] - 1.0]
        for j, k in self.categorical.items():
            # NOTE: a comparison rather than F.one_hot, so the member also runs under vmap
            # with batched inputs (meta-training vmaps over tasks).
            code = (X[..., j : j + 1] * (k - 1)).round().clamp(0, k - 1)
            features.append((code == torch.arange(k, dtype=X.dtype, device=X.device)).to(X))
        return self.body(torch.cat(features, dim=-1) if len(features) > 1 else features[0])


def init_member_params(net: MLP, seeds: list[int]) -> dict[str, Tensor]:
    """Return freshly initialized parameters of ``len(seeds)`` members, stacked on dim 0.

    Each member is initialized from its own seed with PyTorch's default
    initialization, so the same seeds always give the same stack.
    """
    stacks: dict[str, list[Tensor]] = {name: [] for name, _ in net.named_parameters()}
    for seed in seeds:
        generator = torch.Generator().manual_seed(seed)
        for name, p in net.named_parameters():
            # PyTorch's nn.Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias.
            fan_in = (
                p.shape[-1]
                if p.ndim == 2
                else net.get_parameter(name.replace("bias", "weight")).shape[-1]
            )
            bound = fan_in**-0.5
            stacks[name].append(
                (torch.rand(p.shape, generator=generator, dtype=p.dtype) * 2 - 1) * bound
            )
    return {name: torch.stack(values) for name, values in stacks.items()}


def predict_members(net: MLP, params: dict[str, Tensor], X: Tensor) -> Tensor:
    """Run every member in ``params`` (stacked on dim 0) on ``X``.

    Args:
        net: The member architecture.
        params: Parameters stacked as ``s x ...``.
        X: A ``batch_shape x n x d`` input.

    Returns:
        A ``s x batch_shape x n x m`` tensor.
    """
    return torch.func.vmap(lambda p: torch.func.functional_call(net, p, (X,)))(params)
