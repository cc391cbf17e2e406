"""The façade: designs, model batches, pending runs, reproducibility and record validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recipeopt.campaign import Campaign
from recipeopt.exceptions import NoMeasurementsError, ResultsFileError, SpecError
from recipeopt.strategy.config import StrategyConfig
from tests.conftest import ETCH42, fake_results, scratch_copy


def check_batch(c: Campaign, batch: pd.DataFrame) -> None:
    """Every suggested row respects bounds, steps, fixed values and constraints."""
    values = c.space.values(batch)
    assert c.space.in_bounds(values).all()
    np.testing.assert_array_equal(c.space.snap(values), values)  # on the step grid
    assert c.space.feasible(values).all()
    for p in c.spec.parameters:
        if p.fixed is not None:
            assert (batch[p.name] == p.fixed).all()


def complete_design(c: Campaign, rounds: int = 2) -> None:
    for r in range(rounds):
        c.record(fake_results(c.suggest(), seed=r))


def test_initial_design_is_sobol_and_continues(etch42):
    c = Campaign.load(etch42)
    first = c.suggest()
    second = c.suggest()  # still no results: the design continues, no repeats
    assert len(first) == len(second) == 4
    check_batch(c, first)
    check_batch(c, second)
    runs = c.runs()
    assert runs["method"].eq("sobol").all() and runs["status"].eq("pending").all()
    X = c.space.to_cube(c.space.values(runs))
    assert len(np.unique(X.round(9), axis=0)) == 8


def test_model_batch_respects_space_and_avoids_pending(etch42):
    c = Campaign.load(etch42)
    complete_design(c)
    a = c.suggest()
    b = c.suggest()  # a is still pending
    for batch in (a, b):
        check_batch(c, batch)
        assert batch["pred_objective"].notna().all() and (batch["pred_objective_std"] > 0).all()
    runs = c.runs()
    assert set(runs.loc[runs["batch_id"].isin(["B03", "B04"]), "method"]) == {"ensemble"}
    X = c.space.to_cube(c.space.values(runs))
    assert len(np.unique(X.round(9), axis=0)) == len(X)  # never a duplicate
    # b was placed away from the pending a: its nearest pending neighbour is not on top of it
    Xa, Xb = c.space.to_cube(c.space.values(a)), c.space.to_cube(c.space.values(b))
    nearest = np.min(np.linalg.norm(Xb[:, None] - Xa[None], axis=-1), axis=1)
    assert nearest.min() > 0.01


def test_fixed_parameter_per_call(etch42):
    c = Campaign.load(etch42)
    complete_design(c)
    batch = c.suggest(fixed={"pressure": 20.0, "gap": 30})
    assert (batch["pressure"] == 20.0).all() and (batch["gap"] == 30).all()
    check_batch(c, batch)
    with pytest.raises(SpecError, match="outside bounds"):
        c.suggest(fixed={"pressure": 500.0})


@pytest.mark.parametrize("method", ["gp", "random"])
def test_other_methods_share_the_path(etch42, method):
    c = Campaign.load(etch42)
    complete_design(c)
    batch = c.suggest(method=method)
    check_batch(c, batch)
    assert c.runs()["method"].iloc[-1] == method


def test_model_needs_runs(etch42):
    with pytest.raises(NoMeasurementsError, match="record results"):
        Campaign.load(etch42).suggest(method="ensemble")


def test_reproducible_suggestions(etch42, tmp_path):
    def run(seed: int, store: str) -> pd.DataFrame:
        c = Campaign.load(etch42, storage=f"sqlite:///{tmp_path / store}")
        complete_design(c)
        return c.suggest(seed=seed)

    a, b, other = run(7, "a.db"), run(7, "b.db"), run(8, "c.db")
    names = Campaign.load(etch42).space.names
    pd.testing.assert_frame_equal(a[names], b[names])
    assert not a[names].equals(other[names])


def test_status_reports_best_and_fit(etch42):
    c = Campaign.load(etch42)
    complete_design(c)
    st = c.status()
    assert st.counts == {"pending": 0, "complete": 8, "failed": 0, "abandoned": 0}
    scores = c.scores(c.runs())
    assert st.best["objective"] == pytest.approx(scores.max())
    # The campaign's model (the scratch ensemble here) against a plain GP on the same folds.
    for model in ("ensemble", "gp"):
        rows = st.fit[st.fit["model"] == model]
        assert list(rows["metric"]) == ["yield", "uniformity", "defects"]
    assert set(st.fit["model"]) == {"ensemble", "gp"}
    assert (st.fit["rmse"] > 0).all() and (st.fit["folds"] == 5).all()


# -- record validation ----------------------------------------------------


def _write(tmp_path, frame: pd.DataFrame) -> str:
    path = tmp_path / "results.csv"
    frame.to_csv(path, index=False)
    return str(path)


@pytest.fixture
def pending(etch42):
    c = Campaign.load(etch42)
    return c, c.suggest()


def test_record_complete_failed_and_off_plan(pending, tmp_path):
    c, batch = pending
    res = fake_results(batch)
    res["status"] = ["complete", "failed", "abandoned", ""]
    res.loc[1, ["yield", "uniformity", "defects"]] = np.nan
    res.loc[2, ["yield", "uniformity", "defects"]] = np.nan
    res.loc[3, ["yield", "uniformity", "defects"]] = np.nan  # blank row: still pending
    off = (
        batch.iloc[[0]]
        .drop(columns=["run_id", "batch_id"])
        .assign(**{"yield": 50.0, "uniformity": 95.0, "defects": 0.3})
    )
    off["source_power"] = 1000.0
    summary, parsed = c.record(_write(tmp_path, pd.concat([res, off], ignore_index=True)))
    assert summary.updated == [batch.run_id[0], batch.run_id[1], batch.run_id[2]]
    assert parsed.skipped == [batch.run_id[3]] and summary.added == ["R005"]
    runs = c.runs().set_index("run_id")
    assert runs.loc[batch.run_id[1], "status"] == "failed"
    assert runs.loc[batch.run_id[3], "status"] == "pending"
    assert runs.loc["R005", "method"] == "manual" and runs.loc["R005", "source_power"] == 1000.0


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (
            lambda r: r.assign(**{"yield": ["abc", 1, 2, 3]}),
            "line 2 (run R001), column yield: 'abc' is not a number",
        ),
        (
            lambda r: r.assign(**{"yield": [1, "nan", 2, 3]}),
            "line 3 (run R002), column yield: 'nan' is not a finite number",
        ),
        (lambda r: r.assign(**{"defects": [1, 2, "inf", 3]}), "line 4 (run R003), column defects"),
        (
            lambda r: r.assign(uniformity=[1, 2, 3, None]),
            "line 5 (run R004), column uniformity: missing value on a complete run",
        ),
        (lambda r: r.assign(run_id=["R001", "R002", "R003", "R999"]), "unknown run 'R999'"),
        (lambda r: r.assign(run_id=["R001", "R001", "R003", "R004"]), "appears twice"),
        (lambda r: r.assign(yeild=1.0), "unknown column 'yeild'; did you mean 'yield'?"),
        (
            lambda r: r.assign(status=["complete", "done", "complete", "complete"]),
            "column status: 'done'",
        ),
        (
            lambda r: r.assign(pressure=[20, 20, 20, 500]),
            "column pressure: 500 is outside the bounds",
        ),
        (lambda r: r.iloc[0:0], "no rows"),
    ],
)
def test_bad_results_reject_the_whole_file(pending, tmp_path, mutate, fragment):
    c, batch = pending
    before = c.export()
    with pytest.raises(ResultsFileError) as info:
        c.record(_write(tmp_path, mutate(fake_results(batch))))
    assert fragment in str(info.value) and "results.csv" in str(info.value)
    assert c.export() == before


def test_already_recorded_needs_replace(pending, tmp_path):
    c, batch = pending
    path = _write(tmp_path, fake_results(batch))
    c.record(path)
    with pytest.raises(ResultsFileError, match=r"already recorded .* use --replace"):
        c.record(path)
    again = fake_results(batch).assign(**{"yield": 1.0})
    c.record(_write(tmp_path, again), replace=True)
    assert (c.runs()["yield"] == 1.0).all()


def test_off_plan_row_needs_every_parameter(pending, tmp_path):
    c, batch = pending
    off = (
        batch.iloc[[0]]
        .drop(columns=["run_id", "batch_id", "gap"])
        .assign(**{"yield": 1.0, "uniformity": 95.0, "defects": 0.1})
    )
    with pytest.raises(ResultsFileError, match=r"needs a run_id column"):
        c.record(_write(tmp_path, off))


def record_batches(c: Campaign, methods: list[str], yields: list[float]) -> None:
    """Store batches of 4 design recipes as proposed by ``methods``, each at one yield."""
    from recipeopt.design import initial_design
    from recipeopt.store import NewRun

    exclude = np.zeros((0, c.space.dim))
    rows = c.space.records(initial_design(c.space, 4 * len(methods), seed=0, exclude=exclude))
    for k, (method, value) in enumerate(zip(methods, yields, strict=True)):
        batch = [NewRun(params=r, method=method) for r in rows[4 * k : 4 * k + 4]]
        ids = c.store.add_batch(c.name, batch)
        c.record(pd.DataFrame({"run_id": ids, "yield": value, "uniformity": 95.0, "defects": 0.3}))


def box_bounds(c: Campaign, method: str) -> np.ndarray | None:
    """The trust region the strategy would search for a batch of 4 by ``method``."""
    from recipeopt.strategy.schedule import trust_box

    box = trust_box(c._context(c.runs(), method=method, q=4))
    return None if box is None else box.bounds


def test_trust_region_schedule_restarts_after_a_design_batch(etch42):
    c = Campaign.load(etch42)
    # Batches as if proposed by the meta-prior (poor), a design (good), then the model
    # three times, each below the design's best.
    methods = ["maml-ensemble", "sobol", "ensemble", "ensemble", "ensemble"]
    record_batches(c, methods, [10, 70, 60, 62, 64])
    bounds = box_bounds(c, "ensemble")
    # From the design on, the model failed three times (fewer than the 4 that halve the
    # side): side 0.8. Judged against the prior's batch alone, the three would be successes
    # and double the side to 1.6, which spans the whole cube.
    assert bounds is not None
    assert (bounds[1] - bounds[0]).max() <= 0.8 + 1e-9


def test_trust_region_patience_halves_the_box_after_that_many_failed_batches(tmp_path):
    from recipeopt.strategy.trust_region import TrustRegionConfig, trust_region_length

    # Two model batches, both below the first batch's best: two failures.
    failed = [0.5, 0.6]
    turbo = trust_region_length(failed, 0.7, dim=15, q=4, config=TrustRegionConfig())
    assert turbo == pytest.approx(0.8)  # TuRBO's tolerance: ceil(15 / 4) = 4 batches
    config = TrustRegionConfig(failure_tolerance=1)
    assert trust_region_length(failed, 0.7, dim=15, q=4, config=config) == pytest.approx(0.2)
    # A success resets the count: fail, improve, fail halves twice, not three times.
    assert trust_region_length([0.5, 0.8, 0.6], 0.7, dim=15, q=4, config=config) == (
        pytest.approx(0.2)
    )

    # The campaign takes the tolerance from the strategy's trust_region_patience.
    settings = StrategyConfig(trust_region_patience=1, trust_region_patience_runs=0)
    c = Campaign.load(scratch_copy(ETCH42, tmp_path), strategy=settings)
    record_batches(c, ["sobol", "ensemble", "ensemble"], [70, 60, 62])
    bounds = box_bounds(c, "ensemble")
    assert bounds is not None
    assert (bounds[1] - bounds[0]).max() <= 0.2 + 1e-9


@pytest.mark.parametrize(
    ("greedy_runs", "patience_runs", "side"),
    [(12, 0, 0.2), (0, 0, 0.05), (0, 16, 0.4), (0, 12, 0.2), (12, 8, 0.2)],
)
def test_trust_region_patience_starts_after_the_greedy_batches(
    tmp_path, greedy_runs, patience_runs, side
):
    # After a design of 4, maml-ensemble's batches at 4 and 8 runs are greedy when
    # greedy_runs is 12: their failures count against TuRBO's 4, so only the two qLogNEI
    # batches halve the side (0.8 -> 0.2). With greedy_runs 0 all four halve it (0.05).
    # trust_region_patience_runs 16 keeps TuRBO's for the first three: the fourth failure
    # in a row halves it once (0.4); the later of the two starts wins (12 over 8).
    settings = StrategyConfig(
        trust_region_patience=1, greedy_runs=greedy_runs, trust_region_patience_runs=patience_runs
    )
    c = Campaign.load(scratch_copy(ETCH42, tmp_path, model=""), strategy=settings)
    methods = ["sobol"] + ["maml-ensemble"] * 4
    record_batches(c, methods, [70, 60, 62, 61, 63])
    bounds = box_bounds(c, "maml-ensemble")
    assert bounds is not None
    assert (bounds[1] - bounds[0]).max() == pytest.approx(side)


def test_a_used_up_space_says_how_many_recipes_it_holds():
    from recipeopt.exceptions import NotEnoughPointsLeftError
    from recipeopt.spec import spec_from_dict

    spec = spec_from_dict(
        {
            "name": "tiny",
            "parameters": [
                {"name": "chamber", "choices": ["A", "B"]},
                {"name": "lot", "choices": ["x", "y"]},
                {"name": "gap", "type": "integer", "bounds": [20, 21]},
            ],
        }
    )
    c = Campaign(spec, storage="sqlite://")  # an in-memory store
    assert len(c.suggest(batch=5, method="sobol")) == 5
    with pytest.raises(NotEnoughPointsLeftError) as info:
        c.suggest(batch=4, method="sobol")
    assert str(info.value).startswith(
        "found only 3 new feasible recipes of the 4 asked for: the space holds 8 distinct recipes"
    )
    assert len(c.runs()) == 5
