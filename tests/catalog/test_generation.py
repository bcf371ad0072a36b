"""The catalogue's change counter and the caches keyed on it (``catalog.generation``).

API nodes keep what they derived from the catalogue (a dataset and the caller's access) while
the counter is unchanged, so every change that alters what a caller sees must bump it — from
any process — and changes that do not (sign-ins, the audit log) must leave it alone.
"""

from __future__ import annotations

import httpx
import pytest

from portail.auth import services as auth
from portail.auth.audit import record as audit
from portail.catalog import services
from portail.operations import load_file, publish
from tests.conftest import make_instance
from tests.live import live_server


def _csv(path, rows: int):
    path.write_text("code;nom\n" + "".join(f"{i:05d};commune {i}\n" for i in range(rows)), encoding="utf-8")
    return path


@pytest.fixture
def published(tmp_path):
    inst = make_instance(tmp_path / "home")
    with inst.session() as s:
        services.create_dataset(s, "communes", "Communes")
    load_file(inst, "communes", _csv(tmp_path / "a.csv", 30), publish=True)
    yield inst
    inst.store.close()


def _bumps(inst, change) -> bool:
    before = inst.generation()
    change()
    return inst.generation() != before


def test_changes_that_alter_what_callers_see_bump_the_counter(published, tmp_path):
    inst = published

    def metadata():
        with inst.session() as s:
            services.update_metadata(s, services.get_dataset(s, "communes"), title="Communes de France")

    def restrict():
        with inst.session() as s:
            auth.set_dataset_security(s, services.get_dataset(s, "communes"), visibility="restricted")

    def grant_then_revoke():  # the revocation is a bulk ORM delete, not a unit-of-work change
        with inst.session() as s:
            auth.create_user(s, "ana", password="a long enough password")
            auth.grant(s, services.get_dataset(s, "communes"), "user", "ana")
        before = inst.generation()
        with inst.session() as s:
            auth.revoke_grant(s, services.get_dataset(s, "communes"), "user", "ana")
        assert inst.generation() != before

    assert _bumps(inst, metadata)
    assert _bumps(inst, restrict)
    grant_then_revoke()
    assert _bumps(inst, lambda: load_file(inst, "communes", _csv(tmp_path / "b.csv", 12), publish=True))


def test_audit_and_sign_in_records_leave_the_caches_alone(published):
    inst = published

    def write_audit():
        with inst.session() as s:
            audit(s, "export.restricted", actor="ana", target="dataset:communes")

    assert not _bumps(inst, write_audit)
    with inst.session() as s:
        auth.create_user(s, "ana", password="a long enough password")

    def sign_in(password: str):
        def attempt():
            with inst.session() as s:
                auth.authenticate(s, "ana", password)
        return attempt

    # A wrong password is counted in SQL (``failed_logins + 1``, a bulk update): it bumped the
    # counter, so each guess emptied every cache of every process (found by a review).
    assert not _bumps(inst, sign_in("a wrong password again"))
    assert not _bumps(inst, sign_in("a long enough password"))

    def disable():  # a change of the same row that matters still bumps
        with inst.session() as s:
            auth.set_active(s, auth.get_user(s, "ana"), False)

    assert _bumps(inst, disable)

    def prune_nothing():  # a load's prune with nothing to prune takes the dataset's lock only
        with inst.session() as s:
            assert services.prune_versions(s, services.get_dataset(s, "communes"), keep=10) == []

    assert not _bumps(inst, prune_nothing)


def test_a_server_sees_changes_made_by_another_process_at_once(published, tmp_path):
    """The server caches the dataset and the caller's access; a publish and a restriction made
    here (another process) show on the very next call, with no wait."""
    inst = published
    with live_server(inst.settings.home) as base:
        api = httpx.Client(base_url=f"{base}/api/explore/v2.1/catalog/datasets/communes", timeout=30)
        assert api.get("/records", params={"limit": 0}).json()["total_count"] == 30
        assert api.get("/records", params={"limit": 0}).json()["total_count"] == 30  # now cached

        load_file(inst, "communes", _csv(tmp_path / "b.csv", 12), publish=True)
        assert api.get("/records", params={"limit": 0}).json()["total_count"] == 12
        assert api.get("").json()["metas"]["default"]["records_count"] == 12

        with inst.session() as s:
            rolled = services.get_dataset(s, "communes").versions[0].number
        publish(inst, "communes", rolled)
        assert api.get("/records", params={"limit": 0}).json()["total_count"] == 30

        with inst.session() as s:
            auth.set_dataset_security(s, services.get_dataset(s, "communes"), visibility="restricted")
        response = api.get("/records", params={"limit": 0})
        assert response.status_code == 404 and response.json()["error_code"] == "NotFound"


def test_api_keys_are_resolved_once_yet_revocation_and_expiry_apply_at_once(published):
    """Key principals are kept while the counter holds: using a key (its last use written once a
    minute) does not bump it, revoking one does, and expiry is checked at every call."""
    from datetime import timedelta

    from portail.auth import AuthError, principal_from_request
    from portail.auth.keys import now

    inst = published
    with inst.session() as s:
        user = auth.create_user(s, "ana", password="a long enough password")
        key, secret = auth.create_api_key(s, user, "k")
        at = now().replace(second=0, microsecond=0) + timedelta(minutes=1)  # a minute's start: one cache slot
        soon, soon_secret = auth.create_api_key(s, user, "soon", expires_at=at + timedelta(seconds=30))
    headers = {"Authorization": f"Apikey {secret}"}

    before = inst.generation()
    assert principal_from_request(headers, {}, inst.catalog).key_id == key.id  # last use written
    assert principal_from_request(headers, {}, inst.catalog).key_id == key.id  # kept
    assert inst.generation() == before

    assert principal_from_request({"Authorization": f"Apikey {soon_secret}"}, {}, inst.catalog, at=at).key_id == soon.id
    with pytest.raises(AuthError):  # the same generation, the entry kept, but the key has expired
        principal_from_request({"Authorization": f"Apikey {soon_secret}"}, {}, inst.catalog, at=at + timedelta(seconds=31))

    with inst.session() as s:
        auth.revoke_api_key(s, key.id)
    assert inst.generation() != before
    with pytest.raises(AuthError):
        principal_from_request(headers, {}, inst.catalog)
