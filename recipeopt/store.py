"""The run store: one ``runs`` table in any SQLAlchemy database.

By default the store is an SQLite file beside the campaign YAML; any SQLAlchemy
URL (PostgreSQL for a team) works too, and one database can hold many
campaigns. Every run keeps its parameters and status, the batch it came from,
the method, model and seed that proposed it, the prediction made at suggestion
time, its metrics or the reason it failed, timestamps and a note.

Every method that writes does so in one transaction: it either stores all of
its rows or, on any error, none. Writers of one campaign take turns: each
write transaction first bumps the campaign's row in the ``campaigns`` table
(a row lock on PostgreSQL; SQLite transactions that write begin with
``BEGIN IMMEDIATE``), so run ids, which are allocated inside that transaction,
never collide, and the campaign's *revision* tells a planner whether the runs
it planned from changed before it wrote (:meth:`Store.add_batch`'s
``expect_revision``). A write that meets a locked database is retried.

Example:
    >>> store = Store("sqlite:///etch42.db")  # doctest: +SKIP
    >>> ids = store.add_batch("etch42", [NewRun(params={...}, method="sobol")])  # doctest: +SKIP
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
from sqlalchemy import (
    JSON,
    DateTime,
    Engine,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    inspect,
    select,
    update,
)
from sqlalchemy.exc import (
    ArgumentError,
    IntegrityError,
    OperationalError,
    ProgrammingError,
    SQLAlchemyError,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from recipeopt.exceptions import ConcurrentChangeError, StorageError

STATUSES = ("pending", "complete", "failed", "abandoned")
#: Tries of a write transaction that meets a locked database or a racing writer.
WRITE_ATTEMPTS = 6
#: Seconds an SQLite connection waits for another writer's lock before it gives up.
SQLITE_BUSY_TIMEOUT = 60.0
T = TypeVar("T")


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
    #: How the run was proposed (:class:`recipeopt.strategy.Provenance` as JSON); ``model``
    #: holds the same in a sentence for tables. None for off-plan runs and older stores.
    provenance: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    #: Why the run breaks the campaign's plan (integer, step, fixed value or linear
    #: constraint), when it was recorded with ``--allow-off-spec``; None otherwise.
    off_spec: Mapped[str | None] = mapped_column(Text, nullable=True)


class CampaignRow(_Base):
    """One campaign's write counter: every write of its runs bumps ``revision``."""

    __tablename__ = "campaigns"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)


@dataclass
class NewRun:
    """A run to insert: a suggestion (pending) or an off-plan run (complete/failed)."""

    params: dict[str, float | str]
    method: str
    status: str = "pending"
    metrics: dict[str, float] | None = None
    predicted: dict[str, list[float | None]] | None = None
    model: str | None = None
    seed: int | None = None
    note: str = ""
    off_spec: str | None = None
    provenance: dict[str, Any] | None = None


@dataclass
class RunUpdate:
    """Results for an existing run."""

    run_id: str
    status: str
    metrics: dict[str, float] | None
    params: dict[str, float | str] | None = None
    note: str | None = None
    off_spec: str | None = None


@dataclass
class RecordSummary:
    """What a ``record`` call stored."""

    updated: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)


def _now() -> datetime:
    """The current time in UTC, naive (as every backend stores it); see :func:`iso_utc`."""
    return datetime.now(UTC).replace(tzinfo=None)


