"""Which step proposed a run, with which model, and why: a record, and a sentence.

Every run stores its :class:`Provenance` as JSON (``runs.provenance``), so
tests, the benchmark and reports read fields, never substrings; the ``model``
column keeps a short sentence in the engineer's words for tables, made from
the record by :meth:`Provenance.sentence`.

Example:
    >>> p = Provenance(step="qlognei", model="residual-gp", center="R012")
    >>> p.sentence()
    'refines around R012 (learned prior + GP)'
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

Step = Literal["design", "random", "prior-ranked", "hedge", "qlognei", "choice"]
ModelKind = Literal["none", "prior", "adapted-prior", "scratch-ensemble", "gp", "residual-gp"]
GuardDecision = Literal["off", "too-few-runs", "kept", "set-aside"]

#: How each model kind reads in a table.
_MODEL_WORDS = {
    "none": "",
    "prior": "learned prior",
    "adapted-prior": "learned prior, adapted",
    "scratch-ensemble": "ensemble fitted to this recipe",
    "gp": "plain GP",
    "residual-gp": "learned prior + GP",
}


@dataclass(frozen=True)
class Provenance:
    """How a run was proposed.

    Attributes:
        step: ``design`` (space-filling Sobol), ``random``, ``prior-ranked`` (the
            model's best predicted recipes among random feasible ones), ``hedge``
            (qLogNEI on a plain GP over the whole space, the rest of the batch
            pending), ``qlognei`` (BoTorch's qLogNoisyExpectedImprovement) or
            ``choice`` (the first run of a categorical choice no run had tried).
        model: The model that proposed it (and predicted its metrics).
        checkpoint: Identity of the meta-trained checkpoint, if the model used one.
        adaptation_steps: SGD steps the prior was adapted for, if adapted.
        adaptation_lr: The rate of those steps.
        guard: The negative-transfer guard's decision on the adapted prior.
        guard_reason: Why, in numbers (held-out errors).
        acquisition: What ranked or optimized the candidates (``posterior mean``,
            ``qLogNEI``, ``Sobol``, ``uniform``).
        candidates: How many random recipes a ranked step ranked.
        center: Run id the trust region was centred on (``qlognei`` in a box).
        box_side: Side of the trust region on the unit cube.
        choice: The untried choice a ``choice`` run tries (``catalyst = P1-L5``).
    """

    step: Step
    model: ModelKind = "none"
    checkpoint: str | None = None
    adaptation_steps: int | None = None
    adaptation_lr: float | None = None
    guard: GuardDecision = "off"
    guard_reason: str | None = None
    acquisition: str | None = None
    candidates: int | None = None
    center: str | None = None
    box_side: float | None = None
    choice: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the record as a JSON-ready dict, without empty fields."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Provenance | None:
        """Read a stored record (None for runs stored before provenance existed)."""
        if not data:
            return None
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def replace(self, **changes: Any) -> Provenance:
        """Return a copy with ``changes``."""
        return dataclasses.replace(self, **changes)

    def sentence(self) -> str:
        """Say in the engineer's words how the run was proposed."""
        words = _MODEL_WORDS[self.model]
        if self.model == "residual-gp" and self.guard == "set-aside":
            words = "ensemble fitted to this recipe + GP"
        if self.step == "design":
            text = "space-filling design"
        elif self.step == "random":
            text = "random recipe"
        elif self.step == "prior-ranked":
            text = "ranked by the learned prior" if "prior" in self.model else "ranked by the model"
            if self.model == "scratch-ensemble":
                text = "ranked by the ensemble fitted to this recipe"
        elif self.step == "hedge":
            text = "explores: plain GP"
        elif self.step == "choice":
            text = f"tries {self.choice} for the first time ({words})"
        elif self.center:
            text = f"refines around {self.center} ({words})"
        elif self.acquisition == "qLogNEHVI":
            text = f"widens the trade-off front ({words})"
        else:
            text = f"best expected improvement ({words})"
        if self.step in ("prior-ranked", "hedge") and (self.acquisition or "").startswith(
            ("hypervolume", "qLogNEHVI")
        ):
            text += ", for the trade-off front"
        if self.guard == "set-aside":
            text += "; the learned prior was set aside (it mispredicted this recipe's runs)"
        return text
