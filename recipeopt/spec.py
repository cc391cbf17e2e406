"""The campaign YAML as frozen, validated pydantic records.

:func:`load_spec` reads a campaign file with pyyaml and validates it. Every
problem becomes one :class:`~recipeopt.exceptions.SpecError` whose message
names the file, the field path and the fix, for example::

    campaigns/etch42.yaml: parameters.pressure.bounds: lower (80) must be below upper (2); swap them

Example:
    >>> spec = load_spec("campaigns/etch42.yaml")  # doctest: +SKIP
    >>> [p.name for p in spec.parameters][:3]  # doctest: +SKIP
    ['source_power', 'bias_power', 'pressure']
"""

from __future__ import annotations

import glob
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from recipeopt.constraints import LinearConstraint, parse_constraint
from recipeopt.exceptions import InfeasibleConstraintsError, RecipeoptError, SpecError

_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"

#: Defaults for the seed use case's metrics: direction, weight, normalization range.
KNOWN_METRICS: dict[str, dict[str, Any]] = {
    "yield": {"unit": "%", "direction": "maximize", "weight": 0.6, "range": (0.0, 100.0)},
    "uniformity": {"unit": "%", "direction": "maximize", "weight": 0.3, "range": (90.0, 100.0)},
    "defects": {"unit": "1/cm2", "direction": "minimize", "weight": 0.1, "range": (1.0, 0.0)},
}


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _first_duplicate(names: list[str]) -> str | None:
    """Return the first name (in sorted order) that appears more than once, or None."""
    duplicates = sorted({n for n in names if names.count(n) > 1})
    return duplicates[0] if duplicates else None


def on_grid(value: float, low: float, step: float) -> bool:
    """Whether ``value`` is ``low + k * step`` for a whole ``k`` (to a relative 1e-6)."""
    k = (value - low) / step
    return abs(k - round(k)) <= 1e-6 * max(1.0, abs(k))


class NumericParameter(_Record):
    """A continuous or integer process setpoint.

    Attributes:
        name: Identifier used in constraints, tables and results files.
        unit: Unit shown to the engineer (``"W"``, ``"mTorr"``).
        type: ``"continuous"`` or ``"integer"``.
        bounds: ``[low, high]`` in ``unit``.
        step: Setpoint resolution; values are ``low + k * step``. Integers default to 1.
        scale: ``"log"`` to search the range on a log scale (needs ``low > 0``).
        fixed: Pin the parameter to this value.
        default: The value that runs stored before the parameter was added to the
            campaign used (needed once such runs exist).
    """

    name: str = Field(pattern=_NAME)
    unit: str = ""
    type: Literal["continuous", "integer"] = "continuous"
    bounds: tuple[float, float]
    step: float | None = None
    scale: Literal["linear", "log"] = "linear"
    fixed: float | None = None
    default: float | None = None
    description: str = ""

    @field_validator("default")
    @classmethod
    def _default_finite(cls, default: float | None) -> float | None:
        if default is not None and not math.isfinite(default):
            raise ValueError(f"default must be a finite number, got {default}")
        return default

    @field_validator("bounds")
    @classmethod
    def _bounds_ordered(cls, bounds: tuple[float, float]) -> tuple[float, float]:
        low, high = bounds
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError(f"bounds must be finite numbers, got [{low}, {high}]")
        if low >= high:
            raise ValueError(f"lower ({low:g}) must be below upper ({high:g}); swap them")
        return bounds

    @field_validator("step")
    @classmethod
    def _step_positive(cls, step: float | None) -> float | None:
        if step is not None and not (math.isfinite(step) and step > 0):
            raise ValueError(f"step must be a positive number, got {step}")
        return step

    @model_validator(mode="after")
    def _consistent(self) -> NumericParameter:
        low, high = self.bounds
        if self.type == "integer":
            if low != int(low) or high != int(high):
                raise ValueError(
                    f"bounds: an integer parameter needs whole bounds, got [{low:g}, {high:g}]"
                )
            if self.step is not None and self.step != int(self.step):
                raise ValueError(
                    f"step: an integer parameter needs a whole step, got {self.step:g}"
                )
        step = self.resolution
        if step is not None:
            if step > (high - low) * (1 + 1e-9):
                raise ValueError(
                    f"step: {step:g} is larger than the range {high - low:g}; make it smaller"
                )
            if not on_grid(high, low, step):
                raise ValueError(
                    f"step: {step:g} does not divide the range [{low:g}, {high:g}]; "
                    "choose a step that does, or move a bound"
                )
        if self.scale == "log" and low <= 0:
            raise ValueError(
                f"scale: log needs a positive lower bound, got {low:g}; use scale: linear"
            )
        if self.fixed is not None:
            if not low <= self.fixed <= high:
                raise ValueError(f"fixed: {self.fixed:g} is outside bounds [{low:g}, {high:g}]")
            if step is not None and not on_grid(self.fixed, low, step):
                raise ValueError(
                    f"fixed: {self.fixed:g} is not on the step grid {low:g} + k*{step:g}"
                )
        return self

    @property
    def resolution(self) -> float | None:
        """The effective step: ``step``, or 1 for an integer without one."""
        if self.step is None and self.type == "integer":
            return 1.0
        return self.step


