"""One self-contained HTML report of a campaign, to read or to mail.

:func:`build_report` returns the page; every plot is a PNG embedded as a
``data:`` URI, so the file needs nothing beside it. It holds:

* the campaign at a glance, and the best run;
* the best objective so far after each batch, and the best run's metrics
  against the outcome constraints;
* each completed run's observed metrics against what was predicted when it
  was proposed (with the 90 % range);
* which setpoints matter to the current model (the spread of its partial
  dependence), and the partial-dependence curves of the most important ones,
  in process units;
* each batch: which step proposed it and why, in plain words;
* every run, failed and excluded runs marked.

Example:
    >>> html = build_report(Campaign.load("campaigns/etch42.yaml"))  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import html
import io
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from recipeopt.benchmark.plots import pyplot

if TYPE_CHECKING:
    from recipeopt.campaign import Campaign
    from recipeopt.strategy.provenance import Provenance

#: Random feasible recipes the partial dependence averages over.
BACKGROUND = 256
#: Points along each numeric parameter's range in a partial-dependence curve.
GRID = 21
#: Partial-dependence curves drawn (the most important setpoints).
CURVES = 4
#: A 90 % range of a normal predictive distribution.
Z90 = 1.645

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; max-width: 1100px; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.5em; text-align: right; }
th { background: #f3f3f3; } td.text { text-align: left; }
tr.failed td { background: #fde2e2; } tr.abandoned td { background: #eee; }
tr.excluded td { color: #888; font-style: italic; }
img { max-width: 100%; } .note { color: #555; font-size: 0.9em; }
"""


def build_report(campaign: Campaign, *, seed: int | None = None) -> str:
    """Return the campaign's report as one HTML page (plots embedded).

    Args:
        campaign: The campaign.
        seed: Seed of the model fit and the partial dependence (default: the spec's).

    Raises:
        RecipeoptError: If the campaign's runs cannot be read.
    """
    seed = campaign.spec.seed if seed is None else seed
    runs = campaign.runs()
    status = campaign.status(fit=False)
    complete = campaign.usable(runs)
    parts = [
        f"<h1>{_e(campaign.name)}</h1>",
        f"<p class='note'>Report made {datetime.now(UTC).isoformat(timespec='seconds')}. "
        + ", ".join(f"{v} {k}" for k, v in status.counts.items())
        + ".</p>",
    ]
    if campaign.spec.description:
        parts.append(f"<p>{_e(campaign.spec.description)}</p>")
    parts.append("<h2>Best run</h2>")
    if status.best is None:
        parts.append("<p>No complete run meets the outcome constraints yet.</p>")
    else:
        best = status.best[["run_id", *campaign.space.names, *campaign.objective.names]]
        parts.append(_table(pd.DataFrame([best]).assign(objective=status.best["objective"])))
    fitted = _fit(campaign, runs, seed)
    parts.append("<h2>Whether to go on</h2>")
    parts.append(_outlook(campaign, runs, fitted, seed))
    parts.append("<h2>Progress</h2>")
    parts.append(_progress(campaign, runs))
    if campaign.objective.pareto:
        parts.append("<h2>Trade-off</h2>")
        parts.append(_tradeoff(campaign, runs))
    parts.append("<h2>Predicted against observed</h2>")
    parts.append(_calibration(campaign, complete))
    parts.append("<h2>Which setpoints matter</h2>")
    parts.append(_importance(campaign, fitted, len(complete), seed))
    parts.append("<h2>Batches</h2>")
    parts.append(_batches(campaign, runs))
    parts.append("<h2>Runs</h2>")
    parts.append(_runs_table(campaign, runs))
    body = "\n".join(parts)
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>{_e(campaign.name)}: recipeopt report</title><style>{_STYLE}</style>"
        f"</head><body>\n{body}\n</body></html>\n"
    )


