"""Plots of benchmark and demo results (matplotlib, written to PNG)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def pyplot() -> Any:
    """Return matplotlib.pyplot with the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_regret(records: Sequence[dict], path: Path, *, title: str) -> None:
    """Plot median normalized regret against experiments, with interquartile bands, per method."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    methods = list(dict.fromkeys(r["method"] for r in records))
    for method in methods:
        traces = [np.asarray(r["regret"]) for r in records if r["method"] == method]
        length = min(len(t) for t in traces)
        stack = np.stack([t[:length] for t in traces])
        x = np.arange(1, length + 1)
        q25, q50, q75 = np.quantile(stack, [0.25, 0.5, 0.75], axis=0)
        (line,) = ax.plot(x, q50, label=f"{method} (n={len(traces)})")
        ax.fill_between(x, q25, q75, color=line.get_color(), alpha=0.15)
    ax.set_xlabel("experiments")
    ax.set_ylabel("normalized regret (median, IQR)")
    ax.set_yscale("log")
    ax.set_ylim(bottom=1e-2)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_convergence(
    best: Sequence[float] | np.ndarray,
    f_star: float,
    f_median: float,
    path: Path,
    *,
    batch: int,
    title: str,
) -> None:
    """Plot best-so-far objective per experiment against the simulated optimum."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    x = np.arange(1, len(best) + 1)
    ax.step(x, best, where="post", label="best so far")
    ax.axhline(f_star, color="k", linestyle="--", label="simulated optimum")
    ax.axhline(f_median, color="grey", linestyle=":", label="median recipe")
    for b in range(batch, len(best), batch):
        ax.axvline(b + 0.5, color="grey", alpha=0.15)
    ax.set_xlabel("experiments (wafers)")
    ax.set_ylabel("weighted objective (noiseless)")
    ax.set_title(title)
    ax.legend(loc="center right")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
