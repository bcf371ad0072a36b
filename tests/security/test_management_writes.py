"""Write paths: privilege escalation and access bugs of the management API and the accounts.

One small instance of its own, on a real file (the COG 2026 regions): the dataset ``regions``
(public) whose default ruleset hides ``ncc`` and ``nccenr``, while the group ``rh`` sees
``nccenr``; users ``val`` (viewer, a read key), ``pub`` (publisher, a manage key) and
``root`` (admin, a manage key); the operator's management token.

Found:

- deleting a group left its rulesets in place (keyed by its name): a group made later under
  that name (by an administrator, or by an SSO sign-in through the group map) handed its members
  the old group's view, wider than the default ruleset (fixed in ``auth.services.delete_group``);
- a deleted group's or user's quota (keyed by name too) went to the next group or account of
  that name: an unlimited quota (0) lifted every limit of its new members (fixed in
  ``auth.services.delete_group``/``delete_user`` with ``auth.ratelimit.drop_quotas``);
- changing a dataset's ``owner`` through the management API wrote no audit event, although an
  owner reads a restricted dataset whole and a data owner publishes it: a grant in all but name
  (fixed in ``api.management``, with ``auth.services.owner_changed``);
- deleting an owner's account left its login the dataset's owner: the next account made under
  that login read the restricted dataset whole (the deletion now clears it, and audits it);
- an unauthenticated caller made the server parse (and spool to disk) a whole multipart upload
  before it was refused. These last two run on instances of their own.

Held (checked here or by hand): every dataset and account route of the management API refuses
a publisher's and a data owner's ``manage`` key, a viewer's key and an admin's ``read`` key; an
admin's session uploads nothing without its CSRF token; an attachment's name stays in its folder.
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from portail import operations
from portail.api import create_app
from portail.auth import services as auth
from portail.catalog import services
from portail.config import Settings
from portail.operations import open_instance
from tests.conftest import Published, fast_passwords, make_instance, published_instance, semicolon_csv

REGIONS, OTHER = "regions", "autre"
TOKEN = "write-hunt-token"
M = MGMT = "/api/management/v1"
RECORDS = f"/api/explore/v2.1/catalog/datasets/{REGIONS}/records"


class Site:
    def __init__(self, instance, keys: dict[str, str]):
        self.instance, self.keys = instance, keys
        self.client = TestClient(create_app(instance))

    def as_(self, who: str) -> dict[str, str]:
        """The headers of ``who``: a user's key, or the operator's token."""
        return {"Authorization": f"Bearer {TOKEN}"} if who == "operator" else {"Authorization": f"Apikey {self.keys[who]}"}

    def audit(self, action: str) -> list[dict]:
        return self.client.get(f"{M}/audit", params={"action": action}, headers=self.as_("operator")).json()["results"]


@pytest.fixture(scope="module")
def site(tmp_path_factory, refdata) -> Site:
    with fast_passwords():  # argon2 at its cheapest while the accounts are made
        instance = open_instance(Settings(home=tmp_path_factory.mktemp("write-hunt"), management_token=TOKEN))
        with instance.session() as s:
            services.create_dataset(s, REGIONS, "Régions", owner="someone")
            services.create_dataset(s, OTHER, "Autre", owner="someone")
        for slug in (REGIONS, OTHER):
            operations.load_file(instance, slug, refdata / "referentiels" / "cog2026_regions.csv", publish=True)
        keys: dict[str, str] = {}
        with instance.session() as s:
            auth.create_group(s, "rh")
            auth.set_dataset_security(s, services.get_dataset(s, REGIONS), hidden_fields={"*": ["ncc", "nccenr"],
                                                                                           "rh": ["ncc"]})
            auth.set_dataset_security(s, services.get_dataset(s, OTHER), visibility="restricted")
            for login, role, scopes in [("val", "viewer", ["read"]), ("pub", "publisher", ["manage"]),
                                        ("do", "data_owner", ["manage"]), ("root", "admin", ["manage"]),
                                        ("rootread", "admin", ["read"])]:
                user = auth.create_user(s, login, role=role)
                _, keys[login] = auth.create_api_key(s, user, "k", scopes=scopes)
    yield Site(instance, keys)
    instance.store.close()


def _fields(site: Site, who: str) -> set[str]:
    body = site.client.get(RECORDS, params={"limit": 1}, headers=site.as_(who)).json()
    return set(body["results"][0])


def test_a_group_made_again_under_a_deleted_ones_name_inherits_none_of_its_rulesets(site):
    """``rh`` is deleted then made again (a new team, the same name): its members read as
    everyone does (``nccenr`` hidden), not with the deleted group's wider view."""
    operator = site.as_("operator")
    assert site.client.put(f"{M}/groups/rh/members/val", headers=operator).status_code == 200
    assert "nccenr" in _fields(site, "val") and "ncc" not in _fields(site, "val")  # the control: rh's view
    assert site.client.delete(f"{M}/groups/rh", headers=operator).status_code == 204
    assert site.client.post(f"{M}/groups", json={"name": "rh"}, headers=operator).status_code == 201
    assert site.client.put(f"{M}/groups/rh/members/val", headers=operator).status_code == 200
    assert not {"ncc", "nccenr"} & _fields(site, "val")
    security = site.client.get(f"{M}/datasets/{REGIONS}/security", headers=operator).json()
    assert security["hidden_fields"] == {"*": ["ncc", "nccenr"]}
    removed = [e for e in site.audit("security.set") if e["target"] == f"dataset:{REGIONS}"][0]
    assert removed["detail"]["hidden_fields"] == {"*": ["ncc", "nccenr"]} and removed["detail"]["why"] == "group rh deleted"