class CategoricalParameter(_Record):
    """A choice among labels: a gas chemistry, a chamber, a chuck type.

    Attributes:
        name: Identifier used in tables and results files.
        type: ``"categorical"``.
        choices: The labels, in a fixed order; results files use them verbatim.
        fixed: Pin the parameter to one label.
        default: The label that runs stored before the parameter was added to the
            campaign used (needed once such runs exist).

    Inside, a choice is coded by its position ``c`` in ``choices`` and sits on
    the unit cube at ``c / (len(choices) - 1)``.
    """

    name: str = Field(pattern=_NAME)
    unit: str = ""
    type: Literal["categorical"] = "categorical"
    choices: list[str]
    fixed: str | None = None
    default: str | None = None
    description: str = ""

    @field_validator("choices", mode="before")
    @classmethod
    def _labels_are_text(cls, choices: Any) -> Any:
        if isinstance(choices, list):
            return [
                str(c) if isinstance(c, int | float) and not isinstance(c, bool) else c
                for c in choices
            ]
        return choices

    @field_validator("default", mode="before")
    @classmethod
    def _default_is_text(cls, default: Any) -> Any:
        if isinstance(default, int | float) and not isinstance(default, bool):
            return str(default)
        return default

    @field_validator("choices")
    @classmethod
    def _choices_unique(cls, choices: list[str]) -> list[str]:
        if len(choices) < 2:
            raise ValueError(
                f"choices: a categorical parameter needs at least two choices, got {choices}; "
                "add the alternatives, or make it a note of the campaign instead of a parameter"
            )
        if any(not c.strip() for c in choices):
            raise ValueError("choices: a choice is empty; give every choice a label")
        if (twice := _first_duplicate(choices)) is not None:
            raise ValueError(f"choices: {twice!r} is listed twice; list each choice once")
        return choices

    @model_validator(mode="after")
    def _fixed_is_a_choice(self) -> CategoricalParameter:
        if self.fixed is not None and self.fixed not in self.choices:
            raise ValueError(f"fixed: {self.fixed!r} is not one of the choices {self.choices}")
        return self

    @property
    def bounds(self) -> tuple[float, float]:
        """Range of the choice code, ``(0, len(choices) - 1)``."""
        return (0.0, float(len(self.choices) - 1))

    @property
    def resolution(self) -> float:
        """Codes are whole numbers."""
        return 1.0

    @property
    def scale(self) -> str:
        """Codes are spaced linearly on the cube."""
        return "linear"


Parameter = Annotated[NumericParameter | CategoricalParameter, Field(discriminator="type")]


