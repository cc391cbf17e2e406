"""Meta-training, history tasks, checkpoints, and the maml-ensemble inside suggest."""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from recipeopt.campaign import Campaign
from recipeopt.checkpoints import check_compatible, load_checkpoint, stale_reason
from recipeopt.cli import cli
from recipeopt.exceptions import CheckpointError, RecipeoptError
from recipeopt.history import MetaTasks, build_tasks
from recipeopt.meta.maml import adapt
from recipeopt.meta.pretrain import LOG_GAIN_LIMIT, MetaConfig, meta_train
from recipeopt.models.ensemble import STEP_GRID
from recipeopt.models.network import init_member_params
from recipeopt.objective import Objective
from recipeopt.space import Space
from recipeopt.spec import load_spec
from recipeopt.strategy.config import StrategyConfig
from tests.conftest import ETCH42, fake_results

#: A 2-epoch meta-training keeps these tests fast.
FAST = StrategyConfig(meta_epochs=2)


@pytest.fixture
def maml42(tmp_path: Path) -> Path:
    """A scratch etch42 (maml-ensemble) with its own copy of the history."""
    path = tmp_path / "etch42.yaml"
    path.write_text(ETCH42.read_text())
    shutil.copytree(ETCH42.parent / "history" / "etch42", tmp_path / "history" / "etch42")
    return path


def load(path: Path, **settings: object) -> Campaign:
    """Load the campaign with a 2-epoch meta-training and the strategy ``settings``."""
    return Campaign.load(path, strategy=replace(FAST, **settings))


def provenance(campaign: Campaign) -> list[dict]:
    """Each run's provenance record, oldest first."""
    return [json.loads(p) if p else {} for p in campaign.runs()["provenance"]]


def shifted_tasks(count: int, runs: int, seed: int) -> MetaTasks:
    """Tasks whose response is a bump whose height and position vary a little by task."""
    rng = np.random.default_rng(seed)
    X, Y = [], []
    for _ in range(count):
        centre = 0.3 + 0.4 * rng.random(3)
        x = rng.random((runs, 3))
        y = np.exp(-4.0 * ((x - centre) ** 2).sum(-1, keepdims=True)) * (1 + 0.2 * rng.random())
        X.append(torch.as_tensor(x, dtype=torch.float32))
        Y.append(torch.as_tensor(np.hstack([y, 1 - y]), dtype=torch.float32))
    return MetaTasks(X, Y, [f"t{i}" for i in range(count)])


# -- history ---------------------------------------------------------------


def test_build_tasks_drops_and_counts_runs_that_do_not_fit():
    spec = load_spec(ETCH42)
    space, objective = Space.from_spec(spec), Objective.from_spec(spec)
    table = pd.read_csv(ETCH42.parent / "history" / "etch42" / "recipe_000.csv")
    table = pd.concat([table, table.iloc[:5].assign(recipe="tiny")], ignore_index=True)
    table.loc[0, "pressure"] = 500.0  # outside [3, 80]
    table.loc[1, "yield"] = np.nan
    table.loc[2, "gap"] = np.nan
    tasks = build_tasks(table, space, objective)
    assert tasks.recipes == ["etch-0-000"]
    assert tasks.dropped == {
        "missing": 2,
        "out_of_bounds": 1,
        "small_recipes": 1,
        "in_small_recipes": 5,
    }
    assert tasks.runs == 200 - 3
    assert float(tasks.X[0].min()) >= 0.0 and float(tasks.X[0].max()) <= 1.0
    expected = objective.normalize(table.iloc[3:4][objective.names].to_numpy(dtype=float))
    np.testing.assert_allclose(tasks.Y[0][0].numpy(), expected[0], rtol=1e-6)


