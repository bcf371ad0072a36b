"""Fixtures of the auth tests: cheap hashing, a migrated SQLite catalogue (``catalog``, on SQLite and
PostgreSQL, is in tests/conftest.py).

Production argon2 parameters cost a quarter of a second per hash; the tests of rules (policy,
lockout, services) swap in minimal parameters, and ``test_passwords`` checks the real ones.
"""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from portail.auth import passwords
from portail.catalog import open_catalog


PRODUCTION_HASHER = passwords._HASHER


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch):
    monkeypatch.setattr(passwords, "_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def real_hashing(monkeypatch):
    """Request it to hash with the production parameters (it runs after the autouse swap)."""
    monkeypatch.setattr(passwords, "_HASHER", PRODUCTION_HASHER)


@pytest.fixture
def sqlite_catalog(tmp_path):
    factory = open_catalog(f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    yield factory
    factory.kw["bind"].dispose()
