"""The ``recipeopt`` command line: parse, call :class:`~recipeopt.campaign.Campaign`, render.

Every error a user can cause is printed as one line starting with ``Error:``
and exits with code 1, without a traceback. Heavy libraries (torch, BoTorch,
pandas) are imported inside the commands, so ``recipeopt --help`` is instant.
"""

from __future__ import annotations

import json
import sys
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from recipeopt.simulate import FAMILIES

if TYPE_CHECKING:
    import pandas as pd

    from recipeopt.campaign import Campaign

FORMATS = ("table", "csv", "json")


class _Group(click.Group):
    """A group whose errors are one line and exit code 1."""

    def main(self, args: Any = None, prog_name: Any = None, **extra: Any) -> Any:  # type: ignore[override]
        from recipeopt.exceptions import RecipeoptError

        extra.pop("standalone_mode", None)
        try:
            return super().main(args, prog_name, standalone_mode=False, **extra)
        except RecipeoptError as err:
            _fail(str(err))
        except click.exceptions.NoArgsIsHelpError as err:
            click.echo(err.ctx.get_help() if err.ctx else str(err))
            sys.exit(0)
        except click.UsageError as err:
            hint = f" (see '{err.ctx.command_path} --help')" if err.ctx else ""
            _fail(f"{err.format_message()}{hint}")
        except click.ClickException as err:
            _fail(err.format_message())
        except click.exceptions.Abort:
            _fail("aborted")
        except KeyboardInterrupt:
            click.echo("Interrupted; nothing was written by the interrupted step.", err=True)
            sys.exit(130)
        return None


def _fail(message: str) -> None:
    click.echo(f"Error: {' '.join(message.split())}", err=True)
    sys.exit(1)


def _status(message: str) -> Any:
    """A spinner on stderr while a step runs."""
    from rich.console import Console

    return Console(stderr=True).status(message)


def _load(path: str, settings: tuple[str, ...] = ()) -> Campaign:
    from recipeopt.campaign import Campaign
    from recipeopt.strategy.config import StrategyConfig

    return Campaign.load(path, strategy=StrategyConfig().with_overrides(_parse_settings(settings)))


@click.group(cls=_Group)
@click.version_option(package_name="recipeopt")
def cli() -> None:
    """Plan process-recipe experiments with Bayesian optimization.

    A campaign is a YAML file of parameters, objective and constraints.
    `recipeopt suggest` proposes the next batch of runs; `recipeopt record`
    stores the measured results; repeat until the recipe meets spec.
    """


@cli.command()
@click.argument("campaign", type=click.Path(dir_okay=False))
@click.option(
    "--batch",
    "-n",
    type=int,
    default=None,
    help="Runs in the batch (default: the campaign's batch_size).",
)
@click.option("--seed", type=int, default=None, help="Seed (default: the campaign's seed).")
@click.option(
    "--fix",
    "fixes",
    multiple=True,
    metavar="NAME=VALUE",
    help="Pin a parameter for this batch, in its unit. Repeatable.",
)
@click.option(
    "--method",
    type=click.Choice(["auto", "sobol", "random", "maml-ensemble", "ensemble", "gp"]),
    default="auto",
    show_default=True,
    help="auto: the campaign's model (maml-ensemble with history), after a Sobol "
    "initial design for models that need one.",
)
@click.option(
    "--same-in-batch",
    "same",
    multiple=True,
    metavar="NAME",
    help="Give a parameter one value across the whole batch (one lot, one chamber). Repeatable.",
)
@click.option("--note", default="", help="Note stored with every run of the batch.")
@click.option(
    "--format", "-f", "fmt", type=click.Choice(FORMATS), default="table", show_default=True
)
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write the batch to FILE (.csv or .json).",
)
def suggest(
    campaign: str,
    batch: int | None,
    seed: int | None,
    fixes: tuple[str, ...],
    method: str,
    same: tuple[str, ...],
    note: str,
    fmt: str,
    out: str | None,
) -> None:
    """Propose the next batch of runs and store them as pending.

    The batch avoids every recipe already in the campaign, including pending
    ones. Fill in the metric columns of the CSV (--out) and pass it to
    `recipeopt record`.
    """
    fixed = _parse_fixes(fixes)
    c = _load(campaign)
    if method == "maml-ensemble" or (method == "auto" and c.spec.method == "maml-ensemble"):
        with _MetaProgress("Meta-training on the history (first use or history changed)") as bar:
            c.prior.checkpoint(on_epoch=bar)
    with _status(f"Planning {c.spec.batch_size if batch is None else batch} runs for {c.name}…"):
        table = c.suggest(
            batch,
            seed=seed,
            fixed=fixed,
            same_in_batch=same,
            method=method,
            note=note,
            # NOTE: the file is written before the batch is stored, so a batch the
            # engineer never received is never left pending.
            before_commit=(
                (lambda batch: _write(_worksheet(c, batch), out, _file_format(out)))
                if out
                else None
            ),
        )
    if c.replans:
        click.echo(
            "Another command stored runs while this batch was planned; "
            "it was planned again with them.",
            err=True,
        )
    title = f"{c.name}: batch {table['batch_id'].iloc[0]}"
    if fmt == "table":
        _render(_readable(c, table), fmt, title=title, units=_units(c))
    else:
        _render(_worksheet(c, table), fmt, title=title, units=_units(c))
    if out:
        click.echo(f"Wrote {len(table)} runs to {out}.", err=True)