# -- meta-training ----------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["maml", "fomaml", "reptile"])
def test_meta_training_beats_a_random_init_on_held_out_tasks(algorithm):
    torch.manual_seed(0)
    train, test = shifted_tasks(12, 60, seed=1), shifted_tasks(6, 60, seed=2)
    config = MetaConfig(
        algorithm=algorithm,
        members=2,
        hidden=16,
        epochs=150,
        eval_every=5,
        inner_lr=0.1,
        meta_lr=0.003,
    )
    result = meta_train(train, config, seed=0)
    net = config.network(3, 2)
    fresh = init_member_params(net, [100, 101])

    def held_out_error(params: dict) -> float:
        errors = []
        for X, Y in zip(test.X, test.Y, strict=True):
            Y = (Y - result.y_mean) / result.y_std
            for j in range(2):
                p = {k: v[j] for k, v in params.items()}
                fast = adapt(net, p, X[:10], Y[:10], lr=0.1, steps=5)
                pred = torch.func.functional_call(net, fast, (X[10:],))
                errors.append(float(((pred - Y[10:]) ** 2).mean()))
        return float(np.mean(errors))

    assert held_out_error(result.params) < 0.5 * held_out_error(fresh)
    assert result.epochs <= 150 and len(result.validation_recipes) == 2
    assert torch.all(result.spread_adapted >= 0.5)
    # The held-out recipes chose an adaptation length per support size, from the grid.
    assert [size for size, _ in result.schedule] == [5, 10, 20]
    assert all(steps in STEP_GRID for _, steps in result.schedule)


def test_meta_training_is_reproducible_and_members_differ():
    tasks = shifted_tasks(6, 40, seed=3)
    config = MetaConfig(algorithm="fomaml", members=3, hidden=8, epochs=3)
    a, b = meta_train(tasks, config, seed=5), meta_train(tasks, config, seed=5)
    c = meta_train(tasks, config, seed=6)
    for k in a.params:
        assert torch.equal(a.params[k], b.params[k])
    assert not all(torch.equal(a.params[k], c.params[k]) for k in a.params)
    w = a.params["body.0.weight"]
    assert not torch.allclose(w[0], w[1])
    assert all(torch.equal(g, torch.ones(3)) for g in a.gains.values())  # learn_lr is off


@pytest.mark.parametrize("algorithm", ["maml", "fomaml", "reptile"])
def test_meta_training_learns_inner_rate_gains(algorithm):
    tasks = shifted_tasks(12, 60, seed=1)
    # An inner rate far too small for 5 steps: the learned gains should raise it.
    config = MetaConfig(
        algorithm=algorithm, members=2, hidden=16, epochs=40, inner_lr=0.005, learn_lr=True
    )
    gains = torch.stack(list(meta_train(tasks, config, seed=0).gains.values()))
    if algorithm == "reptile":  # no meta-gradient for the gains
        assert torch.equal(gains, torch.ones_like(gains))
        return
    assert gains.mean() > 1.2
    assert gains.min() >= math.exp(-LOG_GAIN_LIMIT) - 1e-6
    assert gains.max() <= math.exp(LOG_GAIN_LIMIT) + 1e-4


def test_early_stopping_keeps_the_latest_weights_within_tolerance_of_the_best(monkeypatch):
    import recipeopt.meta.pretrain as pretrain

    # Held-out losses of checks 1-7 (one check per epoch): the best is 0.5 at check 2; check 5
    # (0.54) is the latest within 10 % of it, and after 4 checks without a new best it stops.
    script = [1.0, 0.5, 0.52, 0.7, 0.54, 0.8, 0.9]

    def scripted(losses: list[float]):
        calls = iter(losses)
        return lambda *args: next(calls)

    tasks = shifted_tasks(8, 40, seed=4)
    config = MetaConfig(algorithm="fomaml", members=2, hidden=8, eval_every=1, patience=4)
    monkeypatch.setattr(pretrain, "_validation_loss", scripted(script))
    stopped = meta_train(tasks, replace(config, epochs=50), seed=0)
    assert stopped.stopped_early and stopped.epochs == 6
    assert stopped.held_out_loss == 0.54
    # The same meta-training run for 5 epochs ends on the weights early stopping kept.
    monkeypatch.setattr(pretrain, "_validation_loss", scripted(script))
    five = meta_train(tasks, replace(config, epochs=5), seed=0)
    assert not five.stopped_early and five.held_out_loss == 0.54
    for k in stopped.params:
        assert torch.equal(stopped.params[k], five.params[k])
    assert pretrain.KEEP_TOLERANCE == 0.10  # the script above assumes it


