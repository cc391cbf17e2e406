"""The storage contract: ids, provenance, flat tables, all-or-nothing writes, turns.

Every test takes ``store_url`` and runs once per backend (an SQLite file and a
real PostgreSQL server started by the tests, see ``conftest.py``), so both
backends keep the same contract.
"""

from __future__ import annotations

import re
import sqlite3
import threading

import pytest

from recipeopt.exceptions import ConcurrentChangeError, StorageError
from recipeopt.store import NewRun, RunUpdate, Store, export_columns


@pytest.fixture
def store(store_url):
    s = Store(store_url)
    yield s
    s.close()


def test_batches_get_sequential_ids_per_campaign(store):
    a = store.add_batch("c1", [NewRun({"x": 1.0}, "sobol"), NewRun({"x": 2.0}, "sobol")])
    b = store.add_batch("c1", [NewRun({"x": 3.0}, "ensemble", model="m", seed=3)])
    other = store.add_batch("c2", [NewRun({"x": 1.0}, "sobol")])
    assert a == ["R001", "R002"] and b == ["R003"] and other == ["R001"]
    frame = store.frame("c1", ["x"], ["y"])
    assert frame["batch_id"].tolist() == ["B01", "B01", "B02"]
    assert (
        frame.loc[2, "method"] == "ensemble"
        and frame.loc[2, "model"] == "m"
        and frame.loc[2, "seed"] == 3
    )
    assert list(frame.columns) == export_columns(["x"], ["y"])
    assert frame["status"].eq("pending").all()


def test_record_updates_and_adds_in_one_transaction(store):
    store.add_batch("c", [NewRun({"x": 1.0}, "sobol"), NewRun({"x": 2.0}, "sobol")])
    summary = store.record(
        "c",
        [
            RunUpdate("R001", "complete", {"y": 0.5}),
            RunUpdate("R002", "failed", None, note="arcing"),
        ],
        [NewRun({"x": 9.0}, "manual", status="complete", metrics={"y": 0.7})],
    )
    assert summary.updated == ["R001", "R002"] and summary.added == ["R003"]
    frame = store.frame("c", ["x"], ["y"])
    assert frame["status"].tolist() == ["complete", "failed", "complete"]
    assert frame.loc[1, "note"] == "arcing"
    assert frame.loc[2, "batch_id"] == "manual-1"
    assert frame["recorded_at"].notna().all()


def test_failed_write_changes_nothing(store):
    store.add_batch("c", [NewRun({"x": 1.0}, "sobol")])
    before = store.frame("c", ["x"], ["y"]).to_csv()
    with pytest.raises(ConcurrentChangeError, match=r"R999 .* does not exist"):
        store.record(
            "c",
            [RunUpdate("R001", "complete", {"y": 1.0}), RunUpdate("R999", "complete", {"y": 1.0})],
            [],
        )
    assert store.frame("c", ["x"], ["y"]).to_csv() == before


def test_a_run_recorded_meanwhile_is_not_overwritten_without_replace(store):
    store.add_batch("c", [NewRun({"x": 1.0}, "sobol")])
    store.record("c", [RunUpdate("R001", "complete", {"y": 1.0})], [])
    with pytest.raises(ConcurrentChangeError, match="R001 was recorded"):
        store.record("c", [RunUpdate("R001", "complete", {"y": 2.0})], [])
    assert store.frame("c", ["x"], ["y"])["y"].tolist() == [1.0]
    store.record("c", [RunUpdate("R001", "complete", {"y": 2.0})], [], replace=True)
    assert store.frame("c", ["x"], ["y"])["y"].tolist() == [2.0]


def test_planned_params_are_kept_when_as_run_values_differ(store):
    store.add_batch("c", [NewRun({"x": 1.0}, "sobol")])
    store.record("c", [RunUpdate("R001", "complete", {"y": 1.0}, params={"x": 1.5})], [])
    (row,) = store.rows("c")
    assert row.params == {"x": 1.5} and row.planned == {"x": 1.0}


