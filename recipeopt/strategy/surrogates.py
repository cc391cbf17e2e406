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
    cv_weights,
    fit_ensemble,
    fixed_standardize,
)
from recipeopt.models.gp import fit_gp, held_out_means
from recipeopt.objective import Objective
from recipeopt.runtime import torch_threads, training_threads
from recipeopt.space import Space
from recipeopt.strategy.config import StrategyConfig
from recipeopt.strategy.outlook import Outlook, outlook

#: Random feasible new recipes the stop signal looks at.
OUTLOOK_CANDIDATES = 4096

if TYPE_CHECKING:
    from botorch.models import SingleTaskGP
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

    def gp(self, X: Tensor, Y: Tensor, *, prior: Model | None = None) -> SingleTaskGP:
        """Fit BoTorch's GP (mixed with categorical inputs); on ``prior``'s residuals if given."""
        return fit_gp(X, Y, sorted(self.space.categorical), prior=prior)

    def scratch(self, X: Tensor, Y: Tensor, *, seed: int) -> EnsembleFit:
        """Fit the deep ensemble from scratch (with its k-fold held-out predictions)."""
        with torch_threads(training_threads()):
            return fit_ensemble(X, Y, self.ensemble_config(), seed=seed)

    def prior(self, ckpt: Checkpoint, like: Tensor) -> DeepEnsemble:
        """Return the meta-prior alone (no run to adapt to), in ``like``'s dtype."""
        net = ckpt.config.network(self.space.dim, self.objective.num_metrics).to(like)
        params = {k: v.to(like) for k, v in ckpt.params.items()}
        transform = fixed_standardize(ckpt.y_mean.to(like), ckpt.y_std.to(like))
        return DeepEnsemble(net, params, ckpt.spread_prior.to(like), transform)

    def adapted(self, ckpt: Checkpoint, X: Tensor, Y: Tensor, *, seed: int) -> EnsembleFit:
        """Adapt the checkpoint's members to ``(X, Y)`` (at least one run)."""
        with torch_threads(training_threads()):
            return self._adapt(ckpt, X, Y, seed=seed)

    def _adapt(self, ckpt: Checkpoint, X: Tensor, Y: Tensor, *, seed: int) -> EnsembleFit:
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

    def assess(
        self,
        X: Tensor,
        Y: Tensor,
        ckpt: Checkpoint | None,
        *,
        method: str,
        seed: int,
        best: float | None,
        used: np.ndarray,
        margin: float,
        q: int,
    ) -> tuple[pd.DataFrame, Outlook | None]:
        """Cross-validate the campaign's model against a plain GP; say what the next batch can gain.

        The campaign's model is the meta-prior adapted as ``suggest`` adapts it
        (``maml-ensemble``, with a checkpoint), or the scratch ensemble
        (``ensemble``, or ``maml-ensemble`` without a fresh checkpoint). Its
        yardstick is BoTorch's plain GP on the same runs and folds, held out in
        closed form; a ``gp`` campaign has the GP alone. The outlook comes from
        the campaign's model.

        Returns:
            Each model's k-fold cross-validated RMSE per metric in the metrics'
            units (columns ``model, metric, rmse, unit, n, folds``), and the
            :class:`~recipeopt.strategy.outlook.Outlook` (None without a best run).
        """
        means: dict[str, Tensor] = {}
        model: Model | None = None
        fold_of = cv_weights(len(Y), 1, self.ensemble_config().folds, seed)[1]
        if method != "gp":
            own = (
                self.adapted(ckpt, X, Y, seed=seed)
                if method == "maml-ensemble" and ckpt is not None
                else self.scratch(X, Y, seed=seed)
            )
            assert own.cv_mean is not None and own.fold_of is not None
            name = "maml-ensemble" if method == "maml-ensemble" and ckpt is not None else "ensemble"
            means[name], model, fold_of = own.cv_mean, own.model, own.fold_of
        gp = self.gp(X, Y)
        means["gp"] = held_out_means(gp, fold_of)
        ahead = None
        if best is not None:
            ahead = outlook(
                model if model is not None else gp,
                self.objective,
                self.space,
                best,
                margin=margin,
                q=q,
                candidates=OUTLOOK_CANDIDATES,
                seed=seed,
                used=used,
            )
        return self._fit_table(means, Y, int(fold_of.max()) + 1), ahead

    def _fit_table(self, means: dict[str, Tensor], Y: Tensor, folds: int) -> pd.DataFrame:
        """Return each model's k-fold cross-validated RMSE per metric, in the metrics' units."""
        truth = self.objective.denormalize(Y.numpy())
        tables = []
        for name, held_out in means.items():
            err = self.objective.denormalize(held_out.detach().numpy()) - truth
            tables.append(
                pd.DataFrame(
                    {
                        "model": name,
                        "metric": self.objective.names,
                        "rmse": np.sqrt(np.mean(err**2, axis=0)),
                        "unit": [m.unit for m in self.objective.metrics],
                        "n": len(Y),
                        "folds": folds,
                    }
                )
            )
        return pd.concat(tables, ignore_index=True)


def weights_of(objective: Objective, like: Tensor) -> Tensor:
    """Return the objective's metric weights as a tensor like ``like``."""
    return torch.as_tensor(objective.weights).to(like)
