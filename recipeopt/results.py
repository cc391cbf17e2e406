"""Validate a results file for ``recipeopt record``, all or nothing.

A results file is a CSV with a ``run_id`` column, the metric columns, and
optionally ``status`` (``complete``, ``failed``, ``abandoned``) and ``note``.
A row without a run id but with every parameter column is an off-plan run.
Parameter columns on a planned run record what was actually run. The columns
that ``suggest`` and ``export`` write (predictions, batch, timestamps) may stay
in the file and are ignored, so an engineer can fill in the suggestion CSV
and record it as it is.

Rules:
    * A row whose status and metrics are all blank is still pending: skipped.
    * A complete row needs every metric; a failed or abandoned one may leave
      them blank.
    * A metric must lie within its physical limits (``limits:`` in the spec, or
      implied by its unit: ``%`` is 0..100, counts and densities at least 0).
    * Setpoints must lie within the bounds and choices. An off-plan run, or a
      planned run whose as-run setpoints differ from the plan, must also keep
      the plan's rules (whole numbers, steps, pinned values, linear
      constraints); with ``allow_off_spec`` such a run is stored flagged
      instead, and kept out of the model.
    * Any bad cell rejects the whole file with one message naming the file,
      the line, the run and the column.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from recipeopt.exceptions import ResultsFileError
from recipeopt.space import Space
from recipeopt.store import NewRun, RunUpdate, export_columns

RECORD_STATUSES = ("complete", "failed", "abandoned")


@dataclass
class ParsedResults:
    """What a results file asks ``record`` to store."""

    updates: list[RunUpdate] = field(default_factory=list)
    new_runs: list[NewRun] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def read_results(path: str) -> pd.DataFrame:
    """Read a results CSV as text cells (parsing is done per cell, to report bad ones).

    Raises:
        ResultsFileError: If the file is missing, empty or not CSV.
    """
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except FileNotFoundError:
        raise ResultsFileError(f"{path}: no such results file; check the path") from None
    except pd.errors.EmptyDataError:
        raise ResultsFileError(
            f"{path}: the file is empty; add a header and one row per run"
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as err:
        first = str(err).strip().splitlines()[0]
        raise ResultsFileError(f"{path}: not a readable CSV file ({first})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def parse_results(
    frame: pd.DataFrame,
    *,
    source: str,
    space: Space,
    metrics: Sequence[str],
    runs: pd.DataFrame,
    replace: bool = False,
    columns: Sequence[str] | None = None,
    limits: Mapping[str, tuple[float, float]] | None = None,
    allow_off_spec: bool = False,
) -> ParsedResults:
    """Check every row of a results table and turn it into store updates.

    Args:
        frame: The table, every cell as text.
        source: File name used in messages.
        space: The campaign's parameter space (bounds of off-plan runs).
        metrics: Metric names.
        runs: The campaign's runs (as from ``Store.frame``).
        replace: Allow overwriting results of runs that are already recorded.
        columns: Every column the file may have (default: the export columns).
        limits: Physical ``(low, high)`` of each metric (default: none).
        allow_off_spec: Store runs that break the plan's rules flagged, instead
            of rejecting the file.

    Returns:
        The updates, off-plan runs and skipped (still pending) run ids.

    Raises:
        ResultsFileError: At the first bad column or cell.
    """
    params = space.names
    allowed = set(columns or export_columns(params, metrics))
    for column in frame.columns:
        if column not in allowed:
            close = difflib.get_close_matches(column, sorted(allowed), n=1)
            hint = f"did you mean {close[0]!r}?" if close else "remove it"
            raise ResultsFileError(f"{source}: unknown column {column!r}; {hint}")
    if frame.empty:
        raise ResultsFileError(f"{source}: no rows; add one row per run")
    has_id = "run_id" in frame.columns
    if not has_id and not set(params) <= set(frame.columns):
        raise ResultsFileError(
            f"{source}: needs a run_id column, or every parameter column for off-plan runs"
        )
    known = {r.run_id: r.status for r in runs.itertuples()} if len(runs) else {}
    planned = runs.set_index("run_id")[params].to_dict("index") if len(runs) else {}
    limits = limits or {}
    parsed = ParsedResults()
    seen: set[str] = set()
    for i, row in enumerate(frame.to_dict("records")):
        line = i + 2  # the header is line 1
        run_id = str(row.get("run_id", "")).strip()
        where = f"{source}, line {line}" + (f" (run {run_id})" if run_id else "")
        status = str(row.get("status", "")).strip().lower()
        values = {m: _number(row.get(m, ""), where, m) for m in metrics}
        given = {m: v for m, v in values.items() if v is not None}
        for m, v in given.items():
            low, high = limits.get(m, (-math.inf, math.inf))
            if not low <= v <= high:
                raise ResultsFileError(
                    f"{where}, column {m}: {v:g} is outside the physical limits "
                    f"[{low:g}, {high:g}] of {m}; fix the value, or set "
                    f"objective.metrics.{m}.limits in the campaign if it can be right"
                )
        note = str(row["note"]) if "note" in row and str(row["note"]).strip() else None
        if not status:
            if not given:
                if run_id and run_id in known:
                    parsed.skipped.append(run_id)
                    continue
                raise ResultsFileError(
                    f"{where}: no metrics and no status; fill in the results or remove the row"
                )
            status = "complete"
        if status == "pending" and not given and run_id in known:
            parsed.skipped.append(run_id)
            continue
        if status not in RECORD_STATUSES:
            raise ResultsFileError(
                f"{where}, column status: {status!r} is not one of {', '.join(RECORD_STATUSES)}"
            )
        if status == "complete":
            missing = [m for m in metrics if values[m] is None]
            if missing:
                raise ResultsFileError(
                    f"{where}, column {missing[0]}: missing value on a complete run; "
                    "fill it in or set status=failed"
                )
        setpoints = _setpoints(row, space, where)
        base = planned.get(run_id) if run_id else None
        broken = _broken_plan(setpoints, base, space) if setpoints else ""
        if broken and not allow_off_spec:
            raise ResultsFileError(
                f"{where}: {broken}; correct the row, or record it with --allow-off-spec "
                "to store it flagged (kept out of the model)"
            )
        off_spec = broken or None
        if run_id:
            if run_id in seen:
                raise ResultsFileError(
                    f"{where}, column run_id: {run_id} appears twice in the file"
                )
            seen.add(run_id)
            if run_id not in known:
                raise ResultsFileError(
                    f"{where}, column run_id: unknown run {run_id!r}; "
                    "check it against `recipeopt export`"
                )
            if known[run_id] != "pending" and not replace:
                raise ResultsFileError(
                    f"{where}, column run_id: {run_id} is already recorded ({known[run_id]}); "
                    "use --replace to overwrite it"
                )
            parsed.updates.append(
                RunUpdate(run_id, status, given or None, setpoints or None, note, off_spec)
            )
        else:
            missing = [p for p in params if p not in setpoints]
            if missing:
                raise ResultsFileError(
                    f"{where}, column {missing[0]}: "
                    "an off-plan run (no run_id) needs every parameter"
                )
            parsed.new_runs.append(
                NewRun(
                    params=setpoints,
                    method="manual",
                    status=status,
                    metrics=given or None,
                    note=note or "",
                    off_spec=off_spec,
                )
            )
    if not parsed.updates and not parsed.new_runs:
        raise ResultsFileError(
            f"{source}: no results: every row is still empty; fill in the metric columns "
            "(or status=failed) of the runs that were done"
        )
    return parsed


def _broken_plan(
    setpoints: dict[str, float | str], planned: dict[str, object] | None, space: Space
) -> str:
    """Return the plan rule a row's recipe breaks, or "".

    A planned run is checked only when its as-run setpoints differ from the plan
    (the plan itself was made to keep the rules).
    """
    recipe = {**(planned or {}), **setpoints}
    if planned is not None and all(
        _same_setpoint(value, planned.get(name)) for name, value in setpoints.items()
    ):
        return ""
    return space.off_plan(space.values(pd.DataFrame([recipe])))[0]


def _same_setpoint(a: object, b: object) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    try:
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _number(cell: object, where: str, column: str) -> float | None:
    """Parse one numeric cell; blank is None, anything non-finite is an error."""
    text = str(cell).strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ResultsFileError(f"{where}, column {column}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ResultsFileError(
            f"{where}, column {column}: {text!r} is not a finite number; leave it blank or fix it"
        )
    return value


def _setpoints(row: dict, space: Space, where: str) -> dict[str, float | str]:
    """Parse the parameter cells of a row: numbers within bounds, labels among the choices."""
    setpoints: dict[str, float | str] = {}
    for name in space.names:
        if name not in row or not str(row[name]).strip():
            continue
        j = space.index[name]
        if j in space.categorical:
            label = str(row[name]).strip()
            if label not in space.categorical[j]:
                raise ResultsFileError(
                    f"{where}, column {name}: {label!r} is not one of "
                    f"{', '.join(space.categorical[j])}"
                )
            setpoints[name] = label
            continue
        value = _number(row[name], where, name)
        low, high = space.lower[j], space.upper[j]
        tol = 1e-9 * max(1.0, high - low)
        if value is not None and not low - tol <= value <= high + tol:
            raise ResultsFileError(
                f"{where}, column {name}: {value:g} is outside the bounds [{low:g}, {high:g}]"
            )
        if value is not None:
            setpoints[name] = value
    return setpoints
