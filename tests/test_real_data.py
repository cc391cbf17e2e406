"""Real reaction data as benchmark families: conversion of Summit's tables, and clear errors."""

from __future__ import annotations

import pytest

from recipeopt.benchmark import real_data
from recipeopt.benchmark.runner import load_family
from recipeopt.exceptions import RecipeoptError

# The first rows of Summit's benzamide table, as the wheel ships it (BOM, TYPE row, index).
BENZAMIDE = (
    "\ufeffNAME,catalyst,base,base_equivalents,temperature,t_res,yld\n"
    "TYPE,DATA,DATA,DATA,DATA,DATA,DATA\n"
    "0,tBuXPhos,MTBD,2.08229621,30,82.52972031,0.020324316\n"
    "1,tBuXPhos,DBU,1.038478817,100,496.9924264,0.1526395\n"
    "2,tBuBrettPhos,BTMG,2.080511736,100,1437.765235,≥90%\n"
)


def test_convert_maps_columns_keeps_shared_choices_and_reads_censored_yields():
    table = real_data.convert(real_data.SOURCES["baumgartner"], "benzamide", BENZAMIDE)
    assert list(table.columns) == [
        "recipe",
        "catalyst",
        "base",
        "base_equivalents",
        "temperature",
        "residence_time",
        "yield",
    ]
    # MTBD was never run with aniline: its row is dropped, not emulated blind.
    assert table["base"].tolist() == ["DBU", "BTMG"]
    assert table["yield"].tolist() == pytest.approx([15.26395, 90.0])
    assert (table["recipe"] == "benzamide").all()


def test_convert_names_a_missing_column():
    with pytest.raises(RecipeoptError, match="lacks column"):
        real_data.convert(real_data.SOURCES["reizman"], "case1", "a,b\nTYPE,DATA\n1,2\n")


def test_real_family_without_data_says_how_to_fetch_them(tmp_path, monkeypatch):
    monkeypatch.setattr(real_data, "REAL", tmp_path)
    with pytest.raises(RecipeoptError, match="make real-data"):
        load_family("real:reizman")
    with pytest.raises(RecipeoptError, match="choose one of baumgartner, reizman"):
        load_family("real:nope")


def _reizman(tmp_path, monkeypatch, yields) -> None:
    """Two made-up Reizman cases of 24 runs under ``tmp_path``, as `make real-data` writes them."""
    monkeypatch.setattr(real_data, "REAL", tmp_path)
    source = real_data.Path(real_data.__file__).parents[2] / "benchmarks/real/reizman.yaml"
    (tmp_path / "reizman.yaml").write_text(source.read_text())
    rows = ["recipe,catalyst,residence_time,temperature,catalyst_loading,yield"]
    for case in ("case1", "case2"):
        for i in range(24):
            setpoints = f"P1-L{1 + i % 7},{60 + 20 * i},{30 + 3 * i},{0.5 + 0.08 * i}"
            rows.append(f"{case},{setpoints},{yields(i)}")
    (tmp_path / "data" / "reizman").mkdir(parents=True)
    (tmp_path / "data" / "reizman" / "all.csv").write_text("\n".join(rows) + "\n")


def test_real_family_holds_each_data_set_out_with_the_others_as_history(tmp_path, monkeypatch):
    _reizman(tmp_path, monkeypatch, lambda i: i)
    family = load_family("real:reizman")
    assert family.names == ["case1", "case2"]
    assert set(family.others(0)["recipe"]) == {"case2"}
    answer = family.recipe(0).responses(family.history.iloc[:3])
    assert answer.shape == (3, 1) and answer["yield"].between(-5, 30).all()


def test_an_emulated_measurement_stays_within_the_metrics_physical_limits(tmp_path, monkeypatch):
    import numpy as np
    import pandas as pd

    _reizman(tmp_path, monkeypatch, lambda i: [0.5, 40.0, 1.0, 99.5][i % 4])  # near both limits
    task = load_family("real:reizman").recipe(0)
    frame = pd.concat([task.runs] * 20, ignore_index=True)
    measured = task.measure(frame, np.random.default_rng(0))["yield"]
    noise = np.random.default_rng(0).normal(0.0, 1.0, (len(frame), 1)) * task.noise_sd
    unclipped = task.responses(frame)["yield"] + noise[:, 0]
    assert not unclipped.between(0.0, 100.0).all()  # the noise does cross a limit here
    assert measured.between(0.0, 100.0).all()
    inside = unclipped.between(0.0, 100.0)
    assert np.allclose(measured[inside], unclipped[inside])