def test_changing_a_datasets_owner_is_audited(site):
    """The owner reads a restricted dataset whole: giving it is audited as a grant is."""
    response = site.client.patch(f"{M}/datasets/{OTHER}", json={"owner": " Pub "}, headers=site.as_("root"))
    assert response.status_code == 200
    events = [e for e in site.audit("dataset.owner") if e["target"] == f"dataset:{OTHER}"]
    assert len(events) == 1 and events[0]["actor"] == "root"
    assert events[0]["detail"] == {"from": "someone", "to": " Pub "}
    # the same owner, spelt otherwise, changes nobody's access: no second event
    site.client.patch(f"{M}/datasets/{OTHER}", json={"owner": "pub", "title": "Autre"}, headers=site.as_("root"))
    assert len([e for e in site.audit("dataset.owner") if e["target"] == f"dataset:{OTHER}"]) == 1


WRITES = [("post", "/datasets", {"dataset_id": "x1", "title": "X"}), ("patch", f"/datasets/{OTHER}", {"owner": "pub"}),
          ("post", f"/datasets/{OTHER}/publish", None), ("post", f"/datasets/{OTHER}/rollback", None),
          ("post", f"/datasets/{OTHER}/reload", None), ("put", f"/datasets/{OTHER}/pipeline", []),
          ("post", f"/datasets/{OTHER}/data/url", {"url": "http://127.0.0.1:1/x.csv"}),
          ("delete", f"/datasets/{OTHER}/attachments/a", None), ("delete", f"/datasets/{OTHER}", None),
          ("put", f"/datasets/{OTHER}/security", {"visibility": "public"}),
          ("put", f"/datasets/{OTHER}/grants/user/pub", None), ("post", "/users", {"login": "evil", "role": "admin"}),
          ("patch", "/users/pub", {"role": "admin"}), ("put", "/groups/rh/members/pub", None),
          ("post", "/apikeys", {"login": "root"}), ("put", "/quotas/user/pub", {"calls": 0}),
          ("post", "/oauth-clients", {"name": "a", "redirect_uris": ["https://example.org/cb"]})]


@pytest.mark.parametrize("who", ["val", "pub", "do", "rootread"])
def test_no_management_write_answers_a_non_admin_or_a_read_key(site, who):
    """The management API's writes are the administrators' (through a ``manage`` key): a
    publisher's or data owner's own ``manage`` key opens none of them, not even on a dataset they
    would own, and an admin's ``read`` key none either."""
    for method, path, body in WRITES:
        response = getattr(site.client, method)(M + path, headers=site.as_(who),
                                                **({"json": body} if body is not None else {}))
        assert response.status_code in (401, 403), (who, method, path, response.status_code)
    own = site.client.post(f"{M}/apikeys", json={"scopes": ["manage"]}, headers=site.as_(who))
    assert own.status_code == (201 if who in ("pub", "do") else 403), own.text


