"""Benchmark jobs: one (method, recipe, seed) closed loop each, through an executor.

Each job builds a scratch campaign over the family's spec (an in-memory
SQLite store), runs :func:`~recipeopt.simulate.loop.run_loop` up to the budget
and writes one JSON record. Jobs run with one torch thread, so a parallel run
gives exactly the records of a serial one, whether through the local process
pool (``executor="process"``) or a Dask cluster (``executor="dask"``: the
scheduler at ``scheduler``, or a ``LocalCluster`` of ``workers`` processes).
Records already in the output folder are not redone, so an interrupted
benchmark resumes where it stopped.

Example:
    >>> bench = Benchmark("etch", methods=["random", "gp"], test_recipes=2, seeds=1,
    ...                   budget=12, batch=4, out=Path("bench"))  # doctest: +SKIP
    >>> records = bench.run(workers=2)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from recipeopt.exceptions import RecipeoptError
from recipeopt.simulate.family import Family
from recipeopt.strategy.config import StrategyConfig

#: Meta-learned methods and the meta-training algorithm of each.
META_METHODS = {"maml-ensemble": "maml", "fomaml-ensemble": "fomaml", "reptile-ensemble": "reptile"}
#: Strategy settings a checkpoint is trained for: overriding one meta-trains a checkpoint
#: of its own (the adaptation lengths and spread are calibrated at ``adapt_lr_scale``).
CHECKPOINT_SETTINGS = (
    "hidden",
    "layers",
    "inner_steps",
    "inner_lr",
    "adapt_lr_scale",
    "learn_lr",
    "meta_epochs",
)
#: Methods the benchmark knows: designs, and models behind the same ``suggest``.
METHODS = ("random", "sobol", "gp", "ensemble", *META_METHODS)


@dataclass(frozen=True)
class Job:
    """One closed-loop run."""

    family: str
    method: str
    recipe: int
    seed: int
    budget: int
    batch: int
    f_star: float
    f_median: float
    checkpoint: str = ""
    #: Strategy overrides (``--set``), as sorted ``(name, value)`` pairs.
    settings: tuple[tuple[str, Any], ...] = ()

    @property
    def name(self) -> str:
        """File stem of the job's record."""
        return f"{self.method}__r{self.recipe}__s{self.seed}"


@lru_cache(maxsize=4)
def load_family(key: str) -> Family:
    """Return the family named by ``key``: ``etch``, ``history:CAMPAIGN.yaml`` or ``real:NAME``."""
    if key.startswith(("history:", "real:")):
        from recipeopt.benchmark.emulator import history_family
        from recipeopt.benchmark.real_data import campaign

        name = key.partition(":")[2]
        return history_family(campaign(name) if key.startswith("real:") else Path(name))
    from recipeopt.simulate.family import get_family

    return get_family(key)


def noise_seed(recipe: int, seed: int) -> int:
    """Seed of the measurement noise of a benchmark run of ``recipe`` with ``seed``."""
    return seed * 1_000_003 + recipe


def run_job(job: Job) -> dict:
    """Run one job and return its record (pure: same job, same record, except timings)."""
    import torch

    from recipeopt import runtime
    from recipeopt.benchmark.metrics import regret_trace
    from recipeopt.campaign import Campaign
    from recipeopt.checkpoints import library_versions
    from recipeopt.simulate.loop import run_loop
    from recipeopt.strategy.config import DESIGN_METHODS

    torch.set_num_threads(1)
    runtime.TRAINING_THREADS = 1  # one core per worker: the workers share the machine
    family = load_family(job.family)
    spec = family.spec
    overrides = dict(job.settings)
    if job.method in ("gp", "ensemble", *META_METHODS):
        model = "maml-ensemble" if job.method in META_METHODS else job.method
        spec = spec.model_copy(update={"model": spec.model.model_copy(update={"method": model})})
        if job.method in META_METHODS:
            overrides["algorithm"] = META_METHODS[job.method]
    strategy = StrategyConfig().with_overrides(overrides)
    campaign = Campaign(
        spec,
        None,
        storage="sqlite://",
        checkpoint=Path(job.checkpoint) if job.checkpoint else None,
        strategy=strategy,
    )
    method = job.method if job.method in DESIGN_METHODS else "auto"
    try:
        result = run_loop(
            campaign,
            family,
            family.recipe(job.recipe),
            budget=job.budget,
            batch=job.batch,
            seed=job.seed,
            noise_seed=noise_seed(job.recipe, job.seed),
            method=method,
        )
    finally:
        campaign.close()
    return {
        **asdict(job),
        "settings": dict(job.settings),
        "strategy": asdict(strategy),
        "objective": result.objective,
        "regret": regret_trace(result.objective, job.f_star, job.f_median).tolist(),
        "seconds": result.seconds,
        "batch_methods": result.methods,
        "provenance": result.provenance,
        "steps": result.steps,
        "versions": library_versions(),
    }