class _MetaProgress:
    """A progress bar of meta-training on stderr, shown from the first epoch on (if any)."""

    def __init__(self, description: str) -> None:
        self.description = description
        self.progress: Any = None

    def __enter__(self) -> _MetaProgress:
        return self

    def __call__(self, epoch: int, epochs: int, loss: float, validation: float | None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        if self.progress is None:
            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("epoch {task.completed}/{task.total}"),
                TextColumn("{task.fields[loss]}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
            )
            self.progress.start()
            self.task = self.progress.add_task(self.description, total=epochs, loss="")
            self.validation = float("nan")
        if validation is not None:
            self.validation = validation
        text = f"meta-loss {loss:.3f}, held-out {self.validation:.3f}"
        self.progress.update(self.task, completed=epoch, loss=text)

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()


@cli.command()
@click.argument("campaign", type=click.Path(dir_okay=False))
@click.option(
    "--algorithm",
    type=click.Choice(["maml", "fomaml", "reptile"]),
    default=None,
    help="Meta-training algorithm (default: the strategy's, maml).",
)
@click.option(
    "--steps", type=click.IntRange(1, 50), default=None, help="Inner-loop SGD steps (default 5)."
)
@click.option("--epochs", type=click.IntRange(1), default=None, help="Most epochs (default 300).")
@click.option("--seed", type=int, default=None, help="Seed (default: the campaign's seed).")
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="NAME=VALUE",
    help="Override a research setting of meta-training, e.g. --set learn_lr=true. Repeatable.",
)
def pretrain(
    campaign: str,
    algorithm: str | None,
    steps: int | None,
    epochs: int | None,
    seed: int | None,
    settings: tuple[str, ...],
) -> None:
    """Meta-train the campaign's deep ensemble on its history and save the checkpoint.

    One task per historical recipe. Runs outside the campaign's bounds or with
    missing values are dropped and counted. Early stopping watches the query
    loss on held-out history recipes. `suggest` runs this on demand when the
    checkpoint is missing or the history changed.
    """
    c = _load(campaign, settings)
    with _MetaProgress(f"Meta-training {c.name} ({algorithm or c.config.algorithm})") as bar:
        report = c.pretrain(
            algorithm=algorithm, inner_steps=steps, epochs=epochs, seed=seed, on_epoch=bar
        )
    dropped = report.dropped
    click.echo(
        f"Meta-trained on {report.recipes} recipes ({report.runs} runs) in "
        f"{report.epochs} epochs, {report.seconds:.0f} s"
        + (" (stopped early)" if report.stopped_early else "")
        + f"; held-out query loss {report.held_out_loss:.3f}."
    )
    click.echo(
        f"Dropped {dropped['missing']} runs with missing values, "
        f"{dropped['out_of_bounds']} outside the campaign's bounds or choices, and "
        f"{dropped['small_recipes']} recipes with too few runs "
        f"({dropped['in_small_recipes']} runs)."
    )
    if any(g != 1.0 for g in report.gains.values()):
        click.echo(
            "Learned inner-rate gains (median over members): "
            + ", ".join(f"{k} {g:.2f}" for k, g in report.gains.items())
            + "."
        )
    # From CV_MIN_RUNS runs on, suggest cross-validates the length on the recipe's own runs.
    from recipeopt.models.ensemble import CV_MIN_RUNS

    scheduled = [(runs, steps) for runs, steps in report.schedule if runs < CV_MIN_RUNS]
    if scheduled:
        click.echo(
            "Adaptation steps for suggest: "
            + ", ".join(f"{steps} after {runs} runs" for runs, steps in scheduled)
            + f"; from {CV_MIN_RUNS} runs, chosen on the recipe's own runs by cross-validation."
        )
    click.echo(f"Wrote {report.path}.")
    if report.recoveries:
        click.echo(
            "The meta-loss diverged and training went on from the last good weights at a "
            "lower inner rate: "
            + ", ".join(f"epoch {e}: {lr:g}" for e, lr in report.recoveries)
            + " (recorded in the checkpoint)."
        )
    if algorithm and algorithm != c.config.algorithm:
        click.echo(
            f"Set model.checkpoint: {report.path.name} in {campaign} for suggest to use it.",
            err=True,
        )