def test_without_held_out_recipes_the_schedule_is_the_meta_trained_length():
    config = MetaConfig(algorithm="fomaml", members=2, hidden=8, epochs=2, inner_steps=3)
    result = meta_train(shifted_tasks(4, 30, seed=0), config, seed=0)  # 4 recipes: none held out
    assert result.validation_recipes == []
    assert result.schedule == ((5, 3), (10, 3), (20, 3))


def test_meta_training_needs_two_recipes():
    from recipeopt.exceptions import RecipeoptError

    with pytest.raises(RecipeoptError, match="at least 2 recipes"):
        meta_train(shifted_tasks(1, 40, seed=0), MetaConfig(epochs=1), seed=0)


def waves(count: int, runs: int, seed: int, d: int = 15) -> MetaTasks:
    """Tasks whose two metrics are a fast wave along a random direction (and its mirror)."""
    rng = np.random.default_rng(seed)
    X, Y = [], []
    for _ in range(count):
        x = rng.random((runs, d))
        y = np.sin(10.0 * x @ rng.standard_normal(d))[:, None]
        X.append(torch.as_tensor(x, dtype=torch.float32))
        Y.append(torch.as_tensor(np.hstack([y, -y]), dtype=torch.float32))
    return MetaTasks(X, Y, [f"w{i}" for i in range(count)])


def test_a_diverging_meta_loss_rolls_back_and_lowers_the_inner_rate(monkeypatch):
    import recipeopt.meta.pretrain as pretrain

    # At an inner rate of 5 the inner loop blows up on these tasks by epoch 5: training
    # used to stop there with an error (as with no recovery allowed).
    tasks, config = waves(12, 60, seed=0), MetaConfig(epochs=10, members=2, inner_lr=5.0)
    monkeypatch.setattr(pretrain, "MAX_RECOVERIES", 0)
    with pytest.raises(RecipeoptError, match="meta-training diverged"):
        meta_train(tasks, config, seed=0)
    monkeypatch.undo()
    result = meta_train(tasks, config, seed=0)
    rates = [rate for _, rate in result.recoveries]
    assert rates and rates == [5.0 * 0.5 ** (k + 1) for k in range(len(rates))]
    assert result.inner_lr == rates[-1] and result.epochs == 10
    assert math.isfinite(result.held_out_loss)
    assert all(bool(torch.isfinite(v).all()) for v in result.params.values())


# -- checkpoints and the campaign ---------------------------------------------


def test_suggest_pretrains_on_demand_then_adapts_without_touching_the_checkpoint(maml42):
    campaign = load(maml42)
    first = campaign.suggest(seed=3)
    path = maml42.parent / "etch42.maml.pt"
    assert path.exists()
    runs = campaign.runs()
    assert set(runs["method"]) == {"maml-ensemble"}
    records = provenance(campaign)
    assert {(r["step"], r["model"]) for r in records} == {("prior-ranked", "prior")}
    assert all(r["checkpoint"].startswith("etch42.maml.pt#") for r in records)
    assert set(runs["model"]) == {"ranked by the learned prior"}
    before = path.read_bytes()
    campaign.record(fake_results(first))
    second = campaign.suggest(seed=3)
    assert path.read_bytes() == before  # adaptation is functional: the meta-weights stay
    last = campaign.status(fit=False).last_provenance
    assert last["model"] != "prior" and last["adaptation_steps"] >= 0  # adapted to the runs
    space = campaign.space
    assert space.feasible(space.values(second)).all()
    assert not set(second["run_id"]) & set(first["run_id"])