def iso_utc(moment: datetime | None) -> str | None:
    """Return a stored (naive UTC) time as ISO 8601 with its offset, ``...T02:15:56+00:00``."""
    if moment is None:
        return None
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return aware.isoformat(timespec="seconds")


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
            sqlite = url.startswith("sqlite")
            if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
                Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(
                url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT} if sqlite else {}
            )
            if self.engine.dialect.name == "sqlite":
                _sqlite_transactions(self.engine)
            #: The engine of write transactions (``BEGIN IMMEDIATE`` on SQLite).
            self._writer = self.engine.execution_options(immediate=True)
            self._retry("open the store", lambda: _create_schema(self._writer))
        except ArgumentError:
            raise StorageError(f"storage: {url!r} is not a valid SQLAlchemy URL") from None
        except (SQLAlchemyError, OSError) as err:
            raise StorageError(f"storage: cannot open {url!r}: {_reason(err)}") from None
        except ModuleNotFoundError as err:
            raise StorageError(f"storage: cannot open {url!r}: {_missing_driver(err)}") from None

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def _retry(self, action: str, attempt: Callable[[], T]) -> T:
        """Run ``attempt`` (one whole transaction), again while the database is busy.

        A locked SQLite file (after its busy timeout), a PostgreSQL serialization
        failure or deadlock, and a unique-key race are retried with backoff.

        Raises:
            StorageError: Naming ``action`` when it still fails, or fails otherwise.
        """
        for tries in range(1, WRITE_ATTEMPTS + 1):
            try:
                return attempt()
            except (OperationalError, IntegrityError, ProgrammingError) as err:
                if tries == WRITE_ATTEMPTS:
                    raise StorageError(
                        f"storage: cannot {action} in {self.url!r} after {tries} tries: "
                        f"{_reason(err)}"
                    ) from None
                time.sleep(0.05 * 2**tries)
            except SQLAlchemyError as err:
                raise StorageError(
                    f"storage: cannot {action} in {self.url!r}: {_reason(err)}"
                ) from None
        raise AssertionError("unreachable")

    def _write(
        self,
        campaign: str,
        action: str,
        work: Callable[[Session], T],
        *,
        expect_revision: int | None = None,
    ) -> T:
        """Run ``work`` in one write transaction that holds the campaign's turn.

        Args:
            campaign: Whose runs are written.
            action: What is done, for error messages ("write runs").
            work: Writes through the session it is given; what it returns is returned.
            expect_revision: Fail with :class:`ConcurrentChangeError` (writing
                nothing) if the campaign's revision is no longer this one.
        """

        def attempt() -> T:
            with Session(self._writer, expire_on_commit=False) as session, session.begin():
                revision = _claim(session, campaign)
                if expect_revision is not None and revision != expect_revision:
                    raise ConcurrentChangeError(
                        f"storage: the runs of {campaign!r} changed while this batch was planned "
                        f"(revision {revision}, planned from {expect_revision})"
                    )
                return work(session)

        return self._retry(action, attempt)

    def revision(self, campaign: str) -> int:
        """Return how many writes the campaign's runs have had (0 for a new campaign).

        Read it *before* reading the runs to plan from, and pass it to
        :meth:`add_batch` as ``expect_revision``.
        """
        try:
            with self._session() as session:
                value = session.scalar(
                    select(CampaignRow.revision).where(CampaignRow.name == campaign)
                )
        except SQLAlchemyError as err:
            raise StorageError(
                f"storage: cannot read runs from {self.url!r}: {_reason(err)}"
            ) from None
        return int(value or 0)

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
        self,
        campaign: str,
        runs: Sequence[NewRun],
        *,
        batch_id: str | None = None,
        expect_revision: int | None = None,
        before_commit: Callable[[list[RunRow]], None] | None = None,
    ) -> list[str]:
        """Insert ``runs`` as one new batch, in one transaction.

        Side effects:
            Writes the runs; allocates run ids ``R001, R002, ...`` and a batch id
            ``B01, B02, ...`` per campaign, inside the transaction.

        Args:
            campaign: The campaign's name.
            runs: The runs, in order.
            batch_id: The batch id (default: the next ``Bnn``).
            expect_revision: The campaign's :meth:`revision` when the runs were
                planned; if another command wrote since, nothing is written.
            before_commit: Called with the new rows before the commit (to write
                the file the engineer gets); if it raises, nothing is stored.

        Returns:
            The new run ids, in order.

        Raises:
            ConcurrentChangeError: If ``expect_revision`` is stale.
            StorageError: If the database cannot be written.
        """

        def work(session: Session) -> list[str]:
            rows = self._insert(session, campaign, runs, batch_id)
            session.flush()
            if before_commit is not None:
                before_commit(rows)
            return [r.run_id for r in rows]

        return self._write(campaign, "write runs", work, expect_revision=expect_revision)

    def _insert(
        self, session: Session, campaign: str, runs: Sequence[NewRun], batch_id: str | None
    ) -> list[RunRow]:
        existing = session.execute(
            select(RunRow.run_id, RunRow.batch_id).where(RunRow.campaign == campaign)
        ).all()
        first = _next_number((r.run_id for r in existing), "R")
        if batch_id is None:
            batch_id = f"B{_next_number((r.batch_id for r in existing), 'B'):02d}"
        now = _now()
        rows = []
        for i, run in enumerate(runs):
            if run.status not in STATUSES:
                raise ValueError(f"unknown status {run.status!r}")
            row = RunRow(
                campaign=campaign,
                run_id=f"R{first + i:03d}",
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
                off_spec=run.off_spec,
                provenance=run.provenance,
            )
            session.add(row)
            rows.append(row)
        return rows

    def record(
        self,
        campaign: str,
        updates: Sequence[RunUpdate],
        new_runs: Sequence[NewRun],
        *,
        replace: bool = False,
    ) -> RecordSummary:
        """Store results of existing runs and off-plan runs, all in one transaction.

        Side effects:
            Updates status, metrics, recorded time, note and off-spec flag of
            each updated run; inserts off-plan runs as one batch ``manual-<n>``.

        Args:
            campaign: The campaign's name.
            updates: Results of existing runs.
            new_runs: Off-plan runs.
            replace: Allow overwriting runs that already have results.

        Raises:
            ConcurrentChangeError: If an updated run is gone, or was recorded by
                another command after the file was checked (and ``replace`` is off).
        """

        def work(session: Session) -> RecordSummary:
            summary = RecordSummary()
            by_id = {
                r.run_id: r
                for r in session.scalars(select(RunRow).where(RunRow.campaign == campaign))
            }
            now = _now()
            for u in updates:
                row = by_id.get(u.run_id)
                if row is None:
                    raise ConcurrentChangeError(
                        f"storage: run {u.run_id} of {campaign!r} does not exist; "
                        "nothing was stored"
                    )
                if row.status != "pending" and not replace:
                    raise ConcurrentChangeError(
                        f"storage: run {u.run_id} was recorded ({row.status}) by another command "
                        "meanwhile; nothing was stored; check `recipeopt export` and record "
                        "again (with --replace to overwrite it)"
                    )
                row.status = u.status
                row.metrics = u.metrics
                row.off_spec = u.off_spec
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
                added = self._insert(session, campaign, new_runs, f"manual-{n}")
                summary.added = [r.run_id for r in added]
            return summary

        return self._write(campaign, "record runs", work)

    def frame(
        self,
        campaign: str,
        parameters: Sequence[str],
        metrics: Sequence[str],
        predictions: Sequence[str] = ("objective",),
    ) -> pd.DataFrame:
        """Return every run of ``campaign`` as a flat table, oldest first (:func:`runs_frame`)."""
        return runs_frame(self.rows(campaign), parameters, metrics, predictions)


