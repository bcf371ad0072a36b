"""Shared fixtures: real reference files, real instances on disk, a real PostgreSQL database."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from portail.config import Settings
from portail.operations import Instance, open_instance

ROOT = Path(__file__).resolve().parents[1]
REFDATA = Path(os.environ.get("PORTAIL_REFDATA", ROOT.parent / "shared" / "refdata")).resolve()
PG_ADMIN_URL = os.environ.get("PORTAIL_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def refdata() -> Path:
    if not REFDATA.is_dir():
        pytest.skip(f"reference files not found at {REFDATA}")
    return REFDATA


def make_instance(home: Path, **overrides) -> Instance:
    return open_instance(Settings(home=home, **overrides))


@pytest.fixture
def instance(tmp_path: Path) -> Instance:
    inst = make_instance(tmp_path / "home")
    yield inst
    inst.store.close()


@pytest.fixture
def pg_url() -> str:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    import psycopg

    name = f"portail_test_{uuid.uuid4().hex[:12]}"
    admin = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