def _pairs(
    items: tuple[str, ...], option: str, example: str, *, empty_ok: bool = False
) -> list[tuple[str, str]]:
    """Split repeated ``NAME=VALUE`` options into ``(name, value)`` pairs, in order."""
    pairs = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not (empty_ok or value.strip()):
            raise click.BadParameter(
                f"{item!r} must look like NAME=VALUE, e.g. {example}", param_hint=option
            )
        pairs.append((name.strip(), value.strip()))
    return pairs


def _parse_settings(items: tuple[str, ...]) -> dict[str, str]:
    """Read ``--set NAME=VALUE`` items (the strategy's config parses and checks them)."""
    from recipeopt.strategy.config import StrategyConfig

    settings = dict(_pairs(items, "--set", "hedge=0", empty_ok=True))
    StrategyConfig().with_overrides(settings)  # one line naming a bad name or value, now
    return settings


def _parse_fixes(fixes: tuple[str, ...]) -> dict[str, str]:
    """Read ``--fix NAME=VALUE`` items; the campaign checks names, numbers and choices."""
    fixed: dict[str, str] = {}
    for name, value in _pairs(fixes, "--fix", "pressure=20"):
        if name in fixed and fixed[name] != value:
            raise click.BadParameter(
                f"{name} is pinned twice, to {fixed[name]} and to {value}; give it once",
                param_hint="--fix",
            )
        fixed[name] = value
    return fixed


@cli.command()
@click.argument("campaign", type=click.Path(dir_okay=False))
@click.argument("results", type=click.Path(dir_okay=False))
@click.option(
    "--replace", is_flag=True, help="Overwrite results of runs that are already recorded."
)
@click.option(
    "--allow-off-spec",
    is_flag=True,
    help="Store runs that break an integer, step, fixed value or linear constraint, "
    "flagged and kept out of the model, instead of rejecting the file.",
)
def record(campaign: str, results: str, replace: bool, allow_off_spec: bool) -> None:
    """Validate RESULTS (CSV) and store it: all rows, or none.

    Columns: run_id, the metrics, and optionally status (complete, failed,
    abandoned) and note. A row without run_id but with every parameter records
    an off-plan run. Metrics must lie within their physical limits, and
    setpoints within the campaign's bounds and plan rules.
    """
    c = _load(campaign)
    summary, parsed = c.record(results, replace=replace, allow_off_spec=allow_off_spec)
    parts = [f"Recorded {len(summary.updated)} runs"]
    if summary.added:
        parts.append(f"added {len(summary.added)} off-plan runs ({', '.join(summary.added)})")
    if parsed.skipped:
        parts.append(
            f"left {len(parsed.skipped)} without results pending ({', '.join(parsed.skipped)})"
        )
    flagged = [u.run_id for u in parsed.updates if u.off_spec]
    flagged += [
        run_id for run_id, run in zip(summary.added, parsed.new_runs, strict=True) if run.off_spec
    ]
    if flagged:
        parts.append(
            f"flagged {len(flagged)} off-spec, kept out of the model ({', '.join(flagged)})"
        )
    click.echo("; ".join(parts) + ".")