def test_an_admins_session_uploads_nothing_without_its_csrf_token(site):
    """A multipart body is not read by the guard, but a session still needs its header: a form
    another site posts with the admin's cookie attaches no file and loads no version."""
    from portail.auth import sessions

    browser = TestClient(create_app(site.instance))
    with site.instance.session() as s:
        opened = sessions.open_session(s, auth.get_user(s, "root"))
    browser.cookies.set(sessions.cookie_name(sessions.COOKIE_NAME, True), opened.token)  # Secure: the default
    note = {"file": ("note.txt", b"hello\n", "text/plain")}
    for path in (f"{M}/datasets/{OTHER}/attachments", f"{M}/datasets/{OTHER}/data"):
        forged = browser.post(path, files=note)
        assert forged.status_code == 403 and forged.json()["error_code"] == "CSRFError", path
    sent = browser.post(f"{M}/datasets/{OTHER}/attachments", files=note, headers={"X-CSRF-Token": opened.csrf_token})
    assert sent.status_code == 201


def test_an_attachments_name_cannot_leave_the_attachments_folder(site):
    """A file name with folders (``../``) or a NUL is saved under its last part, normalised."""
    name = "../../../etc/ev\x00il.txt"
    answer = site.client.post(f"{M}/datasets/{OTHER}/attachments", headers=site.as_("operator"),
                              files={"file": (name, b"x\n", "text/plain")})
    assert answer.status_code == 201, answer.text
    ids = [a["id"] for a in answer.json()["attachments"]]
    assert any(i.endswith("il_txt") for i in ids) and all(re.fullmatch(r"[a-z0-9_]+", i) for i in ids), ids
    folder = site.instance.settings.home / "attachments"
    assert {p.parent for p in folder.rglob("*")} == {folder}


def test_a_deleted_group_or_users_quota_goes_to_nobody_made_later_under_its_name(site):
    """Quotas name their user or group: an unlimited quota (0) of a deleted group or user went
    to the next group or account of that name, whose calls were then counted against nothing."""
    operator = site.as_("operator")

    def limit(who: str) -> str | None:
        return site.client.get(RECORDS, params={"limit": 1}, headers=site.as_(who)).headers.get("x-ratelimit-limit")

    default = limit("val")
    assert default is not None  # the control: the default quota counts val's calls
    for body in ({"name": "vip"}, {"login": "gone"}):
        kind, name = ("group", "vip") if "name" in body else ("user", "gone")
        path = "/groups" if kind == "group" else "/users"
        for attempt in range(2):  # made, given no limit, deleted; then made again under the name
            assert site.client.post(M + path, json=body, headers=operator).status_code == 201
            if attempt == 0:
                assert site.client.put(f"{M}/quotas/{kind}/{name}", json={"calls": 0},
                                       headers=operator).status_code == 200
                assert site.client.delete(f"{M}{path}/{name}", headers=operator).status_code == 204
    site.client.put(f"{M}/groups/vip/members/val", headers=operator)
    assert limit("val") == default
    quotas = site.client.get(f"{M}/quotas", headers=operator).json()["results"]
    assert not [q for q in quotas if q["name"] in ("vip", "gone")]
    dropped = {e["target"] for e in site.audit("quota.set") if (e["detail"] or {}).get("why")}
    assert dropped == {"group:vip", "user:gone"}


def test_the_command_lines_owner_change_and_a_deletion_through_the_api_are_audited(site, tmp_path):
    """``portail dataset meta --owner`` opens the dataset as the management API's PATCH does,
    and a deleted dataset takes its grants and rulesets with it: both left no audit event."""
    from portail.auth.audit import recent
    from tests.cli import invoke

    with site.instance.session() as s:
        services.create_dataset(s, "jetable", "Jetable")
    env = {"PORTAIL_HOME": str(site.instance.settings.home), "COLUMNS": "200"}
    assert invoke(["dataset", "meta", "jetable", "--owner", "pub"], env).exit_code == 0
    assert site.client.delete(f"{M}/datasets/jetable", headers=site.as_("root")).status_code == 204
    with site.instance.session() as s:
        owner = [(e.actor, e.detail) for e in recent(s, action="dataset.owner", target="dataset:jetable")]
        deleted = [e.actor for e in recent(s, action="dataset.delete", target="dataset:jetable")]
    assert owner == [(None, {"from": None, "to": "pub"})] and deleted == ["root"]