def export_columns(
    parameters: Sequence[str],
    metrics: Sequence[str],
    predictions: Sequence[str] = ("objective",),
    extra_parameters: Sequence[str] = (),
) -> list[str]:
    """Return the column order of exported runs.

    ``predictions`` names what else was predicted at suggestion time besides
    the metrics: the objective, and the probability of feasibility when the
    campaign has outcome constraints. ``model`` says in words how each run was
    proposed, ``provenance`` the same as JSON (step, model, checkpoint,
    adaptation, guard, acquisition). ``extra_parameters`` are parameters that
    stored runs have and the campaign no longer has. ``excluded`` says why a
    run is kept out of the model and the best run (empty when it is used).
    """
    predicted = [c for m in [*metrics, *predictions] for c in (f"pred_{m}", f"pred_{m}_std")]
    return [
        "run_id",
        "batch_id",
        "status",
        *parameters,
        *extra_parameters,
        *metrics,
        *predicted,
        "method",
        "model",
        "provenance",
        "seed",
        "created_at",
        "recorded_at",
        "note",
        "excluded",
    ]


def runs_frame(
    rows: Sequence[RunRow],
    parameters: Sequence[str],
    metrics: Sequence[str],
    predictions: Sequence[str] = ("objective",),
    *,
    defaults: dict[str, float | str] | None = None,
    extra_parameters: Sequence[str] = (),
) -> pd.DataFrame:
    """Flatten stored runs into a table with :func:`export_columns`.

    Times are ISO 8601 in UTC with their offset. ``excluded`` holds the
    off-spec reason stored with the run (the campaign adds its own reasons).
    """
    defaults = defaults or {}
    records = []
    for r in rows:
        rec: dict[str, Any] = {"run_id": r.run_id, "batch_id": r.batch_id, "status": r.status}
        stored = r.params or {}
        rec.update({p: stored.get(p, defaults.get(p)) for p in [*parameters, *extra_parameters]})
        rec.update({m: (r.metrics or {}).get(m) for m in metrics})
        for name, (mean, std) in (r.predicted or {}).items():
            rec[f"pred_{name}"], rec[f"pred_{name}_std"] = mean, std
        rec.update(
            method=r.method,
            model=r.model,
            provenance=json.dumps(r.provenance, sort_keys=True) if r.provenance else "",
            seed=r.seed,
            created_at=iso_utc(r.created_at),
            recorded_at=iso_utc(r.recorded_at),
            note=r.note or "",
            excluded=f"off-spec: {r.off_spec}" if r.off_spec else "",
        )
        records.append(rec)
    columns = export_columns(parameters, metrics, predictions, extra_parameters)
    frame = pd.DataFrame.from_records(records, columns=columns)
    numeric = [*metrics, *[c for c in columns if c.startswith("pred_")]]
    frame[numeric] = frame[numeric].astype(float)  # parameters are cast by the campaign's space
    frame["excluded"] = frame["excluded"].astype(object)
    return frame


