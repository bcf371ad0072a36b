"""Who calls a v1 test module's instance: the ``client`` fixture (anonymous) and ``alice_key``
(an API key of alice, who must exist there), both over the ``instance`` fixture that the
importing test module defines, so that each file keeps its own datasets (v1's catalogue search,
v1's feeds). Kept here rather than in one test file, so that a test file imports no other test
file; a test file takes the fixtures by importing them
(``from tests.api.v1_catalog_callers import alice_key, client``)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app


@pytest.fixture(scope="module")
def client(instance):
    return TestClient(create_app(instance))


@pytest.fixture(scope="module")
def alice_key(instance) -> str:
    from portail.auth import services as auth

    with instance.session() as s:
        return auth.create_api_key(s, auth.get_user(s, "alice"))[1]
