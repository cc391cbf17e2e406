"""The strategy's research settings: shipped defaults, overridable by benchmarks.

A process engineer decides, in the campaign's ``model:`` block, the method,
the number of ensemble members, whether the negative-transfer guard is on, and
where the checkpoint lives. Everything else the strategy needs is here, with
the defaults chosen on the benchmark (each one's evidence is a decision record
under ``docs/decisions/``). ``recipeopt benchmark --set name=value`` overrides
any of them for a study; campaign files cannot.

Example:
    >>> StrategyConfig().with_overrides({"greedy_runs": "12", "residual_gp": "false"}).greedy_runs
    12
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_type_hints

from recipeopt.exceptions import SpecError

#: Methods whose batches come from a design, not a model.
DESIGN_METHODS = ("sobol", "random")
#: Methods that fit a model to propose a batch.
MODEL_METHODS = ("maml-ensemble", "ensemble", "gp")


@dataclass(frozen=True)
class StrategyConfig:
    """Research settings of ``suggest`` (see ``docs/decisions/`` for each default).

    Attributes:
        greedy_runs: Until this many complete runs, a ``maml-ensemble`` batch is the
            adapted prior's best predicted recipes among random feasible ones
            (decision 0002).
        hedge: Runs of each such batch (after the first) that qLogNEI on a plain GP
            chooses over the whole space instead, with the prior's picks pending
            (decision 0003).
        residual_gp: From ``greedy_runs`` on, qLogNEI runs on a GP whose prior mean
            is the adapted ensemble's mean; off: on the ensemble itself (decision 0004).
        trust_region: qLogNEI searches a TuRBO box around the best run (decision 0005).
        trust_region_patience: Model batches in a row without a better run that halve
            the box; None is TuRBO's ``ceil(max(4/q, d/q))`` (decision 0005).
        trust_region_patience_runs: Complete runs from which ``trust_region_patience``
            applies (never before ``greedy_runs`` with ``maml-ensemble``).
        region_restarts: Restarts of the acquisition's optimizer inside a trust region
            (the whole space gets 8; decision 0012).
        failure_model: Once a run has failed, learn the probability of success and
            weigh every step's choice by it; off: a failed run only stops an exact
            repeat (decision 0016).
        guard_reference: What the guard's second check compares the adapted prior
            with: ``gp`` (a plain GP, cross-validated in closed form) or ``scratch``
            (an ensemble trained from scratch on the runs; decision 0011).
        greedy_candidates: Random feasible recipes a greedy batch ranks (a tenth of it
            with equality constraints, where the polytope sampler is slow).
        algorithm: Meta-training algorithm: ``maml`` (second order), ``fomaml``, ``reptile``.
        inner_steps: SGD steps of MAML's inner loop in meta-training.
        inner_lr: Inner learning rate of meta-training (lowered automatically, and
            recorded in the checkpoint, if the meta-loss diverges).
        adapt_lr_scale: ``suggest`` adapts at this fraction of the inner rate.
        learn_lr: Meta-learn per-layer gains on the inner rate (Meta-SGD; decision 0006).
        meta_epochs: Most meta-training epochs (early stopping usually ends sooner).
        hidden: Width of each hidden layer of a member.
        layers: Hidden layers of a member.
        epochs: Full-batch training steps of the scratch ensemble.
    """

    greedy_runs: int = 20
    hedge: int = 1
    residual_gp: bool = True
    trust_region: bool = True
    trust_region_patience: int | None = 1
    trust_region_patience_runs: int = 44
    region_restarts: int = 8
    failure_model: bool = True
    guard_reference: Literal["gp", "scratch"] = "scratch"
    greedy_candidates: int = 20_000
    algorithm: Literal["maml", "fomaml", "reptile"] = "maml"
    inner_steps: int = 5
    inner_lr: float = 0.1
    adapt_lr_scale: float = 0.5
    learn_lr: bool = False
    meta_epochs: int = 300
    hidden: int = 64
    layers: int = 2
    epochs: int = 400

    def with_overrides(self, overrides: Mapping[str, Any] | None) -> StrategyConfig:
        """Return a copy with ``overrides`` (``{name: value}``) applied.

        Values given as text are parsed by the field's type (``true``/``false``,
        numbers, ``none`` for an optional field).

        Raises:
            SpecError: If a name is unknown or a value does not parse or is out of range.
        """
        if not overrides:
            return self
        names = {f.name for f in dataclasses.fields(self)}
        hints = get_type_hints(StrategyConfig)
        update = {}
        for name, value in overrides.items():
            if name not in names:
                known = ", ".join(sorted(names))
                raise SpecError(f"--set {name}: unknown strategy setting; choose one of {known}")
            update[name] = _parse(name, value, hints[name])
        config = dataclasses.replace(self, **update)
        config.check()
        return config

    def check(self) -> None:
        """Raise :class:`SpecError` if a setting is out of its range."""
        limits = {
            "greedy_runs": (0, 100_000),
            "hedge": (0, 256),
            "trust_region_patience_runs": (0, 100_000),
            "greedy_candidates": (16, 1_000_000),
            "region_restarts": (1, 64),
            "inner_steps": (1, 50),
            "meta_epochs": (1, 100_000),
            "hidden": (4, 1024),
            "layers": (1, 6),
            "epochs": (10, 20_000),
        }
        for name, (low, high) in limits.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise SpecError(f"--set {name}={value}: must be between {low} and {high}")
        if self.trust_region_patience is not None and self.trust_region_patience < 1:
            raise SpecError("--set trust_region_patience: must be at least 1, or none")
        if not 0.0 < self.inner_lr <= 1.0 or not 0.0 < self.adapt_lr_scale <= 1.0:
            raise SpecError("--set inner_lr and adapt_lr_scale: must be in (0, 1]")

    def changed(self) -> dict[str, Any]:
        """Return the settings that differ from the shipped defaults."""
        default = StrategyConfig()
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != getattr(default, f.name)
        }


def _parse(name: str, value: Any, kind: Any) -> Any:
    """Parse ``value`` (text or already typed) as the field type ``kind``."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    options = get_args(kind)
    if text.lower() in ("none", "null") and type(None) in options:
        return None
    base = next((o for o in options if o is not type(None)), kind) if options else kind
    try:
        if base is bool:
            if text.lower() not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
                raise ValueError
            return text.lower() in ("true", "1", "yes", "on")
        if base is int:
            return int(text)
        if base is float:
            return float(text)
        if isinstance(base, str) or all(isinstance(o, str) for o in options):
            if text not in options:
                raise ValueError
            return text
    except ValueError:
        raise SpecError(f"--set {name}={value}: not a valid value for {name}") from None
    return text