def test_suggest_adapts_at_the_checkpoint_rate_for_the_schedule_length(maml42):
    campaign = load(maml42)
    campaign.record(fake_results(campaign.suggest(seed=3)))
    ckpt = campaign.prior.checkpoint()
    X, Y = campaign.training_data(campaign.runs())
    assert ckpt.config.adapt_lr == ckpt.config.inner_lr * campaign.config.adapt_lr_scale
    assert [size for size, _ in ckpt.schedule] == [5, 10, 20]
    fit = campaign.surrogates.adapted(ckpt, X, Y, seed=3)
    assert fit.lr in [ckpt.config.adapt_lr / 2**k for k in range(4)]  # halved only if it diverged
    assert fit.steps == ckpt.adapt_steps(len(Y))
    # Another rate is another calibration: the checkpoint is stale for it ...
    quarter = variant(campaign, adapt_lr_scale=0.25)
    reason = stale_reason(ckpt, quarter.prior.meta_config(), ckpt.history_hash)
    assert reason == f"model.adapt_lr_scale changed from {ckpt.config.adapt_lr_scale} to 0.25"
    # ... and adapting at a quarter of the rate (a pinned checkpoint) moves the members less.
    small = quarter.surrogates.adapted(ckpt, X, Y, seed=3)
    assert small.lr < fit.lr and small.steps == fit.steps
    start = ckpt.params["body.0.weight"].double()

    def moved(fit) -> float:
        return float((fit.model.member_params["body.0.weight"] - start).abs().sum())

    assert 0 < moved(small) < moved(fit)


def test_the_checkpoint_records_recoveries_and_suggest_adapts_at_the_trained_rate(maml42):
    campaign = load(maml42)
    campaign.record(fake_results(campaign.suggest(seed=3)))
    ckpt = campaign.prior.checkpoint()
    assert ckpt.inner_lr == ckpt.config.inner_lr and ckpt.recoveries == []  # no divergence
    training = {**ckpt.meta["training"], "inner_lr": 0.025, "recoveries": [[40, 0.05], [41, 0.025]]}
    lowered = replace(ckpt, meta={**ckpt.meta, "training": training})
    assert lowered.inner_lr == 0.025 and lowered.recoveries == [(40, 0.05), (41, 0.025)]
    X, Y = campaign.training_data(campaign.runs())
    fit = campaign.surrogates.adapted(lowered, X, Y, seed=3)
    assert fit.lr in [0.025 * campaign.config.adapt_lr_scale / 2**k for k in range(4)]


def test_adaptation_steps_follow_the_schedule_by_run_count(maml42):
    ckpt = load(maml42).prior.checkpoint()
    scheduled = replace(ckpt, schedule=((5, 8), (10, 12), (20, 80)))
    counts = (1, 4, 5, 9, 10, 19, 20, 60)
    assert [scheduled.adapt_steps(n) for n in counts] == [8, 8, 8, 8, 12, 12, 80, 80]
    # Checkpoints from before the schedule adapt the meta-trained length at every count.
    old = replace(ckpt, schedule=())
    assert {old.adapt_steps(n) for n in counts} == {ckpt.config.inner_steps}


def variant(
    campaign: Campaign, storage: str | None = None, guard: bool | None = None, **settings: object
) -> Campaign:
    """Return the campaign with other strategy ``settings`` and ``guard``, same store by default."""
    spec = campaign.spec
    if guard is not None:
        model = spec.model.model_copy(update={"guard": guard})
        spec = spec.model_copy(update={"model": model})
    config = replace(campaign.config, **settings)
    return Campaign(spec, campaign.path, storage=storage, strategy=config)