def _sqlite_transactions(engine: Engine) -> None:
    """Make SQLite transactions real: ``BEGIN`` for reads, ``BEGIN IMMEDIATE`` for writes.

    NOTE: Python's sqlite3 driver begins a transaction only before a data
    change, so a read-then-insert ran its read outside the transaction and two
    writers could allocate the same run id. This is SQLAlchemy's documented
    pysqlite recipe, with the write lock taken at ``BEGIN`` for the writer engine.
    """

    @event.listens_for(engine, "connect")
    def _autocommit_driver(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get("immediate")
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _create_schema(engine: Engine) -> None:
    """Create missing tables, and add columns that newer versions of the runs table have.

    Older stores lack the nullable columns added since (``off_spec``, ``provenance``); they are
    added in place (``ALTER TABLE ... ADD COLUMN``), so no stored run changes.
    """
    with engine.begin() as connection:
        _Base.metadata.create_all(connection)
        present = {c["name"] for c in inspect(connection).get_columns(RunRow.__tablename__)}
        for column in RunRow.__table__.columns:
            if column.name not in present and column.nullable:
                kind = column.type.compile(dialect=connection.dialect)
                connection.exec_driver_sql(
                    f"ALTER TABLE {RunRow.__tablename__} ADD COLUMN {column.name} {kind}"
                )


def _claim(session: Session, campaign: str) -> int:
    """Take the campaign's turn to write (until commit) and return its revision before it.

    The campaign's row is created if missing, then bumped: PostgreSQL holds the
    row lock until the transaction ends, so writers of one campaign queue here;
    SQLite's ``BEGIN IMMEDIATE`` already holds the database's write lock.
    """
    dialect = session.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        from sqlalchemy.dialects import postgresql, sqlite

        insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
        session.execute(
            insert(CampaignRow).values(name=campaign, revision=0).on_conflict_do_nothing()
        )
    elif session.get(CampaignRow, campaign) is None:
        session.add(CampaignRow(name=campaign, revision=0))
        session.flush()
    session.execute(
        update(CampaignRow)
        .where(CampaignRow.name == campaign)
        .values(revision=CampaignRow.revision + 1)
    )
    revision = session.scalar(select(CampaignRow.revision).where(CampaignRow.name == campaign))
    return int(revision or 1) - 1


def _missing_driver(err: ModuleNotFoundError) -> str:
    """Say which install provides a missing database driver."""
    if err.name in ("psycopg", "psycopg2"):
        return "the PostgreSQL driver is not installed; pip install 'recipeopt[postgres]'"
    return f"the database driver {err.name!r} is not installed; install it with pip"


def _reason(err: BaseException) -> str:
    text = str(getattr(err, "orig", None) or err).strip().splitlines()
    return text[0] if text else type(err).__name__


def storage_url(url: str | None, name: str, spec_path: Path | None) -> str:
    """Return a campaign's store URL from its ``storage:`` (``url``).

    Relative SQLite paths resolve beside the campaign file ``spec_path``; no
    ``storage:`` means ``NAME.db`` there.
    """
    base = spec_path.parent if spec_path is not None else Path.cwd()
    if url is None:
        return f"sqlite:///{(base / f'{name}.db').resolve()}"
    if "://" not in url:  # a plain file path means an SQLite file
        file = Path(url)
        return f"sqlite:///{(file if file.is_absolute() else base / file).resolve()}"
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////") and ":memory:" not in url:
        return f"sqlite:///{(base / url.removeprefix('sqlite:///')).resolve()}"
    return url