@cli.command()
@click.argument("campaign", type=click.Path(dir_okay=False))
@click.option("--no-fit", is_flag=True, help="Skip the cross-validated model fit.")
@click.option(
    "--format", "-f", "fmt", type=click.Choice(FORMATS), default="table", show_default=True
)
def status(campaign: str, no_fit: bool, fmt: str) -> None:
    """Show run counts, the best run, and how well the model fits the runs.

    In Pareto mode, also the runs on the trade-off front and its hypervolume.
    """
    from recipeopt.tradeoff import hypervolume_by_batch, pareto_front

    c = _load(campaign)
    with _status("Cross-validating the model…") if not no_fit else nullcontext():
        st = c.status(fit=not no_fit)
    front = volume = None
    if c.objective.pareto:
        runs = c.runs()
        front, volume = pareto_front(c, runs), hypervolume_by_batch(c, runs)
    if fmt == "json":
        payload = {
            "campaign": c.name,
            "counts": st.counts,
            "best": None if st.best is None else json.loads(st.best.to_json()),
            "fit": None if st.fit is None else st.fit.to_dict("records"),
            "last_method": st.last_method,
            "last_model": st.last_model,
            "excluded": [] if st.excluded is None else st.excluded.to_dict("records"),
            "outlook": None if st.outlook is None else asdict(st.outlook),
        }
        if front is not None and volume is not None:
            payload["pareto_front"] = json.loads(front.to_json(orient="records"))
            payload["hypervolume"] = volume.to_dict("records")
        click.echo(json.dumps(payload, indent=2))
        return
    counts = ", ".join(f"{v} {k}" for k, v in st.counts.items())
    click.echo(f"{c.name}: {counts}.")
    if st.last_method:
        click.echo(
            f"Last batch proposed by: {st.last_method}"
            + (f" ({st.last_model})" if st.last_model else "")
        )
    if st.best is None and st.counts["complete"] and c.objective.constraints:
        rules = "; ".join(c.spec.objective.constraints)
        click.echo(f"No complete run meets the outcome constraints yet ({rules}).")
    elif st.best is None:
        click.echo("No complete runs yet: run `recipeopt suggest`, then `recipeopt record`.")
    else:
        import pandas as pd

        best = pd.DataFrame([st.best[["run_id", *c.space.names, *c.objective.names, "objective"]]])
        _render(best, fmt if fmt != "json" else "table", title="Best complete run", units=_units(c))
    if front is not None and volume is not None and len(front):
        _render(
            front,
            fmt,
            title=f"Trade-off: {len(front)} runs on the Pareto front "
            f"(hypervolume {volume['hypervolume'].iloc[-1]:.3f} after "
            f"{len(volume)} batches; 0 is every metric at its worst)",
            units=_units(c),
        )
    if st.excluded is not None and len(st.excluded):
        _render(
            st.excluded.rename(columns={"run_id": "run"}),
            fmt,
            title=f"{len(st.excluded)} runs kept out of the model and the best run "
            "(still in export)",
            units={},
        )
    if st.fit is not None:
        _render(
            st.fit,
            fmt,
            title=f"Model fit: {int(st.fit['folds'].iloc[0])}-fold cross-validated RMSE",
            units={},
        )
    elif not no_fit:
        click.echo("Model fit: needs at least 4 complete runs.")
    if st.outlook is not None:
        ahead = st.outlook
        click.echo(
            f"Outlook: {ahead.sentence()} (best run {ahead.best:.3f}, "
            f"best predicted {ahead.predicted_best:.3f} on the 0-1 objective scale)."
        )


