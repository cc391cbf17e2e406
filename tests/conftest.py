"""Shared fixtures: a scratch copy of the example campaign, and a fake tool that 'runs' wafers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
ETCH42 = ROOT / "campaigns" / "etch42.yaml"


#: The scratch copies test the scratch-ensemble path; tests/test_meta.py tests maml-ensemble.
SCRATCH_MODEL = "model: {method: ensemble}\n"


def scratch_copy(campaign: Path, folder: Path, *, model: str = SCRATCH_MODEL) -> Path:
    """Copy a campaign YAML into ``folder``, history beside it; its store lands there too.

    Args:
        campaign: The YAML to copy.
        folder: Where to put it.
        model: A ``model:`` block appended to the copy.
    """
    path = folder / campaign.name
    path.write_text(campaign.read_text() + model)
    (folder / "history").symlink_to(campaign.parent / "history", target_is_directory=True)
    return path


@pytest.fixture
def etch42(tmp_path: Path) -> Path:
    """A scratch copy of campaigns/etch42.yaml."""
    return scratch_copy(ETCH42, tmp_path)


def fake_results(batch: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Measured metrics for a suggested batch from a smooth made-up response."""
    rng = np.random.default_rng(seed)
    x = (batch["source_power"] - 1400) / 1100
    p = (batch["pressure"] - 30) / 50
    out = pd.DataFrame({"run_id": batch["run_id"]})
    out["yield"] = 80 - 30 * x**2 - 10 * p**2 + rng.normal(0, 1, len(batch))
    out["uniformity"] = 97 - 50 * (batch["center_edge_split"] - 0.5) ** 2
    out["defects"] = 0.2 + 0.0005 * batch["bias_power"]
    return out


#: Backends of the storage contract tests: every one must behave the same.
BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory):
    """A real PostgreSQL server for the session (pgserver ships the binaries).

    Skipped where pgserver is not installed, except in CI (``CI`` set), where
    the contract suite must run against both backends.
    """
    import os

    if os.environ.get("CI"):
        import pgserver
    else:
        pgserver = pytest.importorskip("pgserver")
    server = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
    yield server
    server.cleanup()


def new_postgres_database(server) -> str:
    """Create an empty database on the test server; return its SQLAlchemy URL."""
    import uuid

    from sqlalchemy import create_engine

    base = server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1)
    name = f"t_{uuid.uuid4().hex[:12]}"
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    engine.dispose()
    return base.replace("/postgres?", f"/{name}?", 1)


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each backend: an SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'runs.db'}"
    return new_postgres_database(request.getfixturevalue("postgres_server"))