class Metric(_Record):
    """A measured response and how it enters the weighted objective.

    Attributes:
        name: Column name in results files.
        unit: Unit shown to the engineer.
        direction: ``"maximize"`` or ``"minimize"``.
        weight: Non-negative weight in the weighted objective (optional with
            ``objective.mode: pareto``, where it only orders tables; default 1).
        range: ``[worst, best]`` in ``unit``; maps the metric to 0 (worst) .. 1 (best).
        limits: ``[low, high]``: the physically possible values (``null`` for no
            limit on a side); a recorded value outside them is rejected. Default
            from the unit (see :func:`implied_limits`): ``%`` is 0..100, counts and
            densities (``count``, ``1/cm2``, ``/wafer``...) are at least 0, others
            unlimited.
    """

    name: str = Field(pattern=_NAME)
    unit: str = ""
    direction: Literal["maximize", "minimize"]
    weight: float | None = None
    range: tuple[float, float]
    limits: tuple[float | None, float | None] | None = None

    @field_validator("limits")
    @classmethod
    def _limits_ordered(
        cls, limits: tuple[float | None, float | None] | None
    ) -> tuple[float | None, float | None] | None:
        if limits is None:
            return None
        low, high = limits
        if any(v is not None and not math.isfinite(v) for v in limits):
            raise ValueError(f"limits must be numbers or null, got {list(limits)}")
        if low is not None and high is not None and low >= high:
            raise ValueError(f"lower ({low:g}) must be below upper ({high:g}); swap them")
        return limits

    @property
    def physical_limits(self) -> tuple[float, float]:
        """The physically possible values, ``(low, high)``, infinite where unlimited."""
        low, high = self.limits if self.limits is not None else implied_limits(self.unit)
        return (-math.inf if low is None else low, math.inf if high is None else high)

    @field_validator("weight")
    @classmethod
    def _weight_non_negative(cls, weight: float | None) -> float | None:
        if weight is not None and not (math.isfinite(weight) and weight >= 0):
            raise ValueError(f"weight must be zero or positive, got {weight:g}")
        return weight

    @model_validator(mode="after")
    def _range_matches_direction(self) -> Metric:
        worst, best = self.range
        if not (math.isfinite(worst) and math.isfinite(best)) or worst == best:
            raise ValueError(
                f"range: needs two different finite numbers [worst, best], got {list(self.range)}"
            )
        if (self.direction == "maximize") != (best > worst):
            raise ValueError(
                f"range: [worst, best] = [{worst:g}, {best:g}] contradicts direction "
                f"{self.direction}; swap the two numbers"
            )
        return self


#: Units read as counts per area or per item: their values cannot be negative.
_COUNT_UNITS = re.compile(r"^(1/|#|(counts?|ea|particles?|defects?|ppm|ppb)\b)|/(cm2|cm\^2|wafer)$")


def implied_limits(unit: str) -> tuple[float | None, float | None]:
    """Return the physical limits a metric's unit implies: ``%`` 0..100, counts >= 0.

    Example:
        >>> implied_limits("%"), implied_limits("1/cm2"), implied_limits("nm")
        ((0.0, 100.0), (0.0, None), (None, None))
    """
    text = unit.strip().lower()
    if text == "%":
        return (0.0, 100.0)
    if _COUNT_UNITS.search(text):
        return (0.0, None)
    return (None, None)


class Objective(_Record):
    """The objective: each metric normalized by its range, then weighted (or traded off).

    Attributes:
        mode: ``weighted`` (default): batches maximize the weighted sum of the
            normalized metrics. ``pareto``: batches grow the hypervolume of the
            Pareto front over the metrics (from each metric's worst ``range``
            value), so the engineer sees the trade-off before fixing weights.
        metrics: The metrics and their weights.
        constraints: Outcome constraints a recipe must meet to count, written
            over metric names in their units, e.g. ``"defects <= 0.5"``.
        margin: A practical gain of the weighted objective (on its 0-1 scale): the
            stop signal asks how likely the next batch beats the best run by it.
    """

    mode: Literal["weighted", "pareto"] = "weighted"
    metrics: list[Metric] = Field(min_length=1)
    constraints: list[str] = Field(default_factory=list)
    margin: float = Field(default=0.01, gt=0, le=1)

    @field_validator("metrics", mode="before")
    @classmethod
    def _fill_known_defaults(cls, metrics: Any) -> Any:
        if not isinstance(metrics, list):
            return metrics
        filled = []
        for entry in metrics:
            if isinstance(entry, str):
                entry = {"name": entry}
            if isinstance(entry, dict) and entry.get("name") in KNOWN_METRICS:
                entry = {**KNOWN_METRICS[entry["name"]], **entry}
            filled.append(entry)
        return filled

    @field_validator("metrics")
    @classmethod
    def _unique(cls, metrics: list[Metric]) -> list[Metric]:
        if (twice := _first_duplicate([m.name for m in metrics])) is not None:
            raise ValueError(f"duplicate metric name {twice!r}; give each metric its own name")
        return metrics

    @model_validator(mode="after")
    def _weighted(self) -> Objective:
        if self.mode == "pareto":
            if len(self.metrics) < 2:
                raise ValueError("mode: pareto trades off at least two metrics; add one")
            return self
        for i, m in enumerate(self.metrics):
            if m.weight is None:
                raise ValueError(
                    f"metrics[{i}] ({m.name}): no weight; give it one, or set mode: pareto"
                )
        if not any(m.weight for m in self.metrics):
            raise ValueError("every weight is zero; give at least one metric a positive weight")
        return self

    @model_validator(mode="after")
    def _outcome_constraints_valid(self) -> Objective:
        for i, text in enumerate(self.constraints):
            try:
                constraint = parse_constraint(text, [m.name for m in self.metrics], kind="metric")
            except RecipeoptError as err:
                raise ValueError(f"constraints[{i}]: {err}") from None
            if constraint.op == "==":
                raise ValueError(
                    f"constraints[{i}]: {text!r} is an equality; outcome constraints use <= or >="
                )
        return self

    def outcome_constraints(self) -> list[LinearConstraint]:
        """Return the parsed outcome constraints, in spec order."""
        return [
            parse_constraint(text, [m.name for m in self.metrics], kind="metric")
            for text in self.constraints
        ]