def _progress(campaign: Campaign, runs: pd.DataFrame) -> str:
    """Best objective so far after each batch, and the best run's metrics against the spec."""
    batches = list(dict.fromkeys(runs["batch_id"]))
    if not batches:
        return "<p>No runs yet.</p>"
    bests, metric_rows = [], []
    for k in range(len(batches)):
        so_far = campaign.usable(runs[runs["batch_id"].isin(batches[: k + 1])])
        scores = campaign.scores(so_far)
        if np.isfinite(scores).any():
            i = int(np.nanargmax(scores))
            bests.append(float(scores[i]))
            metric_rows.append(so_far.iloc[i][campaign.objective.names].astype(float))
        else:
            bests.append(np.nan)
            metric_rows.append(pd.Series(np.nan, index=campaign.objective.names))
    plt = pyplot()
    metrics = campaign.spec.objective.metrics
    fig, axes = plt.subplots(1, 1 + len(metrics), figsize=(3.2 * (1 + len(metrics)), 3))
    x = np.arange(1, len(batches) + 1)
    axes[0].plot(x, bests, marker="o")
    axes[0].set(title="best objective so far", xlabel="batch", ylim=(0, 1.05))
    constraints = campaign.objective.constraints
    for ax, metric in zip(axes[1:], metrics, strict=True):
        ax.plot(x, [row[metric.name] for row in metric_rows], marker="o")
        ax.axhline(metric.range[1], color="green", lw=0.8, ls=":", label="best of range")
        for c in constraints:
            if set(c.coefficients) == {metric.name}:
                ax.axhline(c.rhs / c.coefficients[metric.name], color="red", lw=0.8, ls="--")
        ax.set(title=f"{metric.name} of the best run", xlabel="batch", ylabel=metric.unit)
    fig.tight_layout()
    rules = "; ".join(campaign.spec.objective.constraints) or "none"
    return (
        _image(fig, "best objective and best run's metrics after each batch")
        + f"<p class='note'>Objective: 0 is every metric at the worst of its range, 1 at the "
        f"best. Outcome constraints (red, dashed): {_e(rules)}.</p>"
    )


def _tradeoff(campaign: Campaign, runs: pd.DataFrame) -> str:
    """Pareto mode: the front of the complete runs, and its hypervolume after each batch."""
    from recipeopt.tradeoff import hypervolume_by_batch, pareto_front

    front, volume = pareto_front(campaign, runs), hypervolume_by_batch(campaign, runs)
    if not len(front):
        return "<p>No complete run meets the outcome constraints yet.</p>"
    names = campaign.objective.names
    pairs = [(names[i], names[j]) for i in range(len(names)) for j in range(i + 1, len(names))]
    plt = pyplot()
    fig, axes = plt.subplots(1, 1 + len(pairs), figsize=(3.4 * (1 + len(pairs)), 3.2))
    axes = np.atleast_1d(axes)
    axes[0].plot(np.arange(1, len(volume) + 1), volume["hypervolume"], marker="o")
    axes[0].set(title="hypervolume so far", xlabel="batch", ylim=(0, None))
    complete = campaign.usable(runs)
    units = {m.name: m.unit for m in campaign.spec.objective.metrics}
    for ax, (a, b) in zip(axes[1:], pairs, strict=True):
        ax.scatter(complete[a], complete[b], s=10, color="lightgray", label="runs")
        ordered = front.sort_values(a)
        ax.plot(ordered[a], ordered[b], "o", color="C1", ms=5, label="Pareto front")
        ax.set(xlabel=f"{a} ({units[a]})", ylabel=f"{b} ({units[b]})")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return (
        _image(fig, "hypervolume after each batch, and the Pareto front per pair of metrics")
        + f"<p class='note'>{len(front)} runs on the Pareto front (no other run that meets "
        "the outcome constraints is at least as good in every metric). Hypervolume: 0 is no "
        "run beyond every metric's worst value, 1 one run at the best end of every range.</p>"
        + _table(front)
    )


