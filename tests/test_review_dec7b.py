"""Review of the session of 7 December (commits 2838318..39b4acc): cases of the bug classes its
commits fixed that they left.

- a forged sign-in form posted as ``multipart/form-data`` (a plain HTML form's other
  ``enctype``, sent cross-site without a preflight) was not CSRF-checked: the pages read their
  fields from it as from a URL-encoded one, and it signed the visitor in to the forger's
  account (``api.guard._is_form``; the URL-encoded one was fixed before);
- the attachments folder stayed readable by every local account (0755 of 0644 files) once
  the data folder was made its owner's (``operations.attach`` through ``store.private_root``).
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.auth import services as auth, sessions
from portail.catalog import services
from portail.operations import attach
from tests.conftest import fast_passwords, make_instance

PASSWORD = "Correct-Horse-42!"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """An instance with one local account, ``mallory``: the forger's."""
    with fast_passwords():
        instance = make_instance(tmp_path_factory.mktemp("review7b"), session_cookie_secure=False)
        with instance.session() as s:
            auth.create_user(s, "mallory", password=PASSWORD)
    yield instance
    instance.store.close()


def _signed_in(response) -> bool:
    return sessions.COOKIE_NAME in response.headers.get("set-cookie", "")


@pytest.mark.parametrize("root", ["", "/interne"])
def test_a_multipart_sign_in_form_without_its_token_signs_nobody_in(site, root):
    """Another site's page posts the forger's credentials as multipart: refused as the
    URL-encoded form is, on both portals; the same form with the token still signs in."""
    browser = TestClient(create_app(site))
    fields = {"login": (None, "mallory"), "password": (None, PASSWORD)}
    forged = browser.post(f"{root}/login", files=fields, follow_redirects=False)
    assert forged.status_code == 403 and not _signed_in(forged)
    token = browser.get(f"{root}/login").cookies.get("portail_csrf")
    own = browser.post(f"{root}/login", files=fields, headers={"X-CSRF-Token": token}, follow_redirects=False)
    assert own.status_code == 303 and _signed_in(own)


def test_a_multipart_api_call_without_a_session_is_still_answered_by_its_route(site):
    """No session, no ambient right: an API's multipart call is its route's to answer (401
    without credentials), not a CSRF refusal."""
    answer = TestClient(create_app(site)).post("/api/management/v1/datasets/x/data", files={"file": ("a.csv", b"a\n1\n")})
    assert answer.status_code == 401


def test_attachments_are_their_owners_alone(tmp_path):
    """A restricted dataset's notice is not readable by the machine's other accounts, and an
    attachments folder an earlier release made 0755 loses the others' access."""
    instance = make_instance(tmp_path / "home")
    folder = instance.settings.home / "attachments"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)  # as an earlier release left it, whatever the umask
    notice = tmp_path / "notice.txt"
    notice.write_text("budget 2027")
    with instance.session() as s:
        services.create_dataset(s, "projet", "Projet")
    attach(instance, "projet", notice)
    assert stat.S_IMODE(folder.stat().st_mode) & 0o007 == 0
    instance.store.close()


class _Counted:
    """A DuckDB connection that counts the queries it runs (the engine's, not Portail's)."""

    def __init__(self, con):
        self.con, self.queries = con, 0

    def execute(self, *args):
        self.queries += 1
        return self.con.execute(*args)


