"""Benchmark metrics, following the protocol in docs/design.md.

Normalized regret after ``t`` experiments is
``(f_star - best_t) / (f_star - f_median)``, where ``best_t`` is the best
noiseless objective among the first ``t`` evaluated recipes, ``f_star`` the
estimated optimum and ``f_median`` the median over the feasible space. It is
clipped at 0 (a run may beat the estimated optimum by a hair).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

TARGETS = (0.2, 0.1, 0.05)
CHECKPOINTS = (20, 40, 100)
#: Resamples of the (recipe, seed) pairs behind each ratio's bootstrap interval.
BOOTSTRAP_DRAWS = 2000


def regret_trace(objective: Sequence[float], f_star: float, f_median: float) -> np.ndarray:
    """Return normalized regret after each experiment."""
    best = np.maximum.accumulate(np.asarray(objective, dtype=float))
    return np.clip((f_star - best) / (f_star - f_median), 0.0, None)


def experiments_to(regret: np.ndarray, target: float) -> float:
    """Return the number of experiments until regret <= ``target`` (inf if never)."""
    hits = np.flatnonzero(regret <= target)
    return float(hits[0] + 1) if len(hits) else float("inf")


def regret_at(regret: np.ndarray, n: int) -> float:
    """Return regret after ``n`` experiments (NaN if the run was shorter)."""
    return float(regret[n - 1]) if len(regret) >= n else float("nan")


def run_figures(record: dict) -> dict[str, float]:
    """Return the per-run figures of one benchmark record."""
    regret = np.asarray(record["regret"], dtype=float)
    figures = {f"n_to_{t:g}": experiments_to(regret, t) for t in TARGETS}
    figures.update({f"regret_at_{n}": regret_at(regret, n) for n in CHECKPOINTS})
    # A run the simulated tool failed scores -inf (see recipeopt.simulate.faults).
    figures["failed_runs"] = float(
        np.sum(~np.isfinite(np.asarray(record.get("objective", []), float)))
    )
    figures["seconds_per_suggestion"] = (
        float(np.median(record["seconds"])) if record["seconds"] else float("nan")
    )
    return figures


def summarize(records: Sequence[dict], baselines: Sequence[str] = ("random", "gp")) -> pd.DataFrame:
    """Return one row per method: median figures over runs and ratios to the baselines.

    Medians of ``n_to_*`` treat runs that never reached the target as infinite,
    so a median of ``inf`` means more than half of the runs did not get there.
    Ratios are ``method / baseline``; for ``n_to_*`` and regret, below 1 is better.
    A ratio to a baseline whose median is ``inf`` is left empty (NaN): the method's
    figure over "more than the budget" has no value (it is not 0). Each ratio has
    a bootstrap interval (``..._p05``, ``..._p95``): the (recipe, seed) pairs both
    methods ran are resampled :data:`BOOTSTRAP_DRAWS` times (seed 0), and the 5th
    and 95th percentiles of the ratio of medians are taken over the resamples
    where the baseline's median is finite (``inf`` where the method's is not).
    """
    rows = []
    for record in records:
        rows.append(
            {
                "method": record["method"],
                "recipe": record["recipe"],
                "seed": record["seed"],
                **run_figures(record),
            }
        )
    per_run = pd.DataFrame(rows)
    figures = [c for c in per_run.columns if c not in ("method", "recipe", "seed")]
    summary = per_run.groupby("method", sort=False)[figures].median()
    summary.insert(0, "runs", per_run.groupby("method", sort=False).size())
    for base in baselines:
        if base not in summary.index:
            continue
        for col in figures:
            ratio = summary[col] / summary.loc[base, col]
            summary[f"{col}_vs_{base}"] = np.nan if np.isinf(summary.loc[base, col]) else ratio
            bounds = [_ratio_interval(per_run, m, base, col) for m in summary.index]
            summary[f"{col}_vs_{base}_p05"] = [low for low, _ in bounds]
            summary[f"{col}_vs_{base}_p95"] = [high for _, high in bounds]
    return summary.reset_index()


def _ratio_interval(per_run: pd.DataFrame, method: str, base: str, col: str) -> tuple[float, float]:
    """Return the 5-95 % bootstrap interval of ``median(method) / median(base)`` over pairs."""
    wide = per_run[per_run["method"].isin([method, base])].pivot_table(
        index=["recipe", "seed"], columns="method", values=col, aggfunc="first"
    )
    if method == base or method not in wide or base not in wide:
        return (np.nan, np.nan)
    wide = wide.dropna(subset=[method, base])
    if wide.empty:
        return (np.nan, np.nan)
    values = wide[[method, base]].to_numpy(dtype=float)
    rng = np.random.default_rng(0)
    picks = rng.integers(len(values), size=(BOOTSTRAP_DRAWS, len(values)))
    top, bottom = np.median(values[picks, 0], axis=1), np.median(values[picks, 1], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(np.isinf(bottom), np.nan, top / bottom)
    ratios = ratios[~np.isnan(ratios)]  # inf stays: the method did not get there in that draw
    if not len(ratios):
        return (np.nan, np.nan)
    # NOTE: the nearest draws, not an interpolation, which inf would turn into NaN.
    low = float(np.percentile(ratios, 5, method="lower"))
    return (low, float(np.percentile(ratios, 95, method="higher")))


def paired_wins(records: Sequence[dict], method: str, baseline: str, n: int) -> tuple[int, int]:
    """Count (recipe, seed) pairs where ``method`` has lower regret at ``n`` than ``baseline``.

    Returns:
        ``(wins, pairs)``.
    """
    by_key: dict[tuple, dict[str, float]] = {}
    for r in records:
        by_key.setdefault((r["recipe"], r["seed"]), {})[r["method"]] = regret_at(
            np.asarray(r["regret"]), n
        )
    pairs = [v for v in by_key.values() if method in v and baseline in v]
    wins = sum(1 for v in pairs if v[method] < v[baseline])
    return wins, len(pairs)