def _default_objective() -> Objective:
    return Objective(metrics=[{"name": n, **d} for n, d in KNOWN_METRICS.items()])  # type: ignore[misc]


#: Settings that left the campaign file's ``model:`` block for the strategy's research
#: settings (:class:`recipeopt.strategy.config.StrategyConfig`, same names).
MOVED_MODEL_SETTINGS = frozenset(
    {
        "hidden",
        "layers",
        "epochs",
        "trust_region",
        "trust_region_patience",
        "trust_region_patience_runs",
        "algorithm",
        "inner_steps",
        "inner_lr",
        "learn_lr",
        "adapt_lr_scale",
        "greedy_runs",
        "residual_gp",
        "hedge",
        "meta_epochs",
    }
)


class ModelConfig(_Record):
    """What the engineer decides about how ``suggest`` models the campaign.

    The strategy's research settings (the greedy phase, the hedge, the trust
    region, the inner loop, the architecture) are not campaign settings: they
    have shipped defaults, chosen on the benchmark (``docs/decisions/``), and
    ``recipeopt benchmark --set name=value`` changes them for a study.

    Attributes:
        method: ``"maml-ensemble"`` (a deep ensemble meta-trained on the history,
            adapted to the campaign's runs; the default when ``history:`` is set),
            ``"ensemble"`` (the same ensemble trained from scratch; the default
            otherwise) or ``"gp"`` (BoTorch SingleTaskGP).
        members: Number of ensemble members.
        guard: Fall back to the scratch ensemble when it fits held-out runs better
            than the adapted prior (negative transfer).
        checkpoint: Where the meta-trained weights live (default:
            ``<name>.<algorithm>.pt`` beside the YAML).
    """

    method: Literal["maml-ensemble", "ensemble", "gp"] | None = None
    members: int = Field(default=8, ge=2, le=64)
    guard: bool = True
    checkpoint: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_research_settings(cls, data: Any) -> Any:
        if isinstance(data, dict):
            moved = sorted(k for k in data if k in MOVED_MODEL_SETTINGS)
            if moved:
                raise ValueError(
                    f"{moved[0]}: no longer a campaign setting (a research setting of the "
                    "strategy, with a shipped default: see docs/decisions/); remove it, or "
                    f"study it with `recipeopt benchmark --set {moved[0]}=VALUE`"
                )
        return data


