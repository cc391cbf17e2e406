"""Parse linear constraint strings over parameter names, without ``eval``.

A constraint is written as the engineer would say it, for example
``"cf4_flow + chf3_flow + o2_flow <= 250"`` or ``"bias_power <= 0.8 * source_power"``.
It is parsed with :mod:`ast` into a :class:`LinearConstraint`: coefficients per
parameter, an operator, and a right-hand side, all in process units. Only
sums of constants times names are accepted; anything else is an error that
says why.

Example:
    >>> c = parse_constraint("a + 2*b <= 10 + c", ["a", "b", "c"])
    >>> c.coefficients, c.op, c.rhs
    ({'a': 1.0, 'b': 2.0, 'c': -1.0}, '<=', 10.0)
"""

from __future__ import annotations

import ast
import difflib
import keyword
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from recipeopt.exceptions import ConstraintSyntaxError

Op = Literal["<=", ">=", "=="]
_OPS: dict[type[ast.cmpop], Op] = {
    ast.LtE: "<=",
    ast.Lt: "<=",
    ast.GtE: ">=",
    ast.Gt: ">=",
    ast.Eq: "==",
}


@dataclass(frozen=True)
class LinearConstraint:
    """``sum(coefficients[name] * value[name]) op rhs``, in process units.

    Attributes:
        coefficients: Coefficient of each parameter that appears (non-zero only).
        op: ``"<="``, ``">="`` or ``"=="``.
        rhs: The constant right-hand side.
        text: The constraint as written in the campaign.
    """

    coefficients: dict[str, float]
    op: Op
    rhs: float
    text: str


def parse_constraint(
    text: str, names: Sequence[str], *, kind: str = "parameter"
) -> LinearConstraint:
    """Parse one linear (in)equality over ``names``.

    Args:
        text: The constraint, e.g. ``"cf4_flow + o2_flow <= 250"``.
        names: The names that may appear.
        kind: What the names are (``parameter`` or ``metric``), for messages.

    Returns:
        The parsed constraint, with every term moved to the left-hand side.

    Raises:
        ConstraintSyntaxError: If the text is not a linear comparison of
            constants and known parameter names.
    """
    # NOTE: a name like ``yield`` is a Python keyword; give it a parseable alias.
    aliases = {n: f"_kw_{n}" for n in names if keyword.iskeyword(n)}
    source = text.strip()
    for name, alias in aliases.items():
        source = re.sub(rf"\b{name}\b", alias, source)
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as err:
        raise ConstraintSyntaxError(
            f"cannot parse {text!r} ({err.msg}); write it like 'a + 2 * b <= 100'"
        ) from None
    node = tree.body
    if not isinstance(node, ast.Compare) or len(node.ops) != 1:
        raise ConstraintSyntaxError(
            f"{text!r} must be one comparison with <=, >= or ==, like 'a + b <= 100'"
        )
    op = _OPS.get(type(node.ops[0]))
    if op is None:
        raise ConstraintSyntaxError(f"{text!r} uses an unsupported comparison; use <=, >= or ==")
    known = {aliases.get(n, n) for n in names}
    try:
        left_terms, left_const = _linear(node.left, text, known, kind)
        right_terms, right_const = _linear(node.comparators[0], text, known, kind)
    except ConstraintSyntaxError as err:
        message = str(err).replace(repr(source), repr(text))
        for name, alias in aliases.items():
            message = message.replace(alias, name)
        raise ConstraintSyntaxError(message) from None
    coefficients = dict(left_terms)
    for name, coef in right_terms.items():
        coefficients[name] = coefficients.get(name, 0.0) - coef
    unalias = {alias: name for name, alias in aliases.items()}
    coefficients = {unalias.get(k, k): v for k, v in coefficients.items() if v != 0.0}
    if not coefficients:
        raise ConstraintSyntaxError(f"{text!r} names no {kind}; remove it or add one")
    ordered = {name: coefficients[name] for name in names if name in coefficients}
    return LinearConstraint(ordered, op, right_const - left_const, text)


def _linear(
    node: ast.expr, text: str, known: set[str], kind: str
) -> tuple[dict[str, float], float]:
    """Reduce an expression to ``(coefficients, constant)`` or raise."""
    if isinstance(node, ast.Name):
        if node.id not in known:
            close = difflib.get_close_matches(node.id, sorted(known), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"use a {kind} name"
            raise ConstraintSyntaxError(f"{text!r} names unknown {kind} {node.id!r}; {hint}")
        return {node.id: 1.0}, 0.0
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
    ):
        return {}, float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        terms, const = _linear(node.operand, text, known, kind)
        sign = -1.0 if isinstance(node.op, ast.USub) else 1.0
        return {k: sign * v for k, v in terms.items()}, sign * const
    if isinstance(node, ast.BinOp):
        lt, lc = _linear(node.left, text, known, kind)
        rt, rc = _linear(node.right, text, known, kind)
        if isinstance(node.op, ast.Add | ast.Sub):
            sign = 1.0 if isinstance(node.op, ast.Add) else -1.0
            terms = dict(lt)
            for k, v in rt.items():
                terms[k] = terms.get(k, 0.0) + sign * v
            return terms, lc + sign * rc
        if isinstance(node.op, ast.Mult):
            if lt and rt:
                raise ConstraintSyntaxError(
                    f"{text!r} multiplies two parameters; constraints must be linear"
                )
            if lt:
                return {k: v * rc for k, v in lt.items()}, lc * rc
            return {k: v * lc for k, v in rt.items()}, lc * rc
        if isinstance(node.op, ast.Div):
            if rt:
                raise ConstraintSyntaxError(
                    f"{text!r} divides by a parameter; constraints must be linear"
                )
            if rc == 0.0:
                raise ConstraintSyntaxError(f"{text!r} divides by zero")
            return {k: v / rc for k, v in lt.items()}, lc / rc
    raise ConstraintSyntaxError(
        f"{text!r} is not linear: only numbers, parameter names, +, -, * and / are allowed"
    )