def _calibration(campaign: Campaign, complete: pd.DataFrame) -> str:
    """Each complete run's observed metric against its prediction when proposed."""
    names = campaign.objective.names
    predicted = complete.dropna(subset=[f"pred_{m}" for m in names], how="all")
    if predicted.empty:
        return "<p>No complete run was proposed by a model yet (designs predict nothing).</p>"
    plt = pyplot()
    fig, axes = plt.subplots(1, len(names), figsize=(3.4 * len(names), 3.2))
    axes = np.atleast_1d(axes)
    inside = []
    for ax, name in zip(axes, names, strict=True):
        obs = predicted[name].to_numpy(float)
        mean = predicted[f"pred_{name}"].to_numpy(float)
        half = Z90 * predicted[f"pred_{name}_std"].to_numpy(float)
        ax.errorbar(mean, obs, xerr=half, fmt="o", ms=3, alpha=0.7)
        low, high = np.nanmin([obs, mean - half]), np.nanmax([obs, mean + half])
        ax.plot([low, high], [low, high], color="gray", lw=0.8)
        ax.set(title=name, xlabel="predicted (90 % range)", ylabel="observed")
        ok = np.isfinite(mean)
        inside.append(f"{name} {np.mean(np.abs(obs[ok] - mean[ok]) <= half[ok]):.0%}")
    fig.tight_layout()
    return _image(fig, "observed against predicted, per metric") + (
        f"<p class='note'>{len(predicted)} runs. Observed inside the predicted 90 % range: "
        + ", ".join(inside)
        + ".</p>"
    )


def _fit(campaign: Campaign, runs: pd.DataFrame, seed: int) -> tuple[Any, Provenance] | None:
    """Fit the model ``suggest`` would use (None with fewer than 4 complete runs)."""
    if len(campaign.usable(runs)) < 4:
        return None
    X, Y = campaign.training_data(runs)
    model, provenance = campaign.fit_model(campaign.spec.method, X, Y, seed=seed)
    if model is None:  # the guard sent the start-up back to the design
        model, provenance = campaign.fit_model("ensemble", X, Y, seed=seed)
    return model, provenance


def _outlook(
    campaign: Campaign, runs: pd.DataFrame, fitted: tuple[Any, Provenance] | None, seed: int
) -> str:
    """The stop signal under the current model, in one sentence."""
    from recipeopt.strategy.outlook import outlook
    from recipeopt.strategy.surrogates import OUTLOOK_CANDIDATES

    scores = campaign.scores(campaign.usable(runs))
    if fitted is None or not np.isfinite(scores).any():
        return "<p>Needs at least 4 complete runs and one that meets the outcome constraints.</p>"
    ahead = outlook(
        fitted[0],
        campaign.objective,
        campaign.space,
        float(np.nanmax(scores)),
        margin=campaign.spec.objective.margin,
        q=campaign.spec.batch_size,
        candidates=OUTLOOK_CANDIDATES,
        seed=seed,
        used=campaign.space.to_cube(campaign.space.values(runs)),
    )
    if ahead is None:
        return "<p>No new feasible recipe is left to try.</p>"
    sentence = ahead.sentence()
    return (
        f"<p><b>{_e(sentence[0].upper() + sentence[1:])}.</b> Best run "
        f"{ahead.best:.3f}, best predicted {ahead.predicted_best:.3f} on the 0-1 objective "
        f"scale (margin {ahead.margin:g}, objective.margin in the campaign file).</p>"
    )