class CampaignSpec(_Record):
    """A whole campaign: parameters, objective, constraints, batch and storage."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    parameters: list[Parameter] = Field(min_length=1)
    objective: Objective = Field(default_factory=_default_objective)
    constraints: list[str] = Field(default_factory=list)
    batch_size: int = Field(default=4, ge=1, le=256)
    initial_design: int = Field(default=8, ge=1, le=10000)
    seed: int = Field(default=0, ge=0)
    storage: str | None = None
    history: list[str] = Field(default_factory=list)
    model: ModelConfig = Field(default_factory=ModelConfig)

    @field_validator("parameters", mode="before")
    @classmethod
    def _default_type(cls, parameters: Any) -> Any:
        if isinstance(parameters, list):
            return [
                {"type": "categorical" if "choices" in p else "continuous", **p}
                if isinstance(p, dict) and "type" not in p
                else p
                for p in parameters
            ]
        return parameters

    @field_validator("parameters")
    @classmethod
    def _unique_parameters(cls, parameters: list[Parameter]) -> list[Parameter]:
        if (twice := _first_duplicate([p.name for p in parameters])) is not None:
            raise ValueError(
                f"duplicate parameter name {twice!r}; give each parameter its own name"
            )
        return parameters

    @field_validator("history")
    @classmethod
    def _history_exists(cls, history: list[str], info: ValidationInfo) -> list[str]:
        base = (info.context or {}).get("base_dir")
        if base is None:
            return history
        for pattern in history:
            if not resolve_glob(Path(base), pattern):
                raise ValueError(
                    f"{pattern!r} matches no file (relative to {base}); fix the path or remove it"
                )
        return history

    @model_validator(mode="after")
    def _constraints_valid(self) -> CampaignSpec:
        names = [p.name for p in self.parameters]
        by_name = {p.name: p for p in self.parameters}
        for i, text in enumerate(self.constraints):
            try:
                constraint = parse_constraint(text, names)
            except RecipeoptError as err:
                raise ValueError(f"constraints[{i}]: {err}") from None
            labels = [
                n for n in constraint.coefficients if isinstance(by_name[n], CategoricalParameter)
            ]
            if labels:
                raise ValueError(
                    f"constraints[{i}]: {text!r} uses categorical parameter {labels[0]!r}; "
                    "linear constraints need numeric parameters"
                )
            logged = [n for n in constraint.coefficients if by_name[n].scale == "log"]
            if logged:
                raise ValueError(
                    f"constraints[{i}]: {text!r} uses log-scaled parameter {logged[0]!r}; "
                    "linear constraints need linear-scale parameters"
                )
        _check_feasible(self)
        if self.model.method == "maml-ensemble" and not self.history:
            raise ValueError(
                "model.method: maml-ensemble meta-trains on earlier recipes, and history: "
                "lists none; add history: files or use method: ensemble"
            )
        return self

    @property
    def method(self) -> str:
        """The model ``suggest`` uses: ``model.method``, else maml-ensemble with history."""
        if self.model.method is not None:
            return self.model.method
        return "maml-ensemble" if self.history else "ensemble"

    def linear_constraints(self) -> list[LinearConstraint]:
        """Return the parsed constraints, in spec order."""
        names = [p.name for p in self.parameters]
        return [parse_constraint(text, names) for text in self.constraints]

    @property
    def metric_names(self) -> list[str]:
        """Metric names in spec order."""
        return [m.name for m in self.objective.metrics]

    @property
    def parameter_names(self) -> list[str]:
        """Parameter names in spec order."""
        return [p.name for p in self.parameters]


def resolve_glob(base: Path, pattern: str) -> list[Path]:
    """Return the sorted files matching ``pattern``, relative to ``base`` unless absolute."""
    full = pattern if Path(pattern).is_absolute() else str(base / pattern)
    return sorted(Path(p) for p in glob.glob(full, recursive=True) if Path(p).is_file())


def _check_feasible(spec: CampaignSpec) -> None:
    """Raise if no point in the box (with fixed values) satisfies every constraint."""
    if not spec.constraints:
        return
    from scipy.optimize import linprog

    names = spec.parameter_names
    index = {n: j for j, n in enumerate(names)}
    a_ub, b_ub, a_eq, b_eq = [], [], [], []
    for c in spec.linear_constraints():
        row = [0.0] * len(names)
        for name, coef in c.coefficients.items():
            row[index[name]] = coef
        if c.op == "<=":
            a_ub.append(row)
            b_ub.append(c.rhs)
        elif c.op == ">=":
            a_ub.append([-v for v in row])
            b_ub.append(-c.rhs)
        else:
            a_eq.append(row)
            b_eq.append(c.rhs)
    bounds = [
        (p.fixed, p.fixed) if isinstance(p, NumericParameter) and p.fixed is not None else p.bounds
        for p in spec.parameters
    ]
    result = linprog(
        [0.0] * len(names),
        A_ub=a_ub or None,
        b_ub=b_ub or None,
        A_eq=a_eq or None,
        b_eq=b_eq or None,
        bounds=bounds,
        method="highs",
    )
    if result.status == 2:
        raise InfeasibleConstraintsError(
            "no recipe within the bounds and fixed values satisfies all constraints together; "
            "loosen a constraint or widen the bounds"
        )


def load_spec(path: str | Path, *, check_history: bool = True) -> CampaignSpec:
    """Read and validate a campaign YAML file.

    Args:
        path: The campaign file.
        check_history: Require every ``history:`` pattern to match a file
            (off only while generating that history).

    Returns:
        The validated, frozen spec.

    Raises:
        SpecError: With a one-line message naming the file, field and fix.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{path}: no such campaign file; check the path") from None
    except UnicodeDecodeError:
        raise SpecError(
            f"{path}: not a text file (not UTF-8); give the campaign's YAML file"
        ) from None
    except IsADirectoryError:
        raise SpecError(f"{path}: is a folder; give the campaign's YAML file") from None
    except OSError as err:
        raise SpecError(f"{path}: cannot read the campaign file ({err.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise SpecError(f"{path}: YAML syntax error at {where}{problem}; fix the YAML") from None
    if not isinstance(data, dict):
        raise SpecError(f"{path}: the campaign must be a YAML mapping with name, parameters, ...")
    return spec_from_dict(data, source=path, check_history=check_history)


def spec_from_dict(
    data: dict[str, Any], *, source: str | Path = "<campaign>", check_history: bool = True
) -> CampaignSpec:
    """Validate a campaign given as a dict (as read from YAML).

    Args:
        data: The campaign mapping.
        source: The file it came from; names the file in errors and anchors
            relative history paths.
        check_history: Require every ``history:`` pattern to match a file.

    Raises:
        SpecError: With a one-line message naming the file, field and fix.
    """
    source = Path(source)
    context = {"base_dir": source.parent if source.suffix and check_history else None}
    try:
        return CampaignSpec.model_validate(data, context=context)
    except ValidationError as err:
        raise SpecError(f"{source}: {format_validation_error(err, data)}") from None
    except InfeasibleConstraintsError as err:
        raise SpecError(f"{source}: constraints: {err}") from None


def format_validation_error(err: ValidationError, data: Any) -> str:
    """Render the first pydantic error as ``field.path: message``."""
    first = err.errors(include_url=False)[0]
    path = _field_path(first["loc"], data)
    kind = first["type"]
    message = first["msg"]
    if kind == "extra_forbidden":
        message = "unknown field; remove it or check its spelling"
    elif kind == "missing":
        message = "required field is missing; add it"
    elif message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    elif kind == "string_pattern_mismatch":
        message = f"{first['input']!r} is not a valid name; use letters, digits and underscores"
    elif "input" in first and not isinstance(first["input"], dict | list):
        message = f"{message} (got {first['input']!r})"
    field = re.match(r"^([a-z_]+): ", message)
    if field and field.group(1) != "constraints" and path:
        if not path.endswith(f".{field.group(1)}"):
            path = f"{path}.{field.group(1)}"
        message = message[field.end() :]
    return f"{path}: {message}" if path else message


def _field_path(loc: Sequence[int | str], data: Any) -> str:
    """Turn a pydantic location into ``parameters.pressure.bounds``."""
    parts: list[str] = []
    node = data
    for key in loc:
        if isinstance(key, int):
            name = (
                node[key].get("name")
                if isinstance(node, list) and isinstance(node[key], dict)
                else None
            )
            if name and parts and parts[-1] in {"parameters", "metrics"}:
                parts.append(str(name))
            elif parts:
                parts[-1] = f"{parts[-1]}[{key}]"
            else:
                parts.append(f"[{key}]")
            node = node[key] if isinstance(node, list) and key < len(node) else None
        else:
            if key in {"continuous", "integer", "categorical"} and isinstance(node, dict):
                continue  # discriminated-union tag: not a field of the YAML
            parts.append(str(key))
            node = node.get(key) if isinstance(node, dict) else None
    return re.sub(r"\.+", ".", ".".join(parts))
