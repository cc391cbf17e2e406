"""The run store: one ``runs`` table in any SQLAlchemy database.

By default the store is an SQLite file beside the campaign YAML; any SQLAlchemy
URL (PostgreSQL for a team) works too, and one database can hold many
campaigns. Every run keeps its parameters and status, the batch it came from,
the method, model and seed that proposed it, the prediction made at suggestion
time, its metrics or the reason it failed, timestamps and a note.

Every method that writes does so in one transaction: it either stores all of
its rows or, on any error, none.

Example:
    >>> store = Store("sqlite:///etch42.db")  # doctest: +SKIP
    >>> ids = store.add_batch("etch42", [NewRun(params={...}, method="sobol")])  # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import (
    JSON,
    DateTime,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    select,
)
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from recipeopt.exceptions import StorageError

STATUSES = ("pending", "complete", "failed", "abandoned")


class _Base(DeclarativeBase):
    pass


class RunRow(_Base):
    """One experiment: a recipe that was suggested or run, and what came of it."""

    __tablename__ = "runs"
    __table_args__ = (UniqueConstraint("campaign", "run_id", name="uq_campaign_run_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    campaign: Mapped[str] = mapped_column(String(200), index=True)
    run_id: Mapped[str] = mapped_column(String(32))
    batch_id: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    planned: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    predicted: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    method: Mapped[str] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(256), nullable=True)
    seed: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    recorded_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")


@dataclass
class NewRun:
    """A run to insert: a suggestion (pending) or an off-plan run (complete/failed)."""

    params: dict[str, float | str]
    method: str
    status: str = "pending"
    metrics: dict[str, float] | None = None
    predicted: dict[str, list[float]] | None = None
    model: str | None = None
    seed: int | None = None
    note: str = ""


@dataclass
class RunUpdate:
    """Results for an existing run."""

    run_id: str
    status: str
    metrics: dict[str, float] | None
    params: dict[str, float | str] | None = None
    note: str | None = None


@dataclass
class RecordSummary:
    """What a ``record`` call stored."""

    updated: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _next_number(values: Iterable[str], prefix: str) -> int:
    pattern = re.compile(rf"^{prefix}(\d+)$")
    numbers = [int(m.group(1)) for v in values if (m := pattern.match(v))]
    return max(numbers, default=0) + 1


class Store:
    """Runs of one or more campaigns in an SQLAlchemy database.

    Args:
        url: An SQLAlchemy URL, e.g. ``sqlite:///path/etch42.db`` or
            ``postgresql+psycopg://user@host/db``.

    Raises:
        StorageError: If the URL is invalid or the database cannot be opened.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
                Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(url)
            _Base.metadata.create_all(self.engine)
        except ArgumentError:
            raise StorageError(f"storage: {url!r} is not a valid SQLAlchemy URL") from None
        except (SQLAlchemyError, OSError, ModuleNotFoundError) as err:
            raise StorageError(f"storage: cannot open {url!r}: {_reason(err)}") from None

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def _session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def rows(self, campaign: str) -> list[RunRow]:
        """Return every run of ``campaign``, oldest first."""
        try:
            with self._session() as session:
                stmt = select(RunRow).where(RunRow.campaign == campaign).order_by(RunRow.id)
                return list(session.scalars(stmt))
        except SQLAlchemyError as err:
            raise StorageError(
                f"storage: cannot read runs from {self.url!r}: {_reason(err)}"
            ) from None

    def add_batch(
        self, campaign: str, runs: Sequence[NewRun], *, batch_id: str | None = None
    ) -> list[str]:
        """Insert ``runs`` as one new batch, in one transaction.

        Side effects:
            Writes the runs; allocates run ids ``R001, R002, ...`` and a batch id
            ``B01, B02, ...`` per campaign.

        Returns:
            The new run ids, in order.
        """
        try:
            with self._session() as session, session.begin():
                return self._insert(session, campaign, runs, batch_id)
        except SQLAlchemyError as err:
            raise StorageError(
                f"storage: cannot write runs to {self.url!r}: {_reason(err)}"
            ) from None

    def _insert(
        self, session: Session, campaign: str, runs: Sequence[NewRun], batch_id: str | None
    ) -> list[str]:
        existing = session.execute(
            select(RunRow.run_id, RunRow.batch_id).where(RunRow.campaign == campaign)
        ).all()
        first = _next_number((r.run_id for r in existing), "R")
        if batch_id is None:
            batch_id = f"B{_next_number((r.batch_id for r in existing), 'B'):02d}"
        now = _now()
        ids = []
        for i, run in enumerate(runs):
            if run.status not in STATUSES:
                raise ValueError(f"unknown status {run.status!r}")
            run_id = f"R{first + i:03d}"
            session.add(
                RunRow(
                    campaign=campaign,
                    run_id=run_id,
                    batch_id=batch_id,
                    status=run.status,
                    params=dict(run.params),
                    planned=dict(run.params) if run.status == "pending" else None,
                    metrics=run.metrics,
                    predicted=run.predicted,
                    method=run.method,
                    model=run.model,
                    seed=run.seed,
                    created_at=now,
                    recorded_at=None if run.status == "pending" else now,
                    note=run.note,
                )
            )
            ids.append(run_id)
        return ids

    def record(
        self, campaign: str, updates: Sequence[RunUpdate], new_runs: Sequence[NewRun]
    ) -> RecordSummary:
        """Store results of existing runs and off-plan runs, all in one transaction.

        Side effects:
            Updates status, metrics, recorded time and note of each updated run;
            inserts off-plan runs as one batch ``manual-<n>``.
        """
        summary = RecordSummary()
        try:
            with self._session() as session, session.begin():
                by_id = {
                    r.run_id: r
                    for r in session.scalars(select(RunRow).where(RunRow.campaign == campaign))
                }
                now = _now()
                for u in updates:
                    row = by_id[u.run_id]
                    row.status = u.status
                    row.metrics = u.metrics
                    if u.params is not None:
                        row.params = {**row.params, **u.params}
                    if u.note is not None:
                        row.note = u.note
                    row.recorded_at = now
                    summary.updated.append(u.run_id)
                if new_runs:
                    n = _next_number(
                        (
                            r.batch_id.removeprefix("manual-")
                            for r in by_id.values()
                            if r.batch_id.startswith("manual-")
                        ),
                        "",
                    )
                    summary.added = self._insert(session, campaign, new_runs, f"manual-{n}")
        except SQLAlchemyError as err:
            raise StorageError(
                f"storage: cannot record runs in {self.url!r}: {_reason(err)}"
            ) from None
        return summary

    def frame(
        self,
        campaign: str,
        parameters: Sequence[str],
        metrics: Sequence[str],
        predictions: Sequence[str] = ("objective",),
    ) -> pd.DataFrame:
        """Return every run of ``campaign`` as a flat table, oldest first.

        Columns: ``run_id, batch_id, status``, the parameters, the metrics,
        ``pred_<metric>`` and ``pred_<metric>_std`` for each metric and the
        objective (and other ``predictions``), then ``method, model, seed,
        created_at, recorded_at, note``.
        """
        return runs_frame(self.rows(campaign), parameters, metrics, predictions)


