"""Real reaction data as benchmark families: fetched from Summit's package, never committed.

Summit (MIT license, https://github.com/sustainable-processes/summit) ships the
measured runs of two published reaction studies in its wheel on PyPI:

* ``baumgartner``: Pd-catalysed C–N cross-couplings of two substrates (aniline,
  95 runs; benzamide, 58 runs), a categorical catalyst and base and three
  continuous setpoints (Baumgartner et al., Org. Process Res. Dev. 2019, 23,
  1594–1601);
* ``reizman``: four cases of a Suzuki–Miyaura coupling (about 96 runs each), a
  categorical catalyst (8 choices) and three continuous setpoints (Reizman
  et al., React. Chem. Eng. 2016, 1, 658–666).

:func:`fetch` downloads the wheel with pip, reads the tables out of it and
writes them as history CSVs (one ``recipe`` per data set, the campaign's
parameter and metric columns) under ``benchmarks/real/data/``. The campaigns
``benchmarks/real/<name>.yaml`` list them as their history, so
``recipeopt benchmark --family real:<name>`` holds each data set out in turn,
answered by a GP emulator of its runs (:mod:`recipeopt.benchmark.emulator`),
with the other data sets as the history. See docs/real-data.md.

Run:
    make real-data        # or: python -m recipeopt.benchmark.real_data
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from recipeopt.exceptions import RecipeoptError

#: The Summit release the data come from.
SUMMIT_VERSION = "0.8.4"
#: Where the campaigns and the fetched data live.
REAL = Path(__file__).resolve().parents[2] / "benchmarks" / "real"
_DATA = "summit/benchmarks/data/"


@dataclass(frozen=True)
class Source:
    """One real family: its tables in Summit's wheel and how their columns map.

    Attributes:
        tables: ``{recipe name: file in the wheel}``.
        columns: ``{Summit column: campaign column}``; other columns are dropped.
        percent: Columns Summit stores as fractions, written in percent.
        choices: ``{column: labels}`` kept; rows with another label are dropped
            (a choice one data set never tried cannot be emulated there).
    """

    tables: dict[str, str]
    columns: dict[str, str]
    percent: tuple[str, ...] = ()
    choices: dict[str, tuple[str, ...]] | None = None


SOURCES = {
    "baumgartner": Source(
        tables={
            "aniline": "baumgartner_aniline_cn_crosscoupling.csv",
            "benzamide": "baumgartenter_benzamide_cross_coupling.csv",
        },
        columns={
            "catalyst": "catalyst",
            "base": "base",
            "base_equivalents": "base_equivalents",
            "temperature": "temperature",
            "t_res": "residence_time",
            "yld": "yield",
        },
        percent=("yld",),
        # The catalysts and bases both substrates were run with.
        choices={"catalyst": ("tBuBrettPhos", "tBuXPhos"), "base": ("BTMG", "DBU", "TMG")},
    ),
    "reizman": Source(
        tables={f"case{k}": f"reizman_suzuki_case_{k}.csv" for k in (1, 2, 3, 4)},
        columns={
            "catalyst": "catalyst",
            "t_res": "residence_time",
            "temperature": "temperature",
            "catalyst_loading": "catalyst_loading",
            "yld": "yield",
        },
    ),
}


def convert(source: Source, recipe: str, text: str) -> pd.DataFrame:
    """Turn one Summit table (its CSV text) into history rows of ``recipe``.

    Summit's tables have a second header row (``TYPE,DATA,...``) and an index
    column; both are dropped. A few benzamide yields are censored (``≥90%``):
    they read as their bound.

    Raises:
        RecipeoptError: If a mapped column is missing.
    """
    table = pd.read_csv(io.StringIO(text.lstrip("\ufeff")), skiprows=[1])
    missing = sorted(set(source.columns) - set(table.columns))
    if missing:
        raise RecipeoptError(f"Summit table for {recipe!r} lacks column(s) {', '.join(missing)}")
    for column, labels in (source.choices or {}).items():
        table = table[table[column].isin(labels)]
    for column in source.percent:
        table[column] = [100.0 * _fraction(value) for value in table[column]]
    out = table[list(source.columns)].rename(columns=source.columns)
    out.insert(0, "recipe", recipe)
    return out.reset_index(drop=True)


def _fraction(value: object) -> float:
    """Read a fraction; a censored entry such as ``≥90%`` reads as its bound (0.9)."""
    text = str(value).strip()
    if text.endswith("%"):
        return float(text.lstrip("≥>").rstrip("%")) / 100.0
    return float(text)


def fetch(out: Path = REAL / "data", *, version: str = SUMMIT_VERSION) -> list[Path]:
    """Download Summit's wheel with pip and write each family's history CSVs under ``out``.

    Returns:
        The files written.

    Raises:
        RecipeoptError: If pip cannot download the wheel or a table is missing from it.
    """
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet"]
        command += ["--dest", tmp, f"summit=={version}"]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        wheels = sorted(Path(tmp).glob("summit-*.whl"))
        if done.returncode or not wheels:
            reason = (done.stderr.strip().splitlines() or ["no wheel"])[-1]
            raise RecipeoptError(f"could not download summit=={version} from PyPI: {reason}")
        written = []
        with zipfile.ZipFile(wheels[0]) as wheel:
            names = set(wheel.namelist())
            for family, source in SOURCES.items():
                folder = out / family
                folder.mkdir(parents=True, exist_ok=True)
                for recipe, file in source.tables.items():
                    if _DATA + file not in names:
                        raise RecipeoptError(f"summit=={version} does not ship {file}")
                    text = wheel.read(_DATA + file).decode("utf-8")
                    path = folder / f"{recipe}.csv"
                    convert(source, recipe, text).to_csv(path, index=False)
                    written.append(path)
    return written


def campaign(name: str) -> Path:
    """Return the campaign of real family ``name``, checking that its data were fetched.

    Raises:
        RecipeoptError: If the family is unknown or its data are missing.
    """
    if name not in SOURCES:
        raise RecipeoptError(
            f"unknown real family {name!r}; choose one of {', '.join(sorted(SOURCES))}"
        )
    data = REAL / "data" / name
    if not any(data.glob("*.csv")):
        raise RecipeoptError(
            f"real:{name}: no data in {data}; fetch them once with `make real-data`"
        )
    return REAL / f"{name}.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REAL / "data")
    args = parser.parse_args()
    try:
        paths = fetch(args.out)
    except RecipeoptError as error:
        sys.exit(f"error: {error}")
    for path in paths:
        print(f"{path}: {sum(1 for _ in path.open()) - 1} runs")


if __name__ == "__main__":
    main()