@cli.command()
@click.argument("campaign", type=click.Path(dir_okay=False))
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write to FILE instead of stdout.",
)
def export(campaign: str, out: str | None) -> None:
    """Write every run of the campaign as CSV."""
    text = _load(campaign).export()
    if out:
        _write_text(out, text)
        click.echo(f"Wrote {out}.", err=True)
    else:
        click.echo(text, nl=False)


@cli.command()
@click.argument("campaign", type=click.Path(dir_okay=False))
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False),
    default=None,
    help="The HTML file to write (default: <campaign name>-report.html here).",
)
@click.option("--seed", type=int, default=None, help="Seed (default: the campaign's seed).")
def report(campaign: str, out: str | None, seed: int | None) -> None:
    """Write one self-contained HTML report of the campaign (plots embedded).

    Progress per batch, predicted against observed, which setpoints matter and
    how, how each batch was proposed, and every run, failed runs marked.
    """
    from recipeopt.report import build_report

    c = _load(campaign)
    with _status(f"Writing the report of {c.name}…"):
        page = build_report(c, seed=seed)
    target = out or f"{c.name}-report.html"
    _write_text(target, page)
    click.echo(f"Wrote {target}.")


@cli.command()
@click.option(
    "--rounds",
    "-r",
    type=click.IntRange(1, 200),
    default=25,
    show_default=True,
    help="Batches to run.",
)
@click.option(
    "--batch",
    "-n",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Runs per batch.",
)
@click.option(
    "--seed",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Seed (also picks the recipe).",
)
@click.option(
    "--out", "-o", type=click.Path(file_okay=False), default="demo-output", show_default=True
)
def demo(rounds: int, batch: int, seed: int, out: str) -> None:
    """Run a whole simulated campaign on a held-out etch recipe.

    Suggest, run the wafers on the bundled simulator, record, and repeat; then
    print the best objective per round against the simulated optimum and save
    a convergence plot.
    """
    from rich.progress import Progress

    from recipeopt.demo import run_demo

    with Progress(transient=True) as progress:
        task = progress.add_task("Simulated campaign", total=rounds)
        stage = progress.add_task("", total=None)

        def on_batch(result: Any) -> None:
            best = max(result.objective)
            progress.update(
                task,
                advance=1,
                description=f"Round {len(result.seconds)}/{rounds}, best {best:.3f}",
            )

        result = run_demo(
            rounds=rounds,
            batch=batch,
            seed=seed,
            out=Path(out),
            on_batch=on_batch,
            on_stage=lambda text: progress.update(stage, description=text),
        )
    _render(result.rounds, "table", title="Best-so-far objective per round (noiseless)", units={})
    final = result.rounds.iloc[-1]
    click.echo(
        f"After {int(final['runs'])} runs: best objective {final['best_objective']:.3f} "
        f"against a simulated optimum of {result.f_star:.3f} (median recipe "
        f"{result.f_median:.3f}); normalized regret {final['regret']:.3f}."
    )
    click.echo(f"Saved {result.plot} and {result.runs_csv}.")


@cli.group()
def simulate() -> None:
    """Generate data from the bundled simulator."""


