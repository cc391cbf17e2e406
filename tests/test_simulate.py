"""The etch simulator family: determinism, ranges, mechanisms, and the history it writes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recipeopt.history import read_history
from recipeopt.simulate.etch import METRICS, EtchRecipe
from recipeopt.simulate.family import TUNING_OFFSET, get_family
from recipeopt.simulate.history import history_runs, write_history
from recipeopt.spec import load_spec


@pytest.fixture(scope="module")
def family():
    return get_family("etch")


def random_recipes(family, n=2000, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = family.space.from_cube(rng.random((n, family.space.dim)))
    return family.space.frame(values[family.space.feasible(values)])


def test_same_seed_same_recipe_and_noise(family):
    frame = random_recipes(family, 50)
    a = family.recipe(3).measure(frame, np.random.default_rng(1))
    b = family.recipe(3).measure(frame, np.random.default_rng(1))
    pd.testing.assert_frame_equal(a, b)
    c = family.recipe(3).measure(frame, np.random.default_rng(2))
    assert not a.equals(c)


def test_recipes_differ(family):
    frame = random_recipes(family, 500)
    a, b = family.score(family.recipe(0), frame), family.score(family.recipe(1), frame)
    assert np.corrcoef(a, b)[0, 1] < 0.95
    assert family.recipe(0) != family.recipe(1)
    assert get_family("etch", seed=1).recipe(0) != family.recipe(0)


def test_outputs_are_physical(family):
    frame = random_recipes(family)
    for i in (0, 5, TUNING_OFFSET):
        out = family.recipe(i).measure(frame, np.random.default_rng(0))
        assert list(out.columns) == list(METRICS)
        assert out["yield"].between(0, 100).all()
        assert out["uniformity"].between(0, 100).all()
        assert (out["defects"] > 0).all()
        assert np.isfinite(out.to_numpy()).all()


def test_noise_off_is_exact_and_noise_on_has_the_stated_size(family):
    frame = random_recipes(family, 4000)
    task = family.recipe(0)
    exact = task.responses(frame)
    pd.testing.assert_frame_equal(exact, task.responses(frame))
    noisy = task.measure(frame, np.random.default_rng(0))
    inside = exact["uniformity"].between(5, 95)
    assert (noisy["uniformity"] - exact["uniformity"])[inside].std() == pytest.approx(0.3, rel=0.1)
    ratio = np.log(noisy["defects"] / exact["defects"])
    assert ratio.std() == pytest.approx(0.1, rel=0.1) and abs(ratio.mean()) < 0.01


def test_mechanisms_point_the_right_way(family):
    task = family.recipe(0)
    base = random_recipes(family, 1).iloc[[0]]

    def vary(name, values):
        frame = pd.concat([base] * len(values), ignore_index=True)
        frame[name] = values
        return task.state(frame)

    assert np.all(np.diff(vary("bias_power", [100, 400, 800, 1200])["energy"]) > 0)
    assert np.all(np.diff(vary("pressure", [5, 20, 40, 80])["energy"]) < 0)
    assert np.all(np.diff(vary("source_power", [400, 800, 1600, 2400])["density"]) > 0)
    assert np.all(np.diff(vary("o2_flow", [0, 10, 20, 40])["polymer"]) <= 0)
    assert np.all(np.diff(vary("c4f8_flow", [0, 10, 20, 40])["polymer"]) >= 0)
    assert np.all(np.diff(vary("he_pressure", [4, 8, 16, 20])["wafer_temp"]) < 0)
    depth = vary("etch_time", [50, 100, 200])["depth"]
    np.testing.assert_allclose(depth[1:] / depth[0], [2.0, 4.0])


def test_objective_is_not_separable(family):
    # f(a, b) - f(a', b) depends on b: a non-additive interaction between two parameters.
    task = family.recipe(0)
    frame = random_recipes(family, 200, seed=3)
    diffs = []
    for b in (5.0, 60.0):
        lo, hi = frame.copy(), frame.copy()
        lo["pressure"] = hi["pressure"] = b
        lo["bias_power"], hi["bias_power"] = 200.0, 900.0
        diffs.append(family.score(task, hi) - family.score(task, lo))
    assert np.abs(diffs[0] - diffs[1]).max() > 0.05


def test_landscape_optimum_beats_random_search(family):
    task = family.recipe(TUNING_OFFSET)
    f_star, f_median = family.landscape(task, samples=20_000, polish=2)
    f = family.score(task, random_recipes(family, 300, seed=9))
    assert f_median < f.max() < f_star <= 1.0
    # Hard, as real recipes are: 300 random runs stay far from the optimum.
    assert (f_star - f.max()) / (f_star - f_median) > 0.2


def test_history_is_fab_log_shaped_and_round_trips(family, tmp_path):
    runs = history_runs(family, 0, 120, seed=0)
    assert len(runs) == 120 and runs["recipe"].nunique() == 1
    assert family.space.feasible(family.space.values(runs)).all()
    # Most runs cluster around a working recipe: far tighter than uniform.
    cube = family.space.to_cube(family.space.values(runs))
    assert np.median(np.abs(cube - np.median(cube, axis=0))) < 0.15
    family5 = get_family("etch", seed=5)
    paths = write_history(family5, tmp_path / "history", recipes=3, runs=40, seed=5)
    assert [p.name for p in paths] == ["recipe_000.csv", "recipe_001.csv", "recipe_002.csv"]
    spec = family.spec.model_dump(mode="json") | {"history": ["history/*.csv"]}
    (tmp_path / "c.yaml").write_text(__import__("yaml").safe_dump(spec))
    loaded = load_spec(tmp_path / "c.yaml")
    table = read_history(paths, loaded.parameter_names, loaded.metric_names)
    assert len(table) == 120 and table["recipe"].nunique() == 3
    again = history_runs(family5, 1, 40, seed=5)  # the CSV holds what the generator made
    written = table[table.recipe == again.recipe[0]].iloc[:, 1:].to_numpy()
    np.testing.assert_allclose(written, again.iloc[:, 1:].to_numpy(), rtol=1e-5)


def test_history_file_missing_a_column_is_one_line(family, tmp_path):
    path = tmp_path / "h.csv"
    history_runs(family, 0, 10, seed=0).drop(columns=["gap"]).to_csv(path, index=False)
    with pytest.raises(Exception, match=r"h\.csv: history file lacks column 'gap'"):
        read_history([path], family.spec.parameter_names, family.spec.metric_names)


def test_etch_recipe_is_a_frozen_record():
    recipe = EtchRecipe.draw(np.random.default_rng(0))
    with pytest.raises(AttributeError):
        recipe.target_depth = 1.0  # type: ignore[misc]


def test_unlike_family_draws_every_constant_outside_the_etch_prior(family):
    unlike = get_family("etch-unlike")
    a = [family.recipe(i) for i in range(300)]
    b = [unlike.recipe(TUNING_OFFSET + i) for i in range(300)]

    def values(recipes, name):
        return np.array([getattr(r, name) for r in recipes])

    above = ("target_depth", "rate_scale", "activation", "energy_threshold", "energy_opt")
    for name in (*above, "depth_tol", "cd_tol", "o2_strength"):
        assert values(b, name).min() >= values(a, name).max(), name
    below = ("polymer_opt", "selectivity_min", "nu_floor", "wall_critical", "defect_base")
    for name in below:
        assert values(b, name).max() <= values(a, name).min(), name
    window = lambda rs: values(rs, "polymer_stop") - values(rs, "polymer_opt")  # noqa: E731
    assert window(b).max() <= window(a).min()
    assert np.abs(values(b, "tilt")).min() >= np.abs(values(a, "tilt")).max()
    assert np.abs(values(b, "split_opt") - 0.5).min() >= np.abs(values(a, "split_opt") - 0.5).max()
    # The uniformity optimum moves the other way with pressure.
    assert (values(b, "split_pressure") > 0).all() and (values(a, "split_pressure") < 0).all()
    # Still a recipe worth optimizing: a good optimum, far above random recipes.
    task = unlike.recipe(TUNING_OFFSET)
    f_star, f_median = unlike.landscape(task, samples=20_000, polish=2)
    assert f_star > 0.7 and f_star - f_median > 0.5
