"""Turn measured metrics into the normalized outputs the models learn, and the weighted score.

Each metric ``i`` with range ``[worst_i, best_i]`` is mapped to
``y_i = (value_i - worst_i) / (best_i - worst_i)``, so 0 is the worst and 1 the
best value of the spec, whatever the metric's direction. Models are trained on
these ``Y`` (one output per metric); the weighted objective
``sum_i w_i * y_i`` with weights normalized to sum to 1 is applied inside the
acquisition, so changing weights needs no retraining.

Example:
    >>> obj = Objective.from_spec(spec)  # doctest: +SKIP
    >>> Y = obj.normalize(df[obj.names].to_numpy())  # doctest: +SKIP
    >>> score = obj.score(Y)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from recipeopt.spec import CampaignSpec, Metric

if TYPE_CHECKING:
    from botorch.acquisition.objective import LinearMCObjective


class Objective:
    """Metric normalization and the weighted objective of a campaign."""

    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = list(metrics)
        self.names = [m.name for m in self.metrics]
        self.worst = np.array([m.range[0] for m in self.metrics], dtype=float)
        self.best = np.array([m.range[1] for m in self.metrics], dtype=float)
        raw = np.array([m.weight for m in self.metrics], dtype=float)
        self.weights = raw / raw.sum()

    @classmethod
    def from_spec(cls, spec: CampaignSpec) -> Objective:
        """Build the objective of a validated campaign spec."""
        return cls(spec.objective.metrics)

    @property
    def num_metrics(self) -> int:
        """Number of metrics, ``m``."""
        return len(self.metrics)

    def normalize(self, values: np.ndarray) -> np.ndarray:
        """Map ``n x m`` metric values (units) to ``Y`` (0 worst, 1 best)."""
        return (np.asarray(values, dtype=float) - self.worst) / (self.best - self.worst)

    def denormalize(self, Y: np.ndarray) -> np.ndarray:
        """Map ``n x m`` normalized ``Y`` back to metric units."""
        return self.worst + np.asarray(Y, dtype=float) * (self.best - self.worst)

    def denormalize_std(self, std: np.ndarray) -> np.ndarray:
        """Map ``n x m`` standard deviations of ``Y`` to metric units."""
        return np.asarray(std, dtype=float) * np.abs(self.best - self.worst)

    def score(self, Y: np.ndarray) -> np.ndarray:
        """Return the weighted objective of ``n x m`` normalized ``Y``, shape ``n``."""
        return np.asarray(Y, dtype=float) @ self.weights

    def score_values(self, values: np.ndarray) -> np.ndarray:
        """Return the weighted objective of ``n x m`` metric values in units, shape ``n``."""
        return self.score(self.normalize(values))

    def mc_objective(self) -> LinearMCObjective:
        """Return the weighted objective as a BoTorch MC objective over normalized outputs."""
        import torch
        from botorch.acquisition.objective import LinearMCObjective

        return LinearMCObjective(weights=torch.as_tensor(self.weights, dtype=torch.float64))