def test_rejected_values_of_every_field_come_from_one_pass():
    """The load report's examples of values that became null, for each field with some, read
    in one pass over the staged file (a pass a field cost ~8 s each on 2 M rows: a file of six
    date columns with a few typos loaded twice as slowly): the same examples as before, sorted,
    trimmed, distinct, "no value" markers and blanks left out, at most ``limit`` a field."""
    import duckdb

    from portail.ingest.infer import override_cast, rejected_values
    from portail.schema import FieldType

    con = duckdb.connect()
    con.execute("CREATE TABLE staging AS SELECT * FROM (VALUES ('01/02/2024', '1', 'x'), (' 31/02/2024 ', 'un', 'y'),"
                " ('N/A', 'deux', 'z'), ('', '3', 'w'), (NULL, 'un', 'v'), ('hier', 'trois', 'u'),"
                " ('31/02/2024', 'quatre', 't')) AS t(d, n, s)")
    casts = {"d": override_cast("d", FieldType.DATE), "n": override_cast("n", FieldType.INT)}
    counted = _Counted(con)
    assert rejected_values(counted, "staging", casts) == {"d": ["31/02/2024", "hier"],
                                                          "n": ["deux", "quatre", "trois"]}
    assert counted.queries == 1
    assert rejected_values(counted, "staging", {"n": casts["n"]}, limit=1) == {"n": ["deux"]}
    assert rejected_values(counted, "staging", {}) == {}


def test_a_type_given_to_a_column_of_words_counts_the_whole_files_rejected_values(tmp_path):
    """A column kept as text on the inference's sample, then given a date by its publisher: the
    report compared the sample's values (50,000) with the whole file's read as dates (34,000
    of 51,000), and said none was rejected; the 17,000 that became null are counted, with
    examples."""
    from portail.ingest.infer import SAMPLE_ROWS
    from portail.operations import load_file

    rows = 51_000
    assert rows > SAMPLE_ROWS
    path = tmp_path / "jours.csv"
    path.write_text("id;jour\n" + "".join(f"{i};{'hier' if i % 3 == 0 else f'2024-01-{i % 28 + 1:02d}'}\n"
                                          for i in range(rows)), encoding="utf-8")
    instance = make_instance(tmp_path / "home")
    with instance.session() as s:
        services.set_field_override(s, services.create_dataset(s, "jours", "Jours"), "jour", type="date")
    report = {f.name: f for f in load_file(instance, "jours", path).report.fields}["jour"]
    assert (report.type, report.values, report.rejected, report.examples) == ("date", rows, rows // 3, ["hier"])
    instance.store.close()


def test_v1_numbers_with_an_exponent_past_an_integers_range_read_as_floats(tmp_path):
    """``q=x>1e20`` on a double field: the exponent form was written as a 21-digit integer,
    which ODSQL refused ("integer out of range", a 400) though the value is a plain double;
    an integer field compared with it matches nothing, as a float bound does."""
    from tests.conftest import Published, operator_client, published_instance, semicolon_csv

    rows = [{"id": "1", "x": "1.5e20"}, {"id": "2", "x": "2"}, {"id": "3", "x": "1e300"}]
    instance = published_instance(tmp_path / "home", Published("t", semicolon_csv(tmp_path / "t.csv", rows)))
    client = operator_client(instance)

    def hits(q: str) -> int:
        answer = client.get("/api/records/1.0/search/", params={"dataset": "t", "q": q})
        assert answer.status_code == 200, answer.text
        return answer.json()["nhits"]

    assert [hits(q) for q in ("x>1e20", "x:1.5e20", "x>=1e300", "x:[1e19 TO 1e21]", "id>1e20", "x<2e0")] == [2, 1, 1, 1, 0, 0]
    instance.store.close()


def test_a_creation_whose_first_load_fails_is_undone_in_its_callers_name(tmp_path):
    """The management API's creation is audited as its caller's (its owner given included);
    when its first load failed, the deletion that undoes it was recorded as nobody's."""
    from portail.auth import audit
    from portail.operations import created_for_first_load

    instance = make_instance(tmp_path / "home")
    with pytest.raises(RuntimeError), created_for_first_load(instance, "essai", "Essai", actor="alice", ip="10.0.0.7",
                                                             owner="bob"):
        raise RuntimeError("the load failed")
    with instance.session() as s:
        events = [(e.action, e.actor, e.ip) for e in audit.recent(s, target="dataset:essai")]
    assert sorted(events) == [("dataset.delete", "alice", "10.0.0.7"), ("dataset.owner", "alice", "10.0.0.7")]
    instance.store.close()