def _importance(
    campaign: Campaign, fitted: tuple[Any, Provenance] | None, n: int, seed: int
) -> str:
    """Partial dependence of the predicted objective on each setpoint, under the current model."""
    import torch

    from recipeopt.acquisition import predict
    from recipeopt.design import sample_feasible

    if fitted is None:
        return "<p>Needs at least 4 complete runs.</p>"
    space, objective = campaign.space, campaign.objective
    model, provenance = fitted
    background = sample_feasible(space, BACKGROUND, seed=seed)
    weights, A, b = (
        torch.as_tensor(v)
        for v in (objective.weights, objective.constraint_matrix, objective.constraint_offset)
    )
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for j, name in enumerate(space.names):
        if name in space.fixed:
            continue
        if j in space.categorical:
            grid = np.arange(len(space.categorical[j])) / max(len(space.categorical[j]) - 1, 1)
        else:
            grid = np.linspace(0.0, 1.0, GRID)
        points = np.repeat(background[None], len(grid), axis=0)
        points[:, :, j] = grid[:, None]
        p = predict(model, torch.as_tensor(points.reshape(-1, space.dim)), weights, A, b)
        mean = p.objective_mean.numpy().reshape(len(grid), -1).mean(axis=1)
        cube = np.zeros((len(grid), space.dim))
        cube[:, j] = grid
        curves[name] = (space.from_cube(cube, snap=False)[:, j], mean)
    spread = {name: float(np.ptp(curve[1])) for name, curve in curves.items()}
    ranked = sorted(spread, key=spread.get, reverse=True)  # type: ignore[arg-type]
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(ranked) + 1))
    ax.barh(ranked[::-1], [spread[n] for n in ranked[::-1]])
    ax.set(xlabel="spread of the predicted objective across the setpoint's range")
    fig.tight_layout()
    out = [
        _image(fig, "setpoint importance"),
        f"<p class='note'>Model: {_e(provenance.replace(step='qlognei').sentence())}, "
        f"fitted on {n} complete runs; each curve averages the predicted "
        f"objective over {BACKGROUND} random feasible recipes.</p>",
    ]
    top = ranked[:CURVES]
    fig, axes = plt.subplots(1, len(top), figsize=(3.4 * len(top), 3))
    units = {p.name: p.unit for p in campaign.spec.parameters}
    for ax, name in zip(np.atleast_1d(axes), top, strict=True):
        values, mean = curves[name]
        j = space.index[name]
        if j in space.categorical:
            ax.bar(space.categorical[j], mean)
        else:
            ax.plot(values, mean)
            if space.log[j]:
                ax.set_xscale("log")
        ax.set(title=name, xlabel=units.get(name) or name, ylabel="predicted objective")
    fig.tight_layout()
    out.append(_image(fig, "partial dependence of the most important setpoints"))
    return "\n".join(out)


def _batches(campaign: Campaign, runs: pd.DataFrame) -> str:
    """One row per batch: its runs, how it was proposed and why, its best objective."""
    rows = []
    for batch_id, batch in runs.groupby("batch_id", sort=False):
        records = [json.loads(p) for p in batch["provenance"] if p]
        reasons = sorted({r["guard_reason"] for r in records if r.get("guard_reason")})
        scores = campaign.scores(campaign.usable(batch))
        how = list(dict.fromkeys(m for m in batch["model"] if isinstance(m, str) and m))
        rows.append(
            {
                "batch": batch_id,
                "runs": ", ".join(batch["run_id"]),
                "how it was proposed": "; ".join(how)
                or ("run off-plan" if str(batch_id).startswith("manual") else ""),
                "why": "; ".join(reasons),
                "best objective": float(np.nanmax(scores)) if np.isfinite(scores).any() else None,
            }
        )
    return _table(pd.DataFrame(rows), text=("runs", "how it was proposed", "why"))


def _runs_table(campaign: Campaign, runs: pd.DataFrame) -> str:
    """Every run; failed, abandoned and excluded runs marked."""
    columns = [
        "run_id",
        "batch_id",
        "status",
        *campaign.space.names,
        *campaign.objective.names,
        "model",
        "note",
        "excluded",
    ]
    table = runs[columns].rename(columns={"model": "how it was proposed"})
    classes = [
        "excluded" if excluded else status
        for status, excluded in zip(runs["status"], runs["excluded"], strict=True)
    ]
    legend = (
        "<p class='note'>Failed runs in red, abandoned in grey, runs kept out of the model "
        "(off-spec, or outside the campaign's current bounds or choices) in italics.</p>"
    )
    return legend + _table(
        table, text=("status", "how it was proposed", "note", "excluded"), row_classes=classes
    )


def _table(
    frame: pd.DataFrame,
    *,
    text: tuple[str, ...] = (),
    row_classes: list[str] | None = None,
) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in frame.columns)
    body = []
    for i, row in enumerate(frame.itertuples(index=False)):
        cls = f" class='{row_classes[i]}'" if row_classes else ""
        cells = "".join(
            f"<td class='text'>{_e(_cell(v))}</td>" if c in text else f"<td>{_e(_cell(v))}</td>"
            for c, v in zip(frame.columns, row, strict=True)
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _image(fig: Any, alt: str) -> str:
    """Embed ``fig`` as a PNG data URI and close it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    pyplot().close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"<img alt='{_e(alt)}' src='data:image/png;base64,{data}'>"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)
