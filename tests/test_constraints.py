import pytest

from recipeopt.constraints import parse_constraint
from recipeopt.exceptions import ConstraintSyntaxError

NAMES = ["a", "b", "c"]


@pytest.mark.parametrize(
    ("text", "coefficients", "op", "rhs"),
    [
        ("a + b <= 10", {"a": 1.0, "b": 1.0}, "<=", 10.0),
        ("a + 2*b <= 10 + c", {"a": 1.0, "b": 2.0, "c": -1.0}, "<=", 10.0),
        ("b >= 0.5 * a", {"a": -0.5, "b": 1.0}, ">=", 0.0),
        ("-(a - b) / 2 == 1", {"a": -0.5, "b": 0.5}, "==", 1.0),
        ("a < 3", {"a": 1.0}, "<=", 3.0),
        ("3 * (a + b) - 2 >= c * 4", {"a": 3.0, "b": 3.0, "c": -4.0}, ">=", 2.0),
    ],
)
def test_parse_linear_forms(text, coefficients, op, rhs):
    c = parse_constraint(text, NAMES)
    assert c.coefficients == pytest.approx(coefficients)
    assert c.op == op
    assert c.rhs == pytest.approx(rhs)
    assert c.text == text


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a + d <= 1", "unknown parameter 'd'"),
        ("a * b <= 1", "multiplies two parameters"),
        ("a / b <= 1", "divides by a parameter"),
        ("a + b", "one comparison"),
        ("0 < a < 1", "one comparison"),
        ("a + <= 1", "cannot parse"),
        ("a != 1", "unsupported comparison"),
        ("__import__('os') <= 1", "not linear"),
        ("a - a <= 1", "names no parameter"),
    ],
)
def test_rejects_non_linear_or_unknown(text, fragment):
    with pytest.raises(ConstraintSyntaxError, match=fragment):
        parse_constraint(text, NAMES)


def test_unknown_name_suggests_close_match():
    with pytest.raises(ConstraintSyntaxError, match="did you mean 'cf4_flow'"):
        parse_constraint("cf5_flow <= 3", ["cf4_flow", "o2_flow"])
