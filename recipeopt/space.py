"""Translate recipes between process units and the unit cube.

Outside, a recipe is a row of setpoints in process units (``source_power`` in W).
Inside, it is a point ``x`` in ``[0, 1]^d``, one coordinate per parameter in spec
order. A linear-scale parameter maps ``low -> 0`` and ``high -> 1``; a log-scale
one maps ``log(low) -> 0`` and ``log(high) -> 1``. Decoding snaps every value to
the parameter's step grid ``low + k * step`` and to its fixed value, so what
leaves this module is a setpoint the tool accepts.

A categorical parameter is held, in process values, as the position ``c`` of
its choice (so recipe arrays stay numeric), and sits on the cube at
``c / (k - 1)`` for ``k`` choices; :meth:`Space.frame` turns codes back into
labels.

This module and :mod:`recipeopt.objective` are the only places that translate
between the two vocabularies.

Example:
    >>> space = Space.from_spec(spec)  # doctest: +SKIP
    >>> X = space.to_cube(space.values(df))  # doctest: +SKIP
    >>> df_again = space.frame(space.from_cube(X))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import ValidationError

from recipeopt.constraints import LinearConstraint
from recipeopt.exceptions import SpecError
from recipeopt.spec import (
    CampaignSpec,
    CategoricalParameter,
    NumericParameter,
    Parameter,
    format_validation_error,
    on_grid,
)

#: Two recipes closer than this in every cube coordinate are the same recipe.
SAME_RECIPE_ATOL = 1e-6


@dataclass(frozen=True)
class CubeConstraint:
    """``sum(coefficients * x[indices]) >= rhs`` (or ``==``) on the unit cube, BoTorch's form."""

    indices: np.ndarray
    coefficients: np.ndarray
    rhs: float
    equality: bool


