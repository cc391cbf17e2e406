"""The suggestion strategy: which step proposes the next batch, and with which model.

:func:`propose` is the schedule. From a :class:`Context` (the runs, the pending
runs, the space, the objective, the checkpoint and the settings) it picks the
step and returns the batch as new runs, each with its :class:`Provenance`:

1. A design-based method (``sobol``, ``random``) proposes a design batch.
2. ``maml-ensemble`` with no complete run: the meta-prior ranks random feasible
   recipes (:func:`~recipeopt.strategy.steps.prior_ranked`).
3. ``maml-ensemble`` before ``greedy_runs`` complete runs, while the guard keeps
   the adapted prior: the adapted prior ranks, and ``hedge`` runs of the batch
   come from qLogNEI on a plain GP over the whole space.
4. Otherwise qLogNEI (on the GP over the adapted prior's mean with
   ``residual_gp``, else on the model itself), in the trust region around the
   best run for the ensemble methods.

5. With the ensemble methods, while a categorical parameter has a choice no run
   has tried and the model cannot rule out that it beats the best run, one run
   of the batch tries the most promising such choice (``choice``): a choice the
   history favoured never locks the campaign in.

Once a run has failed, every step weighs its choice by the probability of
success learned from the failed and complete runs
(:mod:`recipeopt.strategy.failures`).

The guard (:mod:`recipeopt.strategy.guard`) may set the adapted prior aside
for its reference model (the scratch ensemble, under the residual GP; or a
plain GP), or, during the start-up, for the design. A plain GP is fitted at
most once per batch: a GP reference and the hedge runs share it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from recipeopt.design import Kind
from recipeopt.models.ensemble import EnsembleFit
from recipeopt.models.gp import held_out_means
from recipeopt.objective import Objective
from recipeopt.space import Space
from recipeopt.store import NewRun
from recipeopt.strategy import guard, steps
from recipeopt.strategy.config import DESIGN_METHODS, MODEL_METHODS, StrategyConfig
from recipeopt.strategy.failures import SuccessModel, success_model
from recipeopt.strategy.provenance import Provenance
from recipeopt.strategy.surrogates import Surrogates, weights_of
from recipeopt.strategy.trust_region import Box, search_box

if TYPE_CHECKING:
    from botorch.models import SingleTaskGP
    from botorch.models.model import Model

    from recipeopt.checkpoints import Checkpoint


#: Methods that search a trust region around the best run.
ENSEMBLE_METHODS = ("maml-ensemble", "ensemble")


@dataclass
class Context:
    """What a step needs to propose a batch.

    Attributes:
        space: The space, with this batch's pinned values.
        objective: The weighted objective.
        runs: Every run, oldest first (as :meth:`Campaign.runs`).
        complete: The complete runs the model learns from.
        X: ``n x d`` those runs on the unit cube.
        Y: ``n x m`` their normalized metrics.
        X_pending: ``p x d`` pending runs on the unit cube.
        used: ``k x d`` every recipe already in the campaign (unit cube), never repeated.
        scores_of: Weighted objective of a table's usable complete runs.
        method: ``sobol``, ``random``, ``maml-ensemble``, ``ensemble`` or ``gp``.
        q: Batch size.
        seed: Seed.
        config: Research settings.
        surrogates: Fits the models.
        checkpoint: Returns the meta-trained checkpoint (meta-training on demand).
        guard: The campaign's ``model.guard``.
        initial_design: The campaign's ``initial_design``.
        same_in_batch: Parameters that take one value across the batch.
        note: Stored with every run.
    """

    space: Space
    objective: Objective
    runs: pd.DataFrame
    complete: pd.DataFrame
    X: Tensor
    Y: Tensor
    X_pending: Tensor
    used: np.ndarray
    scores_of: Callable[[pd.DataFrame], np.ndarray]
    method: str
    q: int
    seed: int
    config: StrategyConfig
    surrogates: Surrogates
    checkpoint: Callable[[], Checkpoint]
    guard: bool = True
    initial_design: int = 8
    same_in_batch: Sequence[str] = ()
    note: str = ""
    _plain_gp: SingleTaskGP | None = field(default=None, repr=False)

    def plain_gp(self) -> SingleTaskGP:
        """Return the plain GP on the complete runs (fitted once per context)."""
        if self._plain_gp is None:
            self._plain_gp = self.surrogates.gp(self.X, self.Y)
        return self._plain_gp


@dataclass
class _Part:
    """Recipes of a batch proposed by one model, and how."""

    values: np.ndarray
    model: Model | None
    provenance: Provenance


def propose(ctx: Context) -> list[NewRun]:
    """Propose the next batch of ``ctx.q`` runs (see the module's schedule).

    Returns:
        The new runs (pending), with predictions from the model that chose each.
    """
    if ctx.method in DESIGN_METHODS:
        return _design(ctx, Provenance(step="design" if ctx.method == "sobol" else "random"))
    model, chosen = fit(ctx)
    if model is None:  # the guard set the meta-prior aside before the design is complete
        return _design(ctx, chosen.replace(step="design", acquisition="Sobol"))
    space, config, n = ctx.space, ctx.config, len(ctx.X)
    success = _success(ctx)
    pareto = ctx.objective.pareto
    acquisition = "qLogNEHVI" if pareto else "qLogNEI"
    equality = any(c.op == "==" for c in space.constraints)
    count = config.greedy_candidates // 10 if equality else config.greedy_candidates
    greedy = n == 0 or (
        ctx.method == "maml-ensemble" and n < config.greedy_runs and chosen.guard != "set-aside"
    )
    if greedy:
        # NOTE: a greedy batch trusts the prior, so once the guard sets the prior aside,
        # qLogNEI proposes instead (decision 0002).
        provenance = chosen.replace(
            step="prior-ranked",
            acquisition="hypervolume gain of the mean" if pareto else "posterior mean",
            candidates=count,
        )

        ranker = model

        def propose_values(space: Space, q: int) -> np.ndarray:
            return steps.prior_ranked(
                ranker,
                ctx.objective,
                space,
                q,
                candidates=count,
                seed=ctx.seed,
                used=ctx.used,
                success=success,
                Y=ctx.Y,
            )
    else:
        if ctx.method == "maml-ensemble" and config.residual_gp and chosen.model != "gp":
            model = ctx.surrogates.gp(ctx.X, ctx.Y, prior=model)
            chosen = chosen.replace(model="residual-gp")
        acqf = steps.acquisition(
            model, ctx.objective, ctx.X, ctx.X_pending, seed=ctx.seed, success=success
        )
        box = trust_box(ctx)
        restarts = config.region_restarts if box else None
        provenance = chosen.replace(
            step="qlognei",
            acquisition=acquisition,
            center=box.center if box else None,
            box_side=box.side if box else None,
        )

        def propose_values(space: Space, q: int) -> np.ndarray:
            region = box.bounds if box else None
            return steps.qlognei(
                acqf,
                space,
                q,
                region=region,
                used=ctx.used,
                seed=ctx.seed,
                restarts=restarts,
                pareto=pareto,
            )

    if ctx.same_in_batch:  # choose the shared values with the best single recipe, then the batch
        first = space.records(propose_values(space, 1))[0]
        space = space.with_fixed({name: first[name] for name in ctx.same_in_batch})
    # NOTE: only a greedy batch is hedged: it trusts the prior's mean alone, while
    # qLogNEI's batches weigh the GP's own spread, and hedging them as well cost the
    # trust region's late refinement (decision 0003).
    hedge = min(config.hedge, ctx.q - 1) if greedy and n else 0
    parts = []
    explored = _explore(ctx, space, model, count, success)
    if explored is not None:  # one run of the batch tries a choice no run has tried
        row, choice = explored
        record = provenance.replace(
            step="choice", choice=choice, acquisition="optimistic value", center=None, box_side=None
        )
        parts.append(_Part(row[None], model, record))
        ctx.used = np.concatenate([ctx.used.reshape(-1, space.dim), space.to_cube(row[None])])
        hedge = min(hedge, max(ctx.q - 2, 0))
    if ctx.q - hedge - len(parts) > 0:
        values = propose_values(space, ctx.q - hedge - len(parts))
        parts.insert(0, _Part(values, model, provenance))
    if hedge:
        gp = ctx.plain_gp()
        hedged = steps.hedge(
            gp,
            ctx.objective,
            space,
            ctx.X,
            ctx.X_pending,
            values,
            hedge,
            used=ctx.used,
            seed=ctx.seed,
            success=success,
        )
        parts.append(
            _Part(hedged, gp, Provenance(step="hedge", model="gp", acquisition=acquisition))
        )
    return _runs(ctx, space, parts, success=success)


def _success(ctx: Context) -> SuccessModel | None:
    """Return the probability of success learned from failed and complete runs (or None)."""
    runs = ctx.runs
    failed = runs[(runs["status"] == "failed") & (runs["excluded"] == "")]
    if not len(failed) or not len(ctx.X) or not ctx.config.failure_model:
        return None
    X_failed = torch.as_tensor(ctx.space.to_cube(ctx.space.values(failed))).to(ctx.X)
    X = torch.cat([ctx.X, X_failed])
    succeeded = torch.cat([torch.ones(len(ctx.X)), torch.zeros(len(failed))]).to(X)
    return success_model(X, succeeded, sorted(ctx.space.categorical))


def trust_box(ctx: Context) -> Box | None:
    """Return the trust region qLogNEI searches, or None (the whole space).

    The ensemble methods search a box around the best run (``trust_region``; not in
    Pareto mode). Its
    patience applies from ``trust_region_patience_runs`` complete runs on, and
    with ``maml-ensemble`` never before ``greedy_runs``.
    """
    config = ctx.config
    # NOTE: a Pareto front has no single best run to centre a box on: Pareto mode
    # searches the whole space.
    if ctx.method not in ENSEMBLE_METHODS or not config.trust_region or ctx.objective.pareto:
        return None
    start = max(
        config.trust_region_patience_runs, config.greedy_runs * (ctx.method == "maml-ensemble")
    )
    return search_box(
        ctx.space,
        ctx.runs,
        ctx.complete,
        ctx.scores_of,
        q=ctx.q,
        patience=config.trust_region_patience,
        patience_runs=start,
    )


def fit(ctx: Context) -> tuple[Model | None, Provenance]:
    """Fit the method's model; for ``maml-ensemble``, adapt the prior and ask the guard.

    Returns:
        The model (None when the guard sends the start-up back to the design), and
        the provenance of a batch it would propose (its step still to be set).
    """
    if ctx.method == "gp":
        return ctx.surrogates.gp(ctx.X, ctx.Y), Provenance(step="qlognei", model="gp")
    if ctx.method == "ensemble":
        fit = ctx.surrogates.scratch(ctx.X, ctx.Y, seed=ctx.seed)
        return fit.model, Provenance(step="qlognei", model="scratch-ensemble")
    ckpt = ctx.checkpoint()
    base = Provenance(step="prior-ranked", model="prior", checkpoint=ckpt.identity)
    if len(ctx.X) == 0:
        return ctx.surrogates.prior(ckpt, ctx.Y), base
    fit = ctx.surrogates.adapted(ckpt, ctx.X, ctx.Y, seed=ctx.seed)
    complete = ctx.complete
    # NOTE: a misleading prior costs its one batch: the guard may return to the design
    # only while the prior's first batch is the only model batch.
    start_up = (
        complete["method"].isin(DESIGN_METHODS).sum() < ctx.initial_design
        and ctx.runs.loc[ctx.runs["method"].isin(MODEL_METHODS), "batch_id"].nunique() <= 1
    )
    choice = guard.choose(
        fit,
        ctx.Y,
        weights_of(ctx.objective, ctx.Y),
        enabled=ctx.guard,
        start_up=bool(start_up),
        reference=lambda: _reference(ctx, fit),
        reference_kind="gp" if ctx.config.guard_reference == "gp" else "scratch-ensemble",
    )
    provenance = base.replace(
        model=choice.kind,
        adaptation_steps=fit.steps,
        adaptation_lr=fit.lr,
        guard=choice.guard,
        guard_reason=choice.reason,
    )
    return choice.model, provenance


def _reference(ctx: Context, fit: EnsembleFit) -> tuple[Model, Tensor]:
    """Return the guard's reference model and its held-out means on ``fit``'s folds.

    ``guard_reference`` ``gp``: the context's plain GP, cross-validated in closed
    form on the adapted prior's folds. ``scratch``: the scratch ensemble (the
    earlier guard, kept for the benchmark), with its own folds.
    """
    if ctx.config.guard_reference == "scratch":
        scratch = ctx.surrogates.scratch(ctx.X, ctx.Y, seed=ctx.seed)
        assert scratch.cv_mean is not None
        return scratch.model, scratch.cv_mean
    assert fit.fold_of is not None
    gp = ctx.plain_gp()
    return gp, held_out_means(gp, fit.fold_of)


def _explore(
    ctx: Context, space: Space, model: Model, candidates: int, success: SuccessModel | None
) -> tuple[np.ndarray, str] | None:
    """Return a recipe trying a categorical choice no run has tried, and the choice, or None.

    Categorical choices are explored, not inherited from the history: while a
    free categorical parameter has a choice that no complete or pending run
    holds, and the model is not confident it is worse
    (:func:`~recipeopt.strategy.steps.untried_choice`), one run of each batch
    tries the most promising one. With batches of one run, every other batch.
    A failed run counts as having tried its choice. The ``gp`` method, the plain
    BoTorch baseline, does not explore this way.
    """
    if ctx.method not in ENSEMBLE_METHODS:
        return None
    if not any(space.names[j] not in space.fixed for j in space.categorical):
        return None
    if ctx.q == 1 and len(ctx.runs) and _step_of(ctx.runs.iloc[-1]) == "choice":
        return None
    active = ctx.runs[ctx.runs["status"].isin(["complete", "pending", "failed"])]
    tried = space.values(active) if len(active) else np.zeros((0, space.dim))
    scores = ctx.scores_of(ctx.runs)
    incumbent = float(np.nanmax(scores)) if np.isfinite(scores).any() else -np.inf
    return steps.untried_choice(
        model,
        ctx.objective,
        space,
        tried,
        incumbent,
        candidates=max(candidates // 10, 256),
        seed=ctx.seed,
        used=ctx.used,
        success=success,
    )


def _step_of(run: pd.Series) -> str | None:
    """Return the step that proposed a stored run (None before provenance was stored)."""
    record = Provenance.from_json(json.loads(run["provenance"])) if run["provenance"] else None
    return None if record is None else record.step


def _design(ctx: Context, provenance: Provenance) -> list[NewRun]:
    """Return a design batch (the first new recipe sets any same-in-batch values)."""
    kind: Kind = "sobol" if ctx.method != "random" else "random"
    space = ctx.space
    if ctx.same_in_batch:
        first = space.records(
            steps.design(space, 1, kind=kind, seed=ctx.seed, used=ctx.used, runs=len(ctx.runs))
        )[0]
        space = space.with_fixed({name: first[name] for name in ctx.same_in_batch})
    values = steps.design(space, ctx.q, kind=kind, seed=ctx.seed, used=ctx.used, runs=len(ctx.runs))
    acquisition = "Sobol" if kind == "sobol" else "uniform"
    part = _Part(values, None, provenance.replace(acquisition=acquisition))
    return _runs(ctx, space, [part], method=kind)


def _runs(
    ctx: Context,
    space: Space,
    parts: list[_Part],
    *,
    method: str | None = None,
    success: SuccessModel | None = None,
) -> list[NewRun]:
    """Turn each part into new runs with the predictions of the model that chose it.

    ``method`` is what the runs store as their method (default: the context's);
    a design batch stores its kind, so the trust region's replay skips it.
    With a ``success`` model, each run's probability of success is predicted too.
    """
    runs = []
    for part in parts:
        predicted = (
            steps.predictions(part.model, ctx.objective, space, part.values, success)
            if part.model is not None
            else [None] * len(part.values)
        )
        for row, prediction in zip(space.records(part.values), predicted, strict=True):
            runs.append(
                NewRun(
                    params=row,
                    method=method or ctx.method,
                    predicted=prediction,
                    model=part.provenance.sentence(),
                    provenance=part.provenance.to_json(),
                    seed=ctx.seed,
                    note=ctx.note,
                )
            )
    return runs
