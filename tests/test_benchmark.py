"""Benchmark metrics on hand-made traces, and a tiny end-to-end benchmark."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, replace
from pathlib import Path

import botorch
import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from recipeopt.benchmark.metrics import (
    experiments_to,
    paired_wins,
    regret_at,
    regret_trace,
    summarize,
)
from recipeopt.benchmark.runner import Benchmark
from recipeopt.cli import cli
from recipeopt.exceptions import RecipeoptError, SpecError
from recipeopt.strategy.config import StrategyConfig
from tests.conftest import ROOT


def test_regret_trace_is_normalized_running_best():
    trace = regret_trace([0.2, 0.5, 0.4, 0.9, 1.05], f_star=1.0, f_median=0.0)
    np.testing.assert_allclose(trace, [0.8, 0.5, 0.5, 0.1, 0.0])
    np.testing.assert_allclose(regret_trace([3.0], f_star=5.0, f_median=1.0), [0.5])


def test_experiments_to_target_and_regret_at():
    regret = np.array([0.9, 0.5, 0.15, 0.15, 0.08, 0.04])
    assert experiments_to(regret, 0.2) == 3
    assert experiments_to(regret, 0.1) == 5
    assert experiments_to(regret, 0.05) == 6
    assert math.isinf(experiments_to(regret, 0.01))
    assert regret_at(regret, 2) == 0.5
    assert math.isnan(regret_at(regret, 20))


def record(method, recipe, seed, regret, seconds=(1.0,)):
    return {
        "method": method,
        "recipe": recipe,
        "seed": seed,
        "regret": list(regret),
        "seconds": list(seconds),
    }


def test_summary_medians_and_ratios():
    records = [
        record("random", 0, 0, [0.9] * 10 + [0.3] * 10),
        record("random", 1, 0, [0.9] * 20),
        record("gp", 0, 0, [0.5] * 5 + [0.15] * 15, seconds=(4.0,)),
        record("gp", 1, 0, [0.5] * 10 + [0.05] * 10, seconds=(6.0,)),
        record("ensemble", 0, 0, [0.5] * 2 + [0.1] * 18, seconds=(1.0,)),
        record("ensemble", 1, 0, [0.5] * 4 + [0.04] * 16, seconds=(1.0,)),
    ]
    summary = summarize(records).set_index("method")
    assert summary.loc["gp", "n_to_0.2"] == pytest.approx((6 + 11) / 2)
    assert summary.loc["ensemble", "n_to_0.2"] == pytest.approx(4.0)
    assert math.isinf(summary.loc["random", "n_to_0.2"])
    assert summary.loc["ensemble", "n_to_0.2_vs_gp"] == pytest.approx(4.0 / 8.5)
    assert summary.loc["gp", "regret_at_20"] == pytest.approx(0.1)
    assert summary.loc["gp", "seconds_per_suggestion"] == pytest.approx(5.0)
    assert summary.loc["ensemble", "seconds_per_suggestion_vs_gp"] == pytest.approx(0.2)
    assert math.isnan(summary.loc["random", "n_to_0.05_vs_random"])  # inf / inf is no ratio
    # Nor is 4 / inf: random never got there, so "0x random's experiments" would be false.
    assert math.isnan(summary.loc["ensemble", "n_to_0.2_vs_random"])
    assert paired_wins(records, "ensemble", "gp", 20) == (2, 2)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    bench = Benchmark(
        "etch",
        ["random", "sobol", "gp", "ensemble", "maml-ensemble"],
        test_recipes=2,
        seeds=1,
        budget=12,
        batch=4,
        out=out,
        landscape_samples=5000,
        landscape_polish=1,
        settings={"meta_epochs": 2},
    )
    return bench, bench.run(workers=1)


def test_smoke_benchmark_regret_never_increases(smoke):
    _, records = smoke
    assert len(records) == 10
    for r in records:
        assert len(r["objective"]) == 12
        regret = np.asarray(r["regret"])
        assert np.all(np.diff(regret) <= 0) and np.all(regret >= 0)
        assert r["f_star"] > r["f_median"]
    ensemble = next(r for r in records if r["method"] == "ensemble")
    assert ensemble["batch_methods"] == ["sobol", "sobol", "ensemble"]
    # Each evaluated recipe names the step that proposed it.
    assert len(ensemble["steps"]) == len(ensemble["objective"])
    assert ensemble["steps"][:8] == ["design"] * 8 and ensemble["steps"][8] == "qlognei"
    maml = next(r for r in records if r["method"] == "maml-ensemble")
    # The prior replaces the design. Later batches are the adapted prior's greedy picks
    # (before 20 runs) unless the guard sets a mispredicting 2-epoch prior aside: then the
    # design or qLogNEI on the scratch model proposes. Each record says why.
    assert maml["batch_methods"][0] == "maml-ensemble"
    first = maml["provenance"][0]
    assert (first["step"], first["model"]) == ("prior-ranked", "prior")
    for method, record in zip(maml["batch_methods"][1:], maml["provenance"][1:], strict=True):
        assert record["adaptation_steps"] >= 0 and record["adaptation_lr"] > 0
        if record["guard"] == "set-aside":
            assert method == "sobol" or (record["step"], record["model"]) == (
                "qlognei",
                "residual-gp",
            )
        else:
            assert method == "maml-ensemble" and record["step"] == "prior-ranked"
    assert maml["checkpoint"].endswith("checkpoints/maml-meta_epochs-2.pt")
    assert maml["versions"]["botorch"] == botorch.__version__  # records say what made them
    assert {r["recipe"] for r in records} == {100_000, 100_001}  # test recipes, never history ones


def test_meta_learned_jobs_adapt_at_the_benchmark_rate_scale(smoke):

    from recipeopt.benchmark.runner import run_job

    bench, records = smoke
    maml = next(r for r in records if r["method"] == "maml-ensemble")
    job = next(
        j
        for j in bench.jobs(bench.landscapes(), bench.checkpoints())
        if j.name == f"maml-ensemble__r{maml['recipe']}__s{maml['seed']}"
    )
    assert maml["strategy"] == asdict(StrategyConfig(meta_epochs=2))  # the shipped defaults
    settings = {
        "adapt_lr_scale": 0.25,
        "greedy_runs": 0,
        "residual_gp": False,
        "trust_region": False,
        "trust_region_patience": 2,
        "trust_region_patience_runs": 4,
        "hedge": 0,
    }
    record = run_job(replace(job, budget=8, settings=tuple(sorted(settings.items()))))
    assert record["settings"] == settings
    assert {k: record["strategy"][k] for k in settings} == settings
    # qLogNEI from the second batch on, on the adapted ensemble itself (its guard may
    # send a 2-epoch prior back to the design), adapting at a quarter of the inner rate
    second = record["provenance"][1]
    assert second["step"] != "prior-ranked" and second["model"] != "residual-gp"
    assert second["adaptation_lr"] in (0.025, 0.0125, 0.00625, 0.003125)
    assert record["provenance"][0] == maml["provenance"][0]  # the prior's batch does not adapt


def test_benchmark_learn_lr_meta_trains_its_own_checkpoint(smoke):

    from recipeopt.checkpoints import load_checkpoint

    bench, _ = smoke
    settings = {**bench.settings, "learn_lr": True}
    learned = replace(bench, methods=["maml-ensemble"], test_recipes=1, settings=settings)
    path = Path(learned.checkpoints()[("maml-ensemble", 100_000)])
    assert path.name == "maml-learn_lr-True-meta_epochs-2.pt"  # beside the plain one
    plain = bench.out / "checkpoints" / "maml-meta_epochs-2.pt"
    assert plain.exists()
    ckpt = load_checkpoint(path)
    assert ckpt.config.learn_lr
    assert not all(torch.allclose(g, torch.ones_like(g)) for g in ckpt.gains.values())
    assert not load_checkpoint(plain).config.learn_lr


def test_benchmark_resumes_and_parallel_matches_serial(smoke, tmp_path):
    bench, records = smoke
    assert bench.run(workers=1) == records  # everything reused from disk, nothing redone
    (bench.out / "runs" / "ensemble__r100001__s0.json").unlink()
    (bench.out / "runs" / "random__r100000__s0.json").unlink()
    again = bench.run(workers=2)
    for a, b in zip(records, again, strict=True):
        assert a["objective"] == b["objective"]  # identical, not just close


def test_cli_writes_summary_and_plot(smoke):
    bench, _ = smoke
    result = CliRunner().invoke(
        cli,
        [
            "benchmark",
            "--test-recipes",
            "2",
            "--seeds",
            "1",
            "--budget",
            "12",
            "--methods",
            "random,sobol,gp,ensemble,maml-ensemble",
            "--set",
            "meta_epochs=2",
            "--out",
            str(bench.out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (bench.out / "summary.csv").exists() and (bench.out / "regret.png").stat().st_size > 1000
    assert "Ratios to baselines" in result.output
    landscape = json.loads((bench.out / "landscape.json").read_text())
    assert set(landscape) == {"100000", "100001"}


def test_a_bad_setting_is_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["benchmark", "--set", "hedge=many", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: --set hedge=many: not a valid value for hedge"
    result = CliRunner().invoke(cli, ["benchmark", "--set", "hegde=1", "--out", str(tmp_path)])
    assert result.exit_code == 1 and "--set hegde: unknown strategy setting" in result.output


def test_unknown_method_is_an_error(tmp_path):
    result = CliRunner().invoke(
        cli,
        ["benchmark", "--methods", "random,magic", "--out", str(tmp_path), "--test-recipes", "1"],
    )
    assert result.exit_code == 1 and "unknown method 'magic'" in result.output


def test_history_family_leave_one_out_round_trip(tmp_path):
    import yaml

    from recipeopt.benchmark.runner import load_family
    from recipeopt.simulate.family import get_family

    runner = CliRunner()
    result = runner.invoke(
        cli,
        [
            "simulate",
            "history",
            "--recipes",
            "3",
            "--runs",
            "30",
            "--seed",
            "4",
            "--out",
            str(tmp_path / "hist"),
        ],
    )
    assert result.exit_code == 0, result.output
    spec = get_family("etch").spec.model_dump(mode="json") | {"history": ["hist/*.csv"]}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(spec))
    family = load_family(f"history:{tmp_path / 'c.yaml'}")
    assert family.names == ["etch-4-000", "etch-4-001", "etch-4-002"]
    assert family.held_out(10) == [0, 1, 2]
    assert set(family.others(1)["recipe"]) == {"etch-4-000", "etch-4-002"}
    task = family.recipe(0)
    runs = family.history[family.history.recipe == "etch-4-000"]
    fitted = task.responses(runs)
    # The emulator reproduces its own recipe's logged yields far better than their spread.
    assert np.sqrt(((fitted["yield"] - runs["yield"]) ** 2).mean()) < runs["yield"].std()
    noisy = task.measure(runs.iloc[:5], np.random.default_rng(0))
    assert not noisy.equals(fitted.iloc[:5])
    bench = Benchmark(
        f"history:{tmp_path / 'c.yaml'}",
        ["random", "ensemble"],
        test_recipes=1,
        seeds=1,
        budget=12,
        batch=4,
        out=tmp_path / "out",
        landscape_samples=3000,
        landscape_polish=0,
    )
    records = bench.run()
    assert len(records) == 2 and all(np.all(np.diff(r["regret"]) <= 0) for r in records)


def test_held_out_splits_never_overlap_history_or_each_other():
    from recipeopt.simulate.family import get_family

    family = get_family("etch")
    tuning, test = family.held_out(10, "tuning"), family.held_out(10, "test")
    assert tuning[0] == 100_000 and test[0] == 200_000
    assert not set(tuning) & set(test)
    with pytest.raises(RecipeoptError, match="unknown split 'train'"):
        family.held_out(3, "train")


def test_a_config_file_is_validated_in_one_line(tmp_path):
    from recipeopt.benchmark.config import load_config

    path = tmp_path / "b.yaml"
    path.write_text("family: etch\nsplit: test\nrecipes: 2\nmethods: [random]\n")
    config = load_config(path)
    assert (config.split, config.recipes, config.methods, config.seeds) == (
        "test",
        2,
        ["random"],
        3,
    )
    path.write_text("family: etch\nsplit: validation\n")
    with pytest.raises(SpecError, match=r"b.yaml: split: Input should be 'tuning' or 'test'"):
        load_config(path)
    path.write_text("family: etch\nrecipies: 3\n")
    with pytest.raises(SpecError, match="recipies: unknown field"):
        load_config(path)
    for shipped in sorted((ROOT / "benchmarks" / "configs").glob("*.yaml")):
        assert load_config(shipped).methods  # every committed config is valid


def test_a_config_runs_on_its_split_with_bootstrap_intervals(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(
        "family: etch\nsplit: test\nrecipes: 2\nseeds: 2\nbudget: 8\nbatch: 4\n"
        "methods: [random, sobol]\n"
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["benchmark", "--config", str(config), "--out", str(out)])
    assert result.exit_code == 0, result.output
    records = [json.loads(p.read_text()) for p in (out / "runs").glob("*.json")]
    assert {r["recipe"] for r in records} == {200_000, 200_001}  # the test split
    summary = pd.read_csv(out / "summary.csv").set_index("method")
    ratio = summary.loc["sobol", "regret_at_20_vs_random"]
    assert math.isnan(ratio)  # a budget of 8 has no regret at 20
    low = summary.loc["sobol", "n_to_0.2_vs_random_p05"]
    high = summary.loc["sobol", "n_to_0.2_vs_random_p95"]
    assert (math.isnan(low) and math.isnan(high)) or low <= high
    assert (
        summary.loc["random", "regret_at_20_vs_random_p05"]
        != summary.loc["random", "regret_at_20_vs_random_p05"]
    )  # NaN: no ratio of a method to itself


def test_a_dask_local_cluster_gives_the_serial_traces(tmp_path):
    serial = Benchmark(
        "etch",
        ["random", "sobol", "gp"],
        test_recipes=1,
        seeds=2,
        budget=8,
        batch=4,
        out=tmp_path / "serial",
        landscape_samples=2000,
        landscape_polish=0,
    )
    dask = replace(serial, out=tmp_path / "dask")
    a = serial.run(workers=1)
    b = dask.run(workers=2, executor="dask")
    assert [r["objective"] for r in a] == [r["objective"] for r in b]
    assert len(list((tmp_path / "dask" / "runs").glob("*.json"))) == 6  # one job each
    (tmp_path / "dask" / "runs" / "gp__r100000__s1.json").unlink()
    again = dask.run(workers=2, executor="dask")  # resumes: only the missing job runs
    assert [r["objective"] for r in again] == [r["objective"] for r in a]