class Space:
    """The parameter space of a campaign: encode, decode, snap and check recipes."""

    def __init__(
        self,
        parameters: Sequence[Parameter],
        constraints: Sequence[LinearConstraint] = (),
    ) -> None:
        self.parameters = tuple(parameters)
        self.constraints = tuple(constraints)
        self.names = [p.name for p in self.parameters]
        self.index = {n: j for j, n in enumerate(self.names)}
        self.lower = np.array([p.bounds[0] for p in self.parameters], dtype=float)
        self.upper = np.array([p.bounds[1] for p in self.parameters], dtype=float)
        self.log = np.array([p.scale == "log" for p in self.parameters])
        self.step = np.array(
            [np.nan if p.resolution is None else p.resolution for p in self.parameters], dtype=float
        )
        #: Choices of each categorical parameter, by index.
        self.categorical = {
            j: list(p.choices)
            for j, p in enumerate(self.parameters)
            if isinstance(p, CategoricalParameter)
        }
        self.fixed = {
            p.name: float(
                p.choices.index(p.fixed) if isinstance(p, CategoricalParameter) else p.fixed
            )
            for p in self.parameters
            if p.fixed is not None
        }

    @classmethod
    def from_spec(cls, spec: CampaignSpec) -> Space:
        """Build the space of a validated campaign spec."""
        return cls(spec.parameters, spec.linear_constraints())

    @property
    def dim(self) -> int:
        """Number of parameters, ``d``."""
        return len(self.parameters)

    def with_fixed(self, fixed: Mapping[str, float | str]) -> Space:
        """Return a copy with extra parameters pinned (e.g. ``suggest --fix``).

        Args:
            fixed: Values in process units, or labels for categorical parameters
                (numbers may come as text, as from the command line).

        Raises:
            SpecError: If a name is unknown or a value is outside its bounds,
                steps or choices.
        """
        params = list(self.parameters)
        for name, value in fixed.items():
            if name not in self.index:
                raise SpecError(
                    f"--fix {name}: unknown parameter; choose one of {', '.join(self.names)}"
                )
            p = params[self.index[name]]
            if isinstance(p, NumericParameter):
                try:
                    value = float(value)
                except ValueError:
                    raise SpecError(f"--fix {name}={value}: not a number") from None
            try:
                params[self.index[name]] = type(p).model_validate(
                    {**p.model_dump(), "fixed": value}
                )
            except ValidationError as err:
                shown = f"{value:g}" if isinstance(value, float) else value
                raise SpecError(
                    f"--fix {name}={shown}: {format_validation_error(err, {})}"
                ) from None
        return Space(params, self.constraints)

    # -- encode / decode -------------------------------------------------

    def values(self, frame: pd.DataFrame) -> np.ndarray:
        """Return the ``n x d`` setpoints of ``frame``'s parameter columns, in spec order.

        Categorical labels become choice codes; a label that is not a choice becomes NaN.
        """
        columns = frame[self.names].copy()
        for j, choices in self.categorical.items():
            name = self.names[j]
            columns[name] = columns[name].map({c: float(i) for i, c in enumerate(choices)})
        return columns.to_numpy(dtype=float)

    def frame(self, values: np.ndarray) -> pd.DataFrame:
        """Return ``values`` (``n x d``, process units) as a DataFrame with parameter columns.

        Choice codes of categorical parameters become their labels.
        """
        frame = pd.DataFrame(np.atleast_2d(values), columns=self.names)
        for j, choices in self.categorical.items():
            codes = frame[self.names[j]].round().astype(int)
            frame[self.names[j]] = [choices[c] for c in codes]
        return frame

    def records(self, values: np.ndarray) -> list[dict[str, float | str]]:
        """Return each row of ``values`` as ``{name: value}``: floats, and labels for choices."""
        return [
            {k: (v if isinstance(v, str) else float(v)) for k, v in row.items()}
            for row in self.frame(values).to_dict("records")
        ]

    def uniform_to_cube(self, U: np.ndarray) -> np.ndarray:
        """Map uniform draws on ``[0, 1]^d`` to cube points with every choice equally likely.

        Rounding ``u * (k - 1)`` would give the first and last choice half the
        weight of the others; ``floor(u * k)`` does not.
        """
        X = np.array(U, dtype=float, copy=True)
        for j, choices in self.categorical.items():
            k = len(choices)
            X[:, j] = np.minimum(np.floor(X[:, j] * k), k - 1) / max(k - 1, 1)
        return X

    def to_cube(self, values: np.ndarray) -> np.ndarray:
        """Map ``n x d`` process values to the unit cube."""
        values = np.atleast_2d(np.asarray(values, dtype=float))
        lo, hi = self.lower, self.upper
        out = (values - lo) / np.where(hi > lo, hi - lo, 1.0)  # a one-choice categorical sits at 0
        if self.log.any():
            logged = np.log(values[:, self.log]) - np.log(lo[self.log])
            out[:, self.log] = logged / (np.log(hi[self.log]) - np.log(lo[self.log]))
        return out

    def from_cube(self, X: np.ndarray, *, snap: bool = True) -> np.ndarray:
        """Map ``n x d`` unit-cube points to process values, snapped to steps and fixed values."""
        X = np.clip(np.atleast_2d(np.asarray(X, dtype=float)), 0.0, 1.0)
        lo, hi = self.lower, self.upper
        values = lo + X * (hi - lo)
        if self.log.any():
            span = np.log(hi[self.log]) - np.log(lo[self.log])
            values[:, self.log] = np.exp(np.log(lo[self.log]) + X[:, self.log] * span)
        return self.snap(values) if snap else values

    def snap(self, values: np.ndarray, *, direction: np.ndarray | None = None) -> np.ndarray:
        """Snap process values onto their step grids, bounds and fixed values.

        Args:
            values: ``n x d`` process values.
            direction: Optional ``n x d`` array of -1 (round down), 0 (nearest) or
                +1 (round up), used to repair constraints after rounding.

        Returns:
            The snapped ``n x d`` values; steps are reconstructed as ``low + k * step``
            and rounded to the step's decimals, so ``0.1`` steps stay exact in print.
        """
        values = np.clip(np.atleast_2d(np.asarray(values, dtype=float)), self.lower, self.upper)
        out = values.copy()
        has_step = ~np.isnan(self.step)
        if has_step.any():
            lo, st = self.lower[has_step], self.step[has_step]
            k = (values[:, has_step] - lo) / st
            if direction is None:
                k = np.round(k)
            else:
                d = direction[:, has_step]
                k = np.where(
                    d < 0, np.floor(k + 1e-9), np.where(d > 0, np.ceil(k - 1e-9), np.round(k))
                )
            k = np.clip(k, 0, np.round((self.upper[has_step] - lo) / st))
            snapped = lo + k * st
            out[:, has_step] = np.round(snapped, _decimals(st))
        for name, value in self.fixed.items():
            out[:, self.index[name]] = value
        return out

    def grid_size(self) -> float:
        """Return how many distinct recipes the box holds (inf with an unstepped parameter).

        Counts grid points per parameter (choices, steps; 1 if pinned), before
        linear constraints.
        """
        sizes = np.where(
            np.isnan(self.step), np.inf, np.round((self.upper - self.lower) / self.step) + 1
        )
        for name in self.fixed:
            sizes[self.index[name]] = 1.0
        return float(np.prod(sizes))

    @property
    def choice_counts(self) -> tuple[tuple[int, int], ...]:
        """Return ``(index, number of choices)`` of each categorical parameter, in order."""
        return tuple((j, len(c)) for j, c in sorted(self.categorical.items()))

    def fixed_cube(self) -> dict[int, float]:
        """Return the unit-cube coordinate of each pinned parameter, by index."""
        row = (self.lower + self.upper) / 2.0
        for name, value in self.fixed.items():
            row[self.index[name]] = value
        cube = self.to_cube(row)[0]
        return {self.index[name]: float(cube[self.index[name]]) for name in self.fixed}

    # -- constraints -----------------------------------------------------

    def cube_constraints(self) -> list[CubeConstraint]:
        """Return the linear constraints in unit-cube coordinates, as ``>=`` or ``==``."""
        width = self.upper - self.lower
        result = []
        for c in self.constraints:
            idx = np.array([self.index[n] for n in c.coefficients])
            coef = np.array(list(c.coefficients.values()))
            # sum a (lo + w x) op b  ->  sum (a w) x op b - sum a lo
            a = coef * width[idx]
            b = c.rhs - float(coef @ self.lower[idx])
            if c.op == "<=":
                a, b = -a, -b
            result.append(CubeConstraint(idx, a, b, c.op == "=="))
        return result

    def feasible(self, values: np.ndarray) -> np.ndarray:
        """Return a boolean mask of rows (process units) that satisfy every constraint.

        The tolerance is relative: ``1e-6`` of the largest of the right-hand side
        and the coefficients' magnitudes times the parameter ranges.
        """
        values = np.atleast_2d(np.asarray(values, dtype=float))
        ok = np.ones(len(values), dtype=bool)
        for c in self.constraints:
            idx = [self.index[n] for n in c.coefficients]
            coef = np.array(list(c.coefficients.values()))
            lhs = values[:, idx] @ coef
            tol = 1e-6 * max(1.0, abs(c.rhs), float(np.abs(coef * self.upper[idx]).max()))
            if c.op == "<=":
                ok &= lhs <= c.rhs + tol
            elif c.op == ">=":
                ok &= lhs >= c.rhs - tol
            else:
                ok &= np.abs(lhs - c.rhs) <= tol
        return ok

    def snap_feasible(self, raw: np.ndarray) -> np.ndarray:
        """Snap feasible continuous values to steps, keeping the constraints true.

        Rounding to the nearest step can push a recipe just over a constraint. For
        each violated ``<=`` (``>=``) constraint, the parameters in it are rounded
        in the direction that lowers (raises) its left-hand side instead; since the
        unrounded recipe satisfied it, the rounded one does too. A violated
        equality is then closed by solving it for one of its free parameters
        (see :meth:`_close_equalities`).

        Args:
            raw: ``n x d`` unrounded process values, feasible up to optimizer tolerance.

        Returns:
            ``n x d`` snapped values; rows that still violate a constraint stay as
            snapped (check them with :meth:`feasible`).
        """
        snapped = self.snap(raw)
        bad = ~self.feasible(snapped)
        if not bad.any() or not self.constraints:
            return snapped
        direction = np.zeros_like(snapped)
        for c in self.constraints:
            if c.op == "==":
                continue
            sign = 1.0 if c.op == "<=" else -1.0
            for name, coef in c.coefficients.items():
                direction[bad, self.index[name]] = -np.sign(sign * coef)
        snapped[bad] = self.snap(raw[bad], direction=direction[bad])
        return self._close_equalities(snapped)

    def _close_equalities(self, values: np.ndarray) -> np.ndarray:
        """Solve each violated equality for one free parameter in it, and re-snap.

        Parameters are tried finest step first (unstepped ones first of all); the
        first that lands on its grid, inside its bounds, with the equality met,
        is kept. Rows where none works stay violated.
        """
        values = values.copy()
        for c in self.constraints:
            if c.op != "==":
                continue
            names = [n for n in c.coefficients if n not in self.fixed]
            names.sort(
                key=lambda n: np.nan_to_num(
                    self.step[self.index[n]] * abs(c.coefficients[n]), nan=-1.0
                )
            )
            for i in np.flatnonzero(~self.feasible(values)):
                for name in names:
                    j = self.index[name]
                    trial = values[i].copy()
                    others = sum(
                        coef * trial[self.index[n]]
                        for n, coef in c.coefficients.items()
                        if n != name
                    )
                    trial[j] = (c.rhs - others) / c.coefficients[name]
                    if not self.in_bounds(trial).all():
                        continue
                    trial = self.snap(trial)[0]
                    if self.feasible(trial).all():
                        values[i] = trial
                        break
        return values

    # -- checks of recorded recipes ----------------------------------------

    def outside(self, values: np.ndarray) -> list[str]:
        """Say, per row, why a recipe lies outside the space ("" if it does not).

        Args:
            values: ``n x d`` process values (choice codes; NaN for a label that
                is not a choice, as from :meth:`values`).

        Returns:
            The first parameter outside its bounds or choices, per row, e.g.
            ``"gap 18 is outside the bounds [20, 50]"``.
        """
        values = np.atleast_2d(np.asarray(values, dtype=float))
        bad = ~self.in_bounds(values) | np.isnan(values)
        reasons = []
        for row, mask in zip(values, bad, strict=True):
            if not mask.any():
                reasons.append("")
                continue
            j = int(np.flatnonzero(mask)[0])
            name = self.names[j]
            if j in self.categorical:
                reasons.append(f"{name} is not one of {', '.join(self.categorical[j])}")
            else:
                reasons.append(
                    f"{name} {row[j]:g} is outside the bounds "
                    f"[{self.lower[j]:g}, {self.upper[j]:g}]"
                )
        return reasons

    def off_plan(self, values: np.ndarray) -> list[str]:
        """Say, per row, which rule of the plan a recipe inside the bounds breaks ("" if none).

        The rules are the ones every suggestion keeps: whole numbers for integer
        parameters, the step grid, pinned values, and the linear constraints.

        Args:
            values: ``n x d`` process values inside the bounds (choice codes).
        """
        values = np.atleast_2d(np.asarray(values, dtype=float))
        feasible = self.feasible(values)
        reasons = []
        for i, row in enumerate(values):
            reasons.append(self._broken_rule(row, bool(feasible[i])))
        return reasons

    def _broken_rule(self, row: np.ndarray, feasible: bool) -> str:
        for j, p in enumerate(self.parameters):
            if j in self.categorical:
                continue
            name, value, step = self.names[j], row[j], self.step[j]
            if isinstance(p, NumericParameter) and p.type == "integer" and value != round(value):
                return f"{name} {value:g} is not a whole number (integer parameter)"
            if not np.isnan(step) and not on_grid(value, self.lower[j], step):
                return f"{name} {value:g} is not on its step grid {self.lower[j]:g} + k*{step:g}"
        for name, pinned in self.fixed.items():
            j = self.index[name]
            if abs(row[j] - pinned) > 1e-9 * max(1.0, abs(pinned)):
                shown = self.categorical[j][int(pinned)] if j in self.categorical else f"{pinned:g}"
                return f"{name} is pinned to {shown} (fixed in the campaign)"
        if not feasible:
            for c in self.constraints:
                if not Space(self.parameters, [c]).feasible(row).all():
                    lhs = sum(coef * row[self.index[n]] for n, coef in c.coefficients.items())
                    return f"breaks the constraint {c.text!r} (left side {lhs:g})"
        return ""

    def in_bounds(self, values: np.ndarray) -> np.ndarray:
        """Return an ``n x d`` mask of values inside their bounds."""
        values = np.atleast_2d(values)
        tol = 1e-9 * np.maximum(1.0, np.abs(self.upper - self.lower))
        return (values >= self.lower - tol) & (values <= self.upper + tol)


def same_recipe(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return an ``n x m`` mask: row i of ``a`` equals row j of ``b`` (unit-cube coordinates)."""
    a, b = np.atleast_2d(a), np.atleast_2d(b)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), dtype=bool)
    return np.all(np.abs(a[:, None, :] - b[None, :, :]) <= SAME_RECIPE_ATOL, axis=-1)


def _decimals(step: np.ndarray) -> int:
    """Decimals that represent every step exactly (0.5 -> 1, 0.01 -> 2, 10 -> 0)."""
    for d in range(12):
        if np.all(np.abs(step * 10**d - np.round(step * 10**d)) < 1e-9):
            return d + 2  # two spare digits so low + k*step with odd lows stays exact
    return 12