def test_maml_batches_are_greedy_until_greedy_runs(maml42):
    from recipeopt.acquisition import predict
    from recipeopt.design import candidate_pool

    # The guard is off: a 2-epoch prior may fail its skill check on made-up results. No
    # hedge runs: the whole batch is the greedy one (test_greedy_batches_hedge_... covers it).
    campaign = variant(load(maml42), greedy_runs=8, guard=False, hedge=0)
    campaign.record(fake_results(campaign.suggest(seed=3)))
    runs = campaign.runs()
    X, Y = campaign.training_data(runs)
    second = campaign.suggest(seed=3)
    space, objective = campaign.space, campaign.objective
    equality = any(c.op == "==" for c in space.constraints)  # with one, a tenth
    count = campaign.config.greedy_candidates // (10 if equality else 1)
    last = provenance(campaign)[-1]
    assert (last["step"], last["model"], last["candidates"]) == (
        "prior-ranked",
        "adapted-prior",
        count,
    )
    # The batch is the adapted model's top 4 among the random candidates.
    model, _ = campaign.fit_model("maml-ensemble", X, Y, seed=3)
    pool = candidate_pool(space, count, seed=3, exclude=space.to_cube(space.values(runs)))

    def score(values: np.ndarray) -> torch.Tensor:
        p = predict(
            model,
            torch.as_tensor(space.to_cube(values)),
            torch.as_tensor(objective.weights),
            torch.as_tensor(objective.constraint_matrix),
            torch.as_tensor(objective.constraint_offset),
        )
        return p.objective_mean * p.feasibility

    chosen, candidates = score(space.values(second)), score(pool)  # the pool holds the batch
    assert torch.allclose(chosen, candidates.topk(4).values, rtol=0.0, atol=1e-9)
    # From greedy_runs complete runs on, qLogNEI proposes the batch, on a GP fitted to the
    # residuals of the adapted ensemble.
    campaign.record(fake_results(second))
    campaign.suggest(seed=3)
    last = provenance(campaign)[-1]
    assert (last["step"], last["model"], last["acquisition"]) == (
        "qlognei",
        "residual-gp",
        "qLogNEI",
    )
    # With greedy_runs 0, only the first batch (no runs yet) is greedy; without the
    # residual GP, qLogNEI runs on the adapted ensemble itself.
    eager = variant(campaign, greedy_runs=0, residual_gp=False, storage="sqlite://")
    eager.record(fake_results(eager.suggest(seed=3)))
    eager.suggest(seed=3)
    records = provenance(eager)
    assert (records[0]["step"], records[0]["model"]) == ("prior-ranked", "prior")
    assert (records[-1]["step"], records[-1]["model"]) == ("qlognei", "adapted-prior")


def test_one_metric_campaign_reaches_the_residual_gp(maml42):
    # A campaign may weigh a single metric of its history; its residual GP then has one
    # output, which BoTorch models without the batch dimension a multi-output GP has.
    text = maml42.read_text()
    start, end = text.index("objective:"), text.index("constraints:\n  # Total")
    one = "objective:\n  metrics:\n    - {name: yield, unit: '%', range: [0, 100]}\n\n"
    maml42.write_text(text[:start] + one + text[end:])
    campaign = variant(load(maml42), greedy_runs=4, guard=False, hedge=0)
    assert campaign.objective.names == ["yield"]
    campaign.record(fake_results(campaign.suggest(seed=5))[["run_id", "yield"]])
    batch = campaign.suggest(seed=5)
    runs = campaign.runs()
    assert provenance(campaign)[-1]["model"] == "residual-gp"
    assert len(batch) == 4 and campaign.space.feasible(campaign.space.values(batch)).all()
    assert np.isfinite(runs["pred_objective"].iloc[-4:].astype(float)).all()


