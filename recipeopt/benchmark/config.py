"""A benchmark as a config file: what to run, so a study can be rerun as it was.

``benchmarks/configs/*.yaml`` hold one benchmark each::

    family: etch             # etch, etch-unlike, dep, history:CAMPAIGN.yaml or real:NAME
    split: test              # held-out recipes: tuning (choose defaults) or test (report)
    recipes: 10
    seeds: 3
    budget: 100
    batch: 4
    methods: [random, sobol, gp, ensemble, maml-ensemble]
    settings: {}             # strategy overrides, as --set NAME=VALUE
    history: null            # other history CSVs for the meta-learned methods

``recipeopt benchmark --config FILE [--set NAME=VALUE] [--out DIR]`` runs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from recipeopt.exceptions import SpecError
from recipeopt.spec import format_validation_error


class BenchmarkConfig(BaseModel):
    """One benchmark: family, held-out split, recipes, seeds, budget, batch, methods, settings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    family: str = "etch"
    split: Literal["tuning", "test"] = "tuning"
    recipes: int = Field(default=10, ge=1)
    seeds: int = Field(default=3, ge=1)
    budget: int = Field(default=100, ge=2)
    batch: int = Field(default=4, ge=1)
    methods: list[str] = Field(
        default_factory=lambda: ["random", "sobol", "gp", "ensemble", "maml-ensemble"],
        min_length=1,
    )
    settings: dict[str, Any] = Field(default_factory=dict)
    history: str | None = None


def load_config(path: str | Path) -> BenchmarkConfig:
    """Read and validate a benchmark config.

    Raises:
        SpecError: One line naming the file, the field and the fix.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"{path}: no such benchmark config; check the path") from None
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError(f"{path}: cannot read the benchmark config ({err})") from None
    except yaml.YAMLError as err:
        raise SpecError(f"{path}: YAML syntax error ({str(err).splitlines()[0]}); fix it") from None
    if not isinstance(data, dict):
        raise SpecError(f"{path}: a benchmark config is a mapping of family, split, methods, ...")
    try:
        return BenchmarkConfig.model_validate(data)
    except ValidationError as err:
        raise SpecError(f"{path}: {format_validation_error(err, data)}") from None
