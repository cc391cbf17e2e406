"""Engineers sharing one store: real processes, on SQLite and on PostgreSQL.

Writers that record at once lose nothing and fail nothing; two ``suggest``
calls that plan from the same runs at once get disjoint recipes and run ids.
"""

from __future__ import annotations

import multiprocessing as mp
import queue as queue_module
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from recipeopt.campaign import Campaign
from tests.conftest import BACKENDS, new_postgres_database
from tests.test_results import GOOD, RECIPE

WRITERS = 4
RECORDS = 10


def _record_worker(path: str, storage: str | None, worker: int, out: Any) -> None:
    """Record ``RECORDS`` off-plan runs, one call each, with distinct source powers."""
    failures = []
    c = Campaign.load(path, storage=storage)
    for i in range(RECORDS):
        power = 500.0 + 10.0 * (worker * RECORDS + i)
        try:
            c.record(pd.DataFrame([{**RECIPE, **GOOD, "source_power": power}]))
        except Exception as err:  # counted, and the test fails on any
            failures.append(f"{type(err).__name__}: {err}")
    c.close()
    out.put((worker, failures))


def _suggest_worker(path: str, storage: str | None, barrier: Any, out: Any) -> None:
    """Plan a batch, wait until the other process has planned too, then store it."""
    from recipeopt.store import Store

    original = Store.add_batch
    waited = []

    def add_batch_after_both_planned(self: Store, *args: Any, **kwargs: Any) -> list[str]:
        if not waited:
            waited.append(True)
            barrier.wait(timeout=120)
        return original(self, *args, **kwargs)

    Store.add_batch = add_batch_after_both_planned  # type: ignore[method-assign]
    c = Campaign.load(path, storage=storage)
    table = c.suggest(method="sobol")
    out.put((table.to_dict("records"), c.replans))
    c.close()


def _run(target: Any, args: list[tuple], *, timeout: float = 300) -> list[Any]:
    """Run ``target(*a, queue)`` in one spawned process per ``a``; return what each put."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*a, out)) for a in args]
    for p in procs:
        p.start()
    results = []
    try:
        for _ in procs:
            results.append(out.get(timeout=timeout))
    except queue_module.Empty:  # pragma: no cover - a hung or crashed worker
        pytest.fail(f"a worker gave no answer within {timeout} s")
    finally:
        for p in procs:
            p.join(timeout=30)
    assert all(p.exitcode == 0 for p in procs)
    return results


@pytest.fixture(params=BACKENDS)
def shared(request: pytest.FixtureRequest, etch42: Path) -> tuple[Path, str | None]:
    """The campaign and its storage URL (None: the SQLite file beside the YAML)."""
    if request.param == "sqlite":
        return etch42, None
    return etch42, new_postgres_database(request.getfixturevalue("postgres_server"))


def test_concurrent_writers_lose_nothing_and_fail_nothing(shared):
    path, storage = shared
    Campaign.load(path, storage=storage).close()  # the store exists before the race
    results = _run(_record_worker, [(str(path), storage, w) for w in range(WRITERS)])
    failures = [f for _, fs in results for f in fs]
    assert failures == []
    c = Campaign.load(path, storage=storage)
    runs = c.runs()
    c.close()
    assert len(runs) == WRITERS * RECORDS
    assert sorted(runs["run_id"]) == [f"R{i:03d}" for i in range(1, WRITERS * RECORDS + 1)]
    expected = [500.0 + 10.0 * k for k in range(WRITERS * RECORDS)]
    assert sorted(runs["source_power"]) == expected
    assert (runs["status"] == "complete").all()


def test_two_simultaneous_suggests_get_disjoint_recipes(shared):
    path, storage = shared
    c = Campaign.load(path, storage=storage)
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    results = _run(_suggest_worker, [(str(path), storage, barrier)] * 2)
    (a, replans_a), (b, replans_b) = results
    assert sorted([replans_a, replans_b]) == [0, 1]  # the second writer planned again
    ids_a, ids_b = {r["run_id"] for r in a}, {r["run_id"] for r in b}
    assert len(ids_a) == len(ids_b) == 4 and not ids_a & ids_b
    cube_a = c.space.to_cube(c.space.values(pd.DataFrame(a)))
    cube_b = c.space.to_cube(c.space.values(pd.DataFrame(b)))
    distance = np.abs(cube_a[:, None, :] - cube_b[None, :, :]).max(axis=-1)
    assert distance.min() > 1e-6  # no recipe of one batch is in the other
    runs = c.runs()
    c.close()
    assert len(runs) == 8 and runs["batch_id"].nunique() == 2