@simulate.command("history")
@click.option("--recipes", type=click.IntRange(1, 10000), default=30, show_default=True)
@click.option(
    "--runs",
    type=click.IntRange(1, 100000),
    default=200,
    show_default=True,
    help="Runs per recipe.",
)
@click.option(
    "--seed",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Family seed: picks the recipes.",
)
@click.option("--family", type=click.Choice(FAMILIES), default="etch", show_default=True)
@click.option(
    "--out", "-o", type=click.Path(file_okay=False), required=True, help="Folder for the CSVs."
)
def simulate_history(recipes: int, runs: int, seed: int, family: str, out: str) -> None:
    """Write historical recipes (one CSV each) shaped like fab logs: DOEs around working recipes."""
    from rich.progress import Progress

    from recipeopt.simulate.family import get_family
    from recipeopt.simulate.history import write_history

    fam = get_family(family, seed=seed)
    with Progress(transient=True) as progress:
        task = progress.add_task("Simulating history", total=recipes)
        paths = write_history(
            fam,
            Path(out),
            recipes=recipes,
            runs=runs,
            seed=seed,
            on_recipe=lambda i: progress.advance(task),
        )
    click.echo(f"Wrote {len(paths)} recipes x {runs} runs to {out}.")


@cli.command()
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="A benchmark config (benchmarks/configs/*.yaml): family, split, recipes, seeds, "
    "budget, batch, methods, settings. The options below it are then ignored, but for "
    "--set (merged into its settings), --out, --workers, --executor and --scheduler.",
)
@click.option(
    "--family",
    default="etch",
    show_default=True,
    help="etch, etch-unlike (etch constants from outside the history's prior: out of "
    "distribution), etch-faults (etch on a tool whose runs fail in an arc-fault and a "
    "de-chucking region), dep (categorical chemistry and chamber), history:CAMPAIGN.yaml "
    "(leave one recipe out), or real:reizman / real:baumgartner (real reaction data, "
    "each data set held out in turn; `make real-data` fetches them).",
)
@click.option(
    "--split",
    type=click.Choice(["tuning", "test"]),
    default="tuning",
    show_default=True,
    help="Held-out recipes: tuning (to choose defaults on) or test (to report on).",
)
@click.option("--test-recipes", type=click.IntRange(1), default=10, show_default=True)
@click.option("--seeds", type=click.IntRange(1), default=3, show_default=True)
@click.option(
    "--budget", type=click.IntRange(2), default=100, show_default=True, help="Experiments per run."
)
@click.option("--batch", type=click.IntRange(1), default=4, show_default=True)
@click.option(
    "--methods",
    default="random,sobol,gp,ensemble,maml-ensemble",
    show_default=True,
    help="Comma-separated: random, sobol, gp, ensemble, maml-ensemble, fomaml-ensemble, "
    "reptile-ensemble.",
)
@click.option(
    "--history",
    default=None,
    metavar="GLOB",
    help="History CSVs the meta-learned methods train on instead of the family's own "
    "(e.g. another family's, to measure negative transfer).",
)
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="NAME=VALUE",
    help="Override a research setting of the strategy for every model method, e.g. "
    "--set hedge=0 --set greedy_runs=12 (see recipeopt.strategy.config.StrategyConfig). "
    "Repeatable.",
)
@click.option(
    "--workers", type=click.IntRange(1), default=1, show_default=True, help="Parallel jobs."
)
@click.option(
    "--executor",
    type=click.Choice(["process", "dask"]),
    default="process",
    show_default=True,
    help="process: a local process pool; dask: a Dask cluster (--scheduler, or a LocalCluster "
    "of --workers processes).",
)
@click.option(
    "--scheduler", default=None, metavar="ADDRESS", help="Dask scheduler, e.g. tcp://host:8786."
)
@click.option(
    "--out",
    "-o",
    type=click.Path(file_okay=False),
    default=None,
    help="Output folder for the run records, summary and plot (default: "
    "~/.cache/recipeopt/benchmarks/NAME, outside the checkout).",
)
def benchmark(
    config_file: str | None,
    family: str,
    split: str,
    test_recipes: int,
    seeds: int,
    budget: int,
    batch: int,
    methods: str,
    history: str | None,
    settings: tuple[str, ...],
    workers: int,
    executor: str,
    scheduler: str | None,
    out: str | None,
) -> None:
    """Compare methods by the experiments they need on held-out recipes.

    Every method runs the full suggest/record loop up to the budget. Writes one
    JSON record per run, summary.csv (medians, ratios to random and gp with
    bootstrap 5-95 % intervals) and regret.png into OUT; runs already in OUT are
    reused, so an interrupted benchmark resumes.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from recipeopt.benchmark.config import BenchmarkConfig, load_config
    from recipeopt.benchmark.metrics import summarize
    from recipeopt.benchmark.plots import plot_regret
    from recipeopt.benchmark.runner import Benchmark

    if config_file:
        config = load_config(config_file)
        name = Path(config_file).stem
    else:
        config = BenchmarkConfig.model_validate(
            dict(
                family=family,
                split=split,
                recipes=test_recipes,
                seeds=seeds,
                budget=budget,
                batch=batch,
                methods=[m.strip() for m in methods.split(",") if m.strip()],
                history=history,
            )
        )
        name = f"{family.replace(':', '-').replace('/', '-')}-{split}"
    overrides = {**config.settings, **_parse_settings(settings)}
    folder = Path(out) if out else Path.home() / ".cache" / "recipeopt" / "benchmarks" / name
    bench = Benchmark(
        family=config.family,
        methods=config.methods,
        test_recipes=config.recipes,
        seeds=config.seeds,
        budget=config.budget,
        batch=config.batch,
        out=folder,
        history=config.history,
        settings=overrides or None,
        split=config.split,
    )
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns) as progress:
        task = progress.add_task("Benchmark", total=None)

        def on_done(record: dict, done: int, total: int) -> None:
            progress.update(
                task, completed=done, total=total, description=f"Runs ({record['method']} done)"
            )

        records = bench.run(
            workers=workers,
            executor=executor,
            scheduler=scheduler,
            on_done=on_done,
            progress=lambda text: progress.update(task, description=text),
        )
    summary = summarize(records)
    summary.to_csv(folder / "summary.csv", index=False)
    title = (
        f"{config.family} ({config.split} split): {config.recipes} recipes x {config.seeds} seeds"
    )
    plot_regret(records, folder / "regret.png", title=title)
    shown = summary[[c for c in summary.columns if "_vs_" not in c]].astype(object)
    for col in [c for c in shown.columns if c.startswith("n_to_")]:  # inf: never got there
        shown[col] = [f">{config.budget}" if v == float("inf") else v for v in shown[col]]
    _render(
        shown,
        "table",
        title=f"Medians over runs ({title}, batch {config.batch}, budget {config.budget})",
        units={},
    )
    _render(
        _ratio_table(summary),
        "table",
        title="Ratios to baselines from the same run, with bootstrap 5-95 % (below 1 is better)",
        units={},
    )
    click.echo(f"Wrote {folder}/summary.csv, {folder}/regret.png and {len(records)} run records.")


def _ratio_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Each ratio to a baseline as ``ratio (p05-p95)``."""
    import pandas as pd

    table = pd.DataFrame({"method": summary["method"]})
    for col in summary.columns:
        if "_vs_" not in col or col.endswith(("_p05", "_p95")) or col.startswith("seconds"):
            continue
        table[col] = [
            "" if r != r else f"{r:.3g} ({lo:.3g}-{hi:.3g})"
            for r, lo, hi in zip(
                summary[col], summary[f"{col}_p05"], summary[f"{col}_p95"], strict=True
            )
        ]
    return table


