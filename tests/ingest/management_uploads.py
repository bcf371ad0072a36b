"""Loading files through the management API as the operator, for the tests of what it loads and
what it refuses (ingest, metadata checks): the ``client`` fixture (the operator's, on the
test's ``instance``; a test file takes it by importing it), ``upload`` and the API's prefix
``MGMT``. Kept here rather than in one test file, so that a test file imports no other test
file."""

from __future__ import annotations

import io

import pytest

MGMT = "/api/management/v1"


@pytest.fixture
def client(instance):
    from tests.conftest import operator_client

    return operator_client(instance)


def upload(client, slug: str, name: str, content: bytes, **params):
    return client.post(f"{MGMT}/datasets/{slug}/data", params={"publish_now": True, **params},
                       files={"file": (name, io.BytesIO(content), "text/csv")})
