"""The campaign façade: ``Campaign.load(path)``, then ``suggest``, ``record``, ``status``.

A campaign is a validated spec plus its run store. The façade speaks the
engineer's vocabulary (runs, recipes in process units, DataFrames) and hands
the modelling layer tensors on the unit cube.

Example:
    >>> campaign = Campaign.load("campaigns/etch42.yaml")  # doctest: +SKIP
    >>> batch = campaign.suggest()  # stores 4 pending runs  # doctest: +SKIP
    >>> campaign.record("results.csv")  # doctest: +SKIP
    >>> campaign.status().best  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, overload

import numpy as np
import pandas as pd

from recipeopt.exceptions import ConcurrentChangeError, NoMeasurementsError, SpecError
from recipeopt.objective import Objective
from recipeopt.results import ParsedResults, parse_results, read_results
from recipeopt.space import Space, same_recipe
from recipeopt.spec import CampaignSpec, load_spec
from recipeopt.store import (
    NewRun,
    RecordSummary,
    RunRow,
    Store,
    export_columns,
    runs_frame,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from botorch.models.model import Model
    from torch import Tensor

    from recipeopt.checkpoints import Checkpoint
    from recipeopt.design import Kind
    from recipeopt.meta.pretrain import MetaConfig, Progress
    from recipeopt.models.ensemble import EnsembleFit

#: Methods that fit a model to propose a batch.
MODEL_METHODS = ("maml-ensemble", "ensemble", "gp")
#: Methods that propose a batch without a model.
DESIGN_METHODS = ("sobol", "random")
#: Methods that search a trust region around the best run.
ENSEMBLE_METHODS = ("maml-ensemble", "ensemble")
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
#: From this many complete runs, the adapted prior must also beat the scratch ensemble
#: on held-out runs to be used (the second negative-transfer guard).
GUARD_MIN_RUNS = 8
#: Random feasible recipes the model ranks for a greedy batch (see ``model.greedy_runs``;
#: a tenth of that with equality constraints, where BoTorch's hit-and-run sampler
#: draws them at about 1,000 a second).
GREEDY_CANDIDATES = 20_000
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
        last_model: Model identity of the most recent batch (of its first run: the
            batch's hedge runs, see ``model.hedge``, name the GP that chose them).
        excluded: Runs kept out of the model and the best run (columns ``run_id,
            status, excluded``): recorded off-spec, or outside the campaign's
            current bounds or choices.
    """

    counts: dict[str, int]
    best: pd.Series | None
    fit: pd.DataFrame | None
    last_method: str | None = None
    last_model: str | None = None
    excluded: pd.DataFrame | None = None


class FittedModel(NamedTuple):
    """A model fitted for a batch.

    Attributes:
        model: The BoTorch model, or None when the guard sent the start-up back to the design.
        identity: What the model is, as stored with each run of the batch.
        prior_set_aside: Whether the negative-transfer guard set the adapted prior aside.
    """

    model: Model | None
    identity: str
    prior_set_aside: bool = False


def _resolve_storage(spec: CampaignSpec, path: Path | None) -> str:
    base = path.parent if path is not None else Path.cwd()
    url = spec.storage
    if url is None:
        return f"sqlite:///{(base / f'{spec.name}.db').resolve()}"
    if "://" not in url:  # a plain file path means an SQLite file
        file = Path(url)
        return f"sqlite:///{(file if file.is_absolute() else base / file).resolve()}"
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////") and ":memory:" not in url:
        return f"sqlite:///{(base / url.removeprefix('sqlite:///')).resolve()}"
    return url


@dataclass
class PretrainReport:
    """What ``pretrain`` did.

    Attributes:
        path: The checkpoint written.
        recipes: Recipes meta-trained on (training plus held-out).
        runs: Usable history runs.
        dropped: Counts of runs and recipes dropped, per rule (see :mod:`recipeopt.history`).
        epochs: Epochs run.
        held_out_loss: Held-out query loss of the kept weights (standardized units).
        stopped_early: Whether early stopping ended training.
        seconds: Wall time.
        gains: Median over members of the inner-rate gain per parameter tensor (all 1
            unless ``model.learn_lr``).
        schedule: ``(runs, steps)``: the adaptation length ``suggest`` takes below 20
            runs, chosen on the held-out recipes.
    """

    path: Path
    recipes: int
    runs: int
    dropped: dict[str, int]
    epochs: int
    held_out_loss: float
    stopped_early: bool
    seconds: float
    gains: dict[str, float]
    schedule: tuple[tuple[int, int], ...] = ()


