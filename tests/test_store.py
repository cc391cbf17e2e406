"""The run store: ids, provenance, flat tables, and all-or-nothing writes."""

from __future__ import annotations

import pytest

from recipeopt.exceptions import StorageError
from recipeopt.store import NewRun, RunUpdate, Store, export_columns


@pytest.fixture
def store(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'runs.db'}")
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
    with pytest.raises(KeyError):
        store.record(
            "c",
            [RunUpdate("R001", "complete", {"y": 1.0}), RunUpdate("R999", "complete", {"y": 1.0})],
            [],
        )
    assert store.frame("c", ["x"], ["y"]).to_csv() == before


def test_planned_params_are_kept_when_as_run_values_differ(store):
    store.add_batch("c", [NewRun({"x": 1.0}, "sobol")])
    store.record("c", [RunUpdate("R001", "complete", {"y": 1.0}, params={"x": 1.5})], [])
    (row,) = store.rows("c")
    assert row.params == {"x": 1.5} and row.planned == {"x": 1.0}


def test_bad_url_is_a_one_line_storage_error():
    with pytest.raises(StorageError, match="not a valid SQLAlchemy URL"):
        Store("not a url")
    with pytest.raises(StorageError, match="cannot open"):
        Store("sqlite:////proc/no/such/dir/x.db")