def _units(c: Campaign) -> dict[str, str]:
    units = {p.name: p.unit for p in c.spec.parameters}
    units.update({m.name: m.unit for m in c.spec.objective.metrics})
    units.update({f"predicted {m.name}": m.unit for m in c.spec.objective.metrics})
    return units


def _file_format(path: str) -> str:
    return "json" if path.endswith(".json") else "csv"


def _worksheet(c: Campaign, batch: pd.DataFrame) -> pd.DataFrame:
    """The batch as a sheet to fill in: its recipes, then empty metric, status and note columns.

    `recipeopt record` takes it back as it is once the results are filled in.
    """
    import pandas as pd

    empty = pd.DataFrame("", index=batch.index, columns=[*c.objective.names, "status", "note"])
    params = ["run_id", "batch_id", *c.space.names]
    predictions = [col for col in batch.columns if col not in params]
    return pd.concat([batch[params], empty, batch[predictions]], axis=1)


def _readable(c: Campaign, batch: pd.DataFrame) -> pd.DataFrame:
    """The batch as the engineer reads it: predictions as 90 % ranges within physical limits.

    The probability of meeting the outcome constraints is shown as such, e.g.
    ``P(defects <= 0.5)``, without a spread.
    """
    import numpy as np

    table = batch[["run_id", "batch_id", *c.space.names]].copy()
    z = 1.645  # a 90 % range of a normal predictive distribution
    objective = c.objective
    for j, name in enumerate([*objective.names, "objective"]):
        mean, std = batch.get(f"pred_{name}"), batch.get(f"pred_{name}_std")
        if mean is None:
            continue
        low, high = (
            (objective.limits[0][j], objective.limits[1][j])
            if name != "objective"
            else (-np.inf, np.inf)
        )
        table[f"predicted {name}"] = [
            "" if m != m else f"{m:.3g} ({max(m - z * s, low):.3g} to {min(m + z * s, high):.3g})"
            for m, s in zip(mean, std, strict=True)
        ]
    if "pred_feasibility" in batch:
        label = "P(" + " and ".join(objective.constraint_labels()) + ")"
        table[label] = [f"{p:.2f}" for p in batch["pred_feasibility"]]
    if "pred_success" in batch and batch["pred_success"].notna().any():
        table["P(run succeeds)"] = [f"{p:.2f}" if p == p else "" for p in batch["pred_success"]]
    table["how"] = batch["model"]
    return table