class Campaign:
    """A recipe campaign: spec, space, objective and run store.

    Args:
        spec: The validated spec.
        path: The YAML file it came from (anchors relative paths), if any.
        storage: Override of the spec's storage URL.
        checkpoint: Use this meta-trained checkpoint as it is (never retrained
            on demand), instead of the spec's.
    """

    def __init__(
        self,
        spec: CampaignSpec,
        path: Path | None = None,
        *,
        storage: str | None = None,
        checkpoint: Path | None = None,
    ) -> None:
        self.spec = spec
        self.path = path
        self.pinned_checkpoint = checkpoint
        #: Why the last :meth:`checkpoint` call meta-trained again (None if it did not).
        self.pretrain_reason: str | None = None
        #: How often the last :meth:`suggest` planned again after another command wrote.
        self.replans = 0
        self._loaded: tuple[tuple[Path, str], Checkpoint] | None = None
        self.space = Space.from_spec(spec)
        self.objective = Objective.from_spec(spec)
        self.store = Store(storage or _resolve_storage(spec, path))
        #: Predicted quantities besides the metrics, as exported (``pred_<name>``).
        self._predictions = (
            ("objective", "feasibility") if self.objective.constraints else ("objective",)
        )

    @classmethod
    def load(cls, path: str | Path, *, storage: str | None = None) -> Campaign:
        """Load a campaign YAML and open its store (created on first use).

        Raises:
            SpecError: If the YAML is invalid.
            StorageError: If the store cannot be opened.
        """
        path = Path(path)
        return cls(load_spec(path), path, storage=storage)

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

    def _complete(self, runs: pd.DataFrame) -> pd.DataFrame:
        """Return the complete runs the model learns from (none excluded)."""
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

        With ``maml-ensemble`` (the default when the campaign has history), the
        first batch is chosen by the meta-prior alone among random feasible
        recipes, the batches before ``model.greedy_runs`` complete runs the same
        way by the prior adapted to them (but for ``model.hedge`` runs of each,
        which qLogNEI on a plain GP chooses with the prior's picks pending), and
        every later one, or every one
        after the negative-transfer guard set the prior aside for the scratch
        ensemble, by qLogNEI, on a GP fitted to the runs' residuals from that
        model (``model.residual_gp``). With ``ensemble``
        or ``gp``, a scrambled-Sobol design comes first until ``initial_design``
        runs are complete. Pending runs
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
            One row per new run: ``run_id, batch_id``, the parameters, and the
            predicted metrics and objective with standard deviations.

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
        columns += [c for c in self.columns() if c.startswith("pred_")]
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
        """Plan a batch of ``q`` runs from ``runs`` (see :meth:`suggest`)."""
        complete = self._complete(runs)
        if method == "auto":
            # NOTE: the meta-prior replaces the initial design; the other models need one.
            method = self.spec.method
            if method != "maml-ensemble" and len(complete) < self.spec.initial_design:
                method = "sobol"
        used = space.to_cube(space.values(runs)) if len(runs) else np.zeros((0, space.dim))
        if method in ("ensemble", "gp") and len(complete) < 2:
            raise NoMeasurementsError(
                f"method {method!r} needs at least 2 complete runs, "
                f"the campaign has {len(complete)}; "
                "record results of the initial design first"
            )
        with _seeded(seed):
            if method in DESIGN_METHODS:
                kind: Kind = "sobol" if method == "sobol" else "random"
                return self._design_batch(
                    space,
                    q,
                    kind=kind,
                    seed=seed,
                    used=used,
                    note=note,
                    same_in_batch=same_in_batch,
                    runs=len(runs),
                )
            return self._model_batch(
                space,
                runs,
                q,
                method=method,
                seed=seed,
                used=used,
                note=note,
                same_in_batch=same_in_batch,
                on_epoch=on_epoch,
            )

    def _design_batch(
        self,
        space: Space,
        q: int,
        *,
        kind: Kind,
        seed: int,
        used: np.ndarray,
        note: str,
        same_in_batch: Sequence[str],
        runs: int,
        model: str | None = None,
    ) -> list[NewRun]:
        """Return ``q`` new recipes of a space-filling (``sobol``) or ``random`` design.

        ``model`` records why a design was used where a model was asked for.
        """
        from recipeopt.design import initial_design

        # Sobol continues one sequence per seed; random search draws afresh each batch.
        design_seed = seed if kind == "sobol" else seed * 100_003 + runs
        if same_in_batch:  # the design's first new recipe sets the shared values
            first = space.records(
                initial_design(space, 1, seed=design_seed, exclude=used, kind=kind)
            )[0]
            space = space.with_fixed({name: first[name] for name in same_in_batch})
        values = initial_design(space, q, seed=design_seed, exclude=used, kind=kind)
        return [
            NewRun(params=row, method=kind, model=model, seed=seed, note=note)
            for row in space.records(values)
        ]

    def training_data(self, runs: pd.DataFrame) -> tuple[Tensor, Tensor]:
        """Return ``(X, Y)`` of the complete runs: unit-cube inputs, normalized metrics."""
        import torch

        complete = self._complete(runs)
        X = self.space.to_cube(self.space.values(complete))
        Y = self.objective.normalize(complete[self.objective.names].to_numpy(dtype=float))
        return torch.as_tensor(X, dtype=torch.float64), torch.as_tensor(Y, dtype=torch.float64)

    def fit_model(
        self,
        method: str,
        X: Tensor,
        Y: Tensor,
        *,
        seed: int,
        on_epoch: Progress | None = None,
        start_up: bool = False,
    ) -> FittedModel:
        """Fit the model of ``method`` on ``(X, Y)``; return it with its identity string.

        ``maml-ensemble`` adapts the meta-trained members (meta-training first
        if the checkpoint is missing or stale); with no runs yet it is the
        meta-prior alone. The negative-transfer guard (``model.guard``) then
        checks it against the runs; the identity says what it decided, and
        ``prior_set_aside`` whether it set the adapted prior aside:

        * from :data:`SKILL_MIN_RUNS` runs, the adapted prior must predict
          held-out runs' objective not much worse (:data:`SKILL_MARGIN`) than
          the mean of the other runs. If it does not, the history is unlike
          this recipe: during the ``start_up`` (no model but the prior has
          proposed runs, and the design is not complete) the model is None
          and the caller returns to the space-filling design; after it, the
          scratch ensemble is used;
        * from :data:`GUARD_MIN_RUNS` runs, the scratch ensemble replaces the
          adapted prior when it fits held-out runs better.
        """
        if method == "maml-ensemble":
            return self._maml_model(X, Y, seed=seed, on_epoch=on_epoch, start_up=start_up)
        if method == "gp":
            return FittedModel(*self._gp(X, Y))
        fit, identity = self._scratch(X, Y, seed=seed)
        return FittedModel(fit.model, identity)

    def _gp(self, X: Tensor, Y: Tensor, *, prior: Model | None = None) -> tuple[Model, str]:
        """Fit BoTorch's GP (mixed with categorical inputs); on ``prior``'s residuals if given."""
        from recipeopt.models.gp import fit_gp

        gp = fit_gp(X, Y, sorted(self.space.categorical), prior=prior)
        return gp, type(gp).__name__

    def _scratch(self, X: Tensor, Y: Tensor, *, seed: int) -> tuple[EnsembleFit, str]:
        """Fit the deep ensemble from scratch (with its k-fold held-out predictions)."""
        from recipeopt.models.ensemble import fit_ensemble

        config = self.ensemble_config()
        identity = f"deep-ensemble(s={config.members},h={config.hidden}x{config.layers})"
        return fit_ensemble(X, Y, config, seed=seed), identity

    def _maml_model(
        self,
        X: Tensor,
        Y: Tensor,
        *,
        seed: int,
        on_epoch: Progress | None = None,
        start_up: bool = False,
    ) -> FittedModel:
        import torch

        ckpt = self.checkpoint(on_epoch=on_epoch)
        name = f"maml-ensemble({ckpt.config.algorithm},s={ckpt.config.members},ckpt={ckpt.identity}"
        if len(X) == 0:
            from recipeopt.models.ensemble import DeepEnsemble, fixed_standardize

            net = ckpt.config.network(self.space.dim, self.objective.num_metrics).double()
            params = {k: v.to(torch.float64) for k, v in ckpt.params.items()}
            transform = fixed_standardize(ckpt.y_mean.to(Y), ckpt.y_std.to(Y))
            prior = DeepEnsemble(net, params, ckpt.spread_prior.double(), transform)
            return FittedModel(prior, f"{name},prior)")
        fit = self._adapted(ckpt, X, Y, seed=seed)
        rate = "" if fit.lr == ckpt.config.inner_lr else f",lr={fit.lr:g}"
        identity = f"{name},steps={fit.steps}{rate})"
        if len(X) < SKILL_MIN_RUNS or not self.spec.model.guard or fit.cv_mean is None:
            return FittedModel(fit.model, identity)
        weights = torch.as_tensor(self.objective.weights).to(Y)
        adapted_err = fit.cv_error(Y, weights)
        lacking = lacks_skill(adapted_err, Y @ weights)
        if lacking:
            reason = f"guard: {identity} predicted held-out runs worse than their mean: {lacking}"
            if start_up:
                return FittedModel(None, f"[{reason}; space-filling design]", True)
            scratch, scratch_name = self._scratch(X, Y, seed=seed)
            return FittedModel(scratch.model, f"{scratch_name} [{reason}]", True)
        if len(X) < GUARD_MIN_RUNS:
            return FittedModel(fit.model, identity)
        scratch, scratch_name = self._scratch(X, Y, seed=seed)
        scratch_err = scratch.cv_error(Y, weights)
        if scratch_err < adapted_err:
            return FittedModel(
                scratch.model,
                f"{scratch_name} [guard: scratch fit held-out runs better than {identity}: "
                f"objective cv mse {scratch_err:.3g} < {adapted_err:.3g}]",
                True,
            )
        return FittedModel(fit.model, identity)

    def _adapted(self, ckpt: Checkpoint, X: Tensor, Y: Tensor, *, seed: int) -> EnsembleFit:
        """Adapt the checkpoint's members to ``(X, Y)`` (at least one run)."""
        from recipeopt.models.ensemble import adapt_ensemble, fixed_standardize

        return adapt_ensemble(
            ckpt.config.network(self.space.dim, self.objective.num_metrics),
            ckpt.params,
            X,
            Y,
            fixed_standardize(ckpt.y_mean.to(Y), ckpt.y_std.to(Y)),
            lr=ckpt.config.inner_lr * self.spec.model.adapt_lr_scale,
            default_steps=ckpt.adapt_steps(len(Y)),
            default_spread=ckpt.spread_adapted,
            seed=seed,
            gains=ckpt.gains,
        )

    # -- meta-training ---------------------------------------------------

    def meta_config(self, **overrides: Any) -> MetaConfig:
        """Return the meta-training settings of the spec, with ``overrides`` (None ignored)."""
        from recipeopt.meta.pretrain import MetaConfig

        m = self.spec.model
        settings: dict[str, Any] = {
            "algorithm": m.algorithm,
            "members": m.members,
            "hidden": m.hidden,
            "layers": m.layers,
            "categorical": self.space.choice_counts,
            "inner_steps": m.inner_steps,
            "inner_lr": m.inner_lr,
            "adapt_lr_scale": m.adapt_lr_scale,
            "learn_lr": m.learn_lr,
            "epochs": m.meta_epochs,
        }
        settings.update({k: v for k, v in overrides.items() if v is not None})
        return MetaConfig(**settings)

    def checkpoint_path(self, algorithm: str | None = None) -> Path:
        """Return where the checkpoint of ``algorithm`` (default: the spec's) lives."""
        if self.pinned_checkpoint is not None and algorithm is None:
            return self.pinned_checkpoint
        base = self.path.parent if self.path is not None else Path.cwd()
        if self.spec.model.checkpoint and algorithm in (None, self.spec.model.algorithm):
            return base / self.spec.model.checkpoint
        return base / f"{self.name}.{algorithm or self.spec.model.algorithm}.pt"

    def history_files(self) -> list[Path]:
        """Return the campaign's history files (resolved beside the YAML)."""
        from recipeopt.history import history_paths

        return history_paths(self.spec, self.path.parent if self.path is not None else Path.cwd())

    def pretrain(
        self,
        *,
        algorithm: str | None = None,
        inner_steps: int | None = None,
        epochs: int | None = None,
        seed: int | None = None,
        history: pd.DataFrame | None = None,
        out: Path | None = None,
        on_epoch: Progress | None = None,
    ) -> PretrainReport:
        """Meta-train the ensemble on the history and write the checkpoint.

        Side effects:
            Writes the checkpoint (atomically) to ``out`` or :meth:`checkpoint_path`.

        Args:
            algorithm: ``maml``, ``fomaml`` or ``reptile`` (default: the spec's).
            inner_steps: Inner SGD steps (default: the spec's).
            epochs: Most epochs (default: the spec's ``meta_epochs``).
            seed: Seed (default: the spec's).
            history: A history table to use instead of the spec's files (benchmarks).
            out: Where to write (default: :meth:`checkpoint_path`).
            on_epoch: Progress callback ``(epoch, epochs, train_loss, validation_loss)``.

        Raises:
            RecipeoptError: If the history is unreadable, lacks a column, or has
                fewer than 2 usable recipes.
        """
        import time

        from recipeopt.checkpoints import save_checkpoint
        from recipeopt.history import build_tasks, history_hash, read_history
        from recipeopt.meta.pretrain import meta_train

        start = time.perf_counter()
        config = self.meta_config(algorithm=algorithm, inner_steps=inner_steps, epochs=epochs)
        if history is None:
            paths = self.history_files()
            if not paths:
                raise NoMeasurementsError(
                    f"campaign {self.name!r} lists no history files; add history: to the YAML"
                )
            history = read_history(paths, self.space.names, self.objective.names)
            digest = history_hash(paths)
            files = len(paths)
        else:
            digest = _table_hash(history)
            files = 0
        tasks = build_tasks(history, self.space, self.objective)
        with _seeded(self.spec.seed if seed is None else seed):
            result = meta_train(
                tasks, config, seed=self.spec.seed if seed is None else seed, on_epoch=on_epoch
            )
        target = out or self.checkpoint_path(algorithm)
        record = {
            "hash": digest,
            "files": files,
            "recipes": len(tasks),
            "runs": tasks.runs,
            "dropped": tasks.dropped,
        }
        save_checkpoint(target, result, config, self.space, self.objective, record)
        self._loaded = None  # a checkpoint loaded before is no longer the one on disk
        return PretrainReport(
            path=target,
            recipes=len(tasks),
            runs=tasks.runs,
            dropped=tasks.dropped,
            epochs=result.epochs,
            held_out_loss=result.held_out_loss,
            stopped_early=result.stopped_early,
            seconds=time.perf_counter() - start,
            gains={k: float(v.median()) for k, v in result.gains.items()},
            schedule=result.schedule,
        )

    @overload
    def checkpoint(self, *, on_epoch: Progress | None = None) -> Checkpoint: ...
    @overload
    def checkpoint(self, *, train: Literal[False]) -> Checkpoint | None: ...
    def checkpoint(
        self, *, on_epoch: Progress | None = None, train: bool = True
    ) -> Checkpoint | None:
        """Return the meta-trained checkpoint, meta-training first if it is missing or stale.

        A pinned checkpoint (constructor argument) is used as it is. Otherwise
        the checkpoint is retrained when it is missing, when the history files'
        content hash changed, or when a model setting it depends on changed.
        With ``train=False`` it is never retrained: None is returned instead.
        Side effects: may write the checkpoint.

        Raises:
            CheckpointError: If the checkpoint was made for other parameters or metrics.
        """
        from recipeopt.checkpoints import check_compatible, load_checkpoint, stale_reason
        from recipeopt.history import history_hash

        path = self.checkpoint_path()
        digest = "pinned" if self.pinned_checkpoint is not None else ""
        if not digest:
            digest = history_hash(self.history_files())
        if self._loaded is not None and self._loaded[0] == (path, digest):
            return self._loaded[1]  # NOTE: one load per process while the history is unchanged
        if self.pinned_checkpoint is not None or path.exists():
            ckpt = load_checkpoint(path)
            check_compatible(ckpt, self.space, self.objective)
            reason = "" if digest == "pinned" else stale_reason(ckpt, self.meta_config(), digest)
        else:
            reason = "there is none yet"
        if reason and not train:
            return None
        if reason:
            self.pretrain_reason = reason
            self.pretrain(on_epoch=on_epoch)
            ckpt = load_checkpoint(path)
        self._loaded = ((path, digest), ckpt)
        return ckpt

    def ensemble_config(self) -> Any:
        """Return the :class:`~recipeopt.models.ensemble.EnsembleConfig` of the spec."""
        from recipeopt.models.ensemble import EnsembleConfig

        m = self.spec.model
        return EnsembleConfig(
            members=m.members,
            hidden=m.hidden,
            layers=m.layers,
            epochs=m.epochs,
            categorical=self.space.choice_counts,
        )

    def _model_batch(
        self,
        space: Space,
        runs: pd.DataFrame,
        q: int,
        *,
        method: str,
        seed: int,
        used: np.ndarray,
        note: str,
        same_in_batch: Sequence[str] = (),
        on_epoch: Progress | None = None,
    ) -> list[NewRun]:
        import torch

        from recipeopt.acquisition import build_acquisition, greedy_batch

        X, Y = self.training_data(runs)
        pending = runs[runs["status"] == "pending"]
        X_pending = torch.as_tensor(
            space.to_cube(space.values(pending)) if len(pending) else np.zeros((0, space.dim))
        )
        complete = self._complete(runs)
        # NOTE: a misleading prior costs its one batch: the guard may return to the design
        # only while the prior's first batch is the only model batch.
        start_up = (
            complete["method"].isin(DESIGN_METHODS).sum() < self.spec.initial_design
            and runs.loc[runs["method"].isin(MODEL_METHODS), "batch_id"].nunique() <= 1
        )
        model, identity, prior_set_aside = self.fit_model(
            method, X, Y, seed=seed, on_epoch=on_epoch, start_up=bool(start_up)
        )
        if model is None:  # the guard set the meta-prior aside before the design is complete
            return self._design_batch(
                space,
                q,
                kind="sobol",
                seed=seed,
                used=used,
                note=note,
                same_in_batch=same_in_batch,
                runs=len(runs),
                model=identity,
            )
        objective, surrogate = self.objective, model

        equality = any(c.op == "==" for c in space.constraints)
        count = GREEDY_CANDIDATES // 10 if equality else GREEDY_CANDIDATES

        def greedy(space: Space, q: int) -> np.ndarray:
            """Choose the recipes the model predicts best among random feasible new ones."""
            from recipeopt.design import candidate_pool, shortfall

            pool = candidate_pool(space, count, seed=seed, exclude=used)
            if len(pool) < q:
                raise shortfall(space, len(pool), q)
            chosen = greedy_batch(
                surrogate,
                torch.as_tensor(objective.weights),
                torch.as_tensor(space.to_cube(pool)),
                q,
                A=torch.as_tensor(objective.constraint_matrix),
                b=torch.as_tensor(objective.constraint_offset),
            )
            return pool[chosen]

        if len(X) == 0:  # the meta-prior alone: EI has no incumbent to improve on
            propose = greedy
        elif (
            method == "maml-ensemble"
            and len(X) < self.spec.model.greedy_runs
            and not prior_set_aside
        ):
            # NOTE: a greedy batch trusts the prior, so once the guard sets the prior aside,
            # qLogNEI proposes instead (on the GP over the scratch ensemble). Out of
            # distribution (etch-unlike, 6 recipes) that ended below the GP at 40 runs in 3
            # recipes, against 1 with greedy batches (mean regret 0.416 against 0.518; GP
            # 0.389). On etch (60 pairs) it changed 34, better at 40 runs in 21, worse in
            # 13, and left 47 below the GP; with a misleading history the median regret
            # stayed 0.84x the scratch ensemble's. (With ``residual_gp`` off, qLogNEI on the
            # scratch ensemble itself in these batches had lost: 35 of 60 pairs below the
            # GP against 39 greedy.)
            propose = greedy
            identity += f" [greedy: best predicted of {count} random recipes]"
        else:
            if method == "maml-ensemble" and self.spec.model.residual_gp:
                surrogate, gp_name = self._gp(X, Y, prior=surrogate)
                identity = f"{gp_name} on the residuals of {identity}"
            acqf = build_acquisition(
                surrogate,
                objective.mc_objective(),
                X,
                X_pending,
                seed=seed,
                constraints=objective.outcome_callables(),
            )
            region = (
                self._search_bounds(space, runs, q, method)
                if method in ENSEMBLE_METHODS and self.spec.model.trust_region
                else None
            )
            propose = partial(self._optimized, acqf=acqf, region=region, used=used, seed=seed)

        if same_in_batch:  # choose the shared values with the best single recipe, then the batch
            first = space.records(propose(space, 1))[0]
            space = space.with_fixed({name: first[name] for name in same_in_batch})
        # NOTE: only a greedy batch is hedged: it trusts the prior's mean alone, while
        # qLogNEI's batches weigh the GP's own spread, and hedging them as well cost the
        # trust region's late refinement (see ``model.hedge``).
        hedge = min(self.spec.model.hedge, q - 1) if propose is greedy and len(X) else 0
        values = propose(space, q - hedge)
        # Each run's prediction comes from the model its ``model`` names.
        chosen = [(values, surrogate, identity)]
        if hedge:
            chosen.append(
                self._hedge_batch(space, X, Y, X_pending, values, hedge, used=used, seed=seed)
            )
        return [
            NewRun(
                params=row,
                method=method,
                predicted=predicted,
                model=name,
                seed=seed,
                note=note,
            )
            for part, by, name in chosen
            for row, predicted in zip(
                space.records(part), self._predicted(by, space, part), strict=True
            )
        ]

    def _predicted(self, model: Model, space: Space, values: np.ndarray) -> list[dict]:
        """Return each recipe's predicted metrics, objective (and feasibility) as [mean, std]."""
        import torch

        from recipeopt.acquisition import predict

        objective = self.objective
        p = predict(
            model,
            torch.as_tensor(space.to_cube(values)),
            torch.as_tensor(objective.weights),
            torch.as_tensor(objective.constraint_matrix),
            torch.as_tensor(objective.constraint_offset),
        )
        mean_u = objective.denormalize(p.mean.numpy())
        std_u = objective.denormalize_std(p.std.numpy())
        out = []
        for i in range(len(values)):
            predicted = {
                m: [float(mean_u[i, j]), float(std_u[i, j])] for j, m in enumerate(objective.names)
            }
            predicted["objective"] = [float(p.objective_mean[i]), float(p.objective_std[i])]
            if objective.constraints:
                chance = float(p.feasibility[i])
                predicted["feasibility"] = [chance, (chance * (1 - chance)) ** 0.5]
            out.append(predicted)
        return out

    def _hedge_batch(
        self,
        space: Space,
        X: Tensor,
        Y: Tensor,
        X_pending: Tensor,
        chosen: np.ndarray,
        q: int,
        *,
        used: np.ndarray,
        seed: int,
    ) -> tuple[np.ndarray, Model, str]:
        """Return ``q`` recipes of qLogNEI on a plain GP over the whole space, the GP, its name.

        The GP knows nothing of the history, and ``chosen`` (the prior's picks) enters
        as pending runs, so these recipes hedge the batch against a prior that misleads.
        """
        import torch

        from recipeopt.acquisition import build_acquisition

        gp, name = self._gp(X, Y)
        cube = torch.as_tensor(space.to_cube(chosen))
        acqf = build_acquisition(
            gp,
            self.objective.mc_objective(),
            X,
            torch.cat([X_pending.to(cube), cube]),
            seed=seed,
            constraints=self.objective.outcome_callables(),
        )
        taken = np.concatenate([used.reshape(-1, space.dim), cube.numpy()])
        values = self._optimized(space, q, acqf=acqf, region=None, used=taken, seed=seed)
        identity = f"{name} [hedge: qLogNEI over the whole space, the rest of the batch pending]"
        return values, gp, identity

    def _optimized(
        self,
        space: Space,
        q: int,
        *,
        acqf: Any,
        region: np.ndarray | None,
        used: np.ndarray,
        seed: int,
    ) -> np.ndarray:
        """Optimize the acquisition over the cube (or the trust region); return ``q`` recipes."""
        from recipeopt.acquisition import optimize

        bounds = np.stack([np.zeros(space.dim), np.ones(space.dim)]) if region is None else region
        bounds = bounds.copy()
        fixed_cube = space.fixed_cube()
        for j, u in fixed_cube.items():
            bounds[:, j] = u
        candidates = optimize(acqf, bounds, q=q, space=space, seed=seed, fixed=fixed_cube)
        values = space.snap_feasible(space.from_cube(candidates.numpy(), snap=False))
        return self._replace_unusable(space, values, used, acqf, bounds, seed)

    def _search_bounds(
        self, space: Space, runs: pd.DataFrame, q: int, method: str
    ) -> np.ndarray | None:
        """Return the trust region around the best complete run, or None if it is unusable."""
        from recipeopt.acquisition import (
            TrustRegionConfig,
            trust_region_bounds,
            trust_region_length,
        )

        complete = self._complete(runs)
        scores = self.scores(complete)
        if not np.isfinite(scores).any():
            return None  # nothing feasible yet: search globally
        best = int(np.nanargmax(scores))
        center_values = space.values(complete.iloc[[best]])
        if not space.feasible(center_values).all():
            return None
        # The schedule starts after the last design batch (as TuRBO's does after its design),
        # so a prior batch the guard rejected, and the design after it, do not count.
        designed = runs.index[runs["method"].isin(DESIGN_METHODS)]
        since = runs.loc[designed[-1] + 1 :] if len(designed) else runs
        model_batches = since[since["method"].isin(MODEL_METHODS)]["batch_id"].unique().tolist()
        first = runs.index[runs["batch_id"] == model_batches[0]][0] if model_batches else len(runs)
        before = self.scores(self._complete(runs.loc[: first - 1])) if first else np.array([])
        incumbent = float(np.nanmax(before)) if np.isfinite(before).any() else -np.inf
        # ``trust_region_patience`` applies to the batches proposed from this many complete
        # runs on (never before greedy_runs with maml-ensemble); batches before keep TuRBO's.
        model = self.spec.model
        start = max(
            model.trust_region_patience_runs, model.greedy_runs * (method == "maml-ensemble")
        )
        bests, warmup = [], 0
        usable = pd.Series(runs.index.isin(self._complete(runs).index), index=runs.index)
        complete_before = usable.cumsum().shift(fill_value=0)
        for batch_id in model_batches:
            rows = runs["batch_id"] == batch_id
            batch_scores = self.scores(self._complete(runs[rows]))
            bests.append(
                float(np.nanmax(batch_scores)) if np.isfinite(batch_scores).any() else -np.inf
            )
            warmup += int(complete_before[rows].iloc[0] < start)
        length = trust_region_length(
            bests,
            incumbent,
            dim=space.dim,
            q=q,
            config=TrustRegionConfig(
                failure_tolerance=model.trust_region_patience, warmup_batches=warmup
            ),
        )
        bounds = trust_region_bounds(space.to_cube(center_values)[0], length)
        for j in space.categorical:  # choices are not local: the region spans all of them
            bounds[:, j] = (0.0, 1.0)
        return bounds

    def _replace_unusable(
        self,
        space: Space,
        values: np.ndarray,
        used: np.ndarray,
        acqf: Any,
        bounds: np.ndarray,
        seed: int,
    ) -> np.ndarray:
        """Replace rows that repeat a recipe or break a constraint after rounding.

        Each such row is replaced by the best new feasible recipe, by the
        acquisition, among Sobol candidates in the search box, given the rows
        already kept as pending.
        """
        import torch

        from recipeopt.design import new_feasible_points, shortfall

        kept: list[np.ndarray] = []
        taken = used.reshape(-1, space.dim)
        feasible = space.feasible(values)
        for i, row in enumerate(values):
            cube = space.to_cube(row)
            if feasible[i] and not same_recipe(cube, taken).any():
                kept.append(row)
                taken = np.concatenate([taken, cube])
        missing = len(values) - len(kept)
        if missing == 0:
            return values
        pool = new_feasible_points(space, 256, seed=seed + 1, exclude=taken, bounds=bounds)
        if len(pool) < missing:
            pool = new_feasible_points(space, 256, seed=seed + 1, exclude=taken)
        if len(pool) < missing:
            raise shortfall(space, len(kept) + len(pool), len(values))
        base_pending = acqf.X_pending
        for _ in range(missing):
            extra = torch.as_tensor(space.to_cube(np.array(kept))) if kept else None
            pending = [t for t in (base_pending, extra) if t is not None]
            acqf.set_X_pending(torch.cat(pending) if pending else None)
            with torch.no_grad():
                scores = acqf(torch.as_tensor(space.to_cube(pool)).unsqueeze(1))
            best = int(torch.argmax(scores))
            kept.append(pool[best])
            pool = np.delete(pool, best, axis=0)
        acqf.set_X_pending(base_pending)
        return np.array(kept)

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
            source, frame = "<results>", results.astype(str).replace({"nan": "", "None": ""})
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
        complete = self._complete(runs)
        best = None
        scores = self.scores(complete)
        if np.isfinite(scores).any():
            row = complete.iloc[int(np.nanargmax(scores))].copy()
            row["objective"] = float(np.nanmax(scores))
            best = row
        fit_table = None
        if fit and len(complete) >= 4:
            fit_table = self.cross_validate(runs, seed=self.spec.seed if seed is None else seed)
        # The batch's first run names its model (its hedge runs, last, name their own).
        last = runs[runs["batch_id"] == runs["batch_id"].iloc[-1]].iloc[0] if len(runs) else None
        excluded = runs.loc[runs["excluded"] != "", ["run_id", "status", "excluded"]]
        return Status(
            counts=counts,
            best=best,
            fit=fit_table,
            last_method=None if last is None else last["method"],
            last_model=None if last is None else last["model"],
            excluded=excluded.reset_index(drop=True),
        )

    def cross_validate(self, runs: pd.DataFrame, *, seed: int) -> pd.DataFrame:
        """Return the k-fold cross-validated RMSE per metric, in units, of each candidate model.

        The scratch deep ensemble (``ensemble``) always; for a ``maml-ensemble``
        campaign whose checkpoint is fresh, also the meta-prior adapted as
        ``suggest`` adapts it (``status`` never meta-trains).
        """
        X, Y = self.training_data(runs)
        with _seeded(seed):
            fits = {"ensemble": self._scratch(X, Y, seed=seed)[0]}
            ckpt = self.checkpoint(train=False) if self.spec.method == "maml-ensemble" else None
            if ckpt is not None:
                fits["maml-ensemble"] = self._adapted(ckpt, X, Y, seed=seed)
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

    def close(self) -> None:
        """Release the store's connections."""
        self.store.close()

    def columns(self) -> list[str]:
        """Return the export column order."""
        return export_columns(self.space.names, self.objective.names, self._predictions)


def lacks_skill(error: float, f: Tensor) -> str | None:
    """Say why a model without skill fails the first guard, or return None if it passes.

    Args:
        error: The model's held-out mean squared error on the objective values ``f``.
        f: The runs' objective values (normalized).
    """
    from recipeopt.models.ensemble import mean_cv_error

    baseline = max(mean_cv_error(f), SKILL_RESOLUTION**2)
    if error > SKILL_MARGIN * baseline:
        return f"objective cv mse {error:.3g} > {SKILL_MARGIN:g} x {baseline:.3g}"
    return None


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed torch's global generator inside the block and restore it afterwards."""
    import torch

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        yield


def _table_hash(table: pd.DataFrame) -> str:
    """Return a content hash of a history table (for checkpoints made from tables)."""
    import hashlib

    return hashlib.sha256(table.to_csv(index=False).encode()).hexdigest()[:16]
