"""Bounds the services hold themselves, whoever calls them (the CLI as well as the API, whose
models say so first): a key name past its column was cut silently by the CLI, a quota past a
32-bit integer reached the database, and a refused attachment left its copied file behind."""

from __future__ import annotations

import pytest

from portail.auth import ratelimit, services as auth
from portail.auth.errors import AuthError
from portail.catalog import services
from portail.catalog.db import transaction
from portail.operations import attach
from tests.conftest import make_instance


@pytest.fixture
def instance(tmp_path):
    instance = make_instance(tmp_path / "home")
    with transaction(instance.catalog) as s:
        auth.create_user(s, "alice")
        services.create_dataset(s, "ds", "Ds")
    yield instance
    instance.store.close()


def test_a_key_name_past_its_column_is_refused_not_cut(instance):
    with transaction(instance.catalog) as s:
        alice = auth.get_user(s, "alice")
        with pytest.raises(AuthError, match=r"name: at most 200 characters \(201 given\)"):
            auth.create_api_key(s, alice, "k" * 201)
        key, _ = auth.create_api_key(s, alice, " " + "k" * 200 + " ")
        assert key.name == "k" * 200


def test_a_quota_past_a_32_bit_integer_is_refused(instance):
    with transaction(instance.catalog) as s:
        with pytest.raises(AuthError, match="at most 2,147,483,647"):
            ratelimit.set_quota(s, "user", "alice", 2**31)
        assert ratelimit.set_quota(s, "user", "alice", 2**31 - 1).calls == 2**31 - 1


def test_a_refused_attachment_leaves_no_file(instance, tmp_path):
    source = tmp_path / "notice.pdf"
    source.write_bytes(b"%PDF-1.4\n")
    with pytest.raises(services.CatalogError, match="title: at most"):
        attach(instance, "ds", source, title="t" * 1000)
    assert not list((instance.settings.home / "attachments").iterdir())
    assert attach(instance, "ds", source) == "notice_pdf" and len(list((instance.settings.home / "attachments").iterdir())) == 1
