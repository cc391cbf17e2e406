"""The negative-transfer guard: use the adapted prior only while it predicts this recipe.

The history may be unlike the recipe at hand. The guard checks the adapted
prior against the recipe's own runs, on held-out predictions:

* from :data:`SKILL_MIN_RUNS` runs, it must predict held-out runs' weighted
  objective not much worse (:data:`SKILL_MARGIN`) than their mean does. If it
  does not, the history misleads: during the start-up the campaign returns to
  the space-filling design; after it, the reference model takes over;
* from :data:`GUARD_MIN_RUNS` runs, the reference model replaces the adapted
  prior when it predicts the held-out runs better.

The reference (the strategy setting ``guard_reference``) is the ensemble
trained from scratch on the recipe's runs (shipped), or a plain GP
cross-validated in closed form on the prior's folds. The GP is the cheaper
check, but on the tuning split it set the prior aside from the eighth run on
and the campaigns lost most of the prior's head start
(docs/decisions/0011-the-guard-keeps-the-scratch-ensemble.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from torch import Tensor

from recipeopt.models.ensemble import EnsembleFit, mean_cv_error
from recipeopt.strategy.provenance import GuardDecision, ModelKind

if TYPE_CHECKING:
    from botorch.models.model import Model

#: From this many complete runs, the adapted prior must predict held-out runs' objective
#: with a mean squared error below SKILL_MARGIN times that of their mean, or it is set
#: aside (the first negative-transfer guard). On 10 held-out etch recipes after the
#: prior's first 4 runs, the ratio was 0.65-1.0 for the etch history and 3.6-62 for a
#: misleading one (metric columns rotated); a margin keeps 4 noisy runs from rejecting
#: a prior that carries some information.
SKILL_MIN_RUNS = 4
SKILL_MARGIN = 2.0
#: Objective differences (on the normalized 0-1 scale of the spec ranges) too small to
#: judge a model by: when the first runs score within about this of each other, their
#: mean predicts them almost perfectly, and a sound prior would fail the check above
#: (seen on the dep family: cv mse 5.4e-4 against 2.4e-4). The mean's error is floored
#: at its square.
SKILL_RESOLUTION = 0.03
#: From this many complete runs, the adapted prior must also predict held-out runs
#: better than the reference model to be used (the second negative-transfer guard).
GUARD_MIN_RUNS = 8


@dataclass(frozen=True)
class Choice:
    """The model the guard lets propose the batch.

    Attributes:
        model: The model, or None when the start-up returns to the space-filling design.
        kind: ``adapted-prior``, the reference's ``scratch-ensemble`` or ``gp`` (or ``none``).
        guard: ``off``, ``too-few-runs``, ``kept`` or ``set-aside``.
        reason: The held-out errors behind a decision.
    """

    model: Model | None
    kind: ModelKind
    guard: GuardDecision
    reason: str | None = None

    @property
    def set_aside(self) -> bool:
        """Whether the guard set the adapted prior aside."""
        return self.guard == "set-aside"


def lacks_skill(error: float, f: Tensor) -> str | None:
    """Say why a model without skill fails the first guard, or return None if it passes.

    Args:
        error: The model's held-out mean squared error on the objective values ``f``.
        f: The runs' objective values (normalized).
    """
    baseline = max(mean_cv_error(f), SKILL_RESOLUTION**2)
    if error > SKILL_MARGIN * baseline:
        return f"objective cv mse {error:.3g} > {SKILL_MARGIN:g} x {baseline:.3g}"
    return None


def choose(
    fit: EnsembleFit,
    Y: Tensor,
    weights: Tensor,
    *,
    enabled: bool,
    start_up: bool,
    reference: Callable[[], tuple[Model, Tensor]],
    reference_kind: ModelKind = "scratch-ensemble",
) -> Choice:
    """Check the adapted prior ``fit`` against the runs ``Y``; return the model to use.

    Args:
        fit: The adapted prior, with its held-out predictions.
        Y: ``n x m`` the runs' normalized metrics.
        weights: ``m`` objective weights.
        enabled: The campaign's ``model.guard``.
        start_up: Whether the campaign is still in its start-up (the design is not
            complete and the prior has proposed only one batch): a prior without
            skill then hands back to the space-filling design.
        reference: Returns the reference model fitted to the same runs and its
            held-out means (only called when needed).
        reference_kind: What the reference is (``scratch-ensemble`` or ``gp``).
    """
    n = len(Y)
    if not enabled:
        return Choice(fit.model, "adapted-prior", "off")
    if n < SKILL_MIN_RUNS or fit.cv_mean is None:
        return Choice(fit.model, "adapted-prior", "too-few-runs")
    adapted_err = fit.cv_error(Y, weights)
    lacking = lacks_skill(adapted_err, Y @ weights)
    if lacking:
        reason = f"predicted held-out runs worse than their mean: {lacking}"
        if start_up:
            return Choice(None, "none", "set-aside", reason)
        return Choice(reference()[0], reference_kind, "set-aside", reason)
    if n < GUARD_MIN_RUNS:
        return Choice(fit.model, "adapted-prior", "kept", lacking)
    other, held_out = reference()
    other_err = float((((held_out - Y) @ weights) ** 2).mean())
    name = _REFERENCE_WORDS[reference_kind]
    if other_err < adapted_err:
        return Choice(
            other,
            reference_kind,
            "set-aside",
            f"{name} fit held-out runs better: objective cv mse {other_err:.3g} "
            f"< {adapted_err:.3g}",
        )
    return Choice(
        fit.model,
        "adapted-prior",
        "kept",
        f"objective cv mse {adapted_err:.3g}, {name} {other_err:.3g}",
    )


#: How the guard's reasons name each reference model.
_REFERENCE_WORDS = {"scratch-ensemble": "scratch", "gp": "plain GP"}
