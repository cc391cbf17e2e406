"""The campaign façade: ``Campaign.load(path)``, then ``suggest``, ``record``, ``status``.

A campaign is a validated spec plus its run store. The façade speaks the
engineer's vocabulary (runs, recipes in process units, DataFrames), hands the
strategy (:mod:`recipeopt.strategy`) tensors on the unit cube, and stores
what it proposes. The meta-trained prior is :class:`~recipeopt.meta.prior.MetaPrior`'s.

Example:
    >>> campaign = Campaign.load("campaigns/etch42.yaml")  # doctest: +SKIP
    >>> batch = campaign.suggest()  # stores 4 pending runs  # doctest: +SKIP
    >>> campaign.record("results.csv")  # doctest: +SKIP
    >>> campaign.status().best  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from recipeopt.exceptions import ConcurrentChangeError, NoMeasurementsError, SpecError
from recipeopt.objective import Objective
from recipeopt.results import ParsedResults, parse_results, read_results
from recipeopt.runtime import model_threads, seeded
from recipeopt.space import Space
from recipeopt.spec import CampaignSpec, load_spec
from recipeopt.store import (
    NewRun,
    RecordSummary,
    RunRow,
    Store,
    export_columns,
    runs_frame,
    storage_url,
)
from recipeopt.strategy.config import DESIGN_METHODS, MODEL_METHODS, StrategyConfig

if TYPE_CHECKING:
    from botorch.models.model import Model
    from torch import Tensor

    from recipeopt.meta.pretrain import Progress
    from recipeopt.meta.prior import MetaPrior, PretrainReport
    from recipeopt.strategy.outlook import Outlook
    from recipeopt.strategy.provenance import Provenance
    from recipeopt.strategy.schedule import Context
    from recipeopt.strategy.surrogates import Surrogates

#: Methods ``suggest`` accepts.
METHODS = ("auto", *DESIGN_METHODS, *MODEL_METHODS)
#: Most runs in one batch (the spec's ``batch_size`` has the same ceiling).
MAX_BATCH = 256
#: Plans ``suggest`` makes when other commands keep writing the campaign's runs meanwhile.
PLAN_ATTEMPTS = 4


@dataclass
class Status:
    """A campaign at a glance.

    Attributes:
        counts: Number of runs per status.
        best: The best complete run by the weighted objective that meets every
            outcome constraint (a row of :meth:`Campaign.runs` plus
            ``objective``), or None.
        fit: Cross-validated RMSE per metric (columns ``metric, rmse, unit, n, folds``),
            or None with fewer than 4 complete runs.
        last_method: Method of the most recent batch.
        last_model: How the most recent batch was proposed, in words (of its first
            run: the batch's hedge runs name their own).
        last_provenance: The same as a record (see :class:`recipeopt.strategy.Provenance`).
        excluded: Runs kept out of the model and the best run (columns ``run_id,
            status, excluded``): recorded off-spec, or outside the campaign's
            current bounds or choices.
        outlook: The stop signal (with the fit, from 4 complete runs and a best run).
    """

    counts: dict[str, int]
    best: pd.Series | None
    fit: pd.DataFrame | None
    last_method: str | None = None
    last_model: str | None = None
    last_provenance: dict[str, Any] | None = None
    excluded: pd.DataFrame | None = None
    outlook: Outlook | None = None


class Campaign:
    """A recipe campaign: spec, space, objective, run store, strategy and prior.

    Args:
        spec: The validated spec.
        path: The YAML file it came from (anchors relative paths), if any.
        storage: Override of the spec's storage URL.
        checkpoint: Use this meta-trained checkpoint as it is (never retrained
            on demand), instead of the spec's.
        strategy: Research settings of the strategy (default: the shipped ones).
    """

    def __init__(
        self,
        spec: CampaignSpec,
        path: Path | None = None,
        *,
        storage: str | None = None,
        checkpoint: Path | None = None,
        strategy: StrategyConfig | None = None,
    ) -> None:
        from recipeopt.meta.prior import MetaPrior
        from recipeopt.strategy.surrogates import Surrogates

        self.spec = spec
        self.path = path
        self.config = strategy or StrategyConfig()
        #: How often the last :meth:`suggest` planned again after another command wrote.
        self.replans = 0
        self.space = Space.from_spec(spec)
        self.objective = Objective.from_spec(spec)
        self.surrogates: Surrogates = Surrogates(
            self.space, self.objective, self.config, spec.model.members
        )
        base = path.parent if path is not None else Path.cwd()
        self.prior: MetaPrior = MetaPrior(
            spec, self.space, self.objective, self.config, base, pinned=checkpoint
        )
        self.store = Store(storage or storage_url(spec.storage, spec.name, path))
        #: Predicted quantities besides the metrics, as exported (``pred_<name>``).
        self._predictions = (
            ("objective", "feasibility", "success")
            if self.objective.constraints
            else ("objective", "success")
        )

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        storage: str | None = None,
        strategy: StrategyConfig | None = None,
    ) -> Campaign:
        """Load a campaign YAML and open its store (created on first use).

        Args:
            path: The campaign YAML.
            storage: Override of the spec's storage URL.
            strategy: Research settings (default: the shipped ones).

        Raises:
            SpecError: If the YAML is invalid.
            StorageError: If the store cannot be opened.
        """
        path = Path(path)
        return cls(load_spec(path), path, storage=storage, strategy=strategy)

    @property
    def name(self) -> str:
        """The campaign's name (the key of its runs in the store)."""
        return self.spec.name

    # -- reading ---------------------------------------------------------

    def runs(self) -> pd.DataFrame:
        """Return every run as a table (see :func:`recipeopt.store.export_columns`).

        ``excluded`` says why a run is kept out of the model and the best run:
        it was recorded off-spec, or it lies outside the campaign's current
        bounds or choices (the YAML was edited since).

        Raises:
            SpecError: If a parameter was added to the campaign after runs were
                stored, without the ``default:`` those runs used.
        """
        return self._frame(self.store.rows(self.name))

    def _frame(
        self, rows: Sequence[RunRow], *, extra: Sequence[str] = (), check: bool = True
    ) -> pd.DataFrame:
        """Flatten ``rows`` with the campaign's columns (``extra``: removed parameters too).

        ``check`` requires a ``default:`` for parameters some rows were planned without.
        """
        defaults = self._defaults(rows, required=check)
        frame = runs_frame(
            rows,
            self.space.names,
            self.objective.names,
            self._predictions,
            defaults=defaults,
            extra_parameters=extra,
        )
        numeric = [n for j, n in enumerate(self.space.names) if j not in self.space.categorical]
        frame[numeric] = frame[numeric].astype(float)
        if len(frame):
            outside = self.space.outside(self.space.values(frame))
            frame["excluded"] = [
                stored or (f"outside the campaign: {why}" if why else "")
                for stored, why in zip(frame["excluded"], outside, strict=True)
            ]
        return frame

    def _defaults(self, rows: Sequence[RunRow], *, required: bool) -> dict[str, float | str]:
        """Return the ``default:`` of each parameter; check runs stored without one have it."""
        defaults = {p.name: p.default for p in self.spec.parameters if p.default is not None}
        if required:
            for name in self.space.names:
                lacking = [r.run_id for r in rows if name not in (r.params or {})]
                if lacking and name not in defaults:
                    shown = ", ".join(lacking[:3]) + (", ..." if len(lacking) > 3 else "")
                    raise SpecError(
                        f"{self.path or self.name}: parameters.{name}: {len(lacking)} stored "
                        f"runs ({shown}) were planned without this parameter; add "
                        "`default: VALUE` to it (the value those runs used)"
                    )
        return defaults

    def export(self) -> str:
        """Return every run as CSV text, oldest first.

        Parameters the campaign no longer has keep their stored values, in
        columns after the current ones; ``excluded`` says which runs the model
        leaves out and why.
        """
        rows = self.store.rows(self.name)
        stored = dict.fromkeys(name for r in rows for name in (r.params or {}))
        extra = [n for n in stored if n not in self.space.index]
        frame = self._frame(rows, extra=extra, check=False)
        return frame.to_csv(index=False, float_format="%.10g")

    def usable(self, runs: pd.DataFrame) -> pd.DataFrame:
        """Return the complete runs of ``runs`` the model learns from (none excluded)."""
        return runs[(runs["status"] == "complete") & (runs["excluded"] == "")]

    def scores(self, runs: pd.DataFrame) -> np.ndarray:
        """Return the weighted objective of each row's metrics.

        NaN where metrics are missing, and where a run breaks an outcome
        constraint: such a recipe does not count, however well it scores.
        """
        values = runs[self.objective.names].to_numpy(dtype=float)
        scores = self.objective.score_values(values)
        if self.objective.constraints:
            scores = np.where(self.objective.feasible(values), scores, np.nan)
        return scores

    # -- suggest ---------------------------------------------------------

    @model_threads
    def suggest(
        self,
        batch: int | None = None,
        *,
        seed: int | None = None,
        fixed: Mapping[str, float | str] | None = None,
        same_in_batch: Sequence[str] = (),
        method: str = "auto",
        note: str = "",
        on_epoch: Progress | None = None,
        before_commit: Callable[[pd.DataFrame], None] | None = None,
    ) -> pd.DataFrame:
        """Propose the next batch and store it as pending runs.

        The strategy (:func:`recipeopt.strategy.schedule.propose`) plans the
        batch. With ``maml-ensemble`` (the default when the campaign has
        history), the meta-prior ranks random feasible recipes for the first
        batch, the adapted prior does so until ``greedy_runs`` complete runs
        (but for ``hedge`` runs of each, from qLogNEI on a plain GP with the
        prior's picks pending), and qLogNEI on the GP over the adapted prior's
        mean proposes every later batch, or every batch after the guard set
        the prior aside. With ``ensemble`` or ``gp``, a scrambled-Sobol design
        comes first until ``initial_design`` runs are complete. Pending runs
        enter the acquisition as ``X_pending``.

        Side effects:
            Stores the batch as pending runs in one transaction. If another
            command wrote the campaign's runs while the batch was planned, it is
            planned again from the new runs (their pending runs as pending), so
            simultaneous calls never propose the same recipes; ``replans``
            counts how often.

        Args:
            batch: Batch size (default: the spec's ``batch_size``).
            seed: Seed (default: the spec's ``seed``); same seed and same runs
                give the same batch.
            fixed: Extra parameters to pin for this batch, in process units
                (labels for categorical parameters).
            same_in_batch: Parameters that must take one value across the
                batch (one lot, one chamber temperature). The value is the one
                the best single recipe would use; then the batch is planned
                with it pinned.
            method: ``auto`` (the spec's model, after a design where it needs
                one), ``sobol``, ``random``, ``maml-ensemble``, ``ensemble`` or ``gp``.
            note: Stored with every run of the batch.
            on_epoch: Progress of meta-training, when the checkpoint must be
                (re)made first.
            before_commit: Called with the batch's table before it is stored
                (to write the engineer's file); if it raises, nothing is stored.

        Returns:
            One row per new run: ``run_id, batch_id``, the parameters, the
            predicted metrics and objective with standard deviations, and
            ``model``: how the run was proposed, in words.

        Raises:
            SpecError: If ``fixed`` names an unknown parameter or a bad value.
            NotEnoughPointsLeftError: If the space has no new feasible recipes.
            ConcurrentChangeError: If other commands kept writing the runs.
        """
        q = self.spec.batch_size if batch is None else batch
        if not 1 <= q <= MAX_BATCH:
            raise SpecError(f"--batch must be between 1 and {MAX_BATCH} runs, got {q}")
        if method not in METHODS:
            raise SpecError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
        seed = self.spec.seed if seed is None else seed
        space = self.space.with_fixed(fixed) if fixed else self.space
        unknown = [n for n in same_in_batch if n not in space.index]
        if unknown:
            raise SpecError(
                f"--same-in-batch {unknown[0]}: unknown parameter; "
                f"choose one of {', '.join(space.names)}"
            )
        columns = ["run_id", "batch_id", *space.names]
        columns += [c for c in self.columns() if c.startswith("pred_")] + ["model"]
        table = pd.DataFrame()

        def deliver(rows: list[RunRow]) -> None:
            nonlocal table
            table = self._frame(rows, check=False)[columns]
            if before_commit is not None:
                before_commit(table)

        # NOTE: the batch is planned from a snapshot of the runs and stored only if no
        # other command wrote the campaign's runs meanwhile; otherwise it is planned
        # again, with the other command's pending runs as pending.
        for attempt in range(1, PLAN_ATTEMPTS + 1):
            revision = self.store.revision(self.name)
            new = self._plan(
                space,
                self.runs(),
                q,
                method=method,
                seed=seed,
                note=note,
                same_in_batch=same_in_batch,
                on_epoch=on_epoch,
            )
            try:
                self.store.add_batch(
                    self.name, new, expect_revision=revision, before_commit=deliver
                )
            except ConcurrentChangeError:
                if attempt == PLAN_ATTEMPTS:
                    raise ConcurrentChangeError(
                        f"{self.name}: other commands changed the runs while each of "
                        f"{PLAN_ATTEMPTS} batches was planned; nothing was stored; "
                        "run suggest again"
                    ) from None
                continue
            self.replans = attempt - 1
            return table
        raise AssertionError("unreachable")

    def _plan(
        self,
        space: Space,
        runs: pd.DataFrame,
        q: int,
        *,
        method: str,
        seed: int,
        note: str,
        same_in_batch: Sequence[str],
        on_epoch: Progress | None,
    ) -> list[NewRun]:
        """Plan a batch of ``q`` runs from ``runs`` with the strategy (see :meth:`suggest`)."""
        from recipeopt.strategy.schedule import propose

        complete = self.usable(runs)
        if method == "auto":
            # NOTE: the meta-prior replaces the initial design; the other models need one.
            method = self.spec.method
            if method != "maml-ensemble" and len(complete) < self.spec.initial_design:
                method = "sobol"
        if method in ("ensemble", "gp") and len(complete) < 2:
            raise NoMeasurementsError(
                f"method {method!r} needs at least 2 complete runs, "
                f"the campaign has {len(complete)}; "
                "record results of the initial design first"
            )
        ctx = self._context(runs, space=space, method=method, q=q, seed=seed, on_epoch=on_epoch)
        ctx.same_in_batch, ctx.note = same_in_batch, note
        with seeded(seed):
            return propose(ctx)

    def _context(
        self,
        runs: pd.DataFrame,
        *,
        space: Space | None = None,
        method: str,
        q: int | None = None,
        seed: int | None = None,
        on_epoch: Progress | None = None,
    ) -> Context:
        """Return what the strategy needs to plan from ``runs``."""
        import torch

        from recipeopt.strategy.schedule import Context

        space = space or self.space
        complete = self.usable(runs)
        pending = runs[runs["status"] == "pending"]
        X, Y = self.training_data(runs)
        return Context(
            space=space,
            objective=self.objective,
            runs=runs,
            complete=complete,
            X=X,
            Y=Y,
            X_pending=torch.as_tensor(
                space.to_cube(space.values(pending)) if len(pending) else np.zeros((0, space.dim))
            ),
            used=space.to_cube(space.values(runs)) if len(runs) else np.zeros((0, space.dim)),
            scores_of=lambda frame: self.scores(self.usable(frame)),
            method=method,
            q=self.spec.batch_size if q is None else q,
            seed=self.spec.seed if seed is None else seed,
            config=self.config,
            surrogates=self.surrogates,
            checkpoint=lambda: self.prior.checkpoint(on_epoch=on_epoch),
            guard=self.spec.model.guard,
            initial_design=self.spec.initial_design,
        )

    @model_threads
    def fit_model(
        self, method: str, X: Tensor, Y: Tensor, *, seed: int
    ) -> tuple[Model | None, Provenance]:
        """Fit the model ``suggest`` would use on ``(X, Y)``, with the guard's decision.

        For benchmarks and tests: the runs' start-up state is the campaign's.
        """
        from recipeopt.strategy.schedule import fit

        ctx = self._context(self.runs(), method=method, seed=seed)
        ctx.X, ctx.Y = X, Y
        with seeded(seed):
            return fit(ctx)

    def training_data(self, runs: pd.DataFrame) -> tuple[Tensor, Tensor]:
        """Return ``(X, Y)`` of the complete runs: unit-cube inputs, normalized metrics."""
        import torch

        complete = self.usable(runs)
        X = self.space.to_cube(self.space.values(complete))
        Y = self.objective.normalize(complete[self.objective.names].to_numpy(dtype=float))
        return torch.as_tensor(X, dtype=torch.float64), torch.as_tensor(Y, dtype=torch.float64)

    # -- the meta-trained prior ------------------------------------------

    def pretrain(self, **kwargs: Any) -> PretrainReport:
        """Meta-train the ensemble on the history and write the checkpoint.

        See :meth:`recipeopt.meta.prior.MetaPrior.pretrain` for the arguments.
        """
        return self.prior.pretrain(**kwargs)

    # -- record ----------------------------------------------------------

    def record(
        self,
        results: str | Path | pd.DataFrame,
        *,
        replace: bool = False,
        allow_off_spec: bool = False,
    ) -> tuple[RecordSummary, ParsedResults]:
        """Validate a results file (or table) and store it, all or nothing.

        Side effects:
            Updates the runs named in the file and adds off-plan runs, in one
            transaction; nothing is written if any row is bad.

        Args:
            results: A CSV path, or a table with text or numeric cells.
            replace: Allow overwriting runs that already have results.
            allow_off_spec: Store runs that break the plan's rules (whole numbers,
                steps, pinned values, linear constraints) flagged, kept out of the
                model, instead of rejecting the file.

        Raises:
            ResultsFileError: Naming the file, line and column of the first bad cell.
            ConcurrentChangeError: If another command recorded one of the runs meanwhile.
        """
        if isinstance(results, pd.DataFrame):
            source = "<results>"
            frame = results.astype(object).where(results.notna(), "").astype(str)
        else:
            source, frame = str(results), read_results(str(results))
        parsed = parse_results(
            frame,
            source=source,
            space=self.space,
            metrics=self.objective.names,
            runs=self.runs(),
            replace=replace,
            columns=self.columns(),
            limits={m.name: m.physical_limits for m in self.spec.objective.metrics},
            allow_off_spec=allow_off_spec,
        )
        summary = self.store.record(self.name, parsed.updates, parsed.new_runs, replace=replace)
        return summary, parsed

    # -- status ----------------------------------------------------------

    @model_threads
    def status(self, *, fit: bool = True, seed: int | None = None) -> Status:
        """Summarize the campaign.

        Args:
            fit: Also cross-validate the model on the complete runs (needs >= 4).
            seed: Seed of the cross-validation (default: the spec's).
        """
        runs = self.runs()
        counts = {
            s: int((runs["status"] == s).sum())
            for s in ("pending", "complete", "failed", "abandoned")
        }
        complete = self.usable(runs)
        best = None
        scores = self.scores(complete)
        if np.isfinite(scores).any():
            row = complete.iloc[int(np.nanargmax(scores))].copy()
            row["objective"] = float(np.nanmax(scores))
            best = row
        fit_table, ahead = None, None
        if fit and len(complete) >= 4:
            fit_table, ahead = self.cross_validate(
                runs, seed=self.spec.seed if seed is None else seed
            )
        # The batch's first run names its model (its hedge runs, last, name their own).
        last = runs[runs["batch_id"] == runs["batch_id"].iloc[-1]].iloc[0] if len(runs) else None
        excluded = runs.loc[runs["excluded"] != "", ["run_id", "status", "excluded"]]
        return Status(
            counts=counts,
            best=best,
            fit=fit_table,
            last_method=None if last is None else last["method"],
            last_model=None if last is None else last["model"],
            last_provenance=json.loads(last["provenance"])
            if last is not None and last["provenance"]
            else None,
            excluded=excluded.reset_index(drop=True),
            outlook=ahead,
        )

    @model_threads
    def cross_validate(
        self, runs: pd.DataFrame, *, seed: int
    ) -> tuple[pd.DataFrame, Outlook | None]:
        """Return the models' k-fold cross-validated RMSE per metric, and the outlook.

        See :meth:`Surrogates.assess`; for a ``maml-ensemble`` campaign whose
        checkpoint is fresh the adapted prior is the campaign's model (``status``
        never meta-trains), against a plain GP.
        """
        X, Y = self.training_data(runs)
        ckpt = self.prior.checkpoint(train=False) if self.spec.method == "maml-ensemble" else None
        scores = self.scores(self.usable(runs))
        with seeded(seed):
            return self.surrogates.assess(
                X,
                Y,
                ckpt,
                method=self.spec.method,
                seed=seed,
                best=float(np.nanmax(scores)) if np.isfinite(scores).any() else None,
                used=self.space.to_cube(self.space.values(runs)),
                margin=self.spec.objective.margin,
                q=self.spec.batch_size,
            )

    def close(self) -> None:
        """Release the store's connections."""
        self.store.close()

    def columns(self) -> list[str]:
        """Return the export column order."""
        return export_columns(self.space.names, self.objective.names, self._predictions)