def test_a_dataset_created_with_an_owner_is_audited(site):
    """Created through the management API with an ``owner``: the owner's access began unrecorded."""
    from portail.auth.audit import recent

    created = site.client.post(f"{M}/datasets", json={"dataset_id": "neuf", "title": "Neuf", "owner": "pub"},
                               headers=site.as_("root"))
    assert created.status_code == 201, created.text
    with site.instance.session() as s:
        events = [(e.actor, e.detail) for e in recent(s, action="dataset.owner", target="dataset:neuf")]
    assert events == [("root", {"from": None, "to": "pub"})]


# -- on instances of their own ----------------------------------------------------------
def test_a_deleted_owner_hands_no_dataset_to_the_next_account_of_that_login(tmp_path):
    """Ownership names a login (it may be given before the account exists): deleting the
    owner left it, and the next account made under that login read the restricted dataset
    whole. The deletion now clears it, says which datasets lost their owner, and audits it."""
    from portail.auth.audit import recent

    instance = published_instance(tmp_path / "home", Published("rh", semicolon_csv(tmp_path / "rh.csv", [
        dict(agent="A1", note="CONFIDENTIEL9")]), "RH"))
    with instance.session() as s:
        dataset = services.get_dataset(s, "rh")
        auth.set_dataset_security(s, dataset, visibility="restricted")
        services.update_metadata(s, dataset, owner="\u00a0Jdupont\t")  # pasted: a non-breaking space, a tab
        leaving = auth.create_user(s, "jdupont", role="data_owner")
        _, key = auth.create_api_key(s, leaving, "before")
    client = TestClient(create_app(instance))
    records = "/api/explore/v2.1/catalog/datasets/rh/records"
    assert "CONFIDENTIEL9" in client.get(records, headers={"Authorization": f"Apikey {key}"}).text  # the owner's
    with instance.session() as s:
        assert auth.delete_user(s, auth.get_user(s, "jdupont"), actor="admin") == ["rh"]
    with instance.session() as s:
        _, key = auth.create_api_key(s, auth.create_user(s, "jdupont", role="data_owner"), "after")
        assert services.get_dataset(s, "rh").owner is None
        assert [e.detail["from"] for e in recent(s, action="dataset.owner")] == ["\u00a0Jdupont\t"]
    reused = client.get(records, headers={"Authorization": f"Apikey {key}"})
    assert reused.status_code == 404 and "CONFIDENTIEL9" not in reused.text  # as to any caller without access
    instance.store.close()


def test_management_uploads_are_refused_before_their_body_is_parsed(tmp_path):
    """FastAPI parses a multipart body before any dependency: an unauthenticated caller made
    the server parse (and spool to disk) a whole upload, and was told the body was malformed
    rather than 401."""
    from fastapi.testclient import TestClient

    from portail.api import create_app

    client = TestClient(create_app(make_instance(tmp_path / "home")))
    multipart = {"Authorization": "Bearer wrong", "Content-Type": "multipart/form-data; boundary=xyz"}
    oversized = (b'--xyz\r\nContent-Disposition: form-data; name="title"\r\n\r\n' + b"a" * ((1 << 20) + 1)
                 + b"\r\n--xyz--\r\n")
    for path in (f"{MGMT}/datasets/x/data", f"{MGMT}/datasets/x/attachments"):
        for body in (b"garbage", oversized):
            answer = client.post(path, content=body, headers=multipart)
            assert answer.status_code == 401 and answer.json()["error_code"] == "Unauthorized", answer.text
    assert client.get(f"{MGMT}/datasets", headers={"Authorization": "Bearer wrong"}).status_code == 401