def test_greedy_batches_hedge_with_a_plain_gp_and_the_rest_of_the_batch_pending(maml42):
    from recipeopt.acquisition import build_acquisition, predict

    campaign = variant(load(maml42), guard=False)
    first = campaign.suggest(seed=3)  # no runs yet: the prior's batch has no hedge
    assert {r["step"] for r in provenance(campaign)} == {"prior-ranked"}
    campaign.record(fake_results(first))
    runs = campaign.runs()
    X, Y = campaign.training_data(runs)
    second = campaign.suggest(seed=3)
    batch = campaign.runs().set_index("run_id").loc[second["run_id"]]
    steps = [json.loads(p)["step"] for p in batch["provenance"]]
    assert steps == ["prior-ranked"] * 3 + ["hedge"]
    assert json.loads(batch["provenance"].iloc[-1])["model"] == "gp"
    assert batch["model"].tolist() == ["ranked by the learned prior"] * 3 + ["explores: plain GP"]
    assert (batch["method"] == "maml-ensemble").all()
    assert campaign.status(fit=False).last_provenance["step"] == "prior-ranked"
    # The hedge run is qLogNEI's on a constant-mean GP over the whole cube, with the three
    # greedy runs pending: it scores above 256 random recipes of the cube.
    space = campaign.space
    cube = torch.as_tensor(space.to_cube(space.values(second)))
    gp = campaign.surrogates.gp(X, Y)
    acqf = build_acquisition(
        gp,
        campaign.objective.mc_objective(),
        X,
        cube[:-1],
        seed=3,
        constraints=campaign.objective.outcome_callables(),
    )
    others = torch.rand(256, space.dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        hedge, scores = acqf(cube[-1:].unsqueeze(1)), acqf(others.double().unsqueeze(1))
    assert float(hedge) > float(scores.max())
    # Each run's stored prediction comes from the model it names: the GP's for the hedge run.
    weights, A, b = (
        torch.as_tensor(v)
        for v in (
            campaign.objective.weights,
            campaign.objective.constraint_matrix,
            campaign.objective.constraint_offset,
        )
    )
    by_gp = predict(gp, cube, weights, A, b).objective_mean
    stored = batch["pred_objective"].to_numpy()
    assert stored[-1] == pytest.approx(float(by_gp[-1]), rel=1e-6)
    assert not np.allclose(stored[:-1], by_gp[:-1].numpy(), rtol=1e-3)
    # A batch of one is the model's alone, hedge 0 turns the hedge off, and qLogNEI's
    # batches (from greedy_runs runs on) are not hedged.
    campaign.record(fake_results(second))
    for other, q in ((campaign, 1), (variant(campaign, hedge=0), 4)):
        other.suggest(q, seed=3)
        assert {r["step"] for r in provenance(other)[-q:]} == {"prior-ranked"}
    eager = variant(campaign, greedy_runs=8)
    eager.suggest(seed=3)
    assert {(r["step"], r["model"]) for r in provenance(eager)[-4:]} == {("qlognei", "residual-gp")}


def test_same_seed_same_maml_suggestions(maml42, tmp_path):
    a = load(maml42)
    batch = a.suggest(seed=1)
    a.record(fake_results(batch))
    other = tmp_path / "other"
    other.mkdir()
    (other / "etch42.yaml").write_text(maml42.read_text())
    (other / "history").symlink_to(maml42.parent / "history", target_is_directory=True)
    shutil.copy(maml42.parent / "etch42.maml.pt", other / "etch42.maml.pt")
    b = load(other / "etch42.yaml")
    pd.testing.assert_frame_equal(batch, b.suggest(seed=1))
    b.record(fake_results(batch))
    names = a.space.names
    pd.testing.assert_frame_equal(
        a.suggest(seed=1)[names].reset_index(drop=True),
        b.suggest(seed=1)[names].reset_index(drop=True),
    )
    assert not a.suggest(seed=2)[names].equals(b.suggest(seed=1)[names])


def test_changed_history_makes_the_checkpoint_stale(maml42):
    campaign = load(maml42)
    report = campaign.pretrain()
    ckpt = load_checkpoint(report.path)
    assert report.recipes == 30 and report.runs == 6000
    assert ckpt.meta["history"]["files"] == 30
    assert stale_reason(ckpt, campaign.prior.meta_config(), ckpt.history_hash) is None
    assert "inner_steps" in stale_reason(
        ckpt, campaign.prior.meta_config(inner_steps=3), ckpt.history_hash
    )
    extra = maml42.parent / "history" / "etch42" / "recipe_000.csv"
    extra.write_text(extra.read_text() + extra.read_text().splitlines()[-1] + "\n")
    campaign.prior.checkpoint()
    assert campaign.prior.pretrain_reason == "the history files changed"
    assert load_checkpoint(report.path).history_hash != ckpt.history_hash


def test_checkpoint_for_another_space_is_refused(maml42):
    campaign = load(maml42)
    report = campaign.pretrain()
    ckpt = load_checkpoint(report.path)
    wider = maml42.read_text().replace("bounds: [3, 80]", "bounds: [3, 100]")
    maml42.write_text(wider)
    other = load(maml42)
    with pytest.raises(CheckpointError, match=r"pressure bounds \[3.0, 80.0\].*\[3.0, 100.0\]"):
        check_compatible(ckpt, other.space, other.objective)
    result = CliRunner().invoke(cli, ["suggest", str(maml42)])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "recipeopt pretrain" in result.output
    maml42.write_text(
        maml42.read_text().replace("[3, 100]", "[3, 80]").replace("[90, 100]", "[80, 100]")
    )
    with pytest.raises(CheckpointError, match="metric uniformity range"):
        check_compatible(ckpt, load(maml42).space, load(maml42).objective)


def test_unreadable_checkpoint_is_one_line(tmp_path):
    bad = tmp_path / "x.pt"
    bad.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(bad)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def broken_prior(path: Path) -> Campaign:
    """Load the campaign with a meta-trained checkpoint whose weights are blown up 30x.

    Such a prior predicts wild values that a few SGD steps cannot mend.
    """
    campaign = load(path)
    report = campaign.pretrain()
    payload = torch.load(report.path, weights_only=True)
    payload["params"] = {k: 30.0 * v for k, v in payload["params"].items()}
    torch.save(payload, report.path)
    return campaign


@pytest.mark.parametrize(
    ("reference", "model"), [("scratch", "residual-gp"), ("gp", "gp")], ids=["scratch", "gp"]
)
def test_guard_falls_back_when_the_prior_is_wrong(maml42, reference, model):
    campaign = variant(broken_prior(maml42), guard_reference=reference)
    rng = np.random.default_rng(0)
    batch = campaign.suggest(12, method="sobol")
    campaign.record(fake_results(batch, seed=int(rng.integers(100))))
    campaign.suggest(seed=0)
    last = campaign.status(fit=False).last_provenance
    assert last["guard"] == "set-aside" and "cv mse" in last["guard_reason"]
    # Before greedy_runs too, a batch whose prior the guard set aside is qLogNEI's: on the
    # GP over the scratch ensemble (the shipped reference), or on a plain GP.
    assert len(campaign.training_data(campaign.runs())[0]) < campaign.config.greedy_runs
    assert (last["step"], last["model"]) == ("qlognei", model)
    assert "the learned prior was set aside" in campaign.status(fit=False).last_model


def test_guard_returns_to_the_design_when_the_prior_mispredicts_the_first_runs(maml42):
    campaign = broken_prior(maml42)
    first = campaign.suggest(4, seed=0)
    campaign.record(fake_results(first, seed=1))
    second = campaign.suggest(8, seed=0)  # the whole initial design (8 runs)
    runs = campaign.runs().set_index("run_id").loc[second["run_id"]]
    assert (runs["method"] == "sobol").all()
    first_record = json.loads(runs["provenance"].iloc[0])
    assert first_record["step"] == "design" and first_record["guard"] == "set-aside"
    assert "worse than their mean" in first_record["guard_reason"]
    status = campaign.status()
    assert status.last_model.startswith("space-filling design")
    # status cross-validates the adapted prior next to a plain GP on the same folds: the
    # blown-up prior is the worse of the two on every metric.
    rmse = status.fit.pivot(index="metric", columns="model", values="rmse")
    assert (rmse["maml-ensemble"] > rmse["gp"]).all()
    # Once the design is complete, the scratch ensemble takes over (no second design),
    # under qLogNEI's GP.
    campaign.record(fake_results(second, seed=2))
    campaign.suggest(4, seed=0)
    status = campaign.status(fit=False)
    assert status.last_method == "maml-ensemble"
    last = status.last_provenance
    assert (last["step"], last["model"], last["guard"]) == ("qlognei", "residual-gp", "set-aside")


def test_pretrain_command_reports_counts(maml42):
    result = CliRunner().invoke(
        cli, ["pretrain", str(maml42), "--algorithm", "fomaml", "--epochs", "2"]
    )
    assert result.exit_code == 0, result.output
    assert "Meta-trained on 30 recipes (6000 runs)" in result.output
    assert "Adaptation steps for suggest: " in result.output
    assert "after 5 runs" in result.output
    assert "after 10 runs; from 20 runs, chosen" in result.output
    assert "after 20 runs" not in result.output  # suggest cross-validates from 20 runs on
    assert "Dropped 0 runs with missing values" in result.output
    assert (maml42.parent / "etch42.fomaml.pt").exists()
    assert "model.checkpoint: etch42.fomaml.pt" in result.output
    payload = torch.load(maml42.parent / "etch42.fomaml.pt", weights_only=True)
    assert payload["config"]["algorithm"] == "fomaml"
    assert [p["name"] for p in payload["parameters"]][:2] == ["source_power", "bias_power"]
    assert json.dumps(payload["versions"])  # plain strings
    assert {"torch", "botorch", "gpytorch"} <= set(payload["versions"])
    assert "Learned inner-rate gains" not in result.output  # model.learn_lr is off by default
    assert all(torch.equal(g, torch.ones_like(g)) for g in payload["gains"].values())


def test_learned_gains_reach_the_checkpoint_and_the_adaptation(maml42, tmp_path):
    result = CliRunner().invoke(
        cli, ["pretrain", str(maml42), "--epochs", "2", "--set", "learn_lr=true"]
    )
    assert result.exit_code == 0, result.output
    assert "Learned inner-rate gains (median over members): body.0.weight" in result.output
    campaign = load(maml42, learn_lr=True)
    ckpt = campaign.prior.checkpoint()  # up to date: not trained again
    assert ckpt.config.learn_lr
    assert not all(torch.allclose(g, torch.ones_like(g)) for g in ckpt.gains.values())
    assert "model.learn_lr changed" in stale_reason(
        ckpt, campaign.prior.meta_config(learn_lr=False), ckpt.history_hash
    )
    campaign.record(fake_results(campaign.suggest(seed=3)))
    X, Y = campaign.training_data(campaign.runs())
    unit = replace(ckpt, gains={k: torch.ones_like(g) for k, g in ckpt.gains.items()})
    adapted = campaign.surrogates.adapted
    learned, plain = adapted(ckpt, X, Y, seed=3), adapted(unit, X, Y, seed=3)
    w = "body.0.weight"
    assert not torch.equal(learned.model.member_params[w], plain.model.member_params[w])
    # A checkpoint from before learned gains loads with gains of 1, as it was trained.
    payload = torch.load(ckpt.path, weights_only=True)
    del payload["gains"], payload["config"]["learn_lr"]
    torch.save(payload, tmp_path / "old.pt")
    old = load_checkpoint(tmp_path / "old.pt")
    assert not old.config.learn_lr
    assert all(torch.equal(g, torch.ones(ckpt.config.members)) for g in old.gains.values())


def test_dep7_maml_loop_with_choices_equality_and_same_in_batch(tmp_path):
    from tests.conftest import ROOT, scratch_copy
    from tests.test_mixed import dep7_cli_rounds

    # The guard is off: a 2-epoch prior may fail its skill check, and this tests the adapted model.
    unguarded = "model: {guard: false}\n"
    dep7 = scratch_copy(ROOT / "campaigns" / "dep7.yaml", tmp_path, model=unguarded)
    load(dep7).pretrain()  # 2 epochs; the command line's suggest finds it up to date
    dep7_cli_rounds(dep7, tmp_path, 2)
    campaign = load(dep7)
    records = provenance(campaign)
    assert (records[0]["step"], records[0]["model"]) == ("prior-ranked", "prior")
    assert campaign.status(fit=False).last_provenance["adaptation_steps"] is not None


def test_the_learned_prior_ranks_pareto_batches_by_the_front_they_widen(maml42):
    maml42.write_text(
        maml42.read_text().replace(
            "objective:\n  metrics:", "objective:\n  mode: pareto\n  metrics:"
        )
    )
    campaign = variant(load(maml42), guard=False)
    assert campaign.objective.pareto
    campaign.record(fake_results(campaign.suggest(seed=3)))
    campaign.suggest(seed=3)
    records = provenance(campaign)
    assert [r["step"] for r in records] == ["prior-ranked"] * 7 + ["hedge"]
    assert {r["acquisition"] for r in records[:7]} == {"hypervolume gain of the mean"}
    assert records[-1]["acquisition"] == "qLogNEHVI" and records[-1]["model"] == "gp"
    assert campaign.runs()["model"].iloc[-1] == "explores: plain GP, for the trade-off front"
