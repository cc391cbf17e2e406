"""Turn measured metrics into the normalized outputs the models learn, and the weighted score.

Each metric ``i`` with range ``[worst_i, best_i]`` is mapped to
``y_i = (value_i - worst_i) / (best_i - worst_i)``, so 0 is the worst and 1 the
best value of the spec, whatever the metric's direction. Models are trained on
these ``Y`` (one output per metric); the weighted objective
``sum_i w_i * y_i`` with weights normalized to sum to 1 is applied inside the
acquisition, so changing weights needs no retraining.

Outcome constraints (``defects <= 0.5``) are linear in the metrics, so on ``Y``
each one is ``g(Y) = Y @ a + b <= 0``, scaled so that ``a`` has unit length.
BoTorch's constrained acquisitions take ``g`` as a callable on posterior
samples; the same ``(a, b)`` give each recipe's probability of feasibility.

Example:
    >>> obj = Objective.from_spec(spec)  # doctest: +SKIP
    >>> Y = obj.normalize(df[obj.names].to_numpy())  # doctest: +SKIP
    >>> score = obj.score(Y)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from recipeopt.constraints import LinearConstraint
from recipeopt.spec import CampaignSpec, Metric

if TYPE_CHECKING:
    from botorch.acquisition.objective import LinearMCObjective
    from torch import Tensor


class Objective:
    """Metric normalization, the weighted objective and the Pareto front of a campaign.

    Args:
        metrics: The metrics.
        constraints: Outcome constraints.
        mode: ``weighted`` (batches maximize the weighted score) or ``pareto``
            (batches grow the hypervolume over the normalized metrics; the weighted
            score still orders tables).
    """

    def __init__(
        self,
        metrics: list[Metric],
        constraints: list[LinearConstraint] | None = None,
        mode: str = "weighted",
    ) -> None:
        self.mode = mode
        self.metrics = list(metrics)
        self.constraints = list(constraints or [])
        self.names = [m.name for m in self.metrics]
        self.worst = np.array([m.range[0] for m in self.metrics], dtype=float)
        self.best = np.array([m.range[1] for m in self.metrics], dtype=float)
        raw = np.array([1.0 if m.weight is None else m.weight for m in self.metrics], dtype=float)
        self.weights = raw / raw.sum()
        self.constraint_matrix, self.constraint_offset = self._normalized_constraints()
        #: ``2 x m`` physical limits of each metric in units (infinite where unlimited).
        self.limits = np.array([m.physical_limits for m in self.metrics], dtype=float).T

    def _normalized_constraints(self) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(A, b)`` with ``Y @ A.T + b <= 0`` for recipes that meet every constraint."""
        rows, offsets = [], []
        width = self.best - self.worst
        for c in self.constraints:
            a = np.array([c.coefficients.get(n, 0.0) for n in self.names])
            sign = 1.0 if c.op == "<=" else -1.0
            row, offset = sign * a * width, sign * (float(a @ self.worst) - c.rhs)
            scale = float(np.linalg.norm(row))
            rows.append(row / scale)
            offsets.append(offset / scale)
        return np.array(rows).reshape(-1, self.num_metrics), np.array(offsets)

    @classmethod
    def from_spec(cls, spec: CampaignSpec) -> Objective:
        """Build the objective of a validated campaign spec."""
        return cls(
            spec.objective.metrics, spec.objective.outcome_constraints(), spec.objective.mode
        )

    @property
    def pareto(self) -> bool:
        """Whether batches trade the metrics off (``mode: pareto``) instead of weighing them."""
        return self.mode == "pareto"

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

    def clip(self, values: np.ndarray) -> np.ndarray:
        """Clip ``n x m`` metric values (units) to their physical limits (yield 0-100 %, ...)."""
        return np.clip(np.asarray(values, dtype=float), self.limits[0], self.limits[1])

    def constraint_labels(self) -> list[str]:
        """Return each outcome constraint as written, for ``P(defects <= 0.5)`` labels."""
        return [c.text for c in self.constraints]

    def denormalize_std(self, std: np.ndarray) -> np.ndarray:
        """Map ``n x m`` standard deviations of ``Y`` to metric units."""
        return np.asarray(std, dtype=float) * np.abs(self.best - self.worst)

    def score(self, Y: np.ndarray) -> np.ndarray:
        """Return the weighted objective of ``n x m`` normalized ``Y``, shape ``n``."""
        return np.asarray(Y, dtype=float) @ self.weights

    def score_values(self, values: np.ndarray) -> np.ndarray:
        """Return the weighted objective of ``n x m`` metric values in units, shape ``n``."""
        return self.score(self.normalize(values))

    def feasible(self, values: np.ndarray) -> np.ndarray:
        """Return which rows of ``n x m`` metric values (units) meet every outcome constraint."""
        Y = self.normalize(values)
        return np.all(Y @ self.constraint_matrix.T + self.constraint_offset <= 1e-9, axis=-1)

    def pareto_front(self, values: np.ndarray) -> np.ndarray:
        """Return which rows of ``n x m`` metric values (units) are on the Pareto front.

        A row is on it when it meets every outcome constraint and no other such
        row is at least as good in every metric and better in one. Rows with a
        missing value are not.
        """
        import torch
        from botorch.utils.multi_objective.pareto import is_non_dominated

        values = np.asarray(values, dtype=float).reshape(-1, self.num_metrics)
        usable = np.isfinite(values).all(axis=1)
        usable[usable] = self.feasible(values[usable])
        front = np.zeros(len(values), dtype=bool)
        if usable.any():
            Y = torch.as_tensor(self.normalize(values[usable]))
            front[np.flatnonzero(usable)] = is_non_dominated(Y, deduplicate=False).numpy()
        return front

    def hypervolume(self, values: np.ndarray) -> float:
        """Return the hypervolume the rows of ``values`` (units) dominate.

        Measured on the normalized metrics (each 0..1 over its spec ``range``) from
        the reference point of every metric's worst value, over the rows that meet
        every outcome constraint: 0 with none beyond the reference point, 1 if one
        run reached the best end of every range.
        """
        import torch
        from botorch.utils.multi_objective.box_decompositions.dominated import (
            DominatedPartitioning,
        )

        values = np.asarray(values, dtype=float).reshape(-1, self.num_metrics)
        front = values[self.pareto_front(values)]
        if not len(front):
            return 0.0
        Y = torch.as_tensor(self.normalize(front))
        partitioning = DominatedPartitioning(ref_point=torch.zeros(self.num_metrics).to(Y), Y=Y)
        return float(partitioning.compute_hypervolume())

    def outcome_callables(self) -> list[Callable[[Tensor], Tensor]]:
        """Return one callable per outcome constraint, ``... x m -> ...``, feasible at ``<= 0``."""
        return [
            _LinearOutcome(a, float(b))
            for a, b in zip(self.constraint_matrix, self.constraint_offset, strict=True)
        ]

    def mc_objective(self) -> LinearMCObjective:
        """Return the weighted objective as a BoTorch MC objective over normalized outputs."""
        import torch
        from botorch.acquisition.objective import LinearMCObjective

        return LinearMCObjective(weights=torch.as_tensor(self.weights, dtype=torch.float64))


class _LinearOutcome:
    """``g(Z) = Z @ a + b`` on posterior samples, the form BoTorch's ``constraints=`` takes."""

    def __init__(self, a: np.ndarray, b: float) -> None:
        self.a, self.b = a, b

    def __call__(self, Z: Tensor) -> Tensor:
        import torch

        return Z @ torch.as_tensor(self.a).to(Z) + self.b
