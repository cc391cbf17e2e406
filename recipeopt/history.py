"""Historical recipes as meta-training tasks.

A campaign's ``history:`` lists CSV files with a ``recipe`` column, the
parameter columns and the metric columns (one row per logged run; extra
columns are ignored). Each recipe becomes one task ``(X, Y)``: inputs on the
campaign's unit cube, metrics normalized exactly as the objective normalizes
them (0 worst, 1 best of the spec's range).

The rules for runs that do not fit the campaign, applied in this order and
reported as counts (``recipeopt pretrain`` prints them):

* a run with a missing parameter or metric value is dropped (``missing``);
* a run with a parameter outside the campaign's bounds, or a label that is
  not one of a categorical parameter's choices, is dropped (``out_of_bounds``);
  values off the step grid are kept as logged;
* a recipe left with fewer than :data:`MIN_RUNS` runs is dropped whole
  (``small_recipes``, and its runs count as ``in_small_recipes``).

A missing *column* is not a rule but an error: the file does not belong to
this campaign.

Example:
    >>> paths = history_paths(spec, Path("campaigns"))  # doctest: +SKIP
    >>> table = read_history(paths, spec.parameter_names, spec.metric_names)  # doctest: +SKIP
    >>> tasks = build_tasks(table, space, objective)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from recipeopt.exceptions import RecipeoptError
from recipeopt.objective import Objective
from recipeopt.space import Space
from recipeopt.spec import CampaignSpec, resolve_glob

if TYPE_CHECKING:
    from torch import Tensor

#: A recipe needs this many usable runs to split into support and query sets.
MIN_RUNS = 10


def history_paths(spec: CampaignSpec, base: Path) -> list[Path]:
    """Return the history files of ``spec``, resolved against ``base`` (the YAML's folder)."""
    return [p for pattern in spec.history for p in resolve_glob(base, pattern)]


def history_hash(paths: list[Path]) -> str:
    """Return a SHA-256 over the files' names and contents, in order (hex, 16 characters)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def read_history(paths: list[Path], parameters: list[str], metrics: list[str]) -> pd.DataFrame:
    """Read history CSVs into one table with ``recipe``, parameter and metric columns.

    Raises:
        RecipeoptError: If a file cannot be read or lacks a column (the message
            names the file and column).
    """
    frames = []
    needed = ["recipe", *parameters, *metrics]
    for path in paths:
        try:
            frame = pd.read_csv(path)
        except (OSError, ValueError, pd.errors.ParserError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise RecipeoptError(f"{path}: cannot read history file ({first})") from None
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise RecipeoptError(
                f"{path}: history file lacks column {missing[0]!r}; add it or drop the file"
            )
        frames.append(frame[needed])
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=needed)


@dataclass
class MetaTasks:
    """Historical recipes on the campaign's cube, one task each.

    Attributes:
        X: Per task, ``n_i x d`` inputs on the unit cube (float32).
        Y: Per task, ``n_i x m`` normalized metrics (float32).
        recipes: Recipe names, in task order.
        dropped: Counts per rule (see the module docstring).
    """

    X: list[Tensor]
    Y: list[Tensor]
    recipes: list[str]
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def runs(self) -> int:
        """Total usable runs."""
        return sum(len(x) for x in self.X)

    def __len__(self) -> int:
        return len(self.X)

    def subset(self, indices: list[int]) -> MetaTasks:
        """Return the tasks at ``indices`` (drop counts are kept)."""
        return MetaTasks(
            [self.X[i] for i in indices],
            [self.Y[i] for i in indices],
            [self.recipes[i] for i in indices],
            dict(self.dropped),
        )


def build_tasks(
    table: pd.DataFrame, space: Space, objective: Objective, *, min_runs: int = MIN_RUNS
) -> MetaTasks:
    """Turn a history table into tasks, dropping runs that do not fit (see the module rules).

    Args:
        table: ``recipe``, parameter and metric columns (as from :func:`read_history`).
        space: The campaign's space (bounds, scales, choices).
        objective: The campaign's objective (metric normalization).
        min_runs: Smallest recipe kept.
    """
    import torch

    values = space.values(table)  # labels that are not choices become NaN here
    metrics = table[objective.names].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    raw_missing = table[[*space.names, *objective.names]].isna().any(axis=1).to_numpy()
    bad_label = np.isnan(values).any(axis=1) & ~raw_missing
    missing = raw_missing | np.isnan(metrics).any(axis=1)
    numeric = np.where(np.isnan(values), space.lower, values)
    outside = ~space.in_bounds(numeric).all(axis=1) | bad_label
    keep = ~missing & ~outside
    dropped = {"missing": int(missing.sum()), "out_of_bounds": int((outside & ~missing).sum())}
    X_all = space.to_cube(numeric)
    Y_all = objective.normalize(metrics)
    names = table["recipe"].astype(str).to_numpy()
    X, Y, recipes = [], [], []
    small = small_runs = 0
    for name in pd.unique(names[keep]):
        rows = keep & (names == name)
        if rows.sum() < min_runs:
            small, small_runs = small + 1, small_runs + int(rows.sum())
            continue
        X.append(torch.as_tensor(X_all[rows], dtype=torch.float32))
        Y.append(torch.as_tensor(Y_all[rows], dtype=torch.float32))
        recipes.append(str(name))
    dropped.update(small_recipes=small, in_small_recipes=small_runs)
    return MetaTasks(X, Y, recipes, dropped)
