"""The models the strategy fits: the meta-prior, the adapted prior, the scratch ensemble, GPs.

One place builds each model from the campaign's space, objective and
settings, so ``suggest``, the guard and ``status``'s cross-validation fit the
same models the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from recipeopt.models.ensemble import (
    DeepEnsemble,
    EnsembleConfig,
    EnsembleFit,
    adapt_ensemble,
    fit_ensemble,
    fixed_standardize,
)
from recipeopt.models.gp import fit_gp
from recipeopt.objective import Objective
from recipeopt.space import Space
from recipeopt.strategy.config import StrategyConfig

if TYPE_CHECKING:
    from botorch.models.model import Model

    from recipeopt.checkpoints import Checkpoint


@dataclass(frozen=True)
class Surrogates:
    """Fit the strategy's models for one campaign.

    Attributes:
        space: The campaign's space (categorical inputs).
        objective: The campaign's objective (number of metrics).
        config: The strategy settings (architecture, adaptation rate).
        members: Ensemble members (the campaign's ``model.members``).
    """

    space: Space
    objective: Objective
    config: StrategyConfig
    members: int

    def ensemble_config(self) -> EnsembleConfig:
        """Return the scratch ensemble's architecture and training."""
        return EnsembleConfig(
            members=self.members,
            hidden=self.config.hidden,
            layers=self.config.layers,
            epochs=self.config.epochs,
            categorical=self.space.choice_counts,
        )

    def gp(self, X: Tensor, Y: Tensor, *, prior: Model | None = None) -> Model:
        """Fit BoTorch's GP (mixed with categorical inputs); on ``prior``'s residuals if given."""
        return fit_gp(X, Y, sorted(self.space.categorical), prior=prior)

    def scratch(self, X: Tensor, Y: Tensor, *, seed: int) -> EnsembleFit:
        """Fit the deep ensemble from scratch (with its k-fold held-out predictions)."""
        return fit_ensemble(X, Y, self.ensemble_config(), seed=seed)

    def prior(self, ckpt: Checkpoint, like: Tensor) -> DeepEnsemble:
        """Return the meta-prior alone (no run to adapt to), in ``like``'s dtype."""
        net = ckpt.config.network(self.space.dim, self.objective.num_metrics).to(like)
        params = {k: v.to(like) for k, v in ckpt.params.items()}
        transform = fixed_standardize(ckpt.y_mean.to(like), ckpt.y_std.to(like))
        return DeepEnsemble(net, params, ckpt.spread_prior.to(like), transform)

    def adapted(self, ckpt: Checkpoint, X: Tensor, Y: Tensor, *, seed: int) -> EnsembleFit:
        """Adapt the checkpoint's members to ``(X, Y)`` (at least one run)."""
        return adapt_ensemble(
            ckpt.config.network(self.space.dim, self.objective.num_metrics),
            ckpt.params,
            X,
            Y,
            fixed_standardize(ckpt.y_mean.to(Y), ckpt.y_std.to(Y)),
            lr=ckpt.inner_lr * self.config.adapt_lr_scale,
            default_steps=ckpt.adapt_steps(len(Y)),
            default_spread=ckpt.spread_adapted,
            seed=seed,
            gains=ckpt.gains,
        )

    def cross_validate(
        self, X: Tensor, Y: Tensor, ckpt: Checkpoint | None, *, seed: int
    ) -> pd.DataFrame:
        """Return each model's k-fold cross-validated RMSE per metric, in the metrics' units.

        The scratch ensemble (``ensemble``) always; with a checkpoint, also the
        meta-prior adapted as ``suggest`` adapts it (``maml-ensemble``).
        Columns: ``model, metric, rmse, unit, n, folds``.
        """
        fits = {"ensemble": self.scratch(X, Y, seed=seed)}
        if ckpt is not None:
            fits["maml-ensemble"] = self.adapted(ckpt, X, Y, seed=seed)
        truth = self.objective.denormalize(Y.numpy())
        tables = []
        for name, fit in fits.items():
            assert fit.cv_mean is not None
            err = self.objective.denormalize(fit.cv_mean.numpy()) - truth
            tables.append(
                pd.DataFrame(
                    {
                        "model": name,
                        "metric": self.objective.names,
                        "rmse": np.sqrt(np.mean(err**2, axis=0)),
                        "unit": [m.unit for m in self.objective.metrics],
                        "n": len(X),
                        "folds": min(self.ensemble_config().folds, len(X)),
                    }
                )
            )
        return pd.concat(tables, ignore_index=True)


def weights_of(objective: Objective, like: Tensor) -> Tensor:
    """Return the objective's metric weights as a tensor like ``like``."""
    return torch.as_tensor(objective.weights).to(like)