def test_revision_counts_writes_and_a_stale_plan_writes_nothing(store):
    assert store.revision("c") == 0
    store.add_batch("c", [NewRun({"x": 1.0}, "sobol")])
    planned_from = store.revision("c")
    assert planned_from == 1
    store.record("c", [], [NewRun({"x": 2.0}, "manual", status="complete", metrics={"y": 1})])
    with pytest.raises(ConcurrentChangeError, match="changed while this batch was planned"):
        store.add_batch("c", [NewRun({"x": 3.0}, "sobol")], expect_revision=planned_from)
    assert [r.run_id for r in store.rows("c")] == ["R001", "R002"]
    assert store.add_batch("c", [NewRun({"x": 3.0}, "sobol")], expect_revision=2) == ["R003"]


def test_before_commit_sees_the_new_rows_and_can_cancel_the_write(store):
    seen = []
    store.add_batch("c", [NewRun({"x": 1.0}, "sobol")], before_commit=seen.extend)
    assert [r.run_id for r in seen] == ["R001"]

    def refuse(rows):
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        store.add_batch("c", [NewRun({"x": 2.0}, "sobol")], before_commit=refuse)
    assert [r.run_id for r in store.rows("c")] == ["R001"]
    assert store.revision("c") == 1


def test_timestamps_are_iso_8601_with_a_utc_offset(store):
    store.add_batch("c", [NewRun({"x": 1.0}, "sobol")])
    store.record("c", [RunUpdate("R001", "complete", {"y": 1.0})], [])
    frame = store.frame("c", ["x"], ["y"])
    pattern = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$"
    assert re.match(pattern, frame.loc[0, "created_at"])
    assert re.match(pattern, frame.loc[0, "recorded_at"])


def test_concurrent_writers_in_threads_get_distinct_ids(store_url):
    """Eight threads with their own connections: every run stored once, none lost."""
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        s = Store(store_url)
        try:
            for i in range(5):
                s.record("c", [], [NewRun({"x": float(10 * k + i)}, "manual", status="failed")])
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)
        finally:
            s.close()

    Store(store_url).close()  # the schema exists before the race starts
    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Store(store_url) as s:
        rows = s.rows("c")
    assert sorted(r.run_id for r in rows) == [f"R{i:03d}" for i in range(1, 41)]
    assert sorted(r.params["x"] for r in rows) == sorted(
        float(10 * k + i) for k in range(8) for i in range(5)
    )


def test_bad_url_is_a_one_line_storage_error():
    with pytest.raises(StorageError, match="not a valid SQLAlchemy URL"):
        Store("not a url")
    with pytest.raises(StorageError, match="cannot open"):
        Store("sqlite:////proc/no/such/dir/x.db")


def test_an_older_sqlite_store_gains_the_new_columns_and_keeps_its_runs(tmp_path):
    """A store made before ``off_spec`` and the ``campaigns`` table opens and keeps every run."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE runs (id INTEGER PRIMARY KEY, campaign VARCHAR(200), "
            "run_id VARCHAR(32), batch_id VARCHAR(32), status VARCHAR(16), params JSON, "
            "planned JSON, metrics JSON, predicted JSON, method VARCHAR(64), model VARCHAR(256), "
            "seed INTEGER, created_at DATETIME, recorded_at DATETIME, note TEXT, "
            "CONSTRAINT uq_campaign_run_id UNIQUE (campaign, run_id))"
        )
        db.execute(
            "INSERT INTO runs (campaign, run_id, batch_id, status, params, method, created_at, "
            "note) VALUES ('c', 'R001', 'B01', 'pending', '{\"x\": 1.0}', 'sobol', "
            "'2026-01-02 03:04:05', '')"
        )
    with Store(f"sqlite:///{path}") as store:
        (row,) = store.rows("c")
        assert row.params == {"x": 1.0} and row.off_spec is None
        assert store.add_batch("c", [NewRun({"x": 2.0}, "sobol")]) == ["R002"]
        assert store.frame("c", ["x"], [])["created_at"][0] == "2026-01-02T03:04:05+00:00"


def test_a_missing_postgres_driver_names_the_extra(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_psycopg(name, *args, **kwargs):
        if name.split(".")[0] == "psycopg":
            raise ModuleNotFoundError("No module named 'psycopg'", name="psycopg")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_psycopg)
    with pytest.raises(StorageError, match=r"pip install 'recipeopt\[postgres\]'"):
        Store("postgresql+psycopg://user@localhost:1/none")