@dataclass
class Benchmark:
    """A benchmark: methods x test recipes x seeds on one family, written to ``out``."""

    family: str
    methods: Sequence[str]
    test_recipes: int
    seeds: int
    budget: int
    batch: int
    out: Path
    landscape_samples: int = 100_000
    landscape_polish: int = 16
    history: str | None = None
    #: Strategy overrides (``--set name=value``) for every model method.
    settings: dict[str, Any] | None = None
    #: Held-out recipes: ``tuning`` (to choose defaults on) or ``test`` (to report).
    split: str = "tuning"

    def strategy(self) -> StrategyConfig:
        """Return the strategy settings of the benchmark (checks every override)."""
        return StrategyConfig().with_overrides(self.settings)

    def history_table(self, recipe: int) -> pd.DataFrame:
        """Return the history the meta-learned methods train on when ``recipe`` is tested.

        The ``history`` glob if given (the negative-transfer check trains on
        another family's logs); for ``history:`` families, every other recipe
        (leave one out); otherwise the family campaign's own history files.
        """
        from recipeopt.history import history_paths, read_history
        from recipeopt.simulate.family import CAMPAIGNS
        from recipeopt.spec import resolve_glob

        family = load_family(self.family)
        spec = family.spec
        if self.history is not None:
            paths = resolve_glob(Path.cwd(), self.history)
        elif hasattr(family, "others"):
            return family.others(recipe)
        else:
            paths = history_paths(spec, CAMPAIGNS)
        if not paths:
            raise RecipeoptError(
                f"no history files for the meta-learned methods ({self.history or spec.history}); "
                "pass --history GLOB"
            )
        return read_history(paths, spec.parameter_names, spec.metric_names)

    def checkpoints(
        self, progress: Callable[[str], None] | None = None
    ) -> dict[tuple[str, int], str]:
        """Meta-train (once, cached in ``out/checkpoints``) what the meta-learned methods need.

        Returns:
            ``{(method, recipe): checkpoint path}``.
        """
        from recipeopt.campaign import Campaign

        family = load_family(self.family)
        spec = family.spec
        strategy = self.strategy()
        # NOTE: a setting the checkpoint is trained for gets a checkpoint of its own.
        trained_for = [
            f"-{key}-{value}"
            for key, value in sorted((self.settings or {}).items())
            if key in CHECKPOINT_SETTINGS
        ]
        folder = self.out / "checkpoints"
        leave_one_out = self.history is None and hasattr(family, "others")
        found: dict[tuple[str, int], str] = {}
        for method in self.methods:
            if method not in META_METHODS:
                continue
            stem = META_METHODS[method] + "".join(trained_for)
            for recipe in family.held_out(self.test_recipes, self.split):
                name = f"{stem}-without-{recipe}.pt" if leave_one_out else f"{stem}.pt"
                path = folder / name
                if not path.exists():
                    if progress:
                        progress(f"meta-training {stem} for {path.name}")
                    config = strategy.with_overrides({"algorithm": META_METHODS[method]})
                    campaign = Campaign(spec, None, storage="sqlite://", strategy=config)
                    campaign.pretrain(history=self.history_table(recipe), out=path)
                    campaign.close()
                found[(method, recipe)] = str(path)
        return found

    def landscapes(
        self, progress: Callable[[str], None] | None = None
    ) -> dict[int, tuple[float, float]]:
        """Return ``{recipe: (f_star, f_median)}``, computed once and cached in ``out``."""
        cache = self.out / "landscape.json"
        known = (
            {int(k): tuple(v) for k, v in json.loads(cache.read_text()).items()}
            if cache.exists()
            else {}
        )
        family = load_family(self.family)
        for index in family.held_out(self.test_recipes, self.split):
            if index not in known:
                if progress:
                    progress(f"estimating the optimum of recipe {index}")
                known[index] = family.landscape(
                    family.recipe(index),
                    samples=self.landscape_samples,
                    polish=self.landscape_polish,
                )
                cache.write_text(json.dumps({str(k): list(v) for k, v in known.items()}, indent=1))
        return {k: (float(v[0]), float(v[1])) for k, v in known.items()}

    def jobs(
        self,
        landscapes: dict[int, tuple[float, float]],
        checkpoints: dict[tuple[str, int], str] | None = None,
    ) -> list[Job]:
        """Return every job, recipe-major so partial results cover all methods."""
        family = load_family(self.family)
        checkpoints = checkpoints or {}
        return [
            Job(
                self.family,
                method,
                index,
                seed,
                self.budget,
                self.batch,
                *landscapes[index],
                checkpoint=checkpoints.get((method, index), ""),
                settings=tuple(sorted((self.settings or {}).items())),
            )
            for index in family.held_out(self.test_recipes, self.split)
            for seed in range(self.seeds)
            for method in self.methods
        ]

    def run(
        self,
        *,
        workers: int = 1,
        executor: str = "process",
        scheduler: str | None = None,
        on_done: Callable[[dict, int, int], None] | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> list[dict]:
        """Run every job not already in ``out``; return all records of this benchmark.

        Args:
            workers: Parallel jobs (processes of the pool, or of a local Dask cluster).
            executor: ``process`` (a local process pool) or ``dask``.
            scheduler: Address of a running Dask scheduler (``tcp://host:8786``);
                None starts a ``LocalCluster``.
            on_done: Called with each record, the records done and the total.
            progress: Called with a line on each preparation stage.

        Side effects:
            Writes ``out/landscape.json``, ``out/checkpoints/*.pt`` (meta-learned
            methods) and ``out/runs/<job>.json``.
        """
        if executor not in ("process", "dask"):
            raise RecipeoptError(f"unknown executor {executor!r}; choose process or dask")
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise RecipeoptError(f"unknown method {unknown[0]!r}; choose from {', '.join(METHODS)}")
        self.strategy()  # a bad --set fails before any work
        runs = self.out / "runs"
        runs.mkdir(parents=True, exist_ok=True)
        jobs = self.jobs(self.landscapes(progress), self.checkpoints(progress))
        records = {
            job.name: json.loads(p.read_text())
            for job in jobs
            if (p := runs / f"{job.name}.json").exists()
        }
        todo = [job for job in jobs if job.name not in records]

        def keep(record: dict) -> None:
            name = f"{record['method']}__r{record['recipe']}__s{record['seed']}"
            tmp = runs / f"{name}.json.tmp"
            tmp.write_text(json.dumps(record))
            os.replace(tmp, runs / f"{name}.json")  # atomic: a killed run leaves no half record
            records[name] = record
            if on_done:
                on_done(record, len(records), len(jobs))

        if executor == "dask":
            _run_dask(todo, keep, workers=workers, scheduler=scheduler)
        elif workers <= 1:
            for job in todo:
                keep(run_job(job))
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = [pool.submit(run_job, job) for job in todo]
                for future in as_completed(futures):
                    keep(future.result())
        return [records[job.name] for job in jobs]


def _run_dask(
    jobs: Sequence[Job], keep: Callable[[dict], None], *, workers: int, scheduler: str | None
) -> None:
    """Run ``jobs`` on a Dask cluster, keeping each record as it arrives.

    Raises:
        RecipeoptError: If Dask is not installed or the scheduler cannot be reached.
    """
    try:
        from distributed import Client, LocalCluster
        from distributed import as_completed as dask_completed
    except ModuleNotFoundError:
        raise RecipeoptError(
            "--executor dask needs Dask distributed; pip install 'recipeopt[dask]'"
        ) from None
    cluster = None
    try:
        if scheduler is None:
            cluster = LocalCluster(
                n_workers=max(1, workers),
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            )
            client = Client(cluster)
        else:
            client = Client(scheduler, timeout=30)
    except OSError as err:
        if cluster is not None:
            cluster.close()
        raise RecipeoptError(f"cannot reach the Dask scheduler {scheduler!r}: {err}") from None
    try:
        futures = [
            client.submit(run_job, job, key=f"recipeopt-{job.name}", pure=False) for job in jobs
        ]
        for future in dask_completed(futures):
            keep(future.result())
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
