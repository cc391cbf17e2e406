"""Encode/decode between process units and the unit cube, steps, and constraint-safe rounding."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recipeopt.constraints import parse_constraint
from recipeopt.exceptions import SpecError
from recipeopt.space import Space, same_recipe
from recipeopt.spec import NumericParameter, load_spec
from tests.conftest import ETCH42


def P(name, bounds, **kw):
    return NumericParameter(name=name, bounds=bounds, **kw)


def test_linear_and_log_encoding():
    space = Space([P("a", (0, 10)), P("b", (1, 100), scale="log")])
    values = np.array([[0.0, 1.0], [10.0, 100.0], [5.0, 10.0]])
    cube = space.to_cube(values)
    np.testing.assert_allclose(cube, [[0, 0], [1, 1], [0.5, 0.5]])
    np.testing.assert_allclose(space.from_cube(cube), values)


def test_steps_are_multiples_from_low_and_print_exactly():
    space = Space([P("split", (0.3, 0.7), step=0.1), P("power", (300, 2500), step=10)])
    out = space.from_cube(np.array([[0.37, 0.123456], [0.0, 1.0], [0.999, 0.5]]))
    for value in out[:, 0]:
        assert value in (0.3, 0.4, 0.5, 0.6, 0.7)  # exact floats: no 0.30000000000000004
    assert np.all((out[:, 1] - 300) % 10 == 0)
    assert out[1, 1] == 2500


def test_log_scale_with_steps_stays_on_grid_and_in_bounds():
    space = Space([P("flow", (1, 1000), step=1, scale="log")])
    out = space.from_cube(np.linspace(0, 1, 101)[:, None])
    assert np.all(out == np.round(out)) and out.min() == 1 and out.max() == 1000


def test_integer_parameter_default_step_is_one():
    space = Space([P("gap", (20, 50), type="integer")])
    out = space.from_cube(np.array([[0.51], [0.49]]))
    assert np.all(out == np.round(out))


def test_fixed_values_win():
    space = Space([P("a", (0, 10), fixed=3.0), P("b", (0, 1))])
    out = space.from_cube(np.array([[0.9, 0.2]]))
    assert out[0, 0] == 3.0
    again = space.with_fixed({"b": 0.5}).from_cube(np.array([[0.9, 0.2]]))
    assert again[0].tolist() == [3.0, 0.5]


def test_with_fixed_rejects_bad_values():
    space = Space([P("a", (0, 10), step=1)])
    with pytest.raises(SpecError, match="--fix a=11"):
        space.with_fixed({"a": 11})
    with pytest.raises(SpecError, match="not on the step grid"):
        space.with_fixed({"a": 2.5})
    with pytest.raises(SpecError, match="unknown parameter"):
        space.with_fixed({"zz": 1})


def test_cube_constraints_match_unit_constraints():
    space = Space.from_spec(load_spec(ETCH42))
    rng = np.random.default_rng(0)
    X = rng.random((500, space.dim))
    values = space.from_cube(X, snap=False)
    in_cube = np.ones(len(X), dtype=bool)
    for c in space.cube_constraints():
        in_cube &= X[:, c.indices] @ c.coefficients >= c.rhs - 1e-9
    np.testing.assert_array_equal(in_cube, space.feasible(values))
    assert 0 < in_cube.mean() < 1  # the example's constraints do cut the box


def test_snap_feasible_repairs_rounding_over_a_constraint():
    space = Space(
        [P("a", (0, 10), step=2), P("b", (0, 10), step=2)],
        [parse_constraint("a + b <= 9", ["a", "b"])],
    )
    raw = np.array([[5.1, 3.9], [4.5, 4.5]])  # both feasible before rounding
    assert space.feasible(raw).all()
    assert not space.feasible(space.snap(raw)).all()  # nearest rounding: 6 + 4 = 10 > 9
    fixed = space.snap_feasible(raw)
    assert space.feasible(fixed).all()
    assert np.all(fixed % 2 == 0)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(0, 1), min_size=15, max_size=15),
)
def test_decode_encode_is_stable_on_the_grid(u):
    space = Space.from_spec(load_spec(ETCH42))
    values = space.from_cube(np.array([u]))
    assert space.in_bounds(values).all()
    again = space.from_cube(space.to_cube(values))
    np.testing.assert_array_equal(values, again)


def test_same_recipe():
    a = np.array([[0.1, 0.2], [0.3, 0.4]])
    b = np.array([[0.3, 0.4], [0.5, 0.5]])
    np.testing.assert_array_equal(same_recipe(a, b), [[False, False], [True, False]])
    assert same_recipe(a, np.zeros((0, 2))).shape == (2, 0)