def _write(table: pd.DataFrame, path: str, fmt: str) -> None:
    """Write a suggested batch (before it is stored: a failure stores nothing)."""
    if fmt == "json":
        text = table.to_json(orient="records", indent=2)
    else:
        text = table.to_csv(index=False, float_format="%.10g")
    _write_text(path, text, unstored=True)


def _write_text(path: str, text: str, *, unstored: bool = False) -> None:
    """Write ``text`` to ``path``; an error is one line that says what to fix."""
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as err:
        reason = err.strerror or str(err)
        stored = "nothing was stored, " if unstored else ""
        raise click.ClickException(
            f"cannot write {path}: {reason}; {stored}fix the path and run again"
        ) from None


def _render(table: pd.DataFrame, fmt: str, *, title: str, units: dict[str, str]) -> None:
    """Print ``table`` as CSV, JSON, or a rich table with one column per run."""
    if fmt == "csv":
        click.echo(table.to_csv(index=False, float_format="%.10g"), nl=False)
        return
    if fmt == "json":
        click.echo(table.to_json(orient="records", indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    rich_table = Table(title=title)
    if "run_id" not in table.columns:  # a plain table: one row per record
        for col in table.columns:
            rich_table.add_column(col, justify="right")
        for row in table.itertuples(index=False):
            rich_table.add_row(*[_cell(v) for v in row])
    else:  # runs: one column per run, one row per field, which fits 15+ parameters
        rich_table.add_column("")
        rich_table.add_column("unit")
        for run_id in table["run_id"]:
            rich_table.add_column(str(run_id), justify="right")
        for col in table.columns:
            if col == "run_id" or (col.startswith("pred_") and col.endswith("_std")):
                continue
            std = table.get(f"{col}_std") if col.startswith("pred_") else None
            cells = [
                _cell(v) if std is None or s != s else f"{_cell(v)} ± {s:.2g}"
                for v, s in zip(table[col], std if std is not None else table[col], strict=True)
            ]
            label = col.replace("pred_", "predicted ") if col.startswith("pred_") else col
            rich_table.add_row(label, units.get(col.removeprefix("pred_"), ""), *cells)
    # NOTE: wide enough for the benchmark's summary even when output is piped to a log.
    Console(width=max(Console().width, 160)).print(rich_table)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "" if value != value else f"{value:.4g}"
    return "" if value is None else str(value)


def main() -> None:
    """Console-script entry point."""
    cli()