def export_columns(
    parameters: Sequence[str], metrics: Sequence[str], predictions: Sequence[str] = ("objective",)
) -> list[str]:
    """Return the column order of exported runs.

    ``predictions`` names what else was predicted at suggestion time besides
    the metrics: the objective, and the probability of feasibility when the
    campaign has outcome constraints.
    """
    predicted = [c for m in [*metrics, *predictions] for c in (f"pred_{m}", f"pred_{m}_std")]
    return [
        "run_id",
        "batch_id",
        "status",
        *parameters,
        *metrics,
        *predicted,
        "method",
        "model",
        "seed",
        "created_at",
        "recorded_at",
        "note",
    ]


def runs_frame(
    rows: Sequence[RunRow],
    parameters: Sequence[str],
    metrics: Sequence[str],
    predictions: Sequence[str] = ("objective",),
) -> pd.DataFrame:
    """Flatten stored runs into a table with :func:`export_columns`."""
    records = []
    for r in rows:
        rec: dict[str, Any] = {"run_id": r.run_id, "batch_id": r.batch_id, "status": r.status}
        rec.update({p: (r.params or {}).get(p) for p in parameters})
        rec.update({m: (r.metrics or {}).get(m) for m in metrics})
        for name, (mean, std) in (r.predicted or {}).items():
            rec[f"pred_{name}"], rec[f"pred_{name}_std"] = mean, std
        rec.update(
            method=r.method,
            model=r.model,
            seed=r.seed,
            created_at=r.created_at.isoformat(timespec="seconds"),
            recorded_at=r.recorded_at.isoformat(timespec="seconds") if r.recorded_at else None,
            note=r.note or "",
        )
        records.append(rec)
    columns = export_columns(parameters, metrics, predictions)
    frame = pd.DataFrame.from_records(records, columns=columns)
    numeric = [*metrics, *[c for c in columns if c.startswith("pred_")]]
    frame[numeric] = frame[numeric].astype(float)  # parameters are cast by the campaign's space
    return frame


def _reason(err: BaseException) -> str:
    text = str(getattr(err, "orig", None) or err).strip().splitlines()
    return text[0] if text else type(err).__name__
